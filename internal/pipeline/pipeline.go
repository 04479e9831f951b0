// Package pipeline is the request-time contract between the gateway and
// its policies: a Policy handles a request and passes it on, or stops the
// pipeline by returning an error (a *Rejection, or anything else for a 500)
// that one renderer, WriteError, turns into the response. A request's
// State carries what every step needs (request id, client address, the
// matched Route, the Identity) and a Record of what the access log and the
// metrics say of it. The package imports nothing of the gateway's services:
// what a policy is built with (its Factory and Env) is internal/policyenv,
// the expression language internal/expr, token verification
// internal/accesstoken.
package pipeline

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientaddr"
)

// Handler is the rest of a pipeline.
type Handler interface {
	Handle(w http.ResponseWriter, r *http.Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle calls f.
func (f HandlerFunc) Handle(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Policy is one configured policy action, built once per config load and
// safe for concurrent use. It calls next.Handle to continue, or returns an
// error to stop: a *Rejection for a status the client may see, anything
// else for a 500.
type Policy interface {
	Handle(w http.ResponseWriter, r *http.Request, next Handler) error
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(w http.ResponseWriter, r *http.Request, next Handler) error

// Handle calls f.
func (f PolicyFunc) Handle(w http.ResponseWriter, r *http.Request, next Handler) error {
	return f(w, r, next)
}

// Condition decides whether a step runs for a request.
type Condition interface {
	Match(r *http.Request) bool
}

// Step is one policy action with its optional condition.
type Step struct {
	Policy    string
	Condition Condition // nil: always
	Action    Policy
}

// Chain links steps in order in front of last and returns the first link.
// A step whose condition does not match is skipped.
func Chain(steps []Step, last Handler) Handler {
	h := last
	for i := len(steps) - 1; i >= 0; i-- {
		h = &link{step: steps[i], next: h}
	}
	return h
}

type link struct {
	step Step
	next Handler
}

func (l *link) Handle(w http.ResponseWriter, r *http.Request) error {
	if l.step.Condition != nil && !l.step.Condition.Match(r) {
		return l.next.Handle(w, r)
	}
	if st, ok := r.Context().Value(stateKey{}).(*State); ok {
		st.Record.Policy = l.step.Policy // the step deciding, for logs and metrics
	}
	return l.step.Action.Handle(w, r, l.next)
}

// State is what every step may need to know about one request while it
// runs through a pipeline. It travels in the request context. What the
// gateway logs and measures once the request is done is kept apart, in
// Record: steps write to it, only the gateway reads it.
type State struct {
	RequestID string
	// ClientIP is the client's address, computed once at the boundary:
	// the TCP peer, or behind trusted proxies the address they forwarded
	// (internal/clientaddr). Read it with ClientIP.
	ClientIP netip.Addr
	// Route is the apiEndpoint route that matched: shared by every request
	// of the route and read-only. Set before the pipeline runs; nil only
	// for a request refused before routing.
	Route *Route
	// Identity is who the request was authenticated as (nil: nobody yet).
	Identity *Identity
	// Anonymous is set when an auth policy with passThrough let an
	// unauthenticated request continue: upstream sees eg-consumer-id:
	// anonymous (what Express Gateway documents).
	Anonymous bool
	// OriginalMethod is the method the client sent when methodOverride:
	// forward made the request the method an override header named: the
	// pipeline runs as that method and the proxy sends the original with
	// the header, so the upstream does what was authorized.
	OriginalMethod string
	// Record is what the access log and the metrics say of the request.
	Record Record
}

// Route is what the gateway matched a request to, fixed per config load.
type Route struct {
	APIEndpoint string
	Pipeline    string
	Scopes      []string // the apiEndpoint's required scopes (all of them)
	// MatchedPath is the apiEndpoint path pattern that matched ("/api/*"),
	// empty for a pathRegex or an endpoint without paths.
	MatchedPath string
}

// Record is what steps report about a request for its access-log line and
// its metrics; no step decides anything on it.
type Record struct {
	Start time.Time
	// Reason is the decision reason code of the step that decided the
	// request (a refusal's code, or the authenticating policy).
	Reason string
	// Policy is the policy of the step running now.
	Policy string
	// The authentication decision: the auth policy that decided, its
	// result (allowed, refused, anonymous, error) and reason.
	AuthPolicy, AuthResult, AuthReason string
	// Upstream is the service endpoint host the proxy chose.
	Upstream string
	// UpstreamStart is when the proxy began the upstream call.
	UpstreamStart time.Time
}

type stateKey struct{}

// WithState returns r carrying s.
func WithState(r *http.Request, s *State) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, s))
}

// StateOf returns the state of r, or an empty one (with an empty Route)
// for a request that did not come through the gateway (tests of a single
// policy).
func StateOf(r *http.Request) *State {
	if s, ok := r.Context().Value(stateKey{}).(*State); ok {
		return s
	}
	return &State{Route: &Route{}}
}

// ClientIP is the address of the client r comes from: the one the
// gateway computed, or the TCP peer for a request that did not come
// through it (tests of a single policy).
func ClientIP(r *http.Request) netip.Addr {
	if s, ok := r.Context().Value(stateKey{}).(*State); ok && s.ClientIP.IsValid() {
		return s.ClientIP
	}
	return clientaddr.Peer(r.RemoteAddr)
}

// Identity is who a request was authenticated as. Auth policies set it; the
// proxy turns it into eg-consumer-* and eg-token-* headers upstream.
type Identity struct {
	ConsumerID   string
	ConsumerType string // "user" or "application"
	ConsumerName string
	UserID       string // an application's owner
	// AuthenticatedUserID is the end user an OAuth2 client acts for.
	AuthenticatedUserID string
	AuthType            string // the policy that authenticated: basic-auth, key-auth, jwt, oauth2, oauth2-introspect
	CredentialID        string
	TokenID             string
	Scopes              []string
	ExpiresAt           time.Time
	// Consumer details sent as eg-consumer-* headers when known.
	IsActive                   bool
	CreatedAt, UpdatedAt       time.Time
	RedirectURI, TokenRedirect string
	// Properties are extra consumer fields (e.g. from the models config).
	Properties map[string]string
	// Claims of a JWT or an introspection response.
	Claims map[string]any

	// TokenSubject and TokenIssuer are the sub and iss of a token that is
	// not tied to a store consumer (jwt without checkCredentialExistence),
	// sent upstream as eg-token-sub and eg-token-iss. They never fill
	// ConsumerID: store ids and token subjects are different name spaces.
	TokenSubject, TokenIssuer string
}
