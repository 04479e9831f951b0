package proxy

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// front serves p as the gateway does: a real server, so that 1xx
// responses, trailers and Upgrade reach a real client.
func front(t *testing.T, p *Proxy) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = p.Handle(w, pipeline.WithState(r, &pipeline.State{Route: &pipeline.Route{}}), nil)
	}))
	t.Cleanup(s.Close)
	return s
}

// counting is an upstream that counts the connections it accepted.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &n
}

func get(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPoolIsThePlainHTTPPath: a plain-http upstream reached directly goes
// through the synchronous pool; with an outbound proxy, the transport.
func TestPoolIsThePlainHTTPPath(t *testing.T) {
	if _, ok := newTestProxy(t, "", "http://127.0.0.1:1", nil).transport.(*connPool); !ok {
		t.Error("plain http upstream: not the pool")
	}
	if _, ok := newTestProxy(t, "proxyUrl: 'http://127.0.0.1:2'", "http://127.0.0.1:1", nil).transport.(*http.Transport); !ok {
		t.Error("outbound proxy: not the http.Transport")
	}
}

// TestPoolReusesConnections: sequential requests share one upstream
// connection, a response with Connection: close is not reused (and its
// Connection header is not passed on, RFC 9110 §7.6.1), and a connection
// the upstream closed while idle is not used, even for a request that
// cannot be replayed.
func TestPoolReusesConnections(t *testing.T) {
	up, conns := counting(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.WriteString(w, "ok")
	})
	p := newTestProxy(t, "", up.URL, nil)
	f := front(t, p)
	for range 5 {
		if _, body := get(t, f.Client(), newReq(t, "GET", f.URL+"/x", nil)); body != "ok" {
			t.Fatalf("body %q", body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 5 sequential requests, want 1", n)
	}
	resp, _ := get(t, f.Client(), newReq(t, "GET", f.URL+"/close", nil))
	if resp.Header.Get("Connection") != "" {
		t.Errorf("the upstream's Connection: %q passed on", resp.Header.Get("Connection"))
	}
	get(t, f.Client(), newReq(t, "GET", f.URL+"/x", nil))
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections after Connection: close, want 2", n)
	}

	// The upstream drops its idle connections: the next POST must still
	// go through (a dead connection is detected before use).
	up.Config.SetKeepAlivesEnabled(false) // closes the idle ones
	up.Config.SetKeepAlivesEnabled(true)
	time.Sleep(50 * time.Millisecond)
	if resp, body := get(t, f.Client(), newReq(t, "POST", f.URL+"/x", strings.NewReader("data"))); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("POST after the upstream closed its idle connection: %d %q", resp.StatusCode, body)
	}
}

