package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/echo"
)

// Upstreams through an outbound HTTP proxy (issue #12 §1), as Express
// Gateway's proxy-through-proxy test: a real forwarding proxy on
// 127.0.0.1:0 that counts what it forwards. The environment (HTTP_PROXY,
// HTTPS_PROXY, NO_PROXY) is injected through the app's Lookup.

// forwardProxy is a minimal HTTP forward proxy: absolute-form requests are
// forwarded, CONNECT is tunnelled. routes maps the host:port a request
// names to the address really dialled, so upstreams can have names that
// only the proxy knows (and that are not loopback to the gateway).
type forwardProxy struct {
	url    string
	routes map[string]string

	mu      sync.Mutex
	plain   int      // absolute-form requests forwarded
	tunnels int      // CONNECTs
	auth    []string // Proxy-Authorization of each
}

func startForwardProxy(t *testing.T, routes map[string]string) *forwardProxy {
	t.Helper()
	fp := &forwardProxy{routes: routes}
	s := httptest.NewServer(http.HandlerFunc(fp.serve))
	t.Cleanup(s.Close)
	fp.url = s.URL
	return fp
}

func withPort(hostport, def string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(hostport, def)
}

func (fp *forwardProxy) serve(w http.ResponseWriter, r *http.Request) {
	fp.mu.Lock()
	fp.auth = append(fp.auth, r.Header.Get("Proxy-Authorization"))
	if r.Method == http.MethodConnect {
		fp.tunnels++
	} else {
		fp.plain++
	}
	fp.mu.Unlock()

	if r.Method == http.MethodConnect {
		target := withPort(r.Host, "443")
		if real, ok := fp.routes[target]; ok {
			target = real
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		_, _ = c.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n"))
		go func() {
			_, _ = io.Copy(up, brw)
			up.Close()
		}()
		_, _ = io.Copy(c, up)
		c.Close()
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	target := withPort(r.URL.Host, "80")
	if real, ok := fp.routes[target]; ok {
		target = real
	}
	(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", target
		pr.Out.Host = r.URL.Host
	}}).ServeHTTP(w, r)
}

func (fp *forwardProxy) counts() (plain, tunnels int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.plain, fp.tunnels
}

func (fp *forwardProxy) lastAuth() string {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(fp.auth) == 0 {
		return ""
	}
	return fp.auth[len(fp.auth)-1]
}

// envLookup is an environment for the app's Lookup.
func envLookup(env map[string]string) func(*appOptions) {
	return func(o *appOptions) {
		o.Lookup = func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	}
}

// proxyConfig is a gateway with one apiEndpoint per service endpoint:
// /<name>/* proxies to <name>. extra goes into each proxy action.
func proxyConfig(endpoints map[string]string, extra string) string {
	var api, svc, pipes strings.Builder
	for name, se := range endpoints {
		fmt.Fprintf(&api, "  %s: {paths: ['/%s/*']}\n", name, name)
		fmt.Fprintf(&svc, "  %s: %s\n", name, se)
		fmt.Fprintf(&pipes, "  %s:\n    apiEndpoints: [%s]\n    policies:\n      - proxy: {action: {serviceEndpoint: %s%s}}\n", name, name, name, extra)
	}
	return "http: {port: 0, host: 127.0.0.1}\napiEndpoints:\n" + api.String() + "serviceEndpoints:\n" + svc.String() +
		"policies: [proxy]\npipelines:\n" + pipes.String()
}

// tlsUpstream is an https echo upstream (certificate for example.com and
// 127.0.0.1) and a CA file that trusts it.
func tlsUpstream(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	s := httptest.NewTLSServer(echo.Handler("tls"))
	t.Cleanup(s.Close)
	ca := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return s, ca
}

type fetched struct {
	status int
	server string // the echo upstream's name, on success
	reason string
}

func fetch(t *testing.T, url string) fetched {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body := readBody(t, resp)
	f := fetched{status: resp.StatusCode}
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	f.server, _ = m["server"].(string)
	f.reason, _ = m["error"].(string)
	return f
}

