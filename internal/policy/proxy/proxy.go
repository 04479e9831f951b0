// Package proxy is the proxy policy: it forwards the request to a service
// endpoint with httputil.ReverseProxy (Rewrite, never Director) and streams
// the answer back. Plain-HTTP upstreams reached directly go through a
// synchronous connection pool (conns.go), everything else through the
// step's http.Transport; the eg-* identity headers are rendered once per
// identity (identity.go); forward.go decides the outbound proxy, body.go
// tells a client's body failure from an upstream's.
package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientaddr"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// Options are the proxy action's options (Express Gateway's names).
type Options struct {
	ServiceEndpoint string `yaml:"serviceEndpoint"`
	// ChangeOrigin sends the upstream's host as Host (default true).
	ChangeOrigin *bool `yaml:"changeOrigin"`
	// StripPath removes the apiEndpoint path's literal prefix (see stripPath).
	StripPath bool   `yaml:"stripPath"`
	Strategy  string `yaml:"strategy"`
	// Xfwd adds X-Forwarded-For, -Host and -Proto (default false).
	Xfwd bool `yaml:"xfwd"`
	// Secure verifies the upstream's TLS certificate (default true).
	Secure *bool `yaml:"secure"`
	// Auth is "user:password" sent upstream as HTTP Basic.
	Auth string `yaml:"auth"`
	// PrependPath joins the target URL's path before the request's (default true).
	PrependPath *bool `yaml:"prependPath"`
	// IgnorePath sends the target URL's path alone.
	IgnorePath bool `yaml:"ignorePath"`
	// ProxyTimeout bounds the wait for the upstream's response headers: past
	// it the client gets 504 (default 60s).
	ProxyTimeout config.Duration `yaml:"proxyTimeout"`
	// Timeout is Express Gateway's incoming-socket timeout; Gatehouse uses it
	// as a bound on the whole upstream exchange when set.
	Timeout config.Duration `yaml:"timeout"`
	// ConnectTimeout bounds the TCP (and TLS) connect to the upstream
	// (default 5s); past it the client gets 504.
	ConnectTimeout config.Duration `yaml:"connectTimeout"`
	// ProxyURL is Express Gateway's outbound http:// proxy for this step;
	// as there, the environment's proxy for the upstream's scheme, when
	// set, takes precedence (see forward.go).
	ProxyURL string `yaml:"proxyUrl"`
	// Accepted for compatibility, without effect: Go always proxies with
	// canonical header names.
	PreserveHeaderKeyCase bool `yaml:"preserveHeaderKeyCase"`
	ToProxy               bool `yaml:"toProxy"`
}

// Defaults.
const (
	DefaultProxyTimeout   = 60 * time.Second
	DefaultConnectTimeout = 5 * time.Second
)

