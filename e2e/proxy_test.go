package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTwoEndpointsRoundRobin: an Express Gateway style config with two
// apiEndpoints, two pipelines and a round-robin serviceEndpoint; the
// upstream sees method, path, query, body and headers as documented.
func TestTwoEndpointsRoundRobin(t *testing.T) {
	a, b := echoServer(t, "a"), echoServer(t, "b")
	single := echoServer(t, "single")
	g := startGateway(t, fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  api:
    host: '*'
    paths: ['/api/*']
  legacy:
    paths: '/legacy/:rest*'
    methods: [GET, POST]
serviceEndpoints:
  pool:
    urls: ['%s', '%s']
  single:
    url: '%s/base'
policies: [proxy, headers]
pipelines:
  api:
    apiEndpoints: [api]
    policies:
      - proxy:
          - action:
              serviceEndpoint: pool
              strategy: round-robin
  legacy:
    apiEndpoints: [legacy]
    policies:
      - headers:
          - action:
              headersPrefix: 'x-gw-'
              forwardHeaders:
                endpoint: apiEndpoint.name
                method: req.method
      - proxy:
          - action:
              serviceEndpoint: single
              stripPath: true
              changeOrigin: false
              xfwd: true
`, a.URL, b.URL, single.URL))

	// Round-robin alternates between the two upstreams.
	var servers []string
	for i := 0; i < 4; i++ {
		servers = append(servers, decodeEcho(t, get(t, g.base+"/api/x")).Server)
	}
	if strings.Join(servers, ",") != "a,b,a,b" {
		t.Errorf("round-robin order = %v, want a,b,a,b", servers)
	}

	// The upstream sees method, path, query, body and headers.
	body := `{"hello":"world"}`
	req, _ := http.NewRequest("PUT", g.base+"/api/items/42?q=1&q=2&x=%20y", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Custom", "kept")
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	req.Header.Set("Eg-Consumer-Id", "spoofed")
	req.Header.Set("Connection", "keep-alive, X-Hop")
	req.Header.Set("X-Hop", "hop-by-hop")
	req.Host = "client.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e := decodeEcho(t, resp)
	checks := []struct{ what, got, want string }{
		{"method", e.Method, "PUT"},
		{"path", e.Path, "/api/items/42"},
		{"query", e.Query, "q=1&q=2&x=%20y"},
		{"body", e.Body, body},
		{"content-type", first(e.Headers["Content-Type"]), "application/json"},
		{"custom header", first(e.Headers["X-Custom"]), "kept"},
		{"spoofed eg-consumer-id", first(e.Headers["Eg-Consumer-Id"]), ""},
		{"client X-Forwarded-For without xfwd", first(e.Headers["X-Forwarded-For"]), ""},
		{"hop-by-hop header named in Connection", first(e.Headers["X-Hop"]), ""},
		{"request id", fmt.Sprint(len(first(e.Headers["Eg-Request-Id"]))), "22"},
	}
	u, _ := url.Parse(e.Server)
	_ = u
	if e.Host == "client.example" {
		t.Errorf("changeOrigin defaults to true: upstream got client Host %q", e.Host)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: upstream saw %q, want %q", c.what, c.got, c.want)
		}
	}

	// stripPath on '/legacy/:rest*', target path /base, changeOrigin false, xfwd.
	req, _ = http.NewRequest("POST", g.base+"/legacy/v1/users?id=7", strings.NewReader("x=1"))
	req.Host = "client.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e = decodeEcho(t, resp)
	if e.Path != "/base/v1/users" || e.Query != "id=7" {
		t.Errorf("stripPath: upstream path %q query %q, want /base/v1/users and id=7", e.Path, e.Query)
	}
	if e.Host != "client.example" {
		t.Errorf("changeOrigin false: upstream Host %q, want client.example", e.Host)
	}
	if first(e.Headers["X-Forwarded-For"]) != "127.0.0.1" || first(e.Headers["X-Forwarded-Host"]) != "client.example" || first(e.Headers["X-Forwarded-Proto"]) != "http" {
		t.Errorf("xfwd: X-Forwarded-* = %v %v %v", e.Headers["X-Forwarded-For"], e.Headers["X-Forwarded-Host"], e.Headers["X-Forwarded-Proto"])
	}
	if first(e.Headers["X-Gw-Endpoint"]) != "legacy" || first(e.Headers["X-Gw-Method"]) != "POST" {
		t.Errorf("headers policy: %v", e.Headers)
	}

	// Method filter: DELETE is not among legacy's methods.
	req, _ = http.NewRequest("DELETE", g.base+"/legacy/x", nil)
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != 404 {
		t.Errorf("DELETE on a GET,POST endpoint = %d, want 404", resp.StatusCode)
	}
	resp.Body.Close()

	// The access log has one line per request with the same id as the upstream saw.
	if !strings.Contains(g.acc.String(), first(e.Headers["Eg-Request-Id"])) {
		t.Errorf("access log lacks request id %s:\n%s", first(e.Headers["Eg-Request-Id"]), g.acc.String())
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func TestUpstreamDownIs502Fast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints: {api: {}}
serviceEndpoints: {down: {url: 'http://%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: down}}}]}
`, dead))
	// warm the client connection to the gateway so only the gateway's time counts
	readBody(t, get(t, g.base+"/"))
	start := time.Now()
	resp := get(t, g.base+"/x")
	elapsed := time.Since(start)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if elapsed > 100*time.Millisecond {
		t.Errorf("502 took %v, want under 100ms", elapsed)
	}
	var j map[string]string
	if err := json.Unmarshal([]byte(body), &j); err != nil || j["error"] != "bad_gateway" || j["request_id"] == "" {
		t.Errorf("502 body = %s, want JSON with error bad_gateway and request_id", body)
	}
	if resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("502 content type %q", resp.Header.Get("Content-Type"))
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	slow := echoSlow(t, release)
	defer close(release)
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints: {api: {}}
serviceEndpoints: {slow: {url: '%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: slow, proxyTimeout: 200}}}]}
`, slow))
	start := time.Now()
	resp := get(t, g.base+"/")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, `"error":"upstream_timeout"`) {
		t.Fatalf("got %d %s, want 504 upstream_timeout", resp.StatusCode, body)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("504 after %v, want about the 200ms proxyTimeout", d)
	}
}

// echoSlow is an upstream that answers only when release is closed.
func echoSlow(t *testing.T, release chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(200)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestStreamingResponse(t *testing.T) {
	gotFirst := make(chan struct{})
	up := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select { // the second event is sent only once the client saw the first
		case <-gotFirst:
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "data: two\n\n")
	}))
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints: {api: {}}
serviceEndpoints: {s: {url: '%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: s}}}]}
`, up))
	resp := get(t, g.base+"/events")
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	done := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		done <- line
	}()
	select {
	case line := <-done:
		if line != "data: one\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the first event was not streamed before the upstream finished")
	}
	close(gotFirst)
	rest, _ := io.ReadAll(r)
	if !strings.Contains(string(rest), "data: two") {
		t.Errorf("rest of stream %q", rest)
	}
}

func httpServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestWebSocketUpgrade proxies an HTTP/1.1 Upgrade (RFC 6455 handshake) and
// then raw bytes both ways.
func TestWebSocketUpgrade(t *testing.T) {
	up := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(brw, buf); err != nil {
			return
		}
		fmt.Fprintf(conn, "echo:%s", buf)
	}))
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints: {ws: {paths: /ws}}
serviceEndpoints: {s: {url: '%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [ws], policies: [{proxy: {action: {serviceEndpoint: s}}}]}
`, up))
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	fmt.Fprint(conn, "ping")
	got := make([]byte, len("echo:ping"))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "echo:ping" {
		t.Errorf("through the tunnel: %q", got)
	}
}

// TestGracefulShutdown: Shutdown lets an in-flight request finish and
// refuses new connections.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	slow := echoSlow(t, release)
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints: {api: {}}
serviceEndpoints: {slow: {url: '%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: slow}}}]}
`, slow))
	status := make(chan int, 1)
	go func() {
		resp, err := http.Get(g.base + "/")
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the request is in flight
	shut := make(chan error, 1)
	go func() { shut <- g.app.Shutdown(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(g.base, "http://"), time.Second); err == nil {
		t.Error("new connections still accepted during shutdown")
	}
	close(release)
	if s := <-status; s != 200 {
		t.Errorf("in-flight request ended with %d, want 200", s)
	}
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