// TestProxyThroughServiceEndpointProxy: a service endpoint's proxy applies
// to every request, loopback upstreams included; http goes in absolute
// form, https through CONNECT; the URL's userinfo is sent as
// Proxy-Authorization and never logged.
func TestProxyThroughServiceEndpointProxy(t *testing.T) {
	up := echoServer(t, "plain")
	tlsUp, ca := tlsUpstream(t)
	fp := startForwardProxy(t, nil)
	withAuth := strings.Replace(fp.url, "http://", "http://gw:s3cr3t-pw@", 1)
	g := startGateway(t, proxyConfig(map[string]string{
		"plain":  fmt.Sprintf("{url: '%s', proxy: '%s'}", up.URL, withAuth),
		"secure": fmt.Sprintf("{url: '%s', proxy: '%s', proxyOptions: {target: {caFile: '%s'}}}", tlsUp.URL, withAuth, ca),
		"direct": fmt.Sprintf("{url: '%s'}", up.URL),
	}, ""))

	if f := fetch(t, g.base+"/plain/x"); f.status != 200 || f.server != "plain" {
		t.Fatalf("plain through the proxy: %+v", f)
	}
	if plain, tunnels := fp.counts(); plain != 1 || tunnels != 0 {
		t.Errorf("after an http upstream: %d forwarded, %d tunnels; want 1, 0", plain, tunnels)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("gw:s3cr3t-pw"))
	if got := fp.lastAuth(); got != wantAuth {
		t.Errorf("Proxy-Authorization %q, want %q", got, wantAuth)
	}
	if f := fetch(t, g.base+"/secure/x"); f.status != 200 || f.server != "tls" {
		t.Fatalf("https through CONNECT: %+v", f)
	}
	if plain, tunnels := fp.counts(); plain != 1 || tunnels != 1 {
		t.Errorf("after an https upstream: %d forwarded, %d tunnels; want 1, 1", plain, tunnels)
	}
	if got := fp.lastAuth(); got != wantAuth {
		t.Errorf("CONNECT Proxy-Authorization %q, want %q", got, wantAuth)
	}
	// Idle connections are reused: a second https request opens no
	// second tunnel.
	if f := fetch(t, g.base+"/secure/y"); f.status != 200 {
		t.Fatalf("second https request: %+v", f)
	}
	if f := fetch(t, g.base+"/direct/x"); f.status != 200 {
		t.Fatalf("endpoint without proxy: %+v", f)
	}
	if plain, tunnels := fp.counts(); plain != 1 || tunnels != 1 {
		t.Errorf("an endpoint without proxy, or a reused tunnel, went through the proxy: %d forwarded, %d tunnels", plain, tunnels)
	}
	// The access log names the upstream, not the proxy.
	if !strings.Contains(g.acc.String(), `"upstream":"`+strings.TrimPrefix(tlsUp.URL, "https://")+`"`) {
		t.Errorf("access log without the upstream:\n%s", indent(g.acc.String()))
	}
	for name, logs := range map[string]string{"log": g.logs.String(), "access log": g.acc.String()} {
		if strings.Contains(logs, "s3cr3t-pw") {
			t.Errorf("the proxy password is in the %s:\n%s", name, indent(logs))
		}
	}
}

// TestProxyThroughEnvironment: HTTP_PROXY and HTTPS_PROXY from the
// environment, with NO_PROXY, Go's loopback exception, and the proxyUrl
// option they take precedence over (Express Gateway).
func TestProxyThroughEnvironment(t *testing.T) {
	up := echoServer(t, "plain")
	tlsUp, ca := tlsUpstream(t)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	_, upPort, _ := net.SplitHostPort(upAddr)
	fp := startForwardProxy(t, map[string]string{
		"backend.test:80":  upAddr,
		"example.com:443":  strings.TrimPrefix(tlsUp.URL, "https://"),
		"other.test:80":    upAddr,
		"optional.test:80": upAddr,
	})
	fallback := startForwardProxy(t, map[string]string{"optional.test:80": upAddr, "0.0.0.0:" + upPort: upAddr})
	env := map[string]string{
		"http_proxy":  fp.url, // lower case: read too
		"HTTPS_PROXY": strings.Replace(fp.url, "http://", "http://gw:env-s3cr3t@", 1),
		"NO_PROXY":    "direct.test,0.0.0.0",
	}
	// 0.0.0.0 is not loopback to httpproxy, yet a connect to it reaches
	// the 127.0.0.1 listener (Linux): an upstream the environment's
	// proxy would otherwise be used for, reachable directly.
	g := startGateway(t, proxyConfig(map[string]string{
		"named":    "{url: 'http://backend.test'}",
		"secure":   fmt.Sprintf("{url: 'https://example.com', proxyOptions: {target: {caFile: '%s'}}}", ca),
		"loopback": fmt.Sprintf("{url: '%s'}", up.URL),
		"bypass":   fmt.Sprintf("{url: 'http://0.0.0.0:%s'}", upPort),
		"dropped":  "{url: 'http://direct.test:1'}",
		"optional": "{url: 'http://optional.test'}",
	}, ", proxyUrl: '"+fallback.url+"', connectTimeout: 2s"), envLookup(env))

	step := func(path string, wantStatus int, wantPlain, wantTunnels int) {
		t.Helper()
		f := fetch(t, g.base+path)
		if f.status != wantStatus {
			t.Errorf("%s: %+v, want %d", path, f, wantStatus)
		}
		if plain, tunnels := fp.counts(); plain != wantPlain || tunnels != wantTunnels {
			t.Errorf("%s: the environment's proxy has forwarded %d and tunnelled %d, want %d and %d", path, plain, tunnels, wantPlain, wantTunnels)
		}
	}
	step("/named/x", 200, 1, 0)    // through HTTP_PROXY: only the proxy knows backend.test
	step("/secure/x", 200, 1, 1)   // https through HTTPS_PROXY's CONNECT
	step("/loopback/x", 200, 1, 1) // 127.0.0.1: never through the environment's proxy
	step("/bypass/x", 200, 1, 1)   // NO_PROXY: direct
	// NO_PROXY names direct.test: dialled directly, it does not resolve:
	// 502, and the proxy saw nothing.
	if f := fetch(t, g.base+"/dropped/x"); f.status != 502 || f.reason != "bad_gateway" {
		t.Errorf("NO_PROXY host: %+v, want 502 bad_gateway", f)
	}
	step("/optional/x", 200, 2, 1) // the environment's proxy over proxyUrl
	if plain, tunnels := fallback.counts(); plain+tunnels != 0 {
		t.Errorf("proxyUrl used although the environment names a proxy: %d, %d", plain, tunnels)
	}
	if got := fp.lastAuth(); got != "" {
		t.Errorf("Proxy-Authorization %q on an http request through http_proxy, which has no userinfo", got)
	}
	logs := g.logs.String()
	if strings.Contains(logs, "env-s3cr3t") {
		t.Errorf("the environment's proxy password is in the log:\n%s", indent(logs))
	}
	if !strings.Contains(logs, `"https_proxy":"http://gw:xxxxx@`) {
		t.Errorf("the start log does not name the environment's proxy (redacted):\n%s", indent(logs))
	}

	// Without the environment, proxyUrl applies (to loopback too: it is
	// the step's own setting).
	g2 := startGateway(t, proxyConfig(map[string]string{
		"optional": "{url: 'http://optional.test'}",
		"bypass":   fmt.Sprintf("{url: 'http://0.0.0.0:%s'}", upPort),
	}, ", proxyUrl: '"+fallback.url+"'"))
	for _, path := range []string{"/optional/x", "/bypass/x"} {
		if f := fetch(t, g2.base+path); f.status != 200 {
			t.Errorf("proxyUrl %s: %+v", path, f)
		}
	}
	if plain, _ := fallback.counts(); plain != 2 {
		t.Errorf("proxyUrl forwarded %d requests, want 2", plain)
	}
}

