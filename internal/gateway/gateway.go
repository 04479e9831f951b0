package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/clientaddr"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/requestid"
	"github.com/gatehouse/gatehouse/internal/urlpath"
)

// Gateway serves requests through the current Runtime. Swap replaces the
// Runtime atomically: a request keeps the snapshot it started with.
type Gateway struct {
	current atomic.Pointer[Runtime]
	writers sync.Pool // *responseWriter, reused across requests
	log     *slog.Logger
	access  AccessLog // nil: no access log
	// Pre handles requests before routing when it claims them (the OAuth2
	// server's /oauth2/* and /login pages); nil when there is none.
	Pre func(w http.ResponseWriter, r *http.Request) bool
	// Metrics records every request; nil records nothing.
	Metrics *metrics.Metrics
	// AccessSample is the fraction of successful requests (status below
	// 400) written to the access log; refusals and errors are always
	// written. 0 means 1 (log everything).
	AccessSample float64
	// Clients finds each request's client address behind the trusted
	// proxies (system.config.yml's trustedProxies); nil trusts none.
	Clients *clientaddr.Resolver
}

// AccessLog takes one entry per request the sample keeps, without
// waiting on I/O: *accesslog.Logger (or a stand-in in benchmarks).
type AccessLog interface{ Log(accesslog.Entry) }

// New returns a Gateway serving rt. access may be nil to disable access logs.
func New(rt *Runtime, log *slog.Logger, access AccessLog) *Gateway {
	if l, ok := access.(*accesslog.Logger); ok && l == nil {
		access = nil // a nil *Logger is no access log: skip building entries
	}
	g := &Gateway{log: log, access: access}
	g.current.Store(rt)
	return g
}

// Swap installs rt and returns the previous Runtime, whose resources the
// caller releases once in-flight requests are done with it.
func (g *Gateway) Swap(rt *Runtime) *Runtime { return g.current.Swap(rt) }

// Current is the Runtime serving new requests.
func (g *Gateway) Current() *Runtime { return g.current.Load() }

// ServeHTTP runs the request through its pipeline.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// One allocation for the state and the eg-request-id header value.
	a := &requestAlloc{state: pipeline.State{RequestID: requestid.New(), Record: pipeline.Record{Start: time.Now()}}}
	st := &a.state
	a.idHeader[0] = st.RequestID
	rw, _ := g.writers.Get().(*responseWriter)
	if rw == nil {
		rw = new(responseWriter)
	}
	rw.reset(w)
	r = pipeline.WithState(r, st)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				g.finish(rw, r, st)
				panic(p) // the server aborts the connection quietly
			}
			g.log.Error("panic while serving a request", "request_id", st.RequestID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			pipeline.WriteError(rw, r, errors.New("panic"), g.log)
		}
		g.finish(rw, r, st)
	}()

	rw.Header()[headerRequestID] = a.idHeader[:] // Header.Set without canonicalizing the key again
	// The client address, once, before anything decides on it (failure
	// limits, rate limits, req.ip, the access log): no allocation.
	st.ClientIP = g.Clients.Client(clientaddr.Peer(r.RemoteAddr), r.Header)

	// The request boundary (boundary.go): one canonical path, no forged
	// identity headers, one method, before anything reads the request.
	rt := g.current.Load()
	rt.stripForged(r.Header)
	cp, err := canonicalPath(r)
	if err != nil {
		pipeline.WriteError(rw, r, err, g.log)
		return
	}
	if rt.methodOverride == config.MethodOverrideForward {
		if err := methodOverride(r, st); err != nil {
			pipeline.WriteError(rw, r, err, g.log)
			return
		}
	}
	trace := r.Method == http.MethodTrace || r.Method == "TRACK"
	if g.Pre != nil && !cp.EncodedSlash && !trace && st.OriginalMethod == "" && g.Pre(rw, r) {
		return
	}
	rte, ok := rt.router.Match(r.Host, r.Method, cp.Path)
	if !ok {
		pipeline.WriteError(rw, r, pipeline.Reject(http.StatusNotFound, "not_found",
			"no apiEndpoint matches "+r.Method+" "+r.URL.Path), g.log)
		return
	}
	switch {
	case cp.EncodedSlash && !rte.allowEncodedSlashes:
		err = pipeline.Reject(http.StatusBadRequest, "invalid_path", urlpath.ErrEncodedSlash.Error())
	case cp.Params && !rte.allowPathParameters:
		err = pipeline.Reject(http.StatusBadRequest, "invalid_path", "the path holds a ';' path parameter")
	case trace && traceRefused(r.Method, rte.methods):
		err = &pipeline.Rejection{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: r.Method + " is refused unless the apiEndpoint lists it in methods"}
	case rte.maxBody > 0:
		err = limitBody(rw, r, rte.maxBody)
	}
	if err != nil {
		pipeline.WriteError(rw, r, err, g.log)
		return
	}
	st.Route = &rte.info
	if err := rte.handler.Handle(rw, r); err != nil {
		pipeline.WriteError(rw, r, err, g.log)
	}
}