// New builds a proxy step.
func New(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
	var o Options
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if o.ServiceEndpoint == "" {
		return nil, action.Errorf("serviceEndpoint", "is required: name one of serviceEndpoints")
	}
	se, ok := env.ServiceEndpoints.Get(o.ServiceEndpoint)
	if !ok {
		return nil, action.Errorf("serviceEndpoint", "service endpoint %q is not declared under serviceEndpoints", o.ServiceEndpoint)
	}
	if o.Strategy != "" && o.Strategy != "round-robin" {
		return nil, action.Errorf("strategy", "unknown strategy %q (only round-robin is supported)", o.Strategy)
	}
	raw := se.URLs
	if se.URL != "" {
		raw = []string{se.URL}
	}
	p := &Proxy{
		log:          env.Logger,
		changeOrigin: o.ChangeOrigin == nil || *o.ChangeOrigin,
		stripPath:    o.StripPath,
		xfwd:         o.Xfwd,
		ignorePath:   o.IgnorePath,
		prependPath:  o.PrependPath == nil || *o.PrependPath,
		timeout:      time.Duration(o.Timeout),
	}
	for _, s := range raw {
		u, err := url.Parse(s)
		if err != nil {
			return nil, action.Errorf("serviceEndpoint", "service endpoint %q: %v", o.ServiceEndpoint, err)
		}
		p.targets = append(p.targets, u)
	}
	if o.Auth != "" {
		if !strings.Contains(o.Auth, ":") {
			return nil, action.Errorf("auth", "must be user:password")
		}
		p.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(o.Auth))
	}
	fwd, ferr := forwarding(o, se, env.UpstreamProxy)
	if ferr != nil {
		return nil, action.Errorf(ferr.key, "%v", ferr.err)
	}
	fwd, p.tunnels = perTarget(fwd, p.targets)
	tr, err := transport(o, se, env.ConfigDir, fwd)
	if err != nil {
		return nil, action.Errorf("serviceEndpoint", "%v", err)
	}
	p.transport = tr
	if fwd == nil {
		// Plain-HTTP upstreams reached directly go through the
		// synchronous pool (conns.go); everything else through tr.
		p.transport = newConnPool(tr.DialContext, tr.ResponseHeaderTimeout, tr)
	}
	p.metrics = env.Metrics
	p.identities = newIdentityCache()
	p.clients = env.Clients
	p.rp = &httputil.ReverseProxy{
		// forward binds its own (getForward); these serve a bare use.
		Rewrite:        func(pr *httputil.ProxyRequest) { p.rewrite(pr, nil) },
		ModifyResponse: p.observe,
		Transport:      p.transport,
		BufferPool:     &bufferPool{},
		ErrorHandler:   p.errorHandler,
		ErrorLog:       slog.NewLogLogger(env.Logger.Handler(), slog.LevelWarn),
	}
	return p, nil
}

