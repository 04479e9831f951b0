package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientaddr"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// seen is what an upstream received.
type seen struct {
	Method, RequestURI, Host, Body string
	Header                         http.Header
}

// upstream is an httptest server on 127.0.0.1:0 that records the last
// request it received and answers 200 (after reading the whole body).
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *seen
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return // the proxy aborted the body: nothing to answer
		}
		u.mu.Lock()
		u.last = &seen{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Body: string(b), Header: r.Header.Clone()}
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, "upstream answer")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) seen() *seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func testEnv(seURL string) *policyenv.Env {
	return &policyenv.Env{
		Logger:           slog.New(slog.DiscardHandler),
		ServiceEndpoints: config.Named[config.ServiceEndpoint]{{Name: "s", Value: config.ServiceEndpoint{URL: seURL}}},
	}
}

// newTestProxy builds a step proxying to the service endpoint s at seURL,
// with the action's other options (YAML flow-mapping entries).
func newTestProxy(t *testing.T, action, seURL string, env func(*policyenv.Env)) *Proxy {
	t.Helper()
	e := testEnv(seURL)
	if env != nil {
		env(e)
	}
	src := "{serviceEndpoint: s}"
	if action != "" {
		src = "{serviceEndpoint: s, " + action + "}"
	}
	p, err := New(configtest.Action(t, src), e)
	if err != nil {
		t.Fatalf("New(%s): %v", src, err)
	}
	px := p.(*Proxy)
	t.Cleanup(px.Close)
	return px
}

// serve runs one request through the proxy step, as the pipeline's last
// step with its State in the context, and returns the recorded answer.
func serve(t *testing.T, p *Proxy, r *http.Request, st *pipeline.State) *httptest.ResponseRecorder {
	t.Helper()
	if st.Route == nil {
		st.Route = &pipeline.Route{}
	}
	w := httptest.NewRecorder()
	next := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("the proxy called next: it is a terminal step")
		return nil
	})
	if err := p.Handle(w, pipeline.WithState(r, st), next); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return w
}

// errorCode is the "error" member of the gateway's JSON error body.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q is not the JSON error: %v", w.Body.String(), err)
	}
	return b.Error
}

