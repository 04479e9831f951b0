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
	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/policy/proxy"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/boltstore"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
)

// DataFile is the embedded store's file in the data directory.
const DataFile = "gatehouse.db"

// backend is an opened store backend and what comes with it.
type backend struct {
	b    store.Backend
	desc string // for the log
	// limiter counts the rate-limit policy's requests and the failure
	// limits: on the backend's Redis, so that every node on it shares the
	// counts; per process otherwise.
	limiter ratelimit.Limiter
	// shared: several nodes, maybe of different versions, use it (Redis).
	shared bool
}

// openBackend picks the store the way an unchanged Express Gateway
// system.config.yml expects: no db block → the embedded file store in the
// data dir; db.redis.emulate → memory; db.redis with a host → Redis. now
// is the clock of the embedded and memory stores' expiries (Redis
// expires on its own clock).
func openBackend(ctx context.Context, sys *config.System, dataDir, configDir string, now func() time.Time, log *slog.Logger) (backend, error) {
	if sys.DB == nil || sys.DB.Redis == nil {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return backend{}, fmt.Errorf("data dir: %w", err)
		}
		p := filepath.Join(dataDir, DataFile)
		b, err := boltstore.Open(p, boltstore.Options{Now: now})
		if err != nil {
			return backend{}, err
		}
		return backend{b: b, desc: "embedded file " + p, limiter: ratelimit.NewLocal(now)}, nil
	}
	r := sys.DB.Redis
	if r.Emulate {
		return backend{b: memstore.New(now), desc: "memory (db.redis.emulate: nothing is kept across restarts)",
			limiter: ratelimit.NewLocal(now)}, nil
	}
	opts, err := redisOptions(r, configDir)
	if err != nil {
		return backend{}, err
	}
	opts.Logger = log
	b, err := redisstore.New(ctx, opts)
	if err != nil {
		return backend{}, err
	}
	desc := "redis " + opts.Addr
	if len(r.Cluster) > 0 {
		desc = "redis cluster " + strings.Join(r.Cluster, ",")
	}
	// Limits are shared by every node on the same Redis.
	return backend{b: b, desc: desc, limiter: ratelimit.NewRedis(b.Client(), "{"+b.Namespace()+"}:rl:"), shared: true}, nil
}

// storeOptions are the identity store's options from system.config.yml's
// crypto and failureLimits blocks, and the process's clock and log.
func storeOptions(sys *config.System, opts Options, log *slog.Logger) store.Options {
	cost, minPassword := 10, 0 // 0: store.DefaultMinPasswordLength
	if c := sys.Crypto; c != nil {
		if c.SaltRounds > 0 {
			cost = c.SaltRounds
		}
		minPassword = c.MinPasswordLength
	}
	if opts.BcryptCost > 0 {
		cost = opts.BcryptCost
	}
	so := store.Options{Now: opts.Now, BcryptCost: cost, MinPasswordLength: minPassword, Logger: log}
	if f := sys.FailureLimits; f != nil && f.PasswordChecks != nil {
		// The CPU bound on bcrypt checks (failureLimits.passwordChecks).
		so.PasswordChecks, so.PasswordCheckWait = f.PasswordChecks.Concurrency, time.Duration(f.PasswordChecks.MaxWait)
	}
	return so
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

// startIdentity opens the store, and builds on it the policy environment,
// the OAuth2 server and the models the Admin API validates with.
func (a *App) startIdentity(ctx context.Context) error {
	be, err := openBackend(ctx, a.system, a.opts.DataDir, a.opts.ConfigDir, a.opts.Now, a.log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	so := storeOptions(a.system, a.opts, a.log)
	// Nodes sharing a Redis may run different versions during a rolling
	// upgrade: tokens are written in the format they all read.
	so.JSONTokens = be.shared
	a.store = store.New(be.b, so)
	a.log.Info("identity store", "backend", be.desc)
	a.registerCacheMetrics()
	if err := a.buildEnv(ctx, be.limiter); err != nil {
		a.store.Close()
		return err
	}
	models, err := model.Load(a.opts.ConfigDir)
	if err != nil {
		a.store.Close()
		return err
	}
	a.models = models
	return nil
}

// buildEnv builds the policy environment and the OAuth2 server on the
// opened store, as config validate does on its stand-in.
func (a *App) buildEnv(ctx context.Context, limiter ratelimit.Limiter) error {
	p := envParams{system: a.system, configDir: a.opts.ConfigDir, lookup: a.opts.Lookup, now: a.opts.Now, log: a.log,
		store: a.store, limiter: limiter, metrics: a.metrics}
	env, err := policyEnv(p)
	if err != nil {
		return err
	}
	if up := env.UpstreamProxy; up != nil {
		a.log.Info("upstreams go through the environment's proxy (never for localhost and loopback addresses)", proxy.Describe(up)...)
	}
	// The server always exists, so that a reload may enable the oauth2
	// policy; its endpoints answer only while the config declares it.
	srv, err := authServer(ctx, p, &env)
	if err != nil {
		return fmt.Errorf("oauth2: %w", err)
	}
	a.env, a.oauth = env, srv
	return nil
}

// registerCacheMetrics exports the store's cache hit and miss counts.
func (a *App) registerCacheMetrics() {
	stat := func(i int) func() float64 {
		return func() float64 {
			h, m, vh, vm := a.store.CacheStats()
			return float64([]uint64{h, m, vh, vm}[i])
		}
	}
	a.metrics.RegisterCache("records", stat(0), stat(1))
	a.metrics.RegisterCache("secrets", stat(2), stat(3))
	a.metrics.RegisterCacheSize("records", a.store.RecordCacheSize)
	a.metrics.RegisterCacheSize("secrets", a.store.SecretCacheSize)
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
