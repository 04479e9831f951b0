// Package authn is what every auth policy shares: the outcome of an
// authentication (identity, refusal or passThrough), the endpoint scope
// check, RFC 6750 challenges, and Source, which finds a request's one
// credential (refusing one presented twice) and strips it before proxying.
package authn

import (
	"errors"
	"net/http"
	"strings"

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

// Stable reason codes, sent in refusal bodies and logs.
const (
	ReasonMissing           = "missing_credentials"
	ReasonMalformed         = "malformed_credentials"
	ReasonInvalid           = "invalid_credentials"
	ReasonInactive          = "inactive_credentials"
	ReasonInactiveConsumer  = "inactive_consumer"
	ReasonInsufficientScope = "insufficient_scope"
	ReasonStoreUnavailable  = "store_unavailable"
)

// Refuse builds a 401 with a challenge.
func Refuse(reason, message, challenge string) *pipeline.Rejection {
	return &pipeline.Rejection{Status: http.StatusUnauthorized, Code: reason, Message: message, Challenge: challenge}
}

// BearerChallenge is an RFC 6750 §3 WWW-Authenticate value.
func BearerChallenge(errCode, description, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="gatehouse"`)
	if errCode != "" {
		b.WriteString(`, error="` + errCode + `"`)
	}
	if description != "" {
		b.WriteString(`, error_description="` + strings.ReplaceAll(description, `"`, `'`) + `"`)
	}
	if scope != "" {
		b.WriteString(`, scope="` + scope + `"`)
	}
	return b.String()
}

// InsufficientScope is the 403 for a valid credential that lacks an
// endpoint scope (Express Gateway's key-auth status, used by every policy).
// The body does not list the endpoint's scopes (issue #11 §2: a refusal
// never says what the gateway expected); they are logged. A bearer
// challenge keeps its scope attribute, which RFC 6750 §3 defines so a
// client can ask its authorization server for a token with that scope;
// only a caller whose token verified sees it.
func InsufficientScope(required []string, bearer bool) *pipeline.Rejection {
	rej := &pipeline.Rejection{Status: http.StatusForbidden, Code: ReasonInsufficientScope,
		Message: "the credential lacks a scope this endpoint requires",
		Err:     errors.New("the endpoint requires the scopes: " + strings.Join(required, " "))}
	if bearer {
		rej.Challenge = BearerChallenge("insufficient_scope", "", strings.Join(required, " "))
	}
	return rej
}

// StoreError turns a store failure into a 503 (the store is down: try
// again) or leaves it an internal error.
func StoreError(err error) error {
	if errors.Is(err, store.ErrBusy) {
		return Busy(err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		return &pipeline.Rejection{Status: http.StatusServiceUnavailable, Code: ReasonStoreUnavailable,
			Message: "the identity store is unavailable; try again shortly",
			Header:  http.Header{"Retry-After": {"1"}}, Err: err}
	}
	return err
}

// Fail ends an authentication that did not succeed: with passThrough the
// request goes on unauthenticated, otherwise err stops the pipeline.
// Only verdicts on the credential (401, 403) are passed through. Store
// outages (5xx) are not a verdict, and a malformed request (400: a
// credential presented twice) is refused: passed on anonymously it would
// carry both credentials to the upstream, which could act on the one the
// gateway never checked.
func Fail(w http.ResponseWriter, r *http.Request, next pipeline.Handler, passThrough bool, err error) error {
	st := pipeline.StateOf(r)
	var rej *pipeline.Rejection
	if !errors.As(err, &rej) {
		st.Record.AuthPolicy, st.Record.AuthResult, st.Record.AuthReason = st.Record.Policy, "error", "internal_error"
		return err
	}
	st.Record.AuthPolicy, st.Record.AuthReason = st.Record.Policy, rej.Code
	if passThrough && (rej.Status == http.StatusUnauthorized || rej.Status == http.StatusForbidden) {
		st.Record.AuthResult = "anonymous"
		st.Anonymous = true
		st.Record.Reason = rej.Code
		return next.Handle(w, r)
	}
	st.Record.AuthResult = "refused"
	if rej.Status >= 500 {
		st.Record.AuthResult = "error"
	}
	return err
}

// Succeed records who the request is and continues.
func Succeed(w http.ResponseWriter, r *http.Request, next pipeline.Handler, id *pipeline.Identity) error {
	st := pipeline.StateOf(r)
	st.Identity, st.Anonymous = id, false
	st.Record.AuthPolicy, st.Record.AuthResult, st.Record.AuthReason = st.Record.Policy, "allowed", ""
	st.Record.Reason = authenticated(id.AuthType)
	return next.Handle(w, r)
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