func transport(o Options, se config.ServiceEndpoint, dir string, fwd func(*http.Request) (*url.URL, error)) (*http.Transport, error) {
	connect := time.Duration(o.ConnectTimeout)
	if connect == 0 {
		connect = DefaultConnectTimeout
	}
	header := time.Duration(o.ProxyTimeout)
	if header == 0 {
		header = DefaultProxyTimeout
	}
	secure := o.Secure == nil || *o.Secure
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if po := se.ProxyOptions; po != nil {
		if po.Secure != nil && o.Secure == nil {
			secure = *po.Secure
		}
		if t := po.Target; t != nil {
			if t.CertFile != "" || t.KeyFile != "" {
				cert, err := tls.LoadX509KeyPair(resolve(dir, t.CertFile), resolve(dir, t.KeyFile))
				if err != nil {
					return nil, fmt.Errorf("client certificate: %v", err)
				}
				tlsConf.Certificates = []tls.Certificate{cert}
			}
			if t.CAFile != "" {
				pem, err := os.ReadFile(resolve(dir, t.CAFile))
				if err != nil {
					return nil, fmt.Errorf("caFile: %v", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("caFile %s holds no PEM certificate", t.CAFile)
				}
				tlsConf.RootCAs = pool
			}
		}
	}
	tlsConf.InsecureSkipVerify = !secure
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if fwd != nil {
		dial = tunnelDialer(dial, connect)
	}
	return &http.Transport{
		Proxy:                 fwd, // nil: only ever the service endpoint itself
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}, nil
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// roundTripCloser is the step's transport.
type roundTripCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}

// Proxy is one configured proxy step.
type Proxy struct {
	rp           *httputil.ReverseProxy
	transport    roundTripCloser // *connPool, or the *http.Transport alone
	log          *slog.Logger
	clients      *clientaddr.Resolver // for xfwd's X-Forwarded-For
	targets      []*url.URL
	next         atomic.Uint64
	changeOrigin bool
	stripPath    bool
	xfwd         bool
	ignorePath   bool
	prependPath  bool
	auth         string
	timeout      time.Duration
	tunnels      bool // an https target goes through an outbound proxy (CONNECT)
	metrics      *metrics.Metrics
	identities   *identityCache
	// faults holds the client body read errors of requests in flight, by
	// their *pipeline.State (see clientBody).
	faults sync.Map
	// forwards are the *forward of requests done, for the next ones.
	forwards sync.Pool
}

// forward is one request's pass through the step's ReverseProxy, pooled
// per step: a copy of p.rp whose Rewrite and ModifyResponse are bound to
// it, so that they reach the request's scratch without a lookup, and that
// scratch: the outgoing header map, whose table is kept between requests
// (the clone ReverseProxy makes is sized for the client's headers, and
// the eg-* headers grew it: three allocations a request), and the
// eg-request-id value. A forward belongs to one Handle call; what it
// lends the outgoing request is lent only when nothing holds it once
// ServeHTTP has returned (ownHeader).
type forward struct {
	p    *Proxy
	rp   httputil.ReverseProxy
	w    http.ResponseWriter
	h    http.Header
	id   [1]string
	pool bool // rp's transport is the synchronous pool (conns.go)
}

// maxPooledHeader bounds the header map a forward keeps: one request with
// many headers does not pin a large table for the step's lifetime.
const maxPooledHeader = 32

func (p *Proxy) getForward() *forward {
	if f, ok := p.forwards.Get().(*forward); ok {
		return f
	}
	f := &forward{p: p, rp: *p.rp}
	f.rp.Rewrite = func(pr *httputil.ProxyRequest) { p.rewrite(pr, f) }
	f.rp.ModifyResponse = f.modifyResponse
	_, f.pool = f.rp.Transport.(*connPool)
	return f
}

func (p *Proxy) putForward(f *forward) {
	f.w = nil
	f.id[0] = ""
	if len(f.h) > maxPooledHeader {
		f.h = nil
	} else {
		clear(f.h) // keeps the table
	}
	p.forwards.Put(f)
}

// ownHeader is whether out may carry f's header map and values: when the
// pool runs the exchange itself (direct) and out has no body, the pool
// writes the request head on this goroutine before RoundTrip returns and
// keeps nothing of it after, so nothing reads the header once ServeHTTP
// has returned. http.Transport may still be writing a request when its
// response is in (an upstream may answer first), as the pool does a
// request with a body (exchange): those get ReverseProxy's own map.
func (f *forward) ownHeader(out *http.Request) bool {
	return f != nil && f.pool && out.Body == nil && direct(out)
}

// modifyResponse is observe, and hands the response's headers to the
// client's (moveHeader), after ReverseProxy took out the hop-by-hop ones.
// A 101's stay where they are: ReverseProxy checks its Upgrade against
// the request's and copies them itself.
func (f *forward) modifyResponse(res *http.Response) error {
	if err := f.p.observe(res); err != nil {
		return err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		moveHeader(f.w.Header(), res.Header)
	}
	return nil
}

// moveHeader is ReverseProxy's copyHeader(dst, src) for a response header
// that nothing reads afterwards: the value slices are moved, not added to
// dst one value at a time (an allocation per header), and src is left
// empty but for Content-Type, which ReverseProxy reads next (it flushes
// text/event-stream at once) and then copies itself. The moved slices are
// src's own (http.ReadResponse caps each, so an Add to dst copies).
func moveHeader(dst, src http.Header) {
	for k, vv := range src {
		if k == "Content-Type" {
			continue
		}
		delete(src, k)
		if len(vv) == 0 {
			continue // Add of no value adds no key
		}
		ck := textproto.CanonicalMIMEHeaderKey(k) // as Header.Add
		if old, ok := dst[ck]; ok {
			dst[ck] = append(old, vv...)
		} else {
			dst[ck] = vv
		}
	}
}

// Handle forwards the request; ReverseProxy writes the response, errors
// included (through errorHandler).
func (p *Proxy) Handle(w http.ResponseWriter, r *http.Request, _ pipeline.Handler) error {
	st := pipeline.StateOf(r)
	st.Record.UpstreamStart = time.Now()
	var body *clientBody
	if r.Body != nil && r.Body != http.NoBody {
		// The proxy is the pipeline's last step: nothing reads the body
		// after it, so it can be swapped in place (no request copy).
		body = &clientBody{ReadCloser: r.Body, faults: &p.faults, key: st}
		r.Body = body
		// Deferred: ReverseProxy panics with http.ErrAbortHandler when the
		// copy to a client that went away fails, and the entry (with the
		// request's State) must not outlive the request (found in review).
		defer func() {
			if body.failed.Load() {
				p.faults.Delete(st)
			}
		}()
	}
	if p.timeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	f := p.getForward()
	f.w = w
	f.rp.ServeHTTP(w, r)
	// Not deferred: after a panic (ErrAbortHandler, a client gone in the
	// middle of the body) the forward is left to the collector.
	p.putForward(f)
	return nil
}

// Close drops idle upstream connections when the step's config is replaced.
func (p *Proxy) Close() { p.transport.CloseIdleConnections() }

func (p *Proxy) target() *url.URL {
	if len(p.targets) == 1 {
		return p.targets[0]
	}
	return p.targets[(p.next.Add(1)-1)%uint64(len(p.targets))]
}

// rewrite turns ReverseProxy's copy of the request into the upstream's;
// f is the request's forward (nil: none, as in a bare ReverseProxy).
func (p *Proxy) rewrite(pr *httputil.ProxyRequest, f *forward) {
	t := p.target()
	st := pipeline.StateOf(pr.In)
	st.Record.Upstream = t.Host
	if p.tunnels && t.Scheme == "https" {
		// The dial of a CONNECT tunnel is bounded like a direct connect
		// (tunnelDialer); it tells the two apart by the target.
		pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), tunnelTarget{}, t))
	}
	out := pr.Out
	out.URL.Scheme, out.URL.Host = t.Scheme, t.Host
	own := f.ownHeader(out)
	if own && st.Identity != nil {
		// The eg-* headers of an identity (up to 18) would grow the
		// clone, sized for the client's headers; without them the
		// clone is kept (a copy would cost more than it saves).
		h := f.h
		if h == nil {
			h = make(http.Header, len(out.Header)+24) // the client's, the eg-* and a few more
			f.h = h
		}
		maps.Copy(h, out.Header)
		out.Header = h
	}
	if st.OriginalMethod != "" {
		// methodOverride: forward ran the pipeline as the override's
		// method; the upstream gets the request as sent, header included.
		out.Method = st.OriginalMethod
	}

	path, rawPath := out.URL.Path, out.URL.RawPath
	if p.stripPath {
		path, rawPath = strip(st.Route.MatchedPath, path, rawPath)
	}
	switch {
	case p.ignorePath:
		out.URL.Path, out.URL.RawPath = t.Path, t.RawPath
	case p.prependPath && t.Path != "" && t.Path != "/":
		out.URL.Path, out.URL.RawPath = joinURLPath(t, path, rawPath)
	default:
		out.URL.Path, out.URL.RawPath = path, rawPath
	}
	if t.RawQuery != "" {
		if out.URL.RawQuery == "" {
			out.URL.RawQuery = t.RawQuery
		} else {
			out.URL.RawQuery = t.RawQuery + "&" + out.URL.RawQuery
		}
	}
	if p.changeOrigin {
		out.Host = ""
	} else {
		out.Host = pr.In.Host
	}
	if p.xfwd {
		// X-Forwarded-For is the chain the trusted proxies vouched for,
		// client first, then the peer (SetXForwarded appends it; Rewrite
		// starts from a request without X-Forwarded-*). Entries the
		// client wrote itself are dropped, where http-proxy's xfwd kept
		// them: an upstream reading the leftmost entry would take a
		// forged one for the client.
		if chain := p.clients.Chain(clientaddr.Peer(pr.In.RemoteAddr), pr.In.Header); len(chain) > 0 {
			out.Header["X-Forwarded-For"] = []string{joinAddrs(chain)}
		}
		pr.SetXForwarded()
	}
	if p.auth != "" {
		out.Header.Set("Authorization", p.auth)
	}
	// Header.Set("eg-request-id"), without canonicalizing per request.
	if own {
		f.id[0] = st.RequestID
		out.Header["Eg-Request-Id"] = f.id[:] // capped: an Add copies
	} else {
		out.Header["Eg-Request-Id"] = []string{st.RequestID}
	}
	if id := st.Identity; id != nil {
		p.identities.set(out.Header, id)
	} else if st.Anonymous {
		// passThrough let an unauthenticated request on: say so upstream
		// (Express Gateway put it on the response by mistake, B-17).
		out.Header["Eg-Consumer-Id"] = []string{"anonymous"}
	}
}

