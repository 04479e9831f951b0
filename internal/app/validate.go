package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/internal/accesstoken"
	"github.com/gatehouse/gatehouse/internal/policyenv"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// Validate checks a config directory the way serve loads it: both files,
// models/*.json, views/, key files and certificates, and every pipeline
// built with the same kinds of services (an in-memory store stands in for
// the real one, so validation never touches the data file or Redis). It
// returns the warnings, and every error at once.
func Validate(dir string, lookup config.Lookup) ([]string, error) {
	var errs config.Errors
	sys, err := config.LoadSystem(dir, lookup)
	if err != nil {
		errs = append(errs, config.AsErrors(err)...)
		sys = &config.System{}
	}
	if sys.DB != nil && sys.DB.Redis != nil && !sys.DB.Redis.Emulate {
		// The settings serve checks before it connects (TLS files, port);
		// validate never connects.
		if _, err := redisOptions(sys.DB.Redis, dir); err != nil {
			errs = append(errs, config.AsErrors(err)...)
		}
	}
	if _, err := model.Load(dir); err != nil {
		errs = append(errs, config.AsErrors(err)...)
	}
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer s.Close()
	p := envParams{system: sys, configDir: dir, lookup: lookup, now: time.Now, log: slog.New(slog.DiscardHandler),
		store: s, limiter: ratelimit.NewLocal(nil)}
	env, err := policyEnv(p)
	if err != nil {
		return nil, append(errs, config.AsErrors(err)...).Err()
	}
	var tokens accesstoken.Verifier // nil when the server cannot be built
	if srv, err := authServer(context.Background(), p, &env); err != nil {
		errs = append(errs, config.AsErrors(err)...)
	} else {
		tokens = srv
	}
	warnings, gerrs := validateGateway(dir, lookup, &env, tokens)
	return warnings, append(errs, gerrs...).Err()
}

// validateGateway builds gateway.config.yml's pipelines on env, and checks
// the listeners as serve would.
func validateGateway(dir string, lookup config.Lookup, env *policyenv.Env, tokens accesstoken.Verifier) ([]string, config.Errors) {
	p, err := config.FindFile(dir, config.GatewayBase)
	if err != nil {
		return nil, config.AsErrors(err)
	}
	data, err := config.ReadFile(p)
	if err != nil {
		return nil, config.AsErrors(err)
	}
	rt, err := gateway.Load(filepath.Base(p), data, lookup, env, gateway.Policies(tokens))
	if err != nil {
		return nil, config.AsErrors(err)
	}
	defer rt.Close()
	var errs config.Errors
	if rt.Config.Admin != nil {
		// serve refuses a key-less Admin API off loopback.
		if _, _, _, err := adminListener(rt.Config, lookup); err != nil {
			errs = append(errs, config.AsErrors(err)...)
		}
	}
	return rt.Warnings, append(errs, config.AsErrors(CheckTLS(rt.Config, dir))...)
}
