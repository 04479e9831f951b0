package gateway_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// benchConfig routes /bench and /bench/* to pipeline "bench" whose single
// step is POLICY with ACTION.
const benchConfig = `
http:
  port: 0
apiEndpoints:
  other:
    host: other.example.com
    paths: ['/other/*']
  bench:
    host: '*'
    paths: ['/bench', '/bench/*']
serviceEndpoints:
  upstream:
    url: UPSTREAM
policies:
  - POLICY
pipelines:
  other:
    apiEndpoints: [other]
    policies:
      - POLICY:
          - action: ACTION
  bench:
    apiEndpoints: [bench]
    policies:
      - POLICY:
          - action: ACTION
`

// benchGateway builds a Gateway from benchConfig with the given factories.
func benchGateway(b *testing.B, policy, action, upstream string, factories map[string]policyenv.Factory, access gateway.AccessLog) *gateway.Gateway {
	b.Helper()
	src := strings.NewReplacer("POLICY", policy, "ACTION", action, "UPSTREAM", upstream).Replace(benchConfig)
	cfg, err := config.ParseGateway("gateway.config.yml", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := gateway.Build(cfg, &policyenv.Env{Logger: log, Now: time.Now}, factories)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.Close)
	return gateway.New(rt, log, access)
}

// noContent is a policy that answers 204 itself: the pipeline's cost with
// no work in it.
var noContent = map[string]policyenv.Factory{
	"no-content": {Terminal: true, New: func(policyenv.Decoder, *policyenv.Env) (pipeline.Policy, error) {
		return pipeline.PolicyFunc(func(w http.ResponseWriter, _ *http.Request, _ pipeline.Handler) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}), nil
	}},
}

// discardWriter is a reusable http.ResponseWriter that keeps nothing, so
// that a benchmark measures the gateway rather than httptest.Recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// benchRequest is a typical small API request, with a client eg-* header
// the gateway must strip.
func benchRequest(b *testing.B, target string) *http.Request {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "api.example.com"
	r.Header.Set("User-Agent", "bench/1.0")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Authorization", "Bearer abcdefghijklmnopqrstuvwxyz")
	return r
}

// forged is a client's attempt to claim an identity; the gateway strips it.
var forged = []string{"forged"}

// serve runs one request, resetting what it changes so the next is alike
// (without allocating: the figures are the gateway's).
func serve(g *gateway.Gateway, w *discardWriter, r *http.Request) {
	clear(w.h)
	w.status = 0
	r.Header["Eg-Consumer-Id"] = forged
	g.ServeHTTP(w, r)
}

func checkServe(b *testing.B, g *gateway.Gateway, r *http.Request, want int) {
	b.Helper()
	w := &discardWriter{h: http.Header{}}
	serve(g, w, r)
	if w.status != want {
		b.Fatalf("status %d, want %d", w.status, want)
	}
	if id := w.h.Get("eg-request-id"); len(id) != 22 {
		b.Fatalf("eg-request-id %q", id)
	}
	if _, ok := r.Header["Eg-Consumer-Id"]; ok {
		b.Fatal("client eg-consumer-id was not stripped")
	}
}

// measureServe checks that a request to target answers want, then measures
// serving it again and again.
func measureServe(b *testing.B, g *gateway.Gateway, target string, want int) {
	b.Helper()
	r := benchRequest(b, target)
	checkServe(b, g, r, want)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		serve(g, w, r)
	}
}

// BenchmarkEmptyPipeline is the gateway's own cost per request: request id,
// header stripping, routing, pipeline state and the response wrapper.
func BenchmarkEmptyPipeline(b *testing.B) {
	g := benchGateway(b, "no-content", "{}", "http://127.0.0.1:1", noContent, nil)
	measureServe(b, g, "http://api.example.com/bench/items/42", http.StatusNoContent)
}

// BenchmarkEmptyPipelineParallel is the same on every CPU (the state pools
// and the Runtime pointer must not contend).
func BenchmarkEmptyPipelineParallel(b *testing.B) {
	g := benchGateway(b, "no-content", "{}", "http://127.0.0.1:1", noContent, nil)
	checkServe(b, g, benchRequest(b, "http://api.example.com/bench/items/42"), http.StatusNoContent)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := benchRequest(b, "http://api.example.com/bench/items/42")
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			serve(g, w, r)
		}
	})
}

// BenchmarkEmptyPipelineAccessLog adds a JSON access log line per request
// (accesslog_bench_test.go compares it with no log and slog's handler).
func BenchmarkEmptyPipelineAccessLog(b *testing.B) {
	access := accesslog.New(io.Discard, accesslog.Options{})
	b.Cleanup(func() { access.Close() })
	g := benchGateway(b, "no-content", "{}", "http://127.0.0.1:1", noContent, access)
	measureServe(b, g, "http://api.example.com/bench/items/42", http.StatusNoContent)
}

// BenchmarkEmptyPipelineMetrics adds the Prometheus request metrics that
// gatehouse serve records for every request.
func BenchmarkEmptyPipelineMetrics(b *testing.B) {
	g := benchGateway(b, "no-content", "{}", "http://127.0.0.1:1", noContent, nil)
	g.Metrics = metrics.New()
	measureServe(b, g, "http://api.example.com/bench/items/42", http.StatusNoContent)
}

