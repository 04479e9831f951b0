package gateway_test

import (
	"net/http"
	"testing"
)

// BenchmarkKeyAuthProxy is BenchmarkProxy with a key-auth step in front
// (cached verification): what authentication and the eg-* identity headers
// add to a proxied request. Compare its allocations with BenchmarkProxy's.
func BenchmarkKeyAuthProxy(b *testing.B) {
	g, authv := keyAuthGateway(b)
	r := benchRequest(b, "http://api.example.com/bench/items/42")
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