// TestPoolTimeouts: proxyTimeout bounds the wait for the response headers
// only, not a slow body after them; a slow upstream past it is a 504.
func TestPoolTimeouts(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-headers" {
			time.Sleep(300 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "part1 ")
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "part2")
	}))
	t.Cleanup(up.Close)
	p := newTestProxy(t, "proxyTimeout: 100ms", up.URL, nil)
	f := front(t, p)
	if resp, body := get(t, f.Client(), newReq(t, "GET", f.URL+"/slow-body", nil)); resp.StatusCode != 200 || body != "part1 part2" {
		t.Errorf("a body slower than proxyTimeout after its headers: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, f.Client(), newReq(t, "POST", f.URL+"/slow-body", strings.NewReader("x"))); resp.StatusCode != 200 || body != "part1 part2" {
		t.Errorf("with a request body: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, f.Client(), newReq(t, "GET", f.URL+"/slow-headers", nil)); resp.StatusCode != 504 {
		t.Errorf("headers later than proxyTimeout: %d, want 504", resp.StatusCode)
	}
	// The log's cause is the one docs/policies/proxy.md shows.
	req := httptest.NewRequest("GET", "http://front.test/slow-headers", nil)
	req.URL.Scheme, req.URL.Host = "http", strings.TrimPrefix(up.URL, "http://")
	if _, err := p.transport.RoundTrip(req); err == nil || err.Error() != "net/http: timeout awaiting response headers" {
		t.Errorf("error %v, want http.Transport's header timeout", err)
	}
}

// TestPool1xx: informational responses reach the client (RFC 9110 §15.2):
// 103 Early Hints with its Link, and an Expect: 100-continue request
// (through the transport) gets its final answer with its body delivered.
func TestPool1xx(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(append([]byte("got "), b...))
	}))
	t.Cleanup(up.Close)
	f := front(t, newTestProxy(t, "", up.URL, nil))
	for _, c := range []struct {
		name, method, body, expect string
	}{
		{"GET (the pool)", "GET", "", ""},
		{"POST with Expect: 100-continue", "POST", "body", "100-continue"},
	} {
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, http.StatusText(code)+": "+h.Get("Link"))
			return nil
		}}
		req := newReq(t, c.method, f.URL+"/x", strings.NewReader(c.body))
		if c.expect != "" {
			req.Header.Set("Expect", c.expect)
		}
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
		tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
		t.Cleanup(tr.CloseIdleConnections)
		resp, body := get(t, &http.Client{Transport: tr}, req)
		if resp.StatusCode != 200 || body != "got "+c.body {
			t.Errorf("%s: answer %d %q", c.name, resp.StatusCode, body)
		}
		found := false
		for _, h := range hints {
			found = found || h == "Early Hints: </style.css>; rel=preload"
		}
		if !found {
			t.Errorf("%s: 1xx seen by the client: %q, want the 103 with its Link", c.name, hints)
		}
	}
}

// TestPoolTrailers: the upstream's trailers reach the client (RFC 9110
// §6.5). (A request's trailers do not reach the upstream, through either
// transport: ReverseProxy copies the request before its body, hence its
// trailers, is read.)
func TestPoolTrailers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "body ")
		w.Header().Set("X-Sum", "resp-42")
	}))
	t.Cleanup(up.Close)
	f := front(t, newTestProxy(t, "", up.URL, nil))
	req := newReq(t, "POST", f.URL+"/x", io.MultiReader(strings.NewReader("chunked")))
	req.ContentLength = -1
	resp, body := get(t, f.Client(), req)
	if body != "body " || resp.Trailer.Get("X-Sum") != "resp-42" {
		t.Errorf("body %q, trailer %q; want the upstream's", body, resp.Trailer.Get("X-Sum"))
	}
}

// TestPoolUpgrade: a WebSocket-style Upgrade gets its 101 and a two-way
// byte stream (it goes through the transport).
func TestPoolUpgrade(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo " + line)
		_ = brw.Flush()
	}))
	t.Cleanup(up.Close)
	f := front(t, newTestProxy(t, "", up.URL, nil))
	c, err := net.Dial("tcp", strings.TrimPrefix(f.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade answer %v %v", resp, err)
	}
	_, _ = io.WriteString(c, "ping\n")
	if line, _ := br.ReadString('\n'); line != "echo ping\n" {
		t.Errorf("through the upgraded connection: %q", line)
	}
}

// TestPoolHTTPS: an https upstream (through the transport, TLS settings
// as configured).
func TestPoolHTTPS(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "not tls", 400)
			return
		}
		_, _ = io.WriteString(w, "tls ok")
	}))
	t.Cleanup(up.Close)
	f := front(t, newTestProxy(t, "secure: false", up.URL, nil))
	if resp, body := get(t, f.Client(), newReq(t, "GET", f.URL+"/x", nil)); resp.StatusCode != 200 || body != "tls ok" {
		t.Errorf("answer %d %q", resp.StatusCode, body)
	}
	f = front(t, newTestProxy(t, "", up.URL, nil)) // verifying: httptest's certificate is not trusted
	if resp, _ := get(t, f.Client(), newReq(t, "GET", f.URL+"/x", nil)); resp.StatusCode != 502 {
		t.Errorf("untrusted certificate: %d, want 502", resp.StatusCode)
	}
}

