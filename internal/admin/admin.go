// Package admin is the Admin API: Express Gateway's REST routes over the
// identity store (users, applications, credentials, scopes, tokens), with
// JSON errors, an optional API key, the additions EG's users asked for
// (credential delete and secret rotation, token listing), and no way in
// for a browser (browser.go: DNS rebinding, cross-site requests). It
// reaches the store through role-sized interfaces (roles.go: Users, Apps,
// Credentials, Scopes, Tokens), which *store.Store satisfies; users and
// applications share one implementation of their routes over the consumer
// kind, whose Express Gateway JSON shape is data (consumers.go,
// render.go). The Go client the CLI uses is in internal/adminclient.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/model"
)

// Options configure the Admin API.
type Options struct {
	// APIKey, when set, is required on every request, as
	// "Authorization: Bearer <key>" or "X-Admin-Key: <key>".
	APIKey string
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies (default 1 MiB); a larger body
	// is refused with 413.
	MaxBodyBytes int64
	// Metrics counts the revocations made here (nil: not counted).
	Metrics *metrics.Metrics
	// Hostnames are the host names (or addresses) clients may send in
	// Host besides the loopback names and the address a connection
	// arrived on: the listener's configured host when it is a name, and
	// admin.hostnames. A request for any other host is refused with 421
	// (see browser.go); ports are not compared. Entries that are not host
	// names, and addresses that listen everywhere, are ignored.
	Hostnames []string
	// Config, when set, backs the config-editing routes (/api-endpoints,
	// /service-endpoints, /pipelines, /policies, /schemas; config.go);
	// without it they answer 404.
	Config ConfigEditor
}

// DefaultMaxBodyBytes is the default bound on request bodies.
const DefaultMaxBodyBytes = 1 << 20

type server struct {
	// The store, by role (roles.go): each route group uses its own.
	consumers Consumers
	creds     Credentials
	scopes    Scopes
	tokens    Tokens
	consents  Consents

	m       *model.Models
	log     *slog.Logger
	maxBody int64
	metrics *metrics.Metrics
	hasKey  bool
	keyHash [32]byte
	hosts   map[string]bool // Options.Hostnames, canonical
	config  ConfigEditor
	mux     *http.ServeMux
}

// New returns the Admin API handler over s (a *store.Store has every role
// it needs). m may be nil (Express Gateway's shipped models).
func New(s Store, m *model.Models, opts Options) http.Handler {
	if m == nil {
		m = model.Default()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	a := &server{consumers: s, creds: s, scopes: s, tokens: s, consents: s, m: m, log: opts.Logger, maxBody: opts.MaxBodyBytes, metrics: opts.Metrics, mux: http.NewServeMux(),
		hosts: hostnames(opts.Hostnames), config: opts.Config}
	if opts.APIKey != "" {
		a.hasKey = true
		a.keyHash = sha256.Sum256([]byte(opts.APIKey))
	}
	a.routes()
	return a
}

// Routes lists every route as "METHOD /path" (for docs and tests).
var Routes = append([]string{
	"GET /users", "POST /users", "GET /users/{id}", "PUT /users/{id}", "DELETE /users/{id}", "PUT /users/{id}/status",
	"GET /apps", "POST /apps", "GET /apps/{id}", "PUT /apps/{id}", "DELETE /apps/{id}", "PUT /apps/{id}/status",
	"GET /credentials", "POST /credentials", "GET /credentials/{consumerId}",
	"GET /credentials/{type}/{id}", "DELETE /credentials/{type}/{id}",
	"PUT /credentials/{type}/{id}/status", "PUT /credentials/{type}/{id}/secret",
	"PUT /credentials/{type}/{id}/scopes", "PUT /credentials/{type}/{id}/scopes/{scope}", "DELETE /credentials/{type}/{id}/scopes/{scope}",
	"PUT /credentials/{type}/{id}/client",
	"GET /scopes", "POST /scopes", "GET /scopes/{scope}", "PUT /scopes/{scope}", "DELETE /scopes/{scope}",
	"GET /tokens", "DELETE /tokens/{token}",
	"GET /consents", "GET /users/{id}/consents", "DELETE /users/{id}/consents/{clientId}",
}, configRoutes...)

func (a *server) routes() {
	h := map[string]handlerFunc{
		"GET /credentials":  a.allCredentials,
		"POST /credentials": a.createCredential,
		// One segment is a consumer, two are a credential: ServeMux tells
		// them apart by the segment count.
		"GET /credentials/{consumerId}":                  a.consumerCredentials,
		"GET /credentials/{type}/{id}":                   a.getCredential,
		"DELETE /credentials/{type}/{id}":                a.deleteCredential,
		"PUT /credentials/{type}/{id}/status":            a.credentialStatus,
		"PUT /credentials/{type}/{id}/secret":            a.rotateSecret,
		"PUT /credentials/{type}/{id}/scopes":            a.setScopes,
		"PUT /credentials/{type}/{id}/scopes/{scope}":    a.addScope,
		"DELETE /credentials/{type}/{id}/scopes/{scope}": a.removeScope,
		"GET /scopes":                            a.listScopes,
		"POST /scopes":                           a.createScopes,
		"GET /scopes/{scope}":                    a.getScope,
		"PUT /scopes/{scope}":                    a.putScope,
		"DELETE /scopes/{scope}":                 a.deleteScope,
		"GET /tokens":                            a.listTokens,
		"DELETE /tokens/{token}":                 a.revokeToken,
		"PUT /credentials/{type}/{id}/client":    a.setClient,
		"GET /consents":                          a.listConsents,
		"GET /users/{id}/consents":               a.userConsents,
		"DELETE /users/{id}/consents/{clientId}": a.revokeConsent,
	}
	// Users and apps share their six routes (consumers.go).
	a.userKind().addRoutes(h)
	a.appKind().addRoutes(h)
	a.configHandlers(h)
	for _, pattern := range Routes {
		fn := h[pattern]
		if fn == nil {
			panic("admin: no handler for " + pattern)
		}
		a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				a.fail(w, r, err)
			}
		})
	}
	if len(h) != len(Routes) {
		panic("admin: Routes and handlers differ")
	}
}

