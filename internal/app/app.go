// Package app is the composition root: it loads the config directory, builds
// the gateway, starts the listeners, reloads gateway.config.yml when it
// changes, and shuts down gracefully. The policy environment and the
// authorization server are built by one pair of functions (env.go) for
// serve and config validate alike, on the store backend system.config.yml
// names (identity.go, redis.go: the config's db block turned into the
// backend's own options). Options.Now is the clock of everything that
// expires. The access log (internal/accesslog) is written by a goroutine
// of its own; Shutdown writes out its queued lines once the requests are
// done.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/echo"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/oauth2server"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Options configure one gateway process.
type Options struct {
	ConfigDir string
	DataDir   string
	Logger    *slog.Logger
	// AccessLog receives one line per request, written by a goroutine of
	// its own (internal/accesslog); nil disables access logs. Shutdown
	// writes out the queued lines; it does not close the writer.
	AccessLog io.Writer
	// AccessFormat is the access log's line format (accesslog.JSON, the
	// zero value, or accesslog.Text).
	AccessFormat accesslog.Format
	// AccessQueue is how many lines may wait for the access log's writer;
	// lines beyond it are dropped and counted. 0: accesslog.DefaultQueue.
	AccessQueue int
	// AccessSample is the fraction of successful requests logged (refusals
	// and errors always are); 0 or 1 logs everything.
	AccessSample float64
	// EchoUpstream, when set, also serves the echo upstream on this address
	// (the quickstart's demo backend).
	EchoUpstream string
	// ReloadInterval is how often gateway.config.yml is checked for changes
	// (default 500ms); negative disables polling (SIGHUP still reloads).
	ReloadInterval time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests (default 30s).
	ShutdownTimeout time.Duration
	Lookup          config.Lookup
	// BcryptCost, when set, replaces crypto.saltRounds, which the config
	// refuses below 10: for tests, which hash many passwords under the
	// race detector. Production leaves it 0.
	BcryptCost int
	// Now is the clock of what expires: tokens, codes and sessions, JWTs'
	// exp and nbf, the embedded and memory stores' keys, the per-process
	// rate limits (Redis expires on its own clock). Default time.Now;
	// tests move it forward instead of sleeping. Timers (polling,
	// timeouts) keep the real time.
	Now func() time.Time
}

// Server limits used when the config sets none.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// App is a running gateway.
type App struct {
	opts    Options
	log     *slog.Logger
	gw      *gateway.Gateway
	access  *accesslog.Logger // nil: no access log
	system  *config.System
	servers []*http.Server
	addrs   map[string]net.Addr
	env     policyenv.Env
	watch   *watcher
	store   *store.Store
	models  *model.Models
	metrics *metrics.Metrics
	oauth   *oauth2server.Server
	// oauthOn mirrors whether the serving config declares the oauth2
	// policy: its endpoints exist only then (as in Express Gateway).
	oauthOn atomic.Bool

	shutdownOnce  sync.Once
	shutdownErr   error
	reloadMu      sync.Mutex
	lastReloadErr string // guarded by reloadMu
	// bound holds the listener settings the process started with, which a
	// reload cannot change (guarded by reloadMu after Start).
	bound []any
	done  chan struct{}
	wg    sync.WaitGroup
}

// Start loads the config, binds every listener and starts serving. It
// returns once the listeners are bound; Shutdown stops them.
func Start(opts Options) (*App, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &App{opts: opts, log: opts.Logger, addrs: map[string]net.Addr{}, done: make(chan struct{}), metrics: metrics.New()}
	if a.system, err = config.LoadSystem(opts.ConfigDir, opts.Lookup); err != nil {
		return nil, err
	}
	// gateway.config.yml is parsed before the store opens, so that a bad
	// file is reported without touching the data file or Redis.
	cfg, data, err := a.readGateway()
	if err != nil {
		return nil, err
	}
	if err := a.startIdentity(context.Background()); err != nil {
		return nil, err
	}
	rt, err := gateway.Build(cfg, &a.env, gateway.Policies(a.oauth))
	if err != nil {
		a.store.Close()
		return nil, err
	}
	rt.Source = data
	if opts.AccessLog != nil {
		a.access = accesslog.New(opts.AccessLog, accesslog.Options{Format: opts.AccessFormat,
			Queue: opts.AccessQueue, Dropped: a.metrics.AccessLogDropped, Log: a.log})
	}
	a.startGateway(rt)
	if err := a.listen(rt.Config); err != nil {
		a.Shutdown(context.Background())
		return nil, err
	}
	if opts.ReloadInterval > 0 {
		a.wg.Add(1)
		go a.poll()
	}
	return a, nil
}

