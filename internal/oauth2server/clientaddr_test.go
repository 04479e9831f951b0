package oauth2server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// The failure limits count per the address Options.ClientAddr names (the
// gateway's, behind trusted proxies the forwarded one), not per TCP peer.
func TestClientAddrCountsFailures(t *testing.T) {
	sys := &config.System{FailureLimits: &config.FailureLimits{ClientAuth: &config.FailureGuard{
		PerAddress: &config.FailureRate{Failures: 2, Window: config.Duration(time.Hour)}}}}
	byHeader := func(o *Options) {
		o.ClientAddr = func(r *http.Request) netip.Addr { return netip.MustParseAddr(r.Header.Get("X-Test-Client")) }
	}
	attempt := func(srv *Server, client string) int {
		req := httptest.NewRequest("POST", "http://gw.example/oauth2/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basicHeader("web", "wrong"))
		req.Header.Set("X-Test-Client", client) // every request has the same TCP peer
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}

	f := newFixture(t, sys, byHeader)
	for i := 0; i < 2; i++ {
		if code := attempt(f.srv, "203.0.113.1"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, code)
		}
	}
	if code := attempt(f.srv, "203.0.113.1"); code != http.StatusTooManyRequests {
		t.Errorf("third failure from one client = %d, want 429", code)
	}
	if code := attempt(f.srv, "203.0.113.2"); code != http.StatusUnauthorized {
		t.Errorf("another client behind the same peer = %d, want 401 (its own count)", code)
	}

	// Without ClientAddr the address is the TCP peer: both clients share it.
	f = newFixture(t, sys)
	attempt(f.srv, "203.0.113.1")
	attempt(f.srv, "203.0.113.1")
	if code := attempt(f.srv, "203.0.113.2"); code != http.StatusTooManyRequests {
		t.Errorf("default address: a third failure from the same peer = %d, want 429", code)
	}
}
