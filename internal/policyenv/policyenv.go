// Package policyenv is what a policy is built from and with, once per
// config load: its Factory (decoding and checking the step's action) and
// the Env of services it may use (store role, clock, HTTP client, rate
// limiter, metrics, failure limits). It is kept apart from
// internal/pipeline, the request-time contract every step implements, so
// that the contract imports nothing of the services.
package policyenv

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientaddr"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"golang.org/x/net/http/httpproxy"
)

// Decoder is a policy's action from the config file; config.Node implements it.
type Decoder interface {
	Decode(v any) error
	Errorf(key, format string, args ...any) error
	IsZero() bool
}

// Factory decodes and checks one step's action, so that a bad config fails
// at load, never per request.
type Factory struct {
	New func(action Decoder, env *Env) (pipeline.Policy, error)
	// Terminal policies always answer the request themselves (proxy,
	// terminate): an unconditional one must be the pipeline's last step.
	Terminal bool
	// Options is a zero value of the struct New decodes the action into:
	// the Admin API's JSON Schema of the policy is generated from it
	// (internal/configedit/schema.go), so the schema names exactly the
	// keys the decoder accepts.
	Options any
}

// Env is what a policy may use, passed explicitly: no globals, no service
// locator. Fields grow with the features that need them.
type Env struct {
	Logger           *slog.Logger
	ServiceEndpoints config.Named[config.ServiceEndpoint]
	// Now is the clock; tests replace it.
	Now func() time.Time
	// ConfigDir resolves relative file names in actions (key files, views).
	ConfigDir string
	// Identity is the identity store as the auth policies use it (nil when
	// a test builds policies that need none).
	Identity IdentityStore
	// HTTPClient makes outbound calls (JWKS, introspection); it has
	// timeouts, and policies add per-call deadlines.
	HTTPClient *http.Client
	// RateLimiter counts requests for the rate-limit policy: shared by all
	// nodes on Redis, per process otherwise.
	RateLimiter ratelimit.Limiter
	// Metrics receives what policies measure (upstream latency, errors);
	// nil measures nothing.
	Metrics *metrics.Metrics
	// Clients finds client addresses behind trusted proxies (nil: none
	// trusted); the proxy builds X-Forwarded-For with it.
	Clients *clientaddr.Resolver
	// Lockout holds the failure limits of the auth policies (nil: the
	// policies count on their own, per process, with the defaults).
	Lockout *lockout.Set
	// UpstreamProxy is the outbound proxy the environment names for
	// upstreams (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), read once at start
	// through the app's Lookup (proxy.Environment); nil: none.
	UpstreamProxy *httpproxy.Config
}

// IdentityStore is what the auth policies read from the store: the narrow
// role, so a policy cannot write identity data.
type IdentityStore interface {
	VerifyCredential(ctx context.Context, typ, id, secret string) (*store.Credential, error)
	GetCredential(ctx context.Context, typ, id string) (*store.Credential, error)
	GetConsumer(ctx context.Context, id string, withUsername bool) (*store.Consumer, error)
	// VerifyDecoy spends a secret check's work and refuses: for a refusal
	// made before any credential is checked, so it takes as long as a
	// wrong secret's. Its only error is the store's "too busy".
	VerifyDecoy(ctx context.Context, secret string) error
}
