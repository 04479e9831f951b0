package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// benchWriter is a reusable ResponseWriter that keeps nothing.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkUpstreamPath is the proxy step (ReverseProxy, the identity
// headers) to a loopback upstream through each transport, in one run:
// http.Transport against the synchronous pool (conns.go). "cancelable"
// gives the request a context that can end, as net/http's server does;
// "parallel" runs 4 requests per CPU at once, with such a context.
func BenchmarkUpstreamPath(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"b3a1c2d4","name":"benchmark","status":"ok","items":[1,2,3,4,5],"tags":["a","b"],"v":1.25000}` + "\n"))
	}))
	b.Cleanup(up.Close)
	id := &pipeline.Identity{ConsumerID: "c1", ConsumerType: "user", ConsumerName: "alice", IsActive: true,
		CreatedAt: time.UnixMilli(1700000000123), UpdatedAt: time.UnixMilli(1700000000456), AuthType: "key-auth", CredentialID: "k1"}
	for _, ctxName := range []string{"background", "cancelable", "parallel"} {
		for _, name := range []string{"transport", "pool"} {
			b.Run(name+"/"+ctxName, func(b *testing.B) {
				pol, err := New(configtest.Action(b, "{serviceEndpoint: s}"), testEnv(up.URL))
				if err != nil {
					b.Fatal(err)
				}
				p := pol.(*Proxy)
				b.Cleanup(p.Close)
				if name == "transport" {
					p.rp.Transport = p.transport.(*connPool).fallback
				}
				ctx := context.Background()
				if ctxName != "background" {
					c, cancel := context.WithCancel(ctx)
					b.Cleanup(cancel)
					ctx = c
				}
				newRun := func() (func(), *benchWriter) {
					r := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://api.example.com/bench/items/42", nil)
					r.Header.Set("User-Agent", "bench/1.0")
					r.Header.Set("Accept", "application/json")
					st := &pipeline.State{Route: &pipeline.Route{}, RequestID: "0123456789abcdefghijkl", Identity: id}
					r = pipeline.WithState(r, st)
					w := &benchWriter{h: http.Header{}}
					return func() {
						clear(w.h)
						w.status = 0
						_ = p.Handle(w, r, nil)
					}, w
				}
				run, w := newRun()
				run()
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
				b.ReportAllocs()
				if ctxName == "parallel" {
					// Several requests at once, as under load: the
					// pool's lock and idle list are shared.
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						run, _ := newRun()
						for pb.Next() {
							run()
						}
					})
					return
				}
				for b.Loop() {
					run()
				}
			})
		}
	}
}