func (a *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	hdr := w.Header()
	// Bodies carry secrets once (creation, rotation): never cache them.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// Before the key: what a browser sends on a page's behalf is refused
	// in both modes (browser.go).
	if a.fromBrowser(w, r) {
		return
	}
	if !a.authorized(r) {
		hdr.Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
		writeError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "this Admin API requires a key: send it as \"Authorization: Bearer KEY\" or \"X-Admin-Key: KEY\""})
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "admin request refused: missing or wrong API key",
			slog.String("method", r.Method), slog.String("remote", r.RemoteAddr))
		return
	}
	// Express routes ignore one trailing slash: so do we.
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r2 := *r
		u := *r.URL
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		r2.URL = &u
		r = &r2
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
	}
	_, pattern := a.mux.Handler(r)
	if pattern == "" {
		a.noRoute(w, r)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		a.mux.ServeHTTP(w, r)
		return
	}
	// Changes are logged (the route, never the path: it can hold a token).
	sw := &statusWriter{ResponseWriter: w}
	a.mux.ServeHTTP(sw, r)
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "admin change",
		slog.String("route", pattern), slog.Int("status", sw.status()),
		slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
}

// authorized checks the API key in constant time (comparing SHA-256
// digests, so the key's length does not leak either).
func (a *server) authorized(r *http.Request) bool {
	if !a.hasKey {
		return true
	}
	ok := 0
	if v := r.Header.Get("X-Admin-Key"); v != "" {
		h := sha256.Sum256([]byte(v))
		ok |= subtle.ConstantTimeCompare(h[:], a.keyHash[:])
	}
	if scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " "); found && strings.EqualFold(scheme, "Bearer") {
		h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		ok |= subtle.ConstantTimeCompare(h[:], a.keyHash[:])
	}
	return ok == 1
}

// noRoute answers 404, or 405 with Allow when the path exists with other
// methods, in JSON (ServeMux's own answers are text).
func (a *server) noRoute(w http.ResponseWriter, r *http.Request) {
	h, _ := a.mux.Handler(r)
	rec := &headerRecorder{h: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.code == http.StatusMethodNotAllowed {
		allow := rec.h.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: r.Method + " is not allowed on " + r.URL.Path + " (allowed: " + allow + ")"})
		return
	}
	writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found",
		Message: "no Admin API route " + r.Method + " " + r.URL.Path})
}

// headerRecorder captures what ServeMux's not-found and
// method-not-allowed handlers would send.
type headerRecorder struct {
	h    http.Header
	code int
}

func (h *headerRecorder) Header() http.Header         { return h.h }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