// TestUpstreamRequest: the request the upstream receives, for each option
// that shapes it.
func TestUpstreamRequest(t *testing.T) {
	up := newUpstream(t)
	host := strings.TrimPrefix(up.URL, "http://")
	trusted, err := clientaddr.New([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		action  string
		target  string // appended to the upstream's URL
		path    string // the client's request target
		header  http.Header
		env     func(*policyenv.Env)
		state   pipeline.State
		method  string // the client's method (default GET)
		body    string
		uri     string // the request target the upstream gets
		host    string // its Host (default: the upstream's)
		want    map[string]string
		absent  []string
		wantVal func(t *testing.T, s *seen)
	}{
		{
			name: "defaults: path and query kept, Host rewritten, no X-Forwarded-*, request id",
			path: "/api/x?a=1&b=2", uri: "/api/x?a=1&b=2",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Host": {"evil.test"}, "X-Forwarded-Proto": {"https"}, "X-Custom": {"kept"}},
			state:  pipeline.State{RequestID: "rid-1"},
			want:   map[string]string{"X-Custom": "kept", "Eg-Request-Id": "rid-1"},
			absent: []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Eg-Consumer-Id", "Authorization"},
		},
		{
			name: "changeOrigin false keeps the client's Host", action: "changeOrigin: false",
			path: "/api/x", uri: "/api/x", host: "front.test",
		},
		{
			name: "xfwd: the peer and the client's host and scheme, client-written entries dropped", action: "xfwd: true",
			path: "/api/x", uri: "/api/x",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Host": {"evil.test"}},
			want:   map[string]string{"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Host": "front.test", "X-Forwarded-Proto": "http"},
		},
		{
			name: "xfwd behind a trusted proxy: the vouched-for chain, then the peer", action: "xfwd: true",
			path: "/api/x", uri: "/api/x",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.7"}},
			env:    func(e *policyenv.Env) { e.Clients = trusted },
			want:   map[string]string{"X-Forwarded-For": "203.0.113.7, 192.0.2.1"},
		},
		{
			name: "hop-by-hop and Connection-listed headers removed (RFC 9110 §7.6.1)",
			path: "/api/x", uri: "/api/x",
			header: http.Header{
				"Connection": {"keep-alive, X-Hop"}, "X-Hop": {"1"}, "Keep-Alive": {"timeout=5"},
				"Proxy-Connection": {"keep-alive"}, "Proxy-Authorization": {"Basic eA=="}, "Te": {"gzip"},
				"Trailer": {"X-T"}, "Upgrade": {"h2c"}, "X-End-To-End": {"kept"},
			},
			want:   map[string]string{"X-End-To-End": "kept"},
			absent: []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer", "Upgrade"},
		},
		{
			name: "identity headers from pipeline.Identity, values sanitized, odd property names dropped",
			path: "/api/x", uri: "/api/x",
			header: http.Header{"Eg-Consumer-Id": {"forged"}},
			state: pipeline.State{Identity: &pipeline.Identity{
				ConsumerID: "c1", ConsumerType: "user", ConsumerName: "ali\r\nce", IsActive: true,
				CreatedAt: time.UnixMilli(1700000000123), AuthType: "key-auth", TokenID: "t1",
				Scopes: []string{"read", "write"}, Properties: map[string]string{"tier": "gold", "bad name": "x"},
			}},
			want: map[string]string{
				"Eg-Consumer-Id": "c1", "Eg-Consumer-Type": "user", "Eg-Consumer-Name": "alice",
				"Eg-Consumer-Is-Active": "true", "Eg-Consumer-Created-At": "1700000000123", "Eg-Consumer-Tier": "gold",
				"Eg-Token-Auth-Type": "key-auth", "Eg-Token-Id": "t1", "Eg-Token-Consumer-Id": "c1", "Eg-Token-Scopes": "read write",
			},
			absent: []string{"Eg-Consumer-Updated-At", "Eg-Consumer-User-Id", "Eg-Token-Sub", "Eg-Token-Expires-At"},
			wantVal: func(t *testing.T, s *seen) {
				for k := range s.Header {
					if strings.Contains(k, " ") || strings.EqualFold(k, "Eg-Consumer-Bad name") {
						t.Errorf("header %q sent", k)
					}
				}
			},
		},
		{
			name: "a token without a store consumer names its subject and issuer",
			path: "/api/x", uri: "/api/x",
			state:  pipeline.State{Identity: &pipeline.Identity{AuthType: "jwt", TokenSubject: "sub-1", TokenIssuer: "https://idp.test/"}},
			want:   map[string]string{"Eg-Token-Auth-Type": "jwt", "Eg-Token-Sub": "sub-1", "Eg-Token-Iss": "https://idp.test/"},
			absent: []string{"Eg-Consumer-Id", "Eg-Consumer-Is-Active", "Eg-Token-Consumer-Id"},
		},
		{
			name: "passThrough's anonymous request says so upstream",
			path: "/api/x", uri: "/api/x",
			state: pipeline.State{Anonymous: true},
			want:  map[string]string{"Eg-Consumer-Id": "anonymous"},
		},
		{
			name: "auth sends HTTP Basic", action: "auth: 'u:p'",
			path: "/api/x", uri: "/api/x",
			header: http.Header{"Authorization": {"Bearer client-token"}},
			want:   map[string]string{"Authorization": "Basic dTpw"},
		},
		{
			name: "the service endpoint's path is joined before the request's", target: "/base",
			path: "/api/x?q=1", uri: "/base/api/x?q=1",
		},
		{
			name: "a trailing slash on the service endpoint's path is not doubled", target: "/base/",
			path: "/api/x", uri: "/base/api/x",
		},
		{
			name: "escaped path kept as sent", target: "/b%2Fc",
			path: "/api/a%2Fb", uri: "/b%2Fc/api/a%2Fb",
		},
		{
			name: "the service endpoint's query comes first", target: "/base?k=v",
			path: "/api/x?q=1", uri: "/base/api/x?k=v&q=1",
		},
		{
			name: "the service endpoint's query alone", target: "/base?k=v",
			path: "/api/x", uri: "/base/api/x?k=v",
		},
		{
			name: "prependPath false", action: "prependPath: false", target: "/base",
			path: "/api/x?q=1", uri: "/api/x?q=1",
		},
		{
			name: "ignorePath sends the service endpoint's path alone", action: "ignorePath: true", target: "/base",
			path: "/api/x?q=1", uri: "/base?q=1",
		},
		{
			name: "stripPath removes the pattern's literal prefix", action: "stripPath: true", target: "/base",
			path: "/api/x/y?q=1", uri: "/base/x/y?q=1",
			state: pipeline.State{Route: &pipeline.Route{MatchedPath: "/api/*"}},
		},
		{
			name: "stripPath with a pattern without parameters sends /", action: "stripPath: true",
			path: "/exact?q=1", uri: "/?q=1",
			state: pipeline.State{Route: &pipeline.Route{MatchedPath: "/exact"}},
		},
		{
			name: "methodOverride: forward sends the client's method",
			path: "/api/x", uri: "/api/x", header: http.Header{"X-Http-Method-Override": {"GET"}},
			state: pipeline.State{OriginalMethod: "POST"},
			want:  map[string]string{"X-Http-Method-Override": "GET"},
			wantVal: func(t *testing.T, s *seen) {
				if s.Method != "POST" {
					t.Errorf("method %s, want POST", s.Method)
				}
			},
		},
		{
			name: "the body is streamed", method: "PUT", body: "hello upstream",
			path: "/api/x", uri: "/api/x",
			wantVal: func(t *testing.T, s *seen) {
				if s.Method != "PUT" || s.Body != "hello upstream" {
					t.Errorf("%s with body %q", s.Method, s.Body)
				}
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestProxy(t, c.action, up.URL+c.target, c.env)
			method := c.method
			if method == "" {
				method = "GET"
			}
			// The client's method when methodOverride: forward ran the
			// pipeline as another one is in OriginalMethod; r.Method is
			// the override's.
			if c.state.OriginalMethod != "" {
				method = c.header.Get("X-Http-Method-Override")
			}
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			r := httptest.NewRequest(method, "http://front.test"+c.path, body)
			for k, v := range c.header {
				r.Header[k] = v
			}
			st := c.state
			w := serve(t, p, r, &st)
			if w.Code != 200 || w.Body.String() != "upstream answer" || w.Header().Get("X-Upstream") != "yes" {
				t.Fatalf("answer %d %q %v, want the upstream's", w.Code, w.Body, w.Header())
			}
			s := up.seen()
			if s.RequestURI != c.uri {
				t.Errorf("upstream request target %q, want %q", s.RequestURI, c.uri)
			}
			wantHost := c.host
			if wantHost == "" {
				wantHost = host
			}
			if s.Host != wantHost {
				t.Errorf("Host %q, want %q", s.Host, wantHost)
			}
			for k, v := range c.want {
				if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			for _, k := range c.absent {
				if got, ok := s.Header[http.CanonicalHeaderKey(k)]; ok {
					t.Errorf("%s sent upstream: %q", k, got)
				}
			}
			if c.wantVal != nil {
				c.wantVal(t, s)
			}
			if st.Record.Upstream != host {
				t.Errorf("Record.Upstream %q, want %q", st.Record.Upstream, host)
			}
		})
	}
}

// TestRoundRobin: urls are taken in turn.
func TestRoundRobin(t *testing.T) {
	a, b := newUpstream(t), newUpstream(t)
	e := testEnv("")
	e.ServiceEndpoints[0].Value.URLs = []string{a.URL + "/a", b.URL + "/b"}
	pol, err := New(configtest.Action(t, "{serviceEndpoint: s, strategy: round-robin}"), e)
	if err != nil {
		t.Fatal(err)
	}
	p := pol.(*Proxy)
	defer p.Close()
	var got []string
	for range 4 {
		serve(t, p, httptest.NewRequest("GET", "http://front.test/x", nil), &pipeline.State{Route: &pipeline.Route{}})
		for _, u := range []*upstream{a, b} {
			if s := u.seen(); s != nil {
				got = append(got, s.RequestURI)
				u.mu.Lock()
				u.last = nil
				u.mu.Unlock()
			}
		}
	}
	if strings.Join(got, " ") != "/a/x /b/x /a/x /b/x" {
		t.Errorf("targets in turn: %v", got)
	}
}

// TestUpstreamErrors: what the client gets when the upstream fails.
func TestUpstreamErrors(t *testing.T) {
	// A port nothing listens on: connections are refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answers only when the test ends, or the proxy gives up
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "upstream down")
	}))
	defer failing.Close()

	for _, c := range []struct {
		name, action, url string
		status            int
		code              string // "" for the upstream's own answer
	}{
		{"unreachable upstream", "", refused, 502, "bad_gateway"},
		{"no response headers within proxyTimeout", "proxyTimeout: 50ms", slow.URL, 504, "upstream_timeout"},
		{"the exchange past timeout", "timeout: 50ms", slow.URL, 504, "upstream_timeout"},
		{"an upstream error status passes through", "", failing.URL, 503, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestProxy(t, c.action, c.url, nil)
			st := &pipeline.State{RequestID: "rid-e"}
			w := serve(t, p, httptest.NewRequest("GET", "http://front.test/x", nil), st)
			if w.Code != c.status {
				t.Fatalf("status %d %q, want %d", w.Code, w.Body, c.status)
			}
			if c.code == "" {
				if w.Body.String() != "upstream down" {
					t.Errorf("body %q, want the upstream's", w.Body)
				}
				return
			}
			if got := errorCode(t, w); got != c.code {
				t.Errorf("error %q, want %q", got, c.code)
			}
			if !strings.Contains(w.Body.String(), `"request_id":"rid-e"`) {
				t.Errorf("body %q without the request id", w.Body)
			}
			if st.Record.Reason != c.code {
				t.Errorf("Record.Reason %q, want %q", st.Record.Reason, c.code)
			}
		})
	}

	t.Run("the client went away: nothing written", func(t *testing.T) {
		p := newTestProxy(t, "", slow.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		st := &pipeline.State{Route: &pipeline.Route{}}
		w := serve(t, p, httptest.NewRequest("GET", "http://front.test/x", nil).WithContext(ctx), st)
		if w.Body.Len() != 0 || st.Record.Reason != "client_closed_request" {
			t.Errorf("answer %d %q, reason %q; want nothing written, client_closed_request", w.Code, w.Body, st.Record.Reason)
		}
	})
}

