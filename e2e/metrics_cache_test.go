package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestMetricsCachesAndAdminRevocations: the jwt policy's verified-token
// cache and its JWKS key lookups are exported in
// gatehouse_cache_lookups_total, the caches' sizes in
// gatehouse_cache_entries, gatehouse_cache_bytes and
// gatehouse_cache_evictions_total, and a token revoked through the Admin API
// is counted once in gatehouse_tokens_revoked_total (a second DELETE of the
// same token is not a second revocation).
func TestMetricsCachesAndAdminRevocations(t *testing.T) {
	idp := newStubIdP(t)
	idp.addKey(t, "k1")
	idp.setPublished("k1")
	idp.signWith("k1")
	up := echoServer(t, "orders")
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
admin: {port: 0, host: 127.0.0.1}
apiEndpoints:
  api: {paths: '/api/*'}
serviceEndpoints:
  orders: {url: '%s'}
policies: [jwt, proxy]
pipelines:
  default:
    apiEndpoints: [api]
    policies:
      - jwt: {action: {jwksUri: '%s.well-known/jwks.json', checkCredentialExistence: false}}
      - proxy: {action: {serviceEndpoint: orders}}
`, up.URL, idp.issuer))
	adminBase := "http://" + g.app.Addr("admin").String()
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(tok string) {
		t.Helper()
		resp, err := getWithToken(t, client, g.base+"/api/orders", tok)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != 200 {
			t.Fatalf("GET /api/orders = %d %s", resp.StatusCode, body)
		}
	}
	// Wait for the JWKS's first (background) fetch. A request that comes
	// before it ends waits for the keys, and its verified-token cache entry
	// is tagged with the key set's epoch from before the fetch, so the
	// next request with the same token re-verifies it (a third jwt miss,
	// a third jwks lookup): correct and conservative, but not the counts
	// this test pins down.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(g.logs.String(), `"msg":"jwks loaded"`); {
		if time.Now().After(deadline) {
			t.Fatalf("the JWKS was not fetched within 5s; logs:\n%s", indent(g.logs.String()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	a := idp.token(t, time.Hour, nil)
	call(a) // jwt: miss (verified, key in hand: jwks hit)
	call(a) // jwt: hit
	call(a) // jwt: hit
	b := idp.token(t, time.Hour, map[string]any{"jti": "second"})
	call(b) // jwt: miss; the key is in hand now: jwks hit

	m := scrapeMetrics(t, adminBase)
	lookups := func(cache, result string) float64 {
		v, _ := m.get("gatehouse_cache_lookups_total", map[string]string{"cache": cache, "result": result})
		return v
	}
	if h, mi := lookups("jwt", "hit"), lookups("jwt", "miss"); h != 2 || mi != 2 {
		t.Errorf("jwt cache: %g hits %g misses, want 2 and 2; series:\n%s", h, mi, m.series("gatehouse_cache_lookups_total"))
	}
	// Both key lookups (one per jwt miss) find the key in hand.
	if h, mi := lookups("jwks", "hit"), lookups("jwks", "miss"); h != 2 || mi != 0 {
		t.Errorf("jwks lookups: %g hits %g misses, want 2 and 0; series:\n%s", h, mi, m.series("gatehouse_cache_lookups_total"))
	}

	// The store's caches and the jwt step's verified-token cache export
	// their size (issue #14), the step's under its config path.
	const jwtStep = "jwt:pipelines.default.policies[0].jwt"
	for _, name := range []string{"gatehouse_cache_entries", "gatehouse_cache_bytes", "gatehouse_cache_evictions_total"} {
		for _, cache := range []string{"records", "secrets", jwtStep} {
			if _, ok := m.get(name, map[string]string{"cache": cache}); !ok {
				t.Errorf("%s{cache=%q} is not on /metrics; series:\n%s", name, cache, m.series(name))
			}
		}
	}
	if n, _ := m.get("gatehouse_cache_entries", map[string]string{"cache": jwtStep}); n != 2 {
		t.Errorf("the jwt step caches %g tokens, want the 2 it verified", n)
	}
	if b, _ := m.get("gatehouse_cache_bytes", map[string]string{"cache": jwtStep}); b < 2*float64(len(a)) || b > 2*4096 {
		t.Errorf("the jwt step's 2 cached tokens (%d bytes each) cost %g estimated bytes", len(a), b)
	}

	// An Admin API revocation, then the same again.
	ctx := context.Background()
	u, err := g.app.Store().CreateUser(ctx, store.User{Username: "rev", Firstname: "R", Lastname: "V"})
	if err != nil {
		t.Fatal(err)
	}
	var tok store.Token
	store.NewToken(&tok)
	tok.Kind, tok.ConsumerID, tok.ExpiresAt = store.AccessToken, u.ID, time.Now().Add(time.Hour)
	if err := g.app.Store().SaveToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodDelete, adminBase+"/tokens/"+tok.ID, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != 200 {
			t.Fatalf("DELETE /tokens/%s = %d %s", tok.ID, resp.StatusCode, body)
		}
	}
	m = scrapeMetrics(t, adminBase)
	if got, _ := m.get("gatehouse_tokens_revoked_total", map[string]string{}); got != 1 {
		t.Errorf("gatehouse_tokens_revoked_total = %g after one Admin API revocation (and a repeat), want 1", got)
	}
}
