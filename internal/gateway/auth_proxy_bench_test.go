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

// BenchmarkKeyAuthProxy is BenchmarkProxy with a key-auth step in front
// (cached verification): what authentication and the eg-* identity headers
// add to a proxied request. Compare its allocations with BenchmarkProxy's.
func BenchmarkKeyAuthProxy(b *testing.B) {
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
	g := gateway.New(rt, log, nil)
	r := benchRequest(b, "http://api.example.com/bench/items/42")
	authv := []string{"apiKey " + c.KeyID + ":" + sec}
	r.Header["Authorization"] = authv
	checkServe(b, g, r, http.StatusOK)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = authv
		serve(g, w, r)
	}
	if w.status != 200 {
		b.Fatal(w.status)
	}
}