// joinAddrs writes addresses as an X-Forwarded-For list.
func joinAddrs(as []netip.Addr) string {
	b := make([]byte, 0, 16*len(as))
	for i, a := range as {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = a.AppendTo(b)
	}
	return string(b)
}

// strip implements Express Gateway's stripPath: with a path pattern that has
// no parameter or star, the upstream path becomes "/"; otherwise the part of
// the path before the first parameter or star is removed.
func strip(pattern, path, rawPath string) (string, string) {
	if pattern == "" || pattern == "*" {
		return path, rawPath
	}
	i := strings.IndexAny(pattern, ":*")
	if i < 0 {
		return "/", ""
	}
	if i <= 1 {
		return path, rawPath
	}
	cut := func(s string) string {
		if len(s) < i {
			return "/"
		}
		return "/" + strings.TrimPrefix(s[i:], "/")
	}
	if rawPath != "" {
		return cut(path), cut(rawPath)
	}
	return cut(path), ""
}

func joinURLPath(t *url.URL, path, rawPath string) (string, string) {
	base := strings.TrimSuffix(t.Path, "/")
	joined := base + "/" + strings.TrimPrefix(path, "/")
	if rawPath == "" && t.RawPath == "" {
		return joined, ""
	}
	rb := strings.TrimSuffix(t.EscapedPath(), "/")
	rp := rawPath
	if rp == "" {
		rp = (&url.URL{Path: path}).EscapedPath()
	}
	return joined, rb + "/" + strings.TrimPrefix(rp, "/")
}