// TestProxyConnectTimeout: a proxy that never answers CONNECT costs the
// connect timeout (504), not net/http's minute.
func TestProxyConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // read the CONNECT, never answer
				_, _ = bufio.NewReader(c).ReadString('\n')
				time.Sleep(20 * time.Second)
				c.Close()
			}()
		}
	}()
	g := startGateway(t, proxyConfig(map[string]string{
		"secure": fmt.Sprintf("{url: 'https://example.com', proxy: 'http://%s'}", ln.Addr()),
	}, ", connectTimeout: 300ms"))
	start := time.Now()
	f := fetch(t, g.base+"/secure/x")
	if f.status != 504 || f.reason != "upstream_timeout" {
		t.Errorf("silent proxy: %+v, want 504 upstream_timeout", f)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("silent proxy: answered after %v, want about the 300ms connect timeout", took)
	}
}

// TestProxySettingsRefused: a proxy that is not http:// is a config error
// at its line, its password never repeated.
func TestProxySettingsRefused(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, proxyConfig(map[string]string{"a": "{url: 'http://127.0.0.1:1', proxy: 'socks5://u:pw-s3cr3t@p:1080'}"}, ""))
	_, err := startApp(dir)
	if err == nil || !strings.Contains(err.Error(), `serviceEndpoints.a.proxy: proxy "socks5://u:xxxxx@p:1080" must start with http://`) || strings.Contains(err.Error(), "pw-s3cr3t") {
		t.Errorf("socks5 proxy: %v", err)
	}
	writeConfig(t, dir, proxyConfig(map[string]string{"a": "{url: 'http://127.0.0.1:1'}"}, ""))
	_, err = startApp(dir, envLookup(map[string]string{"HTTPS_PROXY": "https://u:pw-s3cr3t@p"}))
	if err == nil || !strings.Contains(err.Error(), `the environment's HTTPS_PROXY: proxy "https://u:xxxxx@p" must start with http://`) || strings.Contains(err.Error(), "pw-s3cr3t") {
		t.Errorf("https HTTPS_PROXY: %v", err)
	}
}

// startApp starts the app on dir and stops it again: for configs that
// must be refused.
func startApp(dir string, opts ...func(*appOptions)) (*app.App, error) {
	o := app.Options{ConfigDir: dir, ReloadInterval: -1, Lookup: func(string) (string, bool) { return "", false }}
	for _, f := range opts {
		f(&o)
	}
	a, err := app.Start(o)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	}
	return a, err
}
