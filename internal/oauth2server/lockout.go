package oauth2server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/store"
)

// rateLimited is an attempt a failure limit refused before any secret was
// checked (internal/lockout).
type rateLimited struct{ v lockout.Verdict }

func (e *rateLimited) Error() string { return "too many failed attempts (" + string(e.v.Scope) + ")" }

// limitedError is the OAuth answer, with Retry-After, for a failure limit
// (429) or for a password check that could not start because too many
// were running (503, store.ErrBusy); nil for any other error.
func limitedError(w http.ResponseWriter, err error) *oauthError {
	var rl *rateLimited
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(rl.v.Seconds()))
		return &oauthError{Status: http.StatusTooManyRequests, Code: "invalid_request", Description: tooManyMessage(rl.v)}
	case errors.Is(err, store.ErrBusy):
		w.Header().Set("Retry-After", "1")
		return &oauthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "too many password checks are running; try again shortly"}
	}
	return nil
}

// tooManyMessage says which count refused an attempt and when to come
// back, in words that do not blame the reader: the failures may be
// someone else's, from the same network or for the same account.
func tooManyMessage(v lockout.Verdict) string {
	var what string
	switch v.Scope {
	case lockout.ScopeAddress:
		what = "Too many failed attempts from your network."
	case lockout.ScopeAccountAndAddress:
		what = "Too many failed attempts for this account from your network."
	default:
		what = "Too many failed attempts for this account."
	}
	s := v.Seconds()
	unit := "seconds"
	if s == 1 {
		unit = "second"
	}
	return fmt.Sprintf("%s Try again in %d %s.", what, s, unit)
}

// account is the name a user's failures count under: the consumer's id
// when name is a user's id or username (the store finds it by either), so
// that the two names of one user share one budget; name itself otherwise.
func (srv *Server) account(ctx context.Context, name string) string {
	if c, err := srv.s.GetConsumer(ctx, name, true); err == nil {
		return c.ID()
	}
	return name
}
