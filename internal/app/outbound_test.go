package app

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/internal/policy/proxy"
)

// TestOutboundClientUsesEnvironmentProxy: JWKS and introspection calls go
// through the HTTP_PROXY the app's Lookup names, as upstream requests do,
// and NO_PROXY exempts a host; without the variables they go direct.
func TestOutboundClientUsesEnvironmentProxy(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") }))
	defer target.Close()
	var proxied atomic.Int32
	fwd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1) // an absolute-form request: answer for the target
		io.WriteString(w, "via proxy "+r.URL.String())
	}))
	defer fwd.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(target.URL, "http://"))
	// 0.0.0.0 reaches the local listener on Linux, and Go's proxy rules do
	// not treat it as loopback (which the environment never proxies).
	url := "http://0.0.0.0:" + port + "/jwks.json"

	tests := []struct {
		name    string
		env     map[string]string
		proxied bool
	}{
		{"no proxy variables", nil, false},
		{"HTTP_PROXY", map[string]string{"HTTP_PROXY": fwd.URL}, true},
		{"lower-case http_proxy", map[string]string{"http_proxy": fwd.URL}, true},
		{"NO_PROXY exempts the host", map[string]string{"HTTP_PROXY": fwd.URL, "NO_PROXY": "0.0.0.0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proxied.Load()
			c := outboundClient(proxy.Environment(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }))
			res, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if got := proxied.Load() > before; got != tt.proxied {
				t.Errorf("proxied = %v, want %v (answer %q)", got, tt.proxied, body)
			}
		})
	}
}
