package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue #10 §4: client faults are 4xx, and slow clients cannot hold the
// gateway. These tests speak raw HTTP/1.x over TCP (and TLS) to the real
// app, and check what reached the upstream.

// cfUpstream records every request that reached it, and whether its body
// arrived whole.
type cfUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []cfSeen
}

type cfSeen struct {
	method, path, body string
	complete           bool // the body was read to its end without error
}

func newCFUpstream(t *testing.T, h http.HandlerFunc) *cfUpstream {
	t.Helper()
	u := &cfUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, cfSeen{r.Method, r.URL.Path, string(b), err == nil})
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(b))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *cfUpstream) requests() []cfSeen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]cfSeen(nil), u.seen...)
}

// completed are the requests whose body the upstream received whole.
func (u *cfUpstream) completed() []cfSeen {
	var out []cfSeen
	for _, s := range u.requests() {
		if s.complete {
			out = append(out, s)
		}
	}
	return out
}

// cfGateway proxies every path to up; limits are extra keys of the http
// block.
func cfGateway(t *testing.T, up string, limits string) *gatewayUnderTest {
	t.Helper()
	return startGateway(t, fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
%s
apiEndpoints: {api: {}}
serviceEndpoints: {s: {url: '%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: s}}}]}
`, indentBlock(limits), up))
}

func indentBlock(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}

func (g *gatewayUnderTest) addr() string { return strings.TrimPrefix(g.base, "http://") }

// cfExchange writes raw to a new connection and reads until the server
// closes it or wait passes. closed reports whether the server closed it.
func cfExchange(t *testing.T, dial func() (net.Conn, error), raw string, wait time.Duration) (resp string, closed bool) {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readUntilClosed(c, wait)
}

func readUntilClosed(c net.Conn, wait time.Duration) (string, bool) {
	c.SetReadDeadline(time.Now().Add(wait))
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	var ne net.Error
	closed := err == nil || !(errors.As(err, &ne) && ne.Timeout()) // EOF, or a reset
	return buf.String(), closed
}

func tcpDial(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
}

// statusLines lists the status lines of the responses in raw.
func statusLines(raw string) []string {
	var out []string
	br := bufio.NewReader(strings.NewReader(raw))
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp.Proto+" "+resp.Status)
	}
}

// TestSmugglingFormsRefused: every request whose framing two parsers could
// read differently is answered 400 (501 for a well-framed but unsupported
// coding) with a JSON reason, the connection is closed, and nothing
// reaches the upstream, not even the request smuggled behind it.
func TestSmugglingFormsRefused(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "")
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	for _, c := range []struct {
		name, raw, status, reason string
	}{
		{"CL and TE", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE and CL", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"duplicate CL, same value", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"duplicate CL, different values", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"CL list", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"CL with sign", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE chunked , identity", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked , identity\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE xchunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE tab chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE obs-fold", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE twice", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE chunked, chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE identity", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
		{"TE gzip, chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.1 501", "unsupported_transfer_coding"},
		{"TE in HTTP/1.0", "POST /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, "HTTP/1.0 400", "invalid_framing"},
		{"TE and CL in HTTP/1.0", "POST /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc" + smuggled, "HTTP/1.0 400", "invalid_framing"},
		{"obs-fold elsewhere", "GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n" + smuggled, "HTTP/1.1 400", "invalid_framing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(up.requests())
			resp, closed := cfExchange(t, tcpDial(g.addr()), c.raw, 5*time.Second)
			if !strings.HasPrefix(resp, c.status+" ") {
				t.Errorf("response %q, want %s", firstLine(resp), c.status)
			}
			if !strings.Contains(resp, `"error":"`+c.reason+`"`) {
				t.Errorf("body %q, want reason %s", resp, c.reason)
			}
			if !closed {
				t.Error("the connection was left open")
			}
			if n := len(statusLines(resp)); n != 1 {
				t.Errorf("%d responses, want 1: %q", n, resp)
			}
			if got := up.requests()[before:]; len(got) != 0 {
				t.Errorf("the upstream got %v", got)
			}
		})
	}

	// A smuggling form behind a good request on the same connection: the
	// good one is served, the bad one refused, nothing after it read.
	t.Run("pipelined", func(t *testing.T) {
		before := len(up.requests())
		resp, closed := cfExchange(t, tcpDial(g.addr()),
			"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"+
				"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+smuggled, 5*time.Second)
		if got := statusLines(resp); len(got) != 2 || got[0] != "HTTP/1.1 200 OK" || got[1] != "HTTP/1.1 400 Bad Request" {
			t.Errorf("responses %q", got)
		}
		if !closed {
			t.Error("the connection was left open")
		}
		if got := up.requests()[before:]; len(got) != 1 || got[0].path != "/ok" {
			t.Errorf("the upstream got %v, want /ok alone", got)
		}
	})

	// The access log says why.
	if acc := g.acc.String(); !strings.Contains(acc, `"reason":"invalid_framing"`) {
		t.Errorf("no invalid_framing in the access log:\n%s", indent(acc))
	}
}

// TestSmugglingRefusedOverTLS: the checks read HTTP/1.1 inside TLS too.
func TestSmugglingRefusedOverTLS(t *testing.T) {
	up := newCFUpstream(t, nil)
	certDir := t.TempDir()
	cert, key := writeCert(t, certDir, "c", "localhost")
	g := startGateway(t, fmt.Sprintf(`https:
  port: 0
  host: 127.0.0.1
  tls: {default: {key: '%s', cert: '%s'}}
apiEndpoints: {api: {}}
serviceEndpoints: {s: {url: '%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: s}}}]}
`, key, cert, up.URL))
	addr := g.app.Addr("https").String()
	dial := func() (net.Conn, error) {
		return tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	}
	resp, closed := cfExchange(t, dial,
		"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"+
			"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second)
	if got := statusLines(resp); len(got) != 2 || got[0] != "HTTP/1.1 200 OK" || got[1] != "HTTP/1.1 400 Bad Request" {
		t.Errorf("responses %q", got)
	}
	if !closed {
		t.Error("the connection was left open")
	}
	if got := up.requests(); len(got) != 1 || got[0].path != "/ok" {
		t.Errorf("the upstream got %v", got)
	}
	// HTTP/2 still works on the same listener, and the request sees TLS.
	client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	r, err := client.Get("https://" + addr + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.ProtoMajor != 2 || r.StatusCode != 200 {
		t.Errorf("HTTP/2: %s %d", r.Proto, r.StatusCode)
	}
}

// TestValidFramingServed: what the checks let through is framed exactly
// as net/http reads it: pipelined chunked (with extensions and trailers),
// Content-Length, a CRLF after a POST body, and requests after them.
func TestValidFramingServed(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "")
	c, err := net.Dial("tcp", g.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: y\r\n\r\n"+
		"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyz\r\n"+
		"GET /c HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n"+
		"GET /d HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"POST /a 19", "POST /b 4", "GET /c 0", "GET /d 0"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("got %d %q, want 200 %q", resp.StatusCode, b, want)
		}
	}
	// The connection stays open for more.
	io.WriteString(c, "GET /e HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the pipeline: %v", err)
	}
	if got := up.requests(); len(got) != 5 || got[0].body != "abc0123456789abcdef" || got[1].body != "wxyz" {
		t.Errorf("the upstream got %+v", got)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// TestMalformedBodyIs400: a body that is not valid chunked encoding is the
// client's fault: 400 with a JSON reason, never 502, and the upstream
// never gets a complete request.
func TestMalformedBodyIs400(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "")
	for _, c := range []struct{ name, body string }{
		{"bare LF in chunk-size line", "5\nhello\r\n0\r\n\r\n"},
		{"bad chunk size", "zz\r\nhello\r\n0\r\n\r\n"},
		{"no CRLF after data", "5\r\nhelloXX0\r\n\r\n"},
		{"bare LF after a good chunk", "5\r\nhello\r\n3\nabc\r\n0\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, closed := cfExchange(t, tcpDial(g.addr()),
				"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+c.body, 5*time.Second)
			if !strings.HasPrefix(resp, "HTTP/1.1 400 ") || !strings.Contains(resp, `"error":"malformed_body"`) {
				t.Errorf("response %q, want 400 malformed_body", resp)
			}
			if !closed {
				t.Error("the connection was left open")
			}
		})
	}
	if got := up.completed(); len(got) != 0 {
		t.Errorf("the upstream got complete requests: %+v", got)
	}
	if strings.Contains(g.acc.String(), `"status":502`) {
		t.Errorf("a 502 in the access log:\n%s", indent(g.acc.String()))
	}
}

// TestTruncatedBody: a body shorter than its Content-Length, or cut by the
// client, never reaches the upstream as a complete request. A client that
// waits gets 408 once the body stalls past bodyReadTimeout; one that hangs
// up is logged as client_closed_request.
func TestTruncatedBody(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "bodyReadTimeout: 300ms")

	t.Run("client waits", func(t *testing.T) {
		start := time.Now()
		resp, closed := cfExchange(t, tcpDial(g.addr()),
			"POST /short HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789", 10*time.Second)
		if !strings.HasPrefix(resp, "HTTP/1.1 408 ") || !strings.Contains(resp, `"error":"body_timeout"`) {
			t.Errorf("response %q, want 408 body_timeout", resp)
		}
		if !closed {
			t.Error("the connection was left open")
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("answered after %v", d)
		}
	})

	for _, c := range []struct{ name, raw string }{
		{"client hangs up, Content-Length", "POST /cut HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"},
		{"client hangs up, chunked", "POST /cut HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(g.acc.String(), `"reason":"client_closed_request"`)
			conn, err := net.Dial("tcp", g.addr())
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(conn, c.raw)
			// Let the gateway start streaming to the upstream, then hang up.
			time.Sleep(200 * time.Millisecond)
			conn.Close()
			waitFor(t, 5*time.Second, func() bool {
				return strings.Count(g.acc.String(), `"reason":"client_closed_request"`) > before
			})
		})
	}
	if got := up.completed(); len(got) != 0 {
		t.Errorf("the upstream got complete requests: %+v", got)
	}
	if strings.Contains(g.acc.String(), `"status":502`) {
		t.Errorf("a 502 in the access log:\n%s", indent(g.acc.String()))
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBodyLimit: maxBodyBytes refuses a declared body over it with 413
// before reading it (no 100 Continue), and stops a chunked body at it
// (413, the upstream request aborted).
func TestBodyLimit(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "maxBodyBytes: 1000")

	t.Run("Expect: 100-continue", func(t *testing.T) {
		resp, closed := cfExchange(t, tcpDial(g.addr()),
			"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n", 5*time.Second)
		if !strings.HasPrefix(resp, "HTTP/1.1 413 ") || !strings.Contains(resp, `"error":"body_too_large"`) {
			t.Errorf("response %q, want 413 body_too_large first", resp)
		}
		if strings.Contains(resp, "100 Continue") {
			t.Errorf("100 Continue was sent: %q", resp)
		}
		if !closed {
			t.Error("the connection was left open")
		}
	})
	t.Run("Content-Length", func(t *testing.T) {
		resp, closed := cfExchange(t, tcpDial(g.addr()),
			"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("x", 5000), 5*time.Second)
		if !strings.HasPrefix(resp, "HTTP/1.1 413 ") || !closed {
			t.Errorf("response %q (closed %v), want 413 and a closed connection", resp, closed)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		var body strings.Builder
		for range 20 {
			body.WriteString("64\r\n" + strings.Repeat("y", 100) + "\r\n") // 2000 bytes in all
		}
		body.WriteString("0\r\n\r\n")
		resp, closed := cfExchange(t, tcpDial(g.addr()),
			"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+body.String(), 5*time.Second)
		if !strings.HasPrefix(resp, "HTTP/1.1 413 ") || !strings.Contains(resp, `"error":"body_too_large"`) {
			t.Errorf("response %q, want 413 body_too_large", resp)
		}
		if !closed {
			t.Error("the connection was left open")
		}
	})
	if got := up.completed(); len(got) != 0 {
		t.Errorf("the upstream got complete requests: %+v", got)
	}
	t.Run("under the limit", func(t *testing.T) {
		resp, err := http.Post(g.base+"/ok", "text/plain", strings.NewReader(strings.Repeat("z", 1000)))
		if err != nil {
			t.Fatal(err)
		}
		if b := readBody(t, resp); resp.StatusCode != 200 || b != "POST /ok 1000" {
			t.Errorf("got %d %q", resp.StatusCode, b)
		}
	})
}

// TestSlowBodyTrickle: a body trickled below minBodyRate is ended (408)
// even though a byte arrives well within bodyReadTimeout each time; one
// sent above the rate passes.
func TestSlowBodyTrickle(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "bodyReadTimeout: 300ms\nminBodyRate: 1000")

	conn, err := net.Dial("tcp", g.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
	start := time.Now()
	done := make(chan struct{})
	go func() { // 1 byte every 20 ms: 50 B/s, done in 20 s if nothing stops it
		defer close(done)
		for range 1000 {
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	resp, _ := readUntilClosed(conn, 10*time.Second)
	if !strings.HasPrefix(resp, "HTTP/1.1 408 ") {
		t.Errorf("response %q, want 408", resp)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the trickle held the request for %v", d)
	}
	conn.Close()
	<-done

	// 200 bytes at about 2,000 B/s: well above the rate.
	conn2, err := net.Dial("tcp", g.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	io.WriteString(conn2, "POST /fast HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\n\r\n")
	for range 10 {
		io.WriteString(conn2, strings.Repeat("x", 20))
		time.Sleep(10 * time.Millisecond)
	}
	conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, err := http.ReadResponse(bufio.NewReader(conn2), nil)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("fast body: %v %v", r, err)
	}
	if got := up.completed(); len(got) != 1 || got[0].path != "/fast" {
		t.Errorf("the upstream completed %+v, want /fast alone", got)
	}
}

// TestSlowReaderDropped: a client that stops reading a large response is
// dropped once a write makes no progress for sendTimeout, instead of
// holding the gateway's connection, goroutine and upstream connection for
// as long as it likes.
func TestSlowReaderDropped(t *testing.T) {
	const size = 64 << 20
	up := newCFUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		chunk := bytes.Repeat([]byte("z"), 32<<10)
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	g := cfGateway(t, up.URL, "sendTimeout: 300ms")
	conn, err := net.Dial("tcp", g.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	// The client never reads. The request ends on the gateway's side (its
	// access-log line is written when it does) long before the response
	// could have been sent.
	start := time.Now()
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(g.acc.String(), `"path":"/big"`) })
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the stalled response held the request for %v", d)
	}
	var line struct{ Bytes int64 }
	json.Unmarshal([]byte(g.acc.String()), &line)
	if line.Bytes >= size {
		t.Errorf("the whole response was written (%d bytes)", line.Bytes)
	}
}

// TestIdleConnectionsCapped: past maxIdleConnections, the oldest idle
// keep-alive connections are closed.
func TestIdleConnectionsCapped(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "maxIdleConnections: 4")
	var conns []net.Conn
	for range 12 {
		c, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("request: %v", err)
		}
		io.Copy(io.Discard, r.Body)
		conns = append(conns, c)
	}
	open := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		open = 0
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			var b [1]byte
			_, err := c.Read(b[:])
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				open++
			}
		}
		if open <= 4 || time.Now().After(deadline) {
			break
		}
	}
	if open > 4 {
		t.Errorf("%d idle connections left open, want at most 4", open)
	}
	if open == 0 {
		t.Error("every idle connection was closed")
	}
}

// TestConnectionCap: at maxConnections new connections wait until one
// closes; an idle keep-alive connection makes room at once.
func TestConnectionCap(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "maxConnections: 3")
	var holders []net.Conn
	for range 3 { // three clients in the middle of a request head
		c, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /hold HTTP/1.1\r\n")
		holders = append(holders, c)
	}
	time.Sleep(100 * time.Millisecond)
	c, err := net.Dial("tcp", g.addr()) // the kernel queues it
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /fourth HTTP/1.1\r\nHost: a\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		t.Fatal("a fourth connection was served while three were open")
	}
	holders[0].Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	r, err := http.ReadResponse(br, nil)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("after a connection closed: %v", err)
	}
	io.Copy(io.Discard, r.Body)
	// c is now idle: a new client evicts it rather than wait.
	resp, _ := cfExchange(t, tcpDial(g.addr()), "GET /fifth HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
		t.Errorf("with an idle connection to evict: %q", firstLine(resp))
	}
}

// TestPerClientConnectionCap: one address cannot open more than
// maxConnectionsPerClient connections; another address still can.
func TestPerClientConnectionCap(t *testing.T) {
	up := newCFUpstream(t, nil)
	g := cfGateway(t, up.URL, "maxConnectionsPerClient: 2")
	for range 2 {
		c, err := net.Dial("tcp", g.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /hold HTTP/1.1\r\n")
	}
	time.Sleep(100 * time.Millisecond)
	resp, closed := cfExchange(t, tcpDial(g.addr()), "GET /third HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second)
	if resp != "" || !closed {
		t.Errorf("a third connection from 127.0.0.1 got %q (closed %v), want to be closed unanswered", resp, closed)
	}
	other := func() (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
		return d.Dial("tcp", g.addr())
	}
	resp, _ = cfExchange(t, other, "GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
		t.Errorf("from 127.0.0.2: %q", firstLine(resp))
	}
}

// TestUnsentBodyDoesNotHold: a client that declares a body and never sends
// it cannot hold the connection after a step answered without reading it
// (net/http reads on to reuse the connection), nor after a refusal of an
// Expect: 100-continue request.
func TestUnsentBodyDoesNotHold(t *testing.T) {
	g := startGateway(t, `http:
  port: 0
  host: 127.0.0.1
  bodyReadTimeout: 300ms
apiEndpoints: {api: {}}
policies: [terminate]
pipelines:
  p: {apiEndpoints: [api], policies: [{terminate: {action: {statusCode: 403, message: no}}}]}
`)
	for _, raw := range []string{
		"POST /t HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n",
		"POST /t HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
		"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		start := time.Now()
		resp, closed := cfExchange(t, tcpDial(g.addr()), raw, 10*time.Second)
		if !strings.HasPrefix(resp, "HTTP/1.1 403 ") {
			t.Errorf("%q: response %q", firstLine(raw), firstLine(resp))
		}
		if !closed || time.Since(start) > 8*time.Second {
			t.Errorf("%q: the connection was held %v (closed %v)", firstLine(raw), time.Since(start), closed)
		}
	}
}
