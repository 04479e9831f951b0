// Package oauth2server is Gatehouse's OAuth 2.0 authorization server: the
// endpoints Express Gateway mounts when the oauth2 policy is enabled
// (/oauth2/authorize, /oauth2/authorize/decision, /oauth2/token, /login,
// /logout) and what it lacks: an account page (/oauth2/account), revocation (RFC 7009), introspection
// (RFC 7662), metadata (RFC 8414), PKCE (RFC 7636), refresh-token rotation
// (RFC 9700 §4.14), JWT access tokens (RFC 9068) with a JWKS, and an
// OpenID Connect provider (ID tokens, userinfo, discovery: idtoken.go,
// userinfo.go).
//
// It works through role-sized store interfaces (storage.go), not the whole
// store, and is given the client address of a request (Options.ClientAddr)
// rather than reading the gateway's pipeline state.
package oauth2server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/clientaddr"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/lrucache"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Options configure the server; zero values take Express Gateway's
// shipped defaults.
type Options struct {
	// Store is the identity store in the roles the server uses
	// (storage.go); *store.Store is one.
	Store  Storage
	System *config.System
	Logger *slog.Logger
	Now    func() time.Time
	// ConfigDir holds the optional views/ folder that overrides the pages.
	ConfigDir string
	// AllowImplicit enables response_type=token (off by default: RFC 9700
	// §2.1.2 recommends against the implicit grant).
	AllowImplicit bool
	// AllowPlainPKCE accepts code_challenge_method=plain (off by default).
	AllowPlainPKCE bool
	// Issuer overrides accessTokens.issuer; empty derives it from the
	// request (scheme and host), for trusted hosts only (names.go).
	Issuer string
	// Hostnames are trusted besides the issuer's host and the loopback
	// names, added to system.config.yml's oauth2.hostnames.
	Hostnames []string
	// Lockout limits failed sign-ins and client authentications
	// (internal/lockout); nil builds it from System's failureLimits on
	// Limiter.
	Lockout *lockout.Set
	// Limiter counts the failures; the gateway passes its own (shared by
	// every node on Redis). Default: per process.
	Limiter ratelimit.Limiter
	// Metrics counts issued and revoked tokens; nil counts nothing.
	Metrics *metrics.Metrics
	// ClientAddr is the address of the client a request comes from, which
	// the failure limits count per (lockout.go). The gateway passes its
	// own (pipeline.ClientIP: behind trusted proxies, the address they
	// forwarded); nil: the TCP peer.
	ClientAddr func(*http.Request) netip.Addr
}