// observe records how long the upstream took to answer (headers).
func (p *Proxy) observe(resp *http.Response) error {
	if p.metrics != nil {
		st := pipeline.StateOf(resp.Request)
		p.metrics.UpstreamDuration.WithLabelValues(st.Record.Upstream).Observe(time.Since(st.Record.UpstreamStart).Seconds())
	}
	return nil
}

// errorHandler answers for an upstream that could not be reached: 504 when
// it timed out, 502 otherwise; nothing when the client went away. A
// request that failed because its body could not be read is the client's
// fault, answered as such (413, 408, 400), never as a 502.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := pipeline.StateOf(r)
	if berr := p.clientFailure(st); berr != nil {
		rej := clientFault(r.Context(), berr)
		if rej == nil {
			st.Record.Reason = "client_closed_request"
			return
		}
		pipeline.WriteError(w, r, rej, p.log)
		return
	}
	if errors.Is(r.Context().Err(), context.Canceled) {
		st.Record.Reason = "client_closed_request"
		return
	}
	var rej *pipeline.Rejection
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		rej = &pipeline.Rejection{Status: http.StatusGatewayTimeout, Code: "upstream_timeout",
			Message: "the upstream service did not answer in time", Err: err}
	} else {
		rej = &pipeline.Rejection{Status: http.StatusBadGateway, Code: "bad_gateway",
			Message: "the upstream service could not be reached", Err: err}
	}
	if p.metrics != nil {
		p.metrics.UpstreamErrors.WithLabelValues(st.Record.Upstream, rej.Code).Inc()
	}
	pipeline.WriteError(w, r, rej, p.log)
}

// bufferPool reuses the 32 KiB copy buffers of ReverseProxy. It pools
// array pointers, so that Put does not allocate a slice header each time.
type bufferPool struct{ p sync.Pool }

const bufferSize = 32 * 1024

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[bufferSize]byte); ok {
		return v[:]
	}
	return make([]byte, bufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= bufferSize {
		b.p.Put((*[bufferSize]byte)(buf[:bufferSize]))
	}
}