// withDefaults fills in what the caller left unset, and makes the config
// dir absolute.
func (o Options) withDefaults() (Options, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Lookup == nil {
		o.Lookup = os.LookupEnv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = 500 * time.Millisecond
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	dir, err := filepath.Abs(o.ConfigDir)
	if err != nil {
		return o, err
	}
	o.ConfigDir = dir
	if o.DataDir == "" {
		o.DataDir = filepath.Join(dir, "data")
	}
	return o, nil
}

// readGateway starts watching gateway.config.yml and parses it once: Start
// builds the runtime from the parsed config, the bytes are what it serves
// (the config-editing Admin API's base).
func (a *App) readGateway() (*config.Gateway, []byte, error) {
	var err error
	if a.watch, err = newWatcher(a.opts.ConfigDir); err != nil {
		return nil, nil, err
	}
	g, data, err := a.watch.read()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.ParseGateway(filepath.Base(a.watch.path), data, a.opts.Lookup)
	if err != nil {
		return nil, nil, err
	}
	a.watch.accept(g)
	return cfg, data, nil
}

// startGateway makes rt the serving runtime of a new data plane, with the
// OAuth2 endpoints in front while the config declares the oauth2 policy.
func (a *App) startGateway(rt *gateway.Runtime) {
	a.bound = listenerParts(rt.Config)
	a.logWarnings(rt)
	a.gw = gateway.New(rt, a.opts.Logger, a.access)
	a.gw.Metrics = a.metrics
	a.gw.AccessSample = a.opts.AccessSample
	a.gw.Clients = a.env.Clients
	a.oauthOn.Store(declares(rt.Config, "oauth2"))
	a.gw.Pre = func(w http.ResponseWriter, r *http.Request) bool {
		return a.oauthOn.Load() && a.oauth.Handle(w, r)
	}
}

func (a *App) listen(cfg *config.Gateway) error {
	if a.opts.EchoUpstream != "" {
		if err := a.serve("echo", a.opts.EchoUpstream, echo.Handler("echo"), nil, nil); err != nil {
			return err
		}
	}
	if cfg.HTTP != nil {
		if err := a.serve("http", cfg.HTTP.Addr(config.DefaultHTTPPort), a.gw, cfg.HTTP, nil); err != nil {
			return err
		}
	}
	if cfg.Admin != nil {
		h, addr, err := a.adminHandler(cfg)
		if err != nil {
			return err
		}
		if err := a.serve("admin", addr, a.opsHandler(h), &cfg.Admin.Listener, nil); err != nil {
			return err
		}
	}
	if cfg.HTTPS != nil {
		tlsConf, err := tlsConfig(cfg.HTTPS, a.opts.ConfigDir)
		if err != nil {
			return err
		}
		if err := a.serve("https", cfg.HTTPS.Addr(config.DefaultHTTPSPort), a.gw, &cfg.HTTPS.Listener, tlsConf); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) serve(name, addr string, h http.Handler, l *config.Listener, tlsConf *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener: %w", name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	if l != nil {
		if l.ReadHeaderTimeout > 0 {
			srv.ReadHeaderTimeout = time.Duration(l.ReadHeaderTimeout)
		}
		if l.IdleTimeout > 0 {
			srv.IdleTimeout = time.Duration(l.IdleTimeout)
		}
		srv.ReadTimeout = time.Duration(l.ReadTimeout)
		srv.WriteTimeout = time.Duration(l.WriteTimeout)
		if l.MaxHeaderBytes > 0 {
			srv.MaxHeaderBytes = l.MaxHeaderBytes
		}
	}
	if l != nil {
		lim := resolveLimits(l)
		access := a.access
		if name == "admin" {
			access = nil // the admin listener has no access log
		}
		srv.Handler = &guard{next: h, lim: lim, log: a.log, access: access}
		ln = a.limitListener(name, ln, srv, lim, tlsConf)
	} else {
		ln = wrapTLS(ln, srv, tlsConf)
	}
	a.servers = append(a.servers, srv)
	a.addrs[name] = ln.Addr()
	a.log.Info("listening", "listener", name, "addr", ln.Addr().String())
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("listener stopped", "listener", name, "error", err)
		}
	}()
	return nil
}