// withDefaults fills what o leaves unset.
func (o Options) withDefaults() Options {
	if o.System == nil {
		o.System = &config.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientAddr == nil {
		o.ClientAddr = func(r *http.Request) netip.Addr { return clientaddr.Peer(r.RemoteAddr) }
	}
	if o.Limiter == nil {
		o.Limiter = ratelimit.NewLocal(o.Now)
	}
	if o.Lockout == nil {
		o.Lockout = lockout.NewSet(o.Limiter, o.System.FailureLimits)
	}
	if sys := o.System; sys.OAuth2 != nil { // system.config.yml's oauth2 block turns them on too
		o.AllowImplicit = o.AllowImplicit || sys.OAuth2.AllowImplicit
		o.AllowPlainPKCE = o.AllowPlainPKCE || sys.OAuth2.AllowPlainPKCE
	}
	return o
}

// Lifetimes of what the server issues.
type lifetimes struct {
	access, refresh, code, session, transaction time.Duration
}

// Server serves the OAuth2 endpoints. Build it with New; Handle claims the
// requests that belong to it.
type Server struct {
	o       Options
	s       Storage
	log     *slog.Logger
	now     func() time.Time
	life    lifetimes
	jwtMode bool
	keys    *keyring
	// oidc signs ID tokens, in every mode (idtoken.go).
	oidc *oidcProvider
	// backchannel delivers Back-Channel Logout 1.0 logout tokens
	// (backchannel.go).
	backchannel *backchannel
	views       *template.Template
	static      fs.FS
	lockout     *lockout.Set
	audience    []string
	// parseOpts are the JWT checks (jwtParseOptions).
	parseOpts []jwt.ParserOption
	// jwtCache holds verified JWT access tokens until they expire.
	jwtCache *lrucache.Cache[[32]byte, *jwtEntry]
	// jwtLookups counts jwtCache's hits and misses (nil without metrics).
	jwtLookups *metrics.CacheCounter
	// hosts are the trusted host names besides the loopback ones
	// (names.go).
	hosts map[string]bool
	// noIssuerOnce warns, once, that accessTokens.issuer is not set;
	// refusedOnce logs the first 421 at warning level.
	noIssuerOnce, refusedOnce sync.Once
	mux                       *http.ServeMux
	// signInRedirect is where a sign-in no application started lands
	// (oauth2.signInRedirect; default the account page).
	signInRedirect string

	// legacyClaims adds Express Gateway's consumerId and scopes claims to
	// JWT access tokens (accessTokens.legacyClaims, default on).
	legacyClaims bool
}

// New builds the server, loading (or creating) the JWT signing keys when
// access tokens are JWTs.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("oauth2server: a store is required")
	}
	o = o.withDefaults()
	sys := o.System
	// An absent timeToExpiry takes the default; 0 issues what is already
	// expired, as in Express Gateway (Server.issue and the decision's code).
	srv := &Server{o: o, s: o.Store, log: o.Logger, now: o.Now,
		life: lifetimes{
			access:      sys.AccessTokens.Lifetime(2 * time.Hour),
			refresh:     sys.RefreshTokens.Lifetime(2 * time.Hour),
			code:        sys.AuthorizationCodes.Lifetime(5 * time.Minute),
			session:     8 * time.Hour,
			transaction: 10 * time.Minute,
		},
		lockout:      o.Lockout,
		legacyClaims: sys.AccessTokens.Legacy(),
	}
	if at := sys.AccessTokens; at != nil {
		srv.jwtMode = at.TokenType == "jwt"
		if o.Issuer == "" {
			o.Issuer = at.Issuer
			srv.o.Issuer = at.Issuer
		}
		srv.audience = at.Audience
	}
	names := o.Hostnames
	if sys.OAuth2 != nil {
		names = append(names, sys.OAuth2.Hostnames...)
	}
	hosts, err := trustedNames(srv.o.Issuer, names)
	if err != nil {
		return nil, fmt.Errorf("oauth2server: %w", err)
	}
	srv.hosts = hosts
	srv.oidc = newOIDC(o, srv.life.session)
	srv.backchannel = newBackchannel(srv.log)
	srv.signInRedirect = accountPath
	if sys.OAuth2 != nil && sys.OAuth2.SignInRedirect != "" { // checked at load (config)
		srv.signInRedirect = sys.OAuth2.SignInRedirect
	}
	if srv.jwtMode {
		kr, err := loadKeyring(ctx, o.Store, sys.AccessTokens, o.ConfigDir, o.Now, srv.life.access)
		if errors.Is(err, store.ErrUnavailable) && kr != nil {
			o.Logger.Warn("oauth2: the JWT signing keys could not be loaded: the store is unavailable; token requests answer 503 until it is back", "error", err)
		} else if err != nil {
			return nil, err
		}
		srv.keys = kr
		srv.parseOpts = srv.jwtParseOptions()
		srv.jwtCache = lrucache.New(jwtCacheSize, jwtCacheBytes, func(_ [32]byte, e *jwtEntry) int { return e.size })
		srv.jwtLookups = srv.o.Metrics.Cache("oauth2-jwt")
		srv.o.Metrics.RegisterCacheSize("oauth2-jwt", srv.jwtCache.Stats)
	}
	views, static, err := loadViews(o.ConfigDir)
	if err != nil {
		return nil, err
	}
	srv.views, srv.static = views, static
	srv.routes()
	return srv, nil
}

func (srv *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /oauth2/authorize", srv.authorize)
	m.HandleFunc("POST /oauth2/authorize/decision", srv.decision)
	m.HandleFunc("POST /oauth2/token", srv.token)
	m.HandleFunc("POST /oauth2/revoke", srv.revoke)
	m.HandleFunc("POST /oauth2/introspect", srv.introspect)
	// Any other method gets an RFC 6749 §5.2 JSON error, as every other
	// refusal of these endpoints (the mux's own 405 is text/plain).
	for _, p := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"} {
		m.HandleFunc(p, srv.postOnly)
	}
	m.HandleFunc("GET /.well-known/oauth-authorization-server", srv.metadata)
	// OpenID Connect Discovery 1.0 §4: the same document (one builder),
	// with the provider metadata of §3.
	m.HandleFunc("GET /.well-known/openid-configuration", srv.metadata)
	// Core 1.0 §5.3.1: GET and POST.
	m.HandleFunc("GET "+userinfoPath, srv.userinfo)
	m.HandleFunc("POST "+userinfoPath, srv.userinfo)
	m.HandleFunc(userinfoPath, srv.userinfoMethod)
	m.HandleFunc("GET /.well-known/jwks.json", srv.jwks)
	m.HandleFunc("GET /login", srv.loginPage)
	m.HandleFunc("POST /login", srv.login)
	m.HandleFunc("GET /logout", srv.logoutPage)
	m.HandleFunc("POST /logout", srv.logout)
	// RP-Initiated Logout 1.0 §2: GET and POST.
	m.HandleFunc("GET "+endSessionPath, srv.endSession)
	m.HandleFunc("POST "+endSessionPath, srv.endSession)
	m.HandleFunc("GET "+accountPath, srv.accountPage)
	m.HandleFunc("POST "+accountRevokePath, srv.accountRevoke)
	m.HandleFunc("GET "+consentsPath, srv.consentsPage)
	m.HandleFunc("POST "+consentsRevokePath, srv.consentsRevoke)
	files := http.StripPrefix("/oauth2/static/", http.FileServerFS(srv.static))
	m.Handle("GET /oauth2/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // files only: no directory listings
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	srv.mux = m
}