// accessEntry is the request's access-log line. remote is the TCP peer's
// address and port; when a trusted proxy forwarded the request, the client
// it names, and peer the proxy.
func accessEntry(rw *responseWriter, r *http.Request, st *pipeline.State, end time.Time) accesslog.Entry {
	e := accesslog.Entry{
		Time: end, RequestID: st.RequestID, Method: r.Method, Path: r.URL.Path,
		Status: rw.Status(), Bytes: rw.bytes, Duration: end.Sub(st.Record.Start),
		Remote: r.RemoteAddr, Reason: st.Record.Reason, Policy: st.Record.Policy,
		AuthPolicy: st.Record.AuthPolicy, AuthResult: st.Record.AuthResult, Upstream: st.Record.Upstream,
	}
	if st.ClientIP.IsValid() && st.ClientIP != clientaddr.Peer(r.RemoteAddr) {
		e.Remote, e.Peer = st.ClientIP.String(), r.RemoteAddr
	}
	if rt := st.Route; rt != nil {
		e.APIEndpoint, e.Pipeline = rt.APIEndpoint, rt.Pipeline
	}
	if st.Identity != nil {
		e.Identified, e.ConsumerID = true, st.Identity.ConsumerID
	}
	return e
}

// headerRequestID is eg-request-id in canonical form.
const headerRequestID = "Eg-Request-Id"

// requestAlloc holds what ServeHTTP allocates for every request, so that it
// is one allocation.
type requestAlloc struct {
	state    pipeline.State
	idHeader [1]string
}

func (g *Gateway) finish(rw *responseWriter, r *http.Request, st *pipeline.State) {
	// One clock reading for the metrics and the access log.
	end := time.Now()
	if m := g.Metrics; m != nil {
		record(m, st, rw.Status(), end.Sub(st.Record.Start))
	}
	if g.access != nil && g.sampled(rw.Status()) {
		g.access.Log(accessEntry(rw, r, st, end))
	}
	rw.reset(nil)
	g.writers.Put(rw)
}

// responseWriter records the status and size for the access log, and whether
// anything was written, so that an error after the response started is not
// written twice.
type responseWriter struct {
	w       http.ResponseWriter
	status  int
	bytes   int64
	written bool
}

func (rw *responseWriter) reset(w http.ResponseWriter) {
	*rw = responseWriter{w: w}
}

func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

func (rw *responseWriter) WriteHeader(code int) {
	if !rw.written && code >= 200 || code == http.StatusSwitchingProtocols {
		rw.status, rw.written = code, true
	}
	rw.w.WriteHeader(code)
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if !rw.written {
		rw.status, rw.written = http.StatusOK, true
	}
	n, err := rw.w.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// Written reports whether the response has started; pipeline.WriteError
// checks it.
func (rw *responseWriter) Written() bool { return rw.written }

// Status is the status sent, 0 when the client went away before any.
func (rw *responseWriter) Status() int { return rw.status }

// Unwrap lets http.ResponseController (used by httputil.ReverseProxy for
// flushing and WebSocket upgrades) reach the server's writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }

// Flush sends buffered data (streaming responses).
func (rw *responseWriter) Flush() {
	if !rw.written {
		rw.status, rw.written = http.StatusOK, true
	}
	_ = http.NewResponseController(rw.w).Flush()
}

// Hijack hands the connection over (WebSocket).
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, b, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.status, rw.written = http.StatusSwitchingProtocols, true
	}
	return c, b, err
}

// noResponse ends a pipeline whose steps all passed the request on without
// answering it (no proxy or terminate step ran).
type noResponse struct{ pipeline string }

func (n noResponse) Handle(w http.ResponseWriter, r *http.Request) error {
	return pipeline.Reject(http.StatusNotFound, "not_found",
		"pipeline "+n.pipeline+" has no step that answers this request (add a proxy or terminate step)")
}

// sampled decides whether a request goes to the access log.
func (g *Gateway) sampled(status int) bool {
	if g.AccessSample <= 0 || g.AccessSample >= 1 || status >= 400 || status == 0 {
		return true
	}
	return rand.Float64() < g.AccessSample
}

// record derives the request's metrics from its state: the status, the
// time taken and the authentication decision (the last one, as the access
// log's auth field). What a policy alone knows it counts itself: store
// outages (authn.Policy), rate-limit refusals (the rate-limit policy).
func record(m *metrics.Metrics, st *pipeline.State, status int, d time.Duration) {
	var endpoint, pipe string
	if rt := st.Route; rt != nil {
		endpoint, pipe = rt.APIEndpoint, rt.Pipeline
	}
	m.Observe(endpoint, pipe, status, d)
	if st.Record.AuthResult != "" {
		m.AuthDecisions.WithLabelValues(st.Record.AuthPolicy, st.Record.AuthResult, st.Record.AuthReason).Inc()
	}
}
