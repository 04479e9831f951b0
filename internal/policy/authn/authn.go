// Package authn is what every auth policy shares. A policy is an
// Authenticator: it tells who a request is, or refuses the credential
// with a Reason. Policy, the one wrapper around it, does the rest: it
// finds the credential with a Source (refusing one presented twice),
// checks the apiEndpoint's scopes, records the decision for the access log
// and the metrics, applies passThrough, strips the credential and calls
// the rest of the pipeline. Reasons carry their status, RFC 6750 error
// code and public message in one table (reason.go).
package authn

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Base holds the options every auth policy has (Express Gateway's base auth
// schema).
type Base struct {
	// PassThrough lets a request that fails authentication continue,
	// unauthenticated (Express Gateway): a later policy or the upstream
	// decides.
	PassThrough bool `yaml:"passThrough"`
}

// Authenticator checks the credential Policy found in a request (c.Value
// is "" when there is none). It returns who the request is; or a
// *pipeline.Rejection, a verdict on the credential (Challenge.Reject);
// or another error, when it could not decide (an internal error). It
// neither continues the pipeline nor records anything.
type Authenticator interface {
	Authenticate(r *http.Request, c Presented) (*pipeline.Identity, error)
}

// Acceptor adjusts an authenticated request before it goes on (the jwt
// policy's claimsToHeaders).
type Acceptor interface {
	Accepted(r *http.Request, id *pipeline.Identity)
}

// Scopes is how Policy checks the apiEndpoint's scopes (all of them, as
// Express Gateway) against the identity's.
type Scopes struct {
	// Skip leaves them unchecked (the jwt policy's checkScopes: false).
	Skip bool
	// Challenge makes the 403: a bearer challenge carries the scope
	// attribute (RFC 6750 §3.1), the others none.
	Challenge Challenge
}

// Policy is an auth policy: Auth behind the steps every auth policy takes.
type Policy struct {
	// Source is where the credential is.
	Source *Source
	// Strip is what of the credential is removed once it is accepted.
	Strip       Strip
	PassThrough bool
	Scopes      Scopes
	Auth        Authenticator
	// Accepted, when set, runs on an accepted request before it goes on.
	Accepted Acceptor
	// Metrics counts store outages (nil: not counted).
	Metrics *metrics.Metrics
}

// Handle authenticates r and continues, or refuses it.
func (p *Policy) Handle(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	st := pipeline.StateOf(r)
	c, err := p.Source.Find(r)
	if err != nil {
		return p.refused(w, r, next, st, err)
	}
	id, err := p.Auth.Authenticate(r, c)
	if err != nil {
		return p.refused(w, r, next, st, err)
	}
	if required := st.Route.Scopes; !p.Scopes.Skip && !HasScopes(required, id.Scopes) {
		return p.refused(w, r, next, st, p.Scopes.Challenge.InsufficientScope(required))
	}
	p.Source.Strip(r, c, p.Strip)
	if p.Accepted != nil {
		p.Accepted.Accepted(r, id)
	}
	st.Identity, st.Anonymous = id, false
	st.Record.AuthPolicy, st.Record.AuthResult, st.Record.AuthReason = st.Record.Policy, "allowed", ""
	st.Record.Reason = authenticated(id.AuthType)
	return next.Handle(w, r)
}

// refused ends an authentication that did not succeed: with passThrough
// the request goes on unauthenticated, otherwise err stops the pipeline.
// Only verdicts on the credential (401, 403) are passed through. Store
// outages (5xx) are not a verdict, a failure limit (429) must hold, and a
// malformed request (400: a credential presented twice) is refused:
// passed on anonymously it would carry both credentials to the upstream,
// which could act on the one the gateway never checked.
func (p *Policy) refused(w http.ResponseWriter, r *http.Request, next pipeline.Handler, st *pipeline.State, err error) error {
	var rej *pipeline.Rejection
	if !errors.As(err, &rej) {
		st.Record.AuthPolicy, st.Record.AuthResult, st.Record.AuthReason = st.Record.Policy, "error", "internal_error"
		return err
	}
	st.Record.AuthPolicy, st.Record.AuthReason = st.Record.Policy, rej.Code
	if p.PassThrough && (rej.Status == http.StatusUnauthorized || rej.Status == http.StatusForbidden) {
		st.Record.AuthResult = "anonymous"
		st.Anonymous = true
		st.Record.Reason = rej.Code
		return next.Handle(w, r)
	}
	st.Record.AuthResult = "refused"
	if rej.Status >= 500 {
		st.Record.AuthResult = "error"
	}
	if p.Metrics != nil && rej.Code == string(ReasonStoreUnavailable) {
		p.Metrics.StoreErrors.Inc()
	}
	return err
}

// authenticated is the reason logged for a success; the built-in types are
// constants so that the hot path does not build the string.
func authenticated(authType string) string {
	switch authType {
	case "key-auth":
		return "authenticated:key-auth"
	case "basic-auth":
		return "authenticated:basic-auth"
	case "jwt":
		return "authenticated:jwt"
	case "oauth2":
		return "authenticated:oauth2"
	case "oauth2-introspect":
		return "authenticated:oauth2-introspect"
	}
	return "authenticated:" + authType
}

// StoreError turns a store failure into a 503 (the store is down, or too
// busy: try again) or leaves it an internal error.
func StoreError(err error) error {
	if errors.Is(err, store.ErrBusy) {
		return Busy(err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		return Challenge{}.Reject(Refusal{Reason: ReasonStoreUnavailable, Err: err})
	}
	return err
}

// HasScopes reports whether granted holds every required scope (an
// apiEndpoint's scopes are AND-ed, as in Express Gateway).
func HasScopes(required, granted []string) bool {
	for _, want := range required {
		ok := false
		for _, g := range granted {
			if g == want {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ConsumerIdentity describes an authenticated store consumer.
func ConsumerIdentity(c *store.Consumer, authType string, cred *store.Credential) *pipeline.Identity {
	id := &pipeline.Identity{ConsumerID: c.ID(), ConsumerType: c.Type, ConsumerName: c.Name(), AuthType: authType, IsActive: c.Active()}
	if c.App != nil {
		id.UserID = c.App.UserID
		id.CreatedAt, id.UpdatedAt, id.RedirectURI = c.App.CreatedAt, c.App.UpdatedAt, c.App.RedirectURI
	} else if c.User != nil {
		id.CreatedAt, id.UpdatedAt, id.RedirectURI = c.User.CreatedAt, c.User.UpdatedAt, c.User.RedirectURI
	}
	if cred != nil {
		id.CredentialID = cred.ID
		id.Scopes = cred.Scopes
	}
	return id
}
