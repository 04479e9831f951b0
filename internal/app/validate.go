package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/oauth2server"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/proxy"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
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
		if _, err := redisstore.FromConfig(sys.DB.Redis, dir); err != nil {
			errs = append(errs, config.AsErrors(err)...)
		}
	}
	if _, err := model.Load(dir); err != nil {
		errs = append(errs, config.AsErrors(err)...)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer s.Close()
	limiter := ratelimit.NewLocal(nil)
	outbound := proxy.Environment(lookup)
	env := pipeline.Env{Logger: log, Now: time.Now, ConfigDir: dir, Identity: s, HTTPClient: outboundClient(outbound), RateLimiter: limiter,
		UpstreamProxy: outbound}
	srv, err := oauth2server.New(context.Background(), oauth2server.Options{Store: s, System: sys, Logger: log, ConfigDir: dir, Limiter: limiter})
	if err != nil {
		errs = append(errs, config.AsErrors(err)...)
	} else {
		env.OAuth2 = srv
	}
	var warnings []string
	p, err := config.FindFile(dir, config.GatewayBase)
	if err == nil {
		var data []byte
		if data, err = config.ReadFile(p); err == nil {
			var rt *gateway.Runtime
			if rt, err = gateway.Load(filepath.Base(p), data, lookup, &env, gateway.Policies()); err == nil {
				warnings = rt.Warnings
				err = CheckTLS(rt.Config, dir)
				if rt.Config.Admin != nil {
					// serve refuses a key-less Admin API off loopback.
					if _, _, _, aerr := adminListener(rt.Config, lookup); aerr != nil {
						errs = append(errs, config.AsErrors(aerr)...)
					}
				}
				rt.Close()
			}
		}
	}
	if err != nil {
		errs = append(errs, config.AsErrors(err)...)
	}
	return warnings, errs.Err()
}
