package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientaddr"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/oauth2server"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/proxy"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// envParams are what the policy environment and the authorization server
// are built from. serve fills them with what it opened; config validate
// with stand-ins of the same kinds (an in-memory store, a per-process
// limiter), so that validation never touches the data file or Redis.
type envParams struct {
	system    *config.System
	configDir string
	lookup    config.Lookup
	now       func() time.Time
	log       *slog.Logger
	store     *store.Store
	limiter   ratelimit.Limiter
	metrics   *metrics.Metrics // nil: nothing is measured
}

// policyEnv builds the environment the pipelines are built with. serve
// and config validate both build it here, so that what validate accepts is
// what serve builds.
func policyEnv(p envParams) (policyenv.Env, error) {
	// trustedProxies: whose X-Forwarded-For (or Forwarded) names the
	// client. The listeners' per-client connection limit cannot use it: it
	// counts TCP peers before any header is read.
	clients, err := clientaddr.New(p.system.TrustedProxies, string(p.system.ForwardedHeader))
	if err != nil {
		return policyenv.Env{}, err
	}
	// Read once, through the app's Lookup: the proxy policy's upstreams
	// and the JWKS and introspection calls go through the same one.
	outbound := proxy.Environment(p.lookup)
	return policyenv.Env{
		Logger:        p.log,
		Now:           p.now,
		ConfigDir:     p.configDir,
		Identity:      p.store,
		HTTPClient:    outboundClient(outbound),
		RateLimiter:   p.limiter,
		Metrics:       p.metrics,
		Clients:       clients,
		UpstreamProxy: outbound,
		// Failed authentications are counted on the same limiter: on
		// Redis every node shares the counts (failureLimits).
		Lockout: lockout.NewSet(p.limiter, p.system.FailureLimits),
	}, nil
}

// authServer builds the authorization server on the services of env (its
// clock, log, limiter, failure limits and metrics, the same ones the
// policies use); it verifies the access tokens it issues for the oauth2
// policy (gateway.Policies). serve and config validate both call it after
// policyEnv.
func authServer(ctx context.Context, p envParams, env *policyenv.Env) (*oauth2server.Server, error) {
	srv, err := oauth2server.New(ctx, oauth2server.Options{Store: p.store, System: p.system, Logger: env.Logger, Now: env.Now,
		ConfigDir: env.ConfigDir, Limiter: env.RateLimiter, Lockout: env.Lockout, Metrics: env.Metrics, ClientAddr: pipeline.ClientIP})
	if err != nil {
		return nil, err
	}
	return srv, nil
}