// Addr is the bound address of a listener ("http", "https", "echo"), nil
// when it is not running.
func (a *App) Addr(name string) net.Addr { return a.addrs[name] }

// Store is the identity store, for tests.
func (a *App) Store() *store.Store { return a.store }

// FlushAccessLog returns once the access-log lines of the requests
// answered so far are written (tests read the log right after a
// response; Shutdown flushes on its own).
func (a *App) FlushAccessLog() { a.access.Flush() }

// Gateway is the data plane, for tests.
func (a *App) Gateway() *gateway.Gateway { return a.gw }

// Shutdown stops accepting connections, waits for in-flight requests (up to
// ctx or the shutdown timeout) and stops the reload loop.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	close(a.done)
	ctx, cancel := context.WithTimeout(ctx, a.opts.ShutdownTimeout)
	defer cancel()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range a.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	a.wg.Wait()
	// The requests are done: their lines go out before Shutdown returns
	// (a graceful stop loses none). A hijacked connection's handler that
	// ends later writes its line directly.
	a.access.Close()
	if a.gw != nil {
		a.gw.Current().Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reload rereads gateway.config.yml now (SIGHUP). A file that fails to load
// or build changes nothing; the error is returned and logged with its
// file:line positions.
func (a *App) Reload() error { return a.reload(true) }

func (a *App) reload(force bool) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if force {
		a.watch.accepted = generation{} // reread even when the stamp is unchanged
	}
	g, data, err := a.watch.read()
	if err != nil {
		if msg := err.Error(); msg != a.lastReloadErr { // once, not on every poll
			a.log.Error("config reload failed", "error", err)
			a.metrics.Reloads.WithLabelValues("failure").Inc()
			a.lastReloadErr = msg
		}
		return err
	}
	if data == nil || (!force && !a.watch.changed(g)) {
		a.watch.accept(g)
		return nil
	}
	if !force && !a.watch.settled(g) {
		return nil // still being written: the next poll loads it
	}
	a.watch.accept(g) // a bad file is reported once, not on every poll
	rt, err := gateway.Load(filepath.Base(a.watch.path), data, a.opts.Lookup, &a.env, gateway.Policies(a.oauth))
	if err == nil {
		a.oauthOn.Store(declares(rt.Config, "oauth2"))
		old := a.gw.Swap(rt)
		old.Close()
		a.logWarnings(rt)
		a.warnRestartOnly(old.Config, rt.Config)
		a.metrics.Reloads.WithLabelValues("success").Inc()
		a.log.Info("config reloaded", "file", a.watch.path, "routes", rt.Routes())
		a.lastReloadErr = ""
		return nil
	}
	a.metrics.Reloads.WithLabelValues("failure").Inc()
	for _, e := range config.AsErrors(err) {
		a.log.Error("config reload rejected, the previous config keeps serving", "error", e.Error())
	}
	return err
}

func (a *App) logWarnings(rt *gateway.Runtime) {
	for _, w := range rt.Warnings {
		a.log.Warn(w)
	}
}

// warnRestartOnly logs changes to listeners (addresses, limits, TLS
// certificates) and the admin block, which take effect on restart only.
// They are compared with what the process is running, not with the
// previous file: an edit that puts back the running settings needs no
// restart and is said to, and an unrelated edit after an unapplied one
// does not repeat the warning.
func (a *App) warnRestartOnly(old, cur *config.Gateway) {
	prev, now := listenerParts(old), listenerParts(cur)
	if reflect.DeepEqual(prev, now) {
		return
	}
	if reflect.DeepEqual(now, a.bound) {
		a.log.Info("the http, https and admin settings are back to the ones running: no restart needed")
		return
	}
	a.log.Warn("the http, https or admin settings changed in the config: restart gatehouse to apply them (routes and pipelines were reloaded)")
}

func listenerParts(g *config.Gateway) []any {
	strip := func(l config.Listener) config.Listener { l.Pos = config.Pos{}; return l }
	var out []any
	if g.HTTP != nil {
		out = append(out, strip(*g.HTTP))
	}
	if g.HTTPS != nil {
		h := *g.HTTPS
		h.Listener = strip(h.Listener)
		out = append(out, h)
	}
	if g.Admin != nil {
		ad := *g.Admin
		ad.Listener = strip(ad.Listener)
		out = append(out, ad)
	}
	return out
}

func (a *App) poll() {
	defer a.wg.Done()
	t := time.NewTicker(a.opts.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
			_ = a.reload(false)
		}
	}
}