// BenchmarkNotFound is a request no apiEndpoint matches (rendered by
// pipeline.WriteError).
func BenchmarkNotFound(b *testing.B) {
	g := benchGateway(b, "no-content", "{}", "http://127.0.0.1:1", noContent, nil)
	measureServe(b, g, "http://api.example.com/nothing/here", http.StatusNotFound)
}

// benchBody is the upstream's fixed 100-byte JSON answer (as bench/upstream).
var benchBody = []byte(`{"id":"b3a1c2d4","name":"benchmark","status":"ok","items":[1,2,3,4,5],"tags":["a","b"],"v":1.25000}` + "\n")

// Canned answers of benchUpstream, written as they are: one write per
// response, nothing built per request.
var (
	benchOK = []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(benchBody)) + "\r\n\r\n" + string(benchBody))
	benchBad = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
)

// cannedUpstream is benchUpstream's listener; URL is what a
// serviceEndpoint points to.
type cannedUpstream struct {
	URL string
	ln  net.Listener
	wg  sync.WaitGroup
	mu  sync.Mutex
	cs  map[net.Conn]struct{}
}

// benchUpstream is a loopback upstream answering benchBody with keep-alive;
// it answers 400 to a request without an eg-request-id or with a client's
// eg-consumer-id when strict.
//
// It is a raw TCP listener with one fixed response, not an httptest
// server: net/http's server allocates about 30 times per request (the
// Request, its header map and strings, the response writer), and those
// allocations run in the benchmark's process, so with an httptest
// upstream allocs/op was a third harness. This one allocates nothing per
// request (a bufio.Reader per connection, the request scanned line by
// line to its blank line, a body skipped by Content-Length), so allocs/op
// and B/op are the gateway's (or, for BenchmarkBareProxy, the bare
// proxy's) alone. It parses only what the benchmarks send: GET requests,
// no chunked bodies. Test code, not an HTTP server.
func benchUpstream(b *testing.B, strict bool) *cannedUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	u := &cannedUpstream{URL: "http://" + ln.Addr().String(), ln: ln, cs: map[net.Conn]struct{}{}}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.cs[c] = struct{}{}
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				u.serve(c, strict)
			}()
		}
	}()
	b.Cleanup(u.close)
	return u
}

func (u *cannedUpstream) close() {
	_ = u.ln.Close()
	u.mu.Lock()
	for c := range u.cs {
		_ = c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// serve answers the requests of one connection until it closes.
func (u *cannedUpstream) serve(c net.Conn, strict bool) {
	defer func() {
		u.mu.Lock()
		delete(u.cs, c)
		u.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReaderSize(c, 4096)
	for {
		var id, consumer, closeConn bool
		length := 0
		first := true
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return // EOF, or a line longer than the buffer
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				if first {
					continue // RFC 9112 §2.2: a CRLF before the request line
				}
				break
			}
			if first {
				first = false
				continue // the request line
			}
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				return
			}
			value = bytes.TrimSpace(value)
			switch {
			case asciiEqualFold(name, "eg-request-id"):
				id = true
			case asciiEqualFold(name, "eg-consumer-id"):
				consumer = true
			case asciiEqualFold(name, "connection"):
				closeConn = asciiEqualFold(value, "close")
			case asciiEqualFold(name, "content-length"):
				for _, d := range value {
					if d < '0' || d > '9' {
						return
					}
					length = length*10 + int(d-'0')
				}
			}
		}
		if _, err := br.Discard(length); err != nil {
			return
		}
		resp := benchOK
		if strict && (!id || consumer) {
			resp = benchBad
		}
		if _, err := c.Write(resp); err != nil || closeConn {
			return
		}
	}
}

// asciiEqualFold is strings.EqualFold for a header name or token, on bytes
// and without converting them.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// BenchmarkBareProxy is the floor BenchmarkProxy compares with: a bare
// httputil.ReverseProxy with the proxy policy's transport settings and
// buffer pool, to the same kind of upstream, through the same writer.
//
// The proxy benchmarks measure the proxy alone: the client side is a
// reused request served in-process into discardWriter (the body is read
// to its end and dropped), the upstream benchUpstream's canned answer,
// neither allocating per request. Until issue #14 the upstream was an
// httptest server, whose own allocations (about 42 a request) were in
// allocs/op: compare figures across that change only on one harness
// (bench/README.md, "Go benchmarks").
func BenchmarkBareProxy(b *testing.B) {
	up := benchUpstream(b, false)
	target, _ := url.Parse(up.URL)
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	b.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = "" },
		Transport:  tr,
		BufferPool: &bufferPool{},
	}
	r := benchRequest(b, "http://api.example.com/bench/items/42")
	w := &discardWriter{h: http.Header{}}
	rp.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		rp.ServeHTTP(w, r)
	}
}

// BenchmarkProxy is the real proxy policy to a loopback upstream: the
// gateway plus httputil.ReverseProxy plus one HTTP/1.1 exchange.
func BenchmarkProxy(b *testing.B) {
	up := benchUpstream(b, true)
	g := benchGateway(b, "proxy", "{serviceEndpoint: upstream}", up.URL, gateway.Policies(nil), nil)
	measureServe(b, g, "http://api.example.com/bench/items/42", http.StatusOK)
}

// bufferPool reuses ReverseProxy's 32 KiB copy buffers, as the proxy policy
// does.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32*1024)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
