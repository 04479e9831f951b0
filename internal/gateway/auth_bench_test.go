package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

type nopW struct{ h http.Header }

func (w *nopW) Header() http.Header         { return w.h }
func (w *nopW) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopW) WriteHeader(int)             {}

// BenchmarkKeyAuthStep measures a request through key-auth (cached
// verification) and terminate: the cost auth adds to the core.
func BenchmarkKeyAuthStep(b *testing.B) {
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	ctx := context.Background()
	u, _ := s.CreateUser(ctx, store.User{Username: "a", Firstname: "A", Lastname: "B"})
	c, sec, _ := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
	g, err := config.ParseGateway("g.yml", []byte("http: {port: 1}\napiEndpoints: {a: {}}\npolicies: [key-auth, terminate]\npipelines:\n  p: {apiEndpoints: [a], policies: [{key-auth: }, {terminate: {action: {statusCode: 200}}}]}\n"), nil)
	if err != nil {
		b.Fatal(err)
	}
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: s}
	rt, err := Build(g, env, Policies(nil))
	if err != nil {
		b.Fatal(err)
	}
	gw := New(rt, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	gw.Metrics = metrics.New()
	req := httptest.NewRequest("GET", "/", nil)
	w := &nopW{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Header.Set("Authorization", "apiKey "+c.KeyID+":"+sec)
		clear(w.h)
		gw.ServeHTTP(w, req)
	}
}
