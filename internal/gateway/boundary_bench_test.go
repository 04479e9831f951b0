package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/policy/authn"
)

// BenchmarkBoundary is what issue #10 adds to every authenticated request:
// at the request boundary (boundary.go) before routing, the forged-header
// strip over a typical browser/API client header set and the canonical
// path check; then an auth policy's one-credential check (authn.Source,
// RFC 6750 §2). Compare it with BenchmarkProxy (a plain proxied request)
// in the same run; bench/README.md records the ratio.
func BenchmarkBoundary(b *testing.B) {
	rt, err := build(&testing.T{}, `
http: {port: 0}
apiEndpoints:
  api: {paths: ['/api/*']}
serviceEndpoints:
  up: {url: 'http://127.0.0.1:1'}
policies: [headers, proxy]
pipelines:
  p:
    apiEndpoints: [api]
    policies:
      - headers: {action: {headersPrefix: x-gw-, forwardHeaders: {user: consumer.id, scopes: "'x'"}}}
      - proxy: {action: {serviceEndpoint: up}}
`)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	r := httptest.NewRequest(http.MethodGet, "/api/v1/users/42/orders?limit=10", nil)
	h := http.Header{
		"User-Agent": {"Mozilla/5.0"}, "Accept": {"application/json"}, "Accept-Encoding": {"gzip, br"},
		"Accept-Language": {"en"}, "Authorization": {"Bearer x.y.z"}, "Cookie": {"a=b"},
		"X-Request-Id": {"abc"}, "Content-Type": {"application/json"}, "Connection": {"keep-alive"},
	}
	bearer := &authn.Source{Header: "Authorization", Scheme: "Bearer", WatchQuery: "access_token", Challenge: "Bearer"}
	b.ReportAllocs()
	for b.Loop() {
		r.Header = h
		rt.stripForged(r.Header)
		if _, err := canonicalPath(r); err != nil {
			b.Fatal(err)
		}
		if p, err := bearer.Find(r); err != nil || p.Value != "x.y.z" {
			b.Fatal(p, err)
		}
	}
}
