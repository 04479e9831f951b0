package router

import "testing"

// benchSpecs is a realistic routing table of 50 apiEndpoints: a main API
// host with exact, prefix and :param paths, an admin host, wildcard tenant
// hosts, a hostRegex, and host-less endpoints (the bulk of a typical config).
func benchSpecs() []Spec {
	var specs []Spec
	add := func(host string, methods []string, paths ...string) {
		for _, p := range paths {
			specs = append(specs, Spec{Host: host, Paths: []string{p}, Methods: methods})
		}
	}
	get := []string{"GET"}
	rw := []string{"GET", "POST", "PUT", "DELETE"}

	// exact host: 16
	add("api.example.com", nil, "/users", "/users/:id", "/users/:id/orders", "/users/:id/orders/:orderId")
	add("api.example.com", rw, "/orders", "/orders/*", "/products", "/products/:id")
	add("api.example.com", get, "/products/:id/reviews", "/catalog/*", "/search", "/health")
	add("api.example.com", nil, "/v2/users/*", "/v2/orders/*", "/v2/products/*", "/files/:bucket/*")
	// another exact host: 6
	add("admin.example.com", get, "/", "/dashboard", "/reports/*", "/audit/:year/:month", "/settings", "/users/:id")
	// wildcard hosts: 6
	add("*.tenants.example.com", nil, "/api/*", "/status", "/assets/*")
	add("*.example.org", get, "/", "/docs/*", "/blog/:slug")
	// hostRegex: 1
	specs = append(specs, Spec{HostRegex: `^eu-[a-z]+\.example\.net$`, Paths: []string{"/geo/*"}})
	// any host: 21, the last one with the shortest literal prefix.
	add("", nil, "/v1/accounts", "/v1/accounts/:id", "/v1/accounts/:id/balance", "/v1/payments/*")
	add("", rw, "/v1/invoices", "/v1/invoices/:id", "/v1/customers/*", "/v1/subscriptions/:id")
	add("", get, "/status", "/metrics", "/openapi.json", "/docs/*", "/static/*", "/v1/refunds/:id")
	add("", nil, "/graphql", "/webhooks/:provider", "/oauth/callback", "/legacy/*", "/internal/:svc/*")
	add("*", nil, "/events/:topic", "/:tenant/reports/:id")
	return specs
}

func benchRouter(b *testing.B) *Router[int] {
	b.Helper()
	var bld Builder[int]
	for i, s := range benchSpecs() {
		if err := bld.Add(s, i); err != nil {
			b.Fatal(err)
		}
	}
	r := bld.Build()
	if r.Len() != 50 {
		b.Fatalf("table has %d routes, want 50", r.Len())
	}
	return r
}

func BenchmarkMatch(b *testing.B) {
	r := benchRouter(b)
	specs := benchSpecs()
	cases := []struct {
		name, host, method, path string
		want                     string // the pattern that must match, "" for a miss
	}{
		{"exact-host/exact-path/early", "api.example.com", "GET", "/users", "/users"},
		{"exact-host/with-port", "api.example.com:8080", "GET", "/search", "/search"},
		{"exact-host/mixed-case", "API.Example.com", "GET", "/health", "/health"},
		{"exact-host/prefix", "api.example.com", "POST", "/orders/123/items", "/orders/*"},
		{"exact-host/param/late", "api.example.com", "GET", "/files/media/2024/a.png", "/files/:bucket/*"},
		{"wildcard-host/prefix", "acme.tenants.example.com", "GET", "/api/v1/things", "/api/*"},
		{"host-regex", "eu-west.example.net", "GET", "/geo/fr", "/geo/*"},
		{"any-host/exact", "gw.example.io", "GET", "/v1/accounts", "/v1/accounts"},
		{"any-host/prefix", "gw.example.io", "GET", "/v1/payments/pay_123/refunds", "/v1/payments/*"},
		{"any-host/param/late", "gw.example.io", "GET", "/acme/reports/42", "/:tenant/reports/:id"},
		{"miss", "gw.example.io", "GET", "/nothing/here/at/all/x/y", ""},
		{"miss/method", "api.example.com", "PATCH", "/products", ""},
	}
	for _, c := range cases {
		v, ok := r.Match(c.host, c.method, c.path)
		got := ""
		if ok {
			got = specs[v].Paths[0]
		}
		if got != c.want {
			b.Fatalf("%s: Match(%q, %q, %q) matched %q, want %q", c.name, c.host, c.method, c.path, got, c.want)
		}
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Match(c.host, c.method, c.path)
			}
		})
	}
}

// BenchmarkMatchParallel is a mix of the cases above on every CPU: Match
// must not contend.
func BenchmarkMatchParallel(b *testing.B) {
	r := benchRouter(b)
	reqs := [][3]string{
		{"api.example.com", "GET", "/users/42"},
		{"acme.tenants.example.com", "GET", "/api/v1/things"},
		{"gw.example.io", "GET", "/v1/payments/pay_123"},
		{"gw.example.io", "GET", "/acme/reports/42"},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			q := reqs[i%len(reqs)]
			r.Match(q[0], q[1], q[2])
			i++
		}
	})
}

// BenchmarkBuild is the cost of compiling the table (once per reload).
func BenchmarkBuild(b *testing.B) {
	specs := benchSpecs()
	b.ReportAllocs()
	for b.Loop() {
		var bld Builder[int]
		for i, s := range specs {
			if err := bld.Add(s, i); err != nil {
				b.Fatal(err)
			}
		}
		bld.Build()
	}
}
