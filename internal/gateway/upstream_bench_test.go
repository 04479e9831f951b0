package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// keyAuthGateway is BenchmarkKeyAuthProxy's gateway (key-auth, then the
// proxy to a loopback upstream) and the Authorization its key opens.
func keyAuthGateway(b *testing.B) (*gateway.Gateway, []string) {
	b.Helper()
	up := benchUpstream(b, false)
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, store.User{Username: "a", Firstname: "A", Lastname: "B"})
	c, sec, _ := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
	src := "http: {port: 1}\napiEndpoints: {a: {}}\nserviceEndpoints: {up: {url: '" + up.URL + "'}}\npolicies: [key-auth, proxy]\npipelines:\n  p: {apiEndpoints: [a], policies: [{key-auth: }, {proxy: {action: {serviceEndpoint: up}}}]}\n"
	cfg, err := config.ParseGateway("g.yml", []byte(src), nil)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := gateway.Build(cfg, &policyenv.Env{Logger: log, Now: time.Now, Identity: s}, gateway.Policies(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.Close)
	return gateway.New(rt, log, nil), []string{"apiKey " + c.KeyID + ":" + sec}
}

// BenchmarkUpstream is BenchmarkKeyAuthProxy in the shapes production
// has and that benchmark leaves out: a request context that can be
// cancelled (net/http's server gives every request one, and the upstream
// path then watches it), and requests in parallel (the connection pool's
// lock and idle list under contention).
func BenchmarkUpstream(b *testing.B) {
	b.Run("cancelable", func(b *testing.B) {
		g, authv := keyAuthGateway(b)
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		r := benchRequest(b, "http://api.example.com/bench/items/42").WithContext(ctx)
		r.Header["Authorization"] = authv
		checkServe(b, g, r, http.StatusOK)
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			r.Header["Authorization"] = authv
			serve(g, w, r)
		}
		if w.status != http.StatusOK {
			b.Fatal(w.status)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		g, authv := keyAuthGateway(b)
		r := benchRequest(b, "http://api.example.com/bench/items/42")
		r.Header["Authorization"] = authv
		checkServe(b, g, r, http.StatusOK)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := benchRequest(b, "http://api.example.com/bench/items/42")
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				r.Header["Authorization"] = authv
				serve(g, w, r)
				if w.status != http.StatusOK {
					b.Error(w.status)
					return
				}
			}
		})
	})
}
