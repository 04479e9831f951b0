package config

import (
	"strings"
	"testing"
)

// TestParseForwardProxy: what serviceEndpoints.<name>.proxy, the proxy
// policy's proxyUrl and HTTP_PROXY accept, and errors that never show the
// password.
func TestParseForwardProxy(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "http://127.0.0.1:3128", want: "http://127.0.0.1:3128"},
		{in: "http://u:secret@proxy.test:3128", want: "http://u:secret@proxy.test:3128"},
		{in: "proxy.test:3128", want: "http://proxy.test:3128"}, // HTTP_PROXY's bare form
		{in: "http://proxy.test/", want: "http://proxy.test/"},
		{in: "https://u:secret@proxy.test", err: `proxy "https://u:xxxxx@proxy.test" must start with http:// (only http proxies are supported)`},
		{in: "socks5://proxy.test:1080", err: `must start with http://`},
		{in: "http://", err: `has no host`},
		{in: "http://u:secret@proxy.test/path", err: `proxy "http://u:xxxxx@proxy.test/path" must be only scheme, host and port`},
	} {
		u, err := ParseForwardProxy(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: error %v, want one with %q and no password", c.in, err, c.err)
			}
			continue
		}
		if err != nil || u.String() != c.want {
			t.Errorf("%q: %v %v, want %s", c.in, u, err, c.want)
		}
	}
}
