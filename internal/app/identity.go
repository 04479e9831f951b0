package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/oauth2server"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/boltstore"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
)

// DataFile is the embedded store's file in the data directory.
const DataFile = "gatehouse.db"

// openBackend picks the store the way an unchanged Express Gateway
// system.config.yml expects: no db block → the embedded file store in the
// data dir; db.redis.emulate → memory; db.redis with a host → Redis.
func openBackend(ctx context.Context, sys *config.System, dataDir, configDir string, log *slog.Logger) (store.Backend, string, error) {
	if sys.DB == nil || sys.DB.Redis == nil {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("data dir: %w", err)
		}
		p := filepath.Join(dataDir, DataFile)
		b, err := boltstore.Open(p, boltstore.Options{})
		if err != nil {
			return nil, "", err
		}
		return b, "embedded file " + p, nil
	}
	r := sys.DB.Redis
	if r.Emulate {
		return memstore.New(nil), "memory (db.redis.emulate: nothing is kept across restarts)", nil
	}
	opts, err := redisstore.FromConfig(r, configDir)
	if err != nil {
		return nil, "", err
	}
	opts.Logger = log
	b, err := redisstore.New(ctx, opts)
	if err != nil {
		return nil, "", err
	}
	if len(r.Cluster) > 0 {
		return b, "redis cluster " + strings.Join(r.Cluster, ","), nil
	}
	return b, "redis " + opts.Addr, nil
}

// outboundClient is the client policies use for JWKS and introspection:
// bounded at every step, never following redirects off to another host
// silently more than a few times. It goes through the environment's
// outbound proxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), the one the proxy
// policy uses for upstreams, read once through the app's Lookup; nil: none.
func outboundClient(env *httpproxy.Config) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	var viaProxy func(*http.Request) (*url.URL, error)
	if env != nil {
		pick := env.ProxyFunc()
		viaProxy = func(r *http.Request) (*url.URL, error) { return pick(r.URL) }
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:                 viaProxy,
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 15 * time.Second,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// startIdentity opens the store and builds the OAuth2 server (when oauth2
// is among the declared policies) and the Admin API handler.
func (a *App) startIdentity(ctx context.Context, cfg *config.Gateway) error {
	b, desc, err := openBackend(ctx, a.system, a.opts.DataDir, a.opts.ConfigDir, a.log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	cost, minPassword := 10, 0 // 0: store.DefaultMinPasswordLength
	if c := a.system.Crypto; c != nil {
		if c.SaltRounds > 0 {
			cost = c.SaltRounds
		}
		minPassword = c.MinPasswordLength
	}
	if a.opts.BcryptCost > 0 {
		cost = a.opts.BcryptCost
	}
	so := store.Options{BcryptCost: cost, MinPasswordLength: minPassword, Logger: a.log}
	if f := a.system.FailureLimits; f != nil && f.PasswordChecks != nil {
		// The CPU bound on bcrypt checks (failureLimits.passwordChecks).
		so.PasswordChecks, so.PasswordCheckWait = f.PasswordChecks.Concurrency, time.Duration(f.PasswordChecks.MaxWait)
	}
	a.store = store.New(b, so)
	a.log.Info("identity store", "backend", desc)
	stat := func(i int) func() float64 {
		return func() float64 {
			h, m, vh, vm := a.store.CacheStats()
			return float64([]uint64{h, m, vh, vm}[i])
		}
	}
	a.metrics.RegisterCache("records", stat(0), stat(1))
	a.metrics.RegisterCache("secrets", stat(2), stat(3))
	a.env.Metrics = a.metrics
	if rb, ok := b.(*redisstore.Redis); ok {
		// Limits are shared by every node on the same Redis.
		a.env.RateLimiter = ratelimit.NewRedis(rb.Client(), "{"+rb.Namespace()+"}:rl:")
	} else {
		a.env.RateLimiter = ratelimit.NewLocal(nil)
	}
	a.env.Identity = a.store
	a.env.HTTPClient = outboundClient(a.env.UpstreamProxy)
	// Failed authentications are counted on the same limiter: on Redis
	// every node shares the counts (failureLimits).
	a.env.Lockout = lockout.NewSet(a.env.RateLimiter, a.system.FailureLimits)

	// The server always exists, so that a reload may enable the oauth2
	// policy; its endpoints answer only while the config declares it.
	srv, err := oauth2server.New(ctx, oauth2server.Options{Store: a.store, System: a.system, Logger: a.log, ConfigDir: a.opts.ConfigDir, Limiter: a.env.RateLimiter, Lockout: a.env.Lockout, Metrics: a.metrics})
	if err != nil {
		return fmt.Errorf("oauth2: %w", err)
	}
	a.oauth = srv
	a.env.OAuth2 = srv
	models, err := model.Load(a.opts.ConfigDir)
	if err != nil {
		return err
	}
	a.models = models
	return nil
}

func declares(cfg *config.Gateway, name string) bool {
	for _, p := range cfg.Policies {
		if p.Name == name {
			return true
		}
	}
	return false
}

// adminHandler is the Admin API for the admin block of the config.
func (a *App) adminHandler(cfg *config.Gateway) (http.Handler, string, error) {
	addr, key, names, err := adminListener(cfg, a.opts.Lookup)
	if err != nil {
		return nil, "", err
	}
	return admin.New(a.store, a.models, admin.Options{APIKey: key, Logger: a.log, Metrics: a.metrics, Hostnames: names,
		Config: &configEditor{a: a}}), addr, nil
}

// adminListener resolves the Admin API's address, key and accepted Host
// names from the admin block, and refuses a key-less Admin API off
// loopback. serve and config validate both call it, so validate says no
// where serve would.
func adminListener(cfg *config.Gateway, lookup config.Lookup) (addr, key string, names []string, err error) {
	ad := cfg.Admin
	host, port := "localhost", config.DefaultAdminPort
	key, _ = lookup("GATEHOUSE_ADMIN_KEY")
	if ad != nil {
		if h := ad.HostName(); h != "" {
			host = h
		}
		port = ad.PortOr(config.DefaultAdminPort)
		if ad.APIKey != "" {
			key = ad.APIKey
		}
	}
	addr = net.JoinHostPort(host, fmt.Sprint(port))
	if key == "" && !loopback(host) {
		line := 0
		if ad != nil {
			line = ad.Pos.Line
		}
		return "", "", nil, config.Errors{{File: cfg.File, Line: line, Path: "admin",
			Msg: fmt.Sprintf("the Admin API would listen on %s without an API key: set admin.apiKey (or GATEHOUSE_ADMIN_KEY), or bind it to localhost", addr)}}
	}
	// The names clients may send in Host (admin.New refuses others, 421):
	// the configured host, when it is a name, and admin.hostnames.
	names = []string{host}
	if ad != nil {
		names = append(names, ad.Hostnames...)
	}
	return addr, key, names, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
