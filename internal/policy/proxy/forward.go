package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/gatehouse/gatehouse/internal/config"
)

// Environment reads the outbound proxy for upstreams from the environment,
// once, through lookup (the app's, so that tests inject it): HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY, each upper case first, then lower case, as
// net/http reads them (httpproxy.FromEnvironment, which reads the process
// environment and caches it for the process's life). nil when neither
// proxy is set.
func Environment(lookup func(string) (string, bool)) *httpproxy.Config {
	get := func(names ...string) string {
		for _, n := range names {
			if v, ok := lookup(n); ok && v != "" {
				return v
			}
		}
		return ""
	}
	c := &httpproxy.Config{
		HTTPProxy:  get("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: get("HTTPS_PROXY", "https_proxy"),
		NoProxy:    get("NO_PROXY", "no_proxy"),
		// Under CGI, HTTP_PROXY is the client's Proxy header (httpoxy):
		// httpproxy then refuses it.
		CGI: get("REQUEST_METHOD") != "",
	}
	if c.HTTPProxy == "" && c.HTTPSProxy == "" {
		return nil
	}
	return c
}

// Describe is the environment's proxy for a log line, passwords redacted.
func Describe(c *httpproxy.Config) []any {
	redact := func(v string) string {
		if v == "" {
			return ""
		}
		if u, err := config.ParseForwardProxy(v); err == nil {
			return u.Redacted()
		}
		return "(invalid)"
	}
	return []any{"http_proxy", redact(c.HTTPProxy), "https_proxy", redact(c.HTTPSProxy), "no_proxy", c.NoProxy}
}

// stepError is an option error: the key it is about and what is wrong.
type stepError struct {
	key string
	err error
}

// forwarding decides which outbound proxy, if any, a step's requests go
// through; nil means none ever (connect to the upstream directly). In
// order:
//
//  1. the service endpoint's proxy: always, loopback upstreams included;
//  2. the environment (HTTP_PROXY for http upstreams, HTTPS_PROXY for
//     https ones), when it names one for the upstream's scheme, with
//     httpproxy's rules: NO_PROXY, and never for localhost or a loopback
//     address (a request there goes direct);
//  3. the step's proxyUrl (Express Gateway: the environment's proxy takes
//     precedence over it).
func forwarding(o Options, se config.ServiceEndpoint, env *httpproxy.Config) (func(*http.Request) (*url.URL, error), *stepError) {
	if se.Proxy != "" {
		u, err := config.ParseForwardProxy(se.Proxy)
		if err != nil {
			return nil, &stepError{"serviceEndpoint", fmt.Errorf("service endpoint %q: %v", o.ServiceEndpoint, err)}
		}
		return http.ProxyURL(u), nil
	}
	var fallback *url.URL
	if o.ProxyURL != "" {
		u, err := config.ParseForwardProxy(o.ProxyURL)
		if err != nil {
			return nil, &stepError{"proxyUrl", err}
		}
		fallback = u
	}
	if env == nil {
		if fallback == nil {
			return nil, nil
		}
		return http.ProxyURL(fallback), nil
	}
	for _, v := range []struct{ name, value string }{{"HTTP_PROXY", env.HTTPProxy}, {"HTTPS_PROXY", env.HTTPSProxy}} {
		if v.value != "" {
			if _, err := config.ParseForwardProxy(v.value); err != nil {
				return nil, &stepError{"", fmt.Errorf("the environment's %s: %v", v.name, err)}
			}
		}
	}
	byEnv := env.ProxyFunc()
	httpSet, httpsSet := env.HTTPProxy != "", env.HTTPSProxy != ""
	return func(r *http.Request) (*url.URL, error) {
		if r.URL.Scheme == "https" && httpsSet || r.URL.Scheme == "http" && httpSet {
			return byEnv(r.URL) // nil for NO_PROXY and loopback: direct
		}
		return fallback, nil
	}, nil
}

// perTarget decides once, at load, which proxy each of the step's targets
// goes through: the targets and the environment are fixed, so NO_PROXY
// matching need not run per request. It returns nil when every target
// goes direct (the transport then has no Proxy at all), and whether an
// https target is tunnelled (rewrite then marks its requests for
// tunnelDialer).
func perTarget(fwd func(*http.Request) (*url.URL, error), targets []*url.URL) (func(*http.Request) (*url.URL, error), bool) {
	if fwd == nil {
		return nil, false
	}
	via := make([]*url.URL, len(targets))
	proxied, tunnels := false, false
	for i, t := range targets {
		u, err := fwd(&http.Request{URL: t})
		if err != nil {
			return fwd, true // decided per request, where the error is reported
		}
		via[i] = u
		proxied = proxied || u != nil
		tunnels = tunnels || u != nil && t.Scheme == "https"
	}
	if !proxied {
		return nil, false
	}
	return func(r *http.Request) (*url.URL, error) {
		for i, t := range targets {
			if t.Host == r.URL.Host && t.Scheme == r.URL.Scheme {
				return via[i], nil
			}
		}
		return fwd(r)
	}, tunnels
}

// tunnelTarget is the context key under which rewrite puts the *url.URL
// of an https upstream, for tunnelDialer.
type tunnelTarget struct{}

// canonicalAddr is the host:port net/http dials for u (default port by
// scheme).
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// tunnelDialer bounds a forward proxy's answer to CONNECT by the connect
// timeout, as the TCP and TLS connects to a direct upstream are: net/http
// would wait a minute for it. A dial for an https upstream (rewrite put it
// in the context) to another address than its own is one to its proxy.
// The deadline is lifted once the proxy starts answering; the TLS
// handshake through the tunnel then has TLSHandshakeTimeout.
func tunnelDialer(dial func(context.Context, string, string) (net.Conn, error), timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		target, _ := ctx.Value(tunnelTarget{}).(*url.URL)
		if target == nil || canonicalAddr(target) == addr {
			return c, nil
		}
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			c.Close()
			return nil, err
		}
		tc := &tunnelConn{Conn: c}
		tc.armed.Store(true)
		return tc, nil
	}
}

// tunnelConn is a connection to a forward proxy whose deadline is lifted
// on the first bytes of its answer.
type tunnelConn struct {
	net.Conn
	armed atomic.Bool
}

func (c *tunnelConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.armed.Load() && c.armed.CompareAndSwap(true, false) {
		_ = c.Conn.SetDeadline(time.Time{})
	}
	return n, err
}