// failingBody yields data, then err.
type failingBody struct {
	data string
	err  error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.data == "" {
		return 0, b.err
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func (b *failingBody) Close() error { return nil }

// TestClientBodyFaults: a request whose body cannot be read is the
// client's fault (body.go), never a 502, and leaves nothing behind.
func TestClientBodyFaults(t *testing.T) {
	up := newUpstream(t)
	for _, c := range []struct {
		name   string
		body   func(w http.ResponseWriter) io.ReadCloser
		status int    // 0: nothing written
		code   string // the error code, or the record's reason when nothing is written
		msg    string
		close  bool // Connection: close on the answer
	}{
		{
			name: "past the body limit",
			body: func(w http.ResponseWriter) io.ReadCloser {
				return http.MaxBytesReader(w, io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), 10)
			},
			status: 413, code: "body_too_large", msg: "the request body is larger than 10 bytes",
		},
		{
			name: "the body stalls past the read deadline",
			body: func(http.ResponseWriter) io.ReadCloser {
				return &failingBody{data: "part", err: os.ErrDeadlineExceeded}
			},
			status: 408, code: "body_timeout", close: true,
		},
		{
			name: "broken chunked framing",
			body: func(http.ResponseWriter) io.ReadCloser {
				return &failingBody{data: "part", err: errors.New("malformed chunked encoding")}
			},
			status: 400, code: "malformed_body", msg: "malformed chunked encoding", close: true,
		},
		{
			name: "the client left mid-body",
			body: func(http.ResponseWriter) io.ReadCloser { return &failingBody{data: "part", err: io.ErrUnexpectedEOF} },
			code: "client_closed_request",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestProxy(t, "", up.URL, nil)
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "http://front.test/x", nil)
			r.Body, r.ContentLength = c.body(w), -1
			st := &pipeline.State{Route: &pipeline.Route{}}
			if err := p.Handle(w, pipeline.WithState(r, st), nil); err != nil {
				t.Fatal(err)
			}
			if c.status == 0 {
				if w.Body.Len() != 0 || st.Record.Reason != c.code {
					t.Errorf("answer %d %q, reason %q; want nothing written, %s", w.Code, w.Body, st.Record.Reason, c.code)
				}
			} else {
				if w.Code != c.status || errorCode(t, w) != c.code || !strings.Contains(w.Body.String(), c.msg) {
					t.Errorf("answer %d %q, want %d %s %q", w.Code, w.Body, c.status, c.code, c.msg)
				}
				if got := w.Header().Get("Connection") == "close"; got != c.close {
					t.Errorf("Connection: close %t, want %t", got, c.close)
				}
			}
			n := 0
			p.faults.Range(func(any, any) bool { n++; return true })
			if n != 0 {
				t.Errorf("%d read faults kept after the request", n)
			}
		})
	}
}