// TestPoolStreamsBodies: the request body reaches the upstream as it
// arrives (not buffered whole), and an upstream that answers before
// reading the body (an early 413) is heard, not turned into a 502.
func TestPoolStreamsBodies(t *testing.T) {
	got := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			w.Header().Set("Connection", "close")
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return
		}
		got <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, string(buf)+string(rest))
	}))
	t.Cleanup(up.Close)
	f := front(t, newTestProxy(t, "", up.URL, nil))
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "first")
		select {
		case <-got: // the upstream has the first part before the second is written
			_, _ = io.WriteString(pw, " second")
			pw.Close()
		case <-time.After(5 * time.Second):
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
	}()
	req := newReq(t, "POST", f.URL+"/stream", pr)
	if resp, body := get(t, f.Client(), req); resp.StatusCode != 200 || body != "first second" {
		t.Errorf("streamed body: %d %q", resp.StatusCode, body)
	}

	big := strings.NewReader(strings.Repeat("x", 8<<20))
	if resp, _ := get(t, f.Client(), newReq(t, "POST", f.URL+"/early", big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("early answer: %d, want the upstream's 413", resp.StatusCode)
	}
}

// TestPoolGzip: as through http.Transport, a client that did not say what
// it accepts gets the body decoded, and the upstream was asked for gzip.
func TestPoolGzip(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			_, _ = io.WriteString(w, "plain")
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, "decoded")
		_ = zw.Close()
	}))
	t.Cleanup(up.Close)
	f := front(t, newTestProxy(t, "", up.URL, nil))
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, body := get(t, &http.Client{Transport: tr}, newReq(t, "GET", f.URL+"/x", nil))
	if body != "decoded" || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("body %q, Content-Encoding %q", body, resp.Header.Get("Content-Encoding"))
	}
}

// TestPoolRetriesStaleConnections: a request without a body that meets a
// reused connection the upstream closed (past the liveness check: the
// close raced it) is retried once on a new connection; a request with a
// body is not replayed (net/http's rule).
func TestPoolRetriesStaleConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() { // one exchange per connection, then a close the response did not announce
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	p := newTestProxy(t, "", "http://"+l.Addr().String(), nil)
	pool := p.transport.(*connPool)
	roundTrip := func(method string, body io.Reader) (*http.Response, error) {
		req := newReq(t, method, "http://"+l.Addr().String()+"/x", body)
		resp, err := pool.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	blindIdle := func() {
		// The upstream has closed its end by now; make the pool unable
		// to see it, as if the close arrived just after the check.
		time.Sleep(50 * time.Millisecond)
		pool.mu.Lock()
		for _, list := range pool.idle {
			for _, c := range list {
				c.probe = nil
			}
		}
		pool.mu.Unlock()
	}
	if _, err := roundTrip("GET", nil); err != nil {
		t.Fatal(err)
	}
	blindIdle()
	if resp, err := roundTrip("GET", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET on a stale connection: %v, want a retry on a new one", err)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the retry's)", n)
	}
	blindIdle()
	if _, err := roundTrip("POST", strings.NewReader("data")); err == nil {
		t.Error("POST on a stale connection succeeded: it must not be replayed")
	}
}

// TestPoolClosesIdleConnections: a connection left idle past the idle
// timeout is closed without waiting for another request.
func TestPoolClosesIdleConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	up.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	p := newTestProxy(t, "", up.URL, nil)
	pool := p.transport.(*connPool)
	pool.idleTimeout = 50 * time.Millisecond
	resp, err := pool.RoundTrip(newReq(t, "GET", up.URL+"/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection is still open")
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if len(pool.idle) != 0 || pool.reaper != nil {
		t.Errorf("after reaping: %d hosts idle, reaper %v", len(pool.idle), pool.reaper)
	}
}
