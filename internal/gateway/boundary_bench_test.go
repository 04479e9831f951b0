package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkBoundary is what every request pays at the request boundary
// (boundary.go) before routing: the forged-header strip over a typical
// browser/API client header set, and the canonical path check. Compare it
// with BenchmarkProxy (a plain proxied request) in the same run; bench/
// README.md records the ratio.
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
	b.ReportAllocs()
	for b.Loop() {
		r.Header = h
		rt.stripForged(r.Header)
		if _, err := canonicalPath(r); err != nil {
			b.Fatal(err)
		}
	}
}