// Owns reports whether the path is one of the server's endpoints (they are
// served on every host, before the pipelines, as in Express Gateway).
func Owns(path string) bool {
	switch path {
	case "/login", "/logout", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/.well-known/jwks.json":
		return true
	}
	return strings.HasPrefix(path, "/oauth2/")
}

// Handle serves the request when it belongs to the server: a request for
// a host the server does not trust gets 421 (names.go).
func (srv *Server) Handle(w http.ResponseWriter, r *http.Request) bool {
	if !Owns(r.URL.Path) {
		return false
	}
	if srv.o.Issuer == "" {
		// Handle runs only while the config declares the oauth2 policy, so
		// the warning does not bother gateways that do not use the server.
		srv.noIssuerOnce.Do(func() {
			srv.log.Warn("oauth2: accessTokens.issuer is not set in system.config.yml: the authorization server answers only for loopback hosts (localhost, 127.0.0.1, [::1]) and oauth2.hostnames, and refuses every other Host with 421; set it to the public URL clients use")
		})
	}
	if !srv.trusted(r.Host) {
		srv.misdirected(w, r)
		return true
	}
	srv.mux.ServeHTTP(w, r)
	return true
}

// ServeHTTP serves only the server's endpoints (for tests).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !srv.Handle(w, r) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
	}
}

// JWTMode reports whether access tokens are JWTs.
func (srv *Server) JWTMode() bool { return srv.jwtMode }

// postOnly answers a request to a POST-only endpoint (token: RFC 6749
// §3.2; revocation: RFC 7009 §2.1; introspection: RFC 7662 §2.1) made with
// another method: 405 with Allow (RFC 9110 §15.5.6) and the JSON error
// body of §5.2, so a client reads why as it reads any other refusal.
func (srv *Server) postOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	srv.writeOAuthError(w, &oauthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request",
		Description: r.URL.Path + " accepts only POST, not " + r.Method})
}

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	Status      int
	Code        string
	Description string
	// Basic adds WWW-Authenticate: Basic (client authentication by the
	// Authorization header failed, §5.2 invalid_client).
	Basic bool
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func errInvalidRequest(format string, args ...any) *oauthError {
	return &oauthError{Status: 400, Code: "invalid_request", Description: sprintf(format, args...)}
}

func errInvalidGrant(desc string) *oauthError {
	return &oauthError{Status: 400, Code: "invalid_grant", Description: desc}
}

func errInvalidScope(desc string) *oauthError {
	return &oauthError{Status: 400, Code: "invalid_scope", Description: desc}
}

func errInvalidClient(basic bool) *oauthError {
	return &oauthError{Status: 401, Code: "invalid_client", Description: "Invalid client credentials", Basic: basic}
}

func (srv *Server) writeOAuthError(w http.ResponseWriter, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		if oe = limitedError(w, err); oe != nil {
			// a failure limit or the password-check bound (lockout.go)
		} else if errors.Is(err, store.ErrUnavailable) {
			srv.storeError()
			w.Header().Set("Retry-After", "1")
			oe = &oauthError{Status: 503, Code: "temporarily_unavailable", Description: "the store is unavailable; try again shortly"}
		} else {
			srv.log.Error("oauth2 server error", "error", err)
			oe = &oauthError{Status: 500, Code: "server_error", Description: "the server failed to handle the request"}
		}
	}
	if oe.Basic || oe.Status == http.StatusUnauthorized {
		// RFC 9110 §15.5.2: every 401 carries a challenge. RFC 6749 §5.2
		// requires it when the client authenticated with HTTP Basic; a
		// client that sent its secret in the body, or none, gets the same
		// one, naming the scheme it may use.
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	noStore(w)
	writeJSON(w, oe.Status, map[string]string{"error": oe.Code, "error_description": oe.Description})
}

// storeError counts a request refused because the store was unreachable.
func (srv *Server) storeError() {
	if srv.o.Metrics != nil {
		srv.o.Metrics.StoreErrors.Inc()
	}
}

// noStore sets the RFC 6749 §5.1 cache headers of every token response.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
