package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpproxy"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestForwarding: which outbound proxy a request goes through, for every
// source of one and their order.
func TestForwarding(t *testing.T) {
	env := &httpproxy.Config{HTTPProxy: "http://envhttp:1", HTTPSProxy: "envhttps:2", NoProxy: "skip.test,10.0.0.0/8"}
	httpOnly := &httpproxy.Config{HTTPProxy: "http://envhttp:1"}
	for _, c := range []struct {
		name     string
		se       string // serviceEndpoint proxy
		proxyURL string // the step's proxyUrl
		env      *httpproxy.Config
		target   string
		want     string // "" for direct
	}{
		{name: "nothing set", target: "http://up.test/", want: ""},
		{name: "service endpoint proxy", se: "http://se:3", env: env, target: "http://up.test/", want: "http://se:3"},
		{name: "service endpoint proxy, loopback", se: "http://se:3", env: env, target: "http://127.0.0.1:8/", want: "http://se:3"},
		{name: "service endpoint proxy, NO_PROXY host", se: "http://se:3", env: env, target: "https://skip.test/", want: "http://se:3"},
		{name: "env, http", env: env, target: "http://up.test/", want: "http://envhttp:1"},
		{name: "env, https (bare host:port)", env: env, target: "https://up.test/", want: "http://envhttps:2"},
		{name: "env, NO_PROXY name", env: env, target: "http://skip.test/", want: ""},
		{name: "env, NO_PROXY subdomain", env: env, target: "http://a.skip.test/", want: ""},
		{name: "env, NO_PROXY CIDR", env: env, target: "http://10.1.2.3/", want: ""},
		{name: "env, localhost", env: env, target: "http://localhost:8080/", want: ""},
		{name: "env, loopback", env: env, target: "https://127.0.0.1/", want: ""},
		{name: "env, IPv6 loopback", env: env, target: "http://[::1]:80/", want: ""},
		{name: "proxyUrl alone", proxyURL: "http://step:4", target: "http://127.0.0.1/", want: "http://step:4"},
		{name: "env over proxyUrl", proxyURL: "http://step:4", env: env, target: "http://up.test/", want: "http://envhttp:1"},
		{name: "env bypass is direct, not proxyUrl", proxyURL: "http://step:4", env: env, target: "http://skip.test/", want: ""},
		{name: "proxyUrl for the scheme env leaves unset", proxyURL: "http://step:4", env: httpOnly, target: "https://up.test/", want: "http://step:4"},
		{name: "only HTTP_PROXY: https direct", env: httpOnly, target: "https://up.test/", want: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := forwarding(Options{ServiceEndpoint: "s", ProxyURL: c.proxyURL}, config.ServiceEndpoint{Proxy: c.se}, c.env)
			if err != nil {
				t.Fatal(err.err)
			}
			got := ""
			if f != nil {
				req, _ := http.NewRequest("GET", c.target, nil)
				u, err := f(req)
				if err != nil {
					t.Fatal(err)
				}
				if u != nil {
					got = u.String()
				}
			}
			if got != c.want {
				t.Errorf("%s: through %q, want %q", c.target, got, c.want)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	lookup := func(m map[string]string) func(string) (string, bool) {
		return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
	}
	if c := Environment(lookup(map[string]string{"NO_PROXY": "x"})); c != nil {
		t.Errorf("no proxy set: %+v, want nil", c)
	}
	c := Environment(lookup(map[string]string{"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:1", "https_proxy": "http://lower:2", "no_proxy": "n.test"}))
	if c == nil || c.HTTPProxy != "http://upper:1" || c.HTTPSProxy != "http://lower:2" || c.NoProxy != "n.test" || c.CGI {
		t.Errorf("upper case first, then lower case: %+v", c)
	}
	if c := Environment(lookup(map[string]string{"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"})); c == nil || !c.CGI {
		t.Errorf("under CGI: %+v", c)
	}
	if d := Describe(&httpproxy.Config{HTTPSProxy: "http://u:pw@p:1"}); strings.Contains(strings.Join(func() []string {
		var s []string
		for _, v := range d {
			s = append(s, v.(string))
		}
		return s
	}(), " "), "pw") {
		t.Errorf("Describe shows the password: %v", d)
	}
}

// TestPerTarget: the proxy decided at load for each target is the one
// forwarding would pick per request; a step whose targets all go direct
// has no Proxy, and only a proxied https target asks for tunnel marking.
func TestPerTarget(t *testing.T) {
	env := &httpproxy.Config{HTTPProxy: "http://envhttp:1", HTTPSProxy: "http://envhttps:2", NoProxy: "skip.test"}
	for _, c := range []struct {
		name    string
		targets []string
		proxied bool
		tunnels bool
	}{
		{"loopback only: direct, no Proxy", []string{"http://127.0.0.1:8/", "https://localhost/"}, false, false},
		{"NO_PROXY only", []string{"https://skip.test/"}, false, false},
		{"http through the proxy", []string{"http://up.test/"}, true, false},
		{"https tunnelled", []string{"https://skip.test/", "https://up.test/"}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fwd, _ := forwarding(Options{ServiceEndpoint: "s"}, config.ServiceEndpoint{}, env)
			var targets []*url.URL
			for _, s := range c.targets {
				u, _ := url.Parse(s)
				targets = append(targets, u)
			}
			got, tunnels := perTarget(fwd, targets)
			if (got != nil) != c.proxied || tunnels != c.tunnels {
				t.Fatalf("proxied %t tunnels %t, want %t %t", got != nil, tunnels, c.proxied, c.tunnels)
			}
			for _, u := range targets {
				if got == nil {
					continue
				}
				r := &http.Request{URL: u}
				want, _ := fwd(r)
				if have, _ := got(r); fmt.Sprint(have) != fmt.Sprint(want) {
					t.Errorf("%s: through %v, want %v", u, have, want)
				}
			}
		})
	}
}
