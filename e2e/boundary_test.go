package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// boundarySecret is the HS256 key of the protected pipeline's jwt policy.
const boundarySecret = "a-test-secret-of-at-least-32-bytes!!"

// boundaryGateway has public routes of every kind (prefix, :param,
// pathRegex, any host) and protected ones behind the jwt policy, in front
// of an upstream that normalizes paths as Go's ServeMux, nginx or Spring
// would: it decodes, strips ;parameters, reads a backslash as a slash and
// removes dot segments before choosing what to serve.
func boundaryGateway(t *testing.T, extra string) (*gatewayUnderTest, *normalizingUpstream) {
	t.Helper()
	up := &normalizingUpstream{seen: make(chan http.Header, 100)}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
%s
apiEndpoints:
  public: {paths: ['/public/*']}
  files: {paths: ['/files/:name', '/files/:name/*']}
  re: {pathRegex: '^/re/.*'}
  anyhost: {host: '*', paths: ['/open/*']}
  protected: {paths: ['/protected', '/protected/*']}
  traced: {paths: ['/traced'], methods: [GET, TRACE]}
  writes: {paths: ['/items/*'], methods: [DELETE]}
  reads: {paths: ['/items/*'], methods: [GET, POST]}
serviceEndpoints:
  up: {url: '%s'}
policies: [proxy, jwt, headers]
pipelines:
  open:
    apiEndpoints: [public, files, re, anyhost, traced, reads]
    policies:
      - headers: {action: {forwardHeaders: {x-user: "'nobody'"}}}
      - proxy: {action: {serviceEndpoint: up}}
  guarded:
    apiEndpoints: [protected, writes]
    policies:
      - jwt:
          action:
            secretOrPublicKey: '%s'
            checkCredentialExistence: false
            claimsToHeaders: {role: x-role}
      - proxy: {action: {serviceEndpoint: up}}
`, extra, srv.URL, boundarySecret))
	return g, up
}

type normalizingUpstream struct{ seen chan http.Header }

func (u *normalizingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	p = strings.Join(segs, "/")
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	p = path.Clean("/" + strings.ReplaceAll(p, `\`, "/"))
	h := r.Header.Clone()
	h.Set("X-Method", r.Method)
	h.Set("X-Path", r.URL.RequestURI())
	select {
	case u.seen <- h:
	default:
	}
	if strings.HasPrefix(strings.ToLower(p), "/protected") {
		io.WriteString(w, "SECRET")
		return
	}
	io.WriteString(w, "public")
}

// rawGet sends one request exactly as written and returns the status and
// body.
func rawRequest(t *testing.T, base, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBoundaryPathSpellings: no spelling of a protected path reaches the
// upstream through a public route (issue #10 §1; Kong #6821, Envoy
// CVE-2019-9901). Each is refused (400) or runs the protected pipeline
// (401 without a token).
func TestBoundaryPathSpellings(t *testing.T) {
	g, _ := boundaryGateway(t, "")
	for _, p := range []string{
		"/public/../protected/x",
		"/public/%2e%2e/protected/x",
		"/public/%2E%2E/protected/x",
		"/public/.%2e/protected/x",
		"/public/..%2fprotected/x",
		"/public/..%2Fprotected/x",
		"/public/a/../../protected/x",
		"/public/a/%2e%2e/%2e%2e/protected/x",
		"/public//../protected/x",
		"/public/..;/protected/x",
		"/public/..\\protected/x",
		"/public/..%5cprotected/x",
		"/public/%252e%252e/protected/x",
		"/public/x;/../../protected/x",
		"/files/a/../../protected/x",
		"/files/%2e%2e/protected/x",
		"/files/..%2f..%2fprotected",
		"/re/../protected/x",
		"/re/%2e%2e/protected/x",
		"/open/../protected/x",
		"/open/%2e%2e/%70rotected/x",
		"/PUBLIC/../PROTECTED/x",
		"/protected;x/y",
		"//protected/x",
		"/./protected/x",
		"/prot%65cted/x",
	} {
		for _, host := range []string{"127.0.0.1", "other.example"} {
			status, body := rawRequest(t, g.base, "GET "+p+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
			if strings.Contains(body, "SECRET") || (status != http.StatusBadRequest && status != http.StatusUnauthorized && status != http.StatusNotFound) {
				t.Errorf("GET %s (Host %s) = %d %q; want 400, 404 or the protected pipeline's 401", p, host, status, body)
			}
		}
	}
	// A valid token still reaches the protected resource, by its
	// canonical path, and ordinary public paths still work.
	if status, body := rawRequest(t, g.base, "GET /public/../protected/x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+boundaryToken(t, nil)+"\r\nConnection: close\r\n\r\n"); status != 200 || body != "SECRET" {
		t.Errorf("with a token: %d %q, want 200 SECRET", status, body)
	}
	for _, p := range []string{"/public/x", "/public/a%20b", "/files/report.pdf", "/re/x/y", "/open/x"} {
		if status, body := rawRequest(t, g.base, "GET "+p+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); status != 200 || body != "public" {
			t.Errorf("GET %s = %d %q, want 200 public", p, status, body)
		}
	}
}

// TestBoundaryForwardsCanonicalPath: the upstream gets the path the
// gateway routed on, and the refusal names the reason.
func TestBoundaryForwardsCanonicalPath(t *testing.T) {
	g, up := boundaryGateway(t, "")
	status, _ := rawRequest(t, g.base, "GET /public/a/./b//%7Ec/../d%3f HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if got := (<-up.seen).Get("X-Path"); got != "/public/a/b/d%3F" {
		t.Errorf("upstream path = %q, want /public/a/b/d%%3F", got)
	}
	status, body := rawRequest(t, g.base, "GET /public/a%2Fb HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	var e struct{ Error, Message string }
	json.Unmarshal([]byte(body), &e)
	if status != 400 || e.Error != "invalid_path" || !strings.Contains(e.Message, "%2F") {
		t.Errorf("encoded slash: %d %s, want 400 invalid_path naming %%2F", status, body)
	}
}

// TestBoundaryAllowEncodedSlashes: an apiEndpoint may accept %2F; it stays
// encoded upstream and never splits a route.
func TestBoundaryAllowEncodedSlashes(t *testing.T) {
	up := echoServer(t, "up")
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints:
  pkgs: {paths: ['/pkgs/:name'], allowEncodedSlashes: true}
  other: {paths: ['/other/*']}
serviceEndpoints:
  up: {url: '%s'}
policies: [proxy]
pipelines:
  p:
    apiEndpoints: [pkgs, other]
    policies: [{proxy: {action: {serviceEndpoint: up}}}]
`, up.URL))
	status, body := rawRequest(t, g.base, "GET /pkgs/@scope%2fname HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if status != 200 || !strings.Contains(body, `@scope%2Fname`) {
		t.Errorf("allowed encoded slash: %d %s, want 200 with the slash still encoded", status, body)
	}
	if status, _ := rawRequest(t, g.base, "GET /other/a%2fb HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); status != 400 {
		t.Errorf("encoded slash on an endpoint that does not allow it: %d, want 400", status)
	}
}

// TestBoundaryForgedHeaders: a client cannot send a header the gateway
// sets in any spelling (issue #10 §2; CVE-2025-64484, CVE-2025-48865).
func TestBoundaryForgedHeaders(t *testing.T) {
	g, up := boundaryGateway(t, "")
	forged := []string{
		"eg-consumer-id", "EG-CONSUMER-ID", "eg_consumer_id", "EG_Consumer_Id", "eg.consumer.id", "eg-consumer_id",
		"eg_token_scopes", "eg.request.id", "x_user", "X.User", "X-USER", "x_role", "X.Role", "x-role",
	}
	check := func(name, req string, reached bool) {
		t.Helper()
		status, _ := rawRequest(t, g.base, req)
		if status >= 500 {
			t.Fatalf("%s: status %d", name, status)
		}
		if !reached {
			return
		}
		h := <-up.seen
		for k, v := range h {
			for _, f := range forged {
				if strings.EqualFold(k, f) && strings.Contains(strings.Join(v, ","), "forged") {
					t.Errorf("%s: the upstream got %s: %v", name, k, v)
				}
			}
		}
		if h.Get("X-User") != "nobody" && h.Get("X-Role") == "" {
			t.Errorf("%s: neither x-user nor x-role was set by the gateway", name)
		}
	}
	var lines strings.Builder
	for _, f := range forged {
		fmt.Fprintf(&lines, "%s: forged\r\n%s: forged-again\r\n", f, f)
	}
	check("public", "GET /public/x HTTP/1.1\r\nHost: h\r\n"+lines.String()+"Connection: close\r\n\r\n", true)
	check("protected", "GET /protected/x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+boundaryToken(t, map[string]any{"role": "admin"})+"\r\n"+lines.String()+"Connection: close\r\n\r\n", true)
	// An obs-fold continuation line (RFC 9112 §5.2) is part of the value
	// before it, never a header of its own; a folded value of a forged
	// header goes with it.
	status, _ := rawRequest(t, g.base, "GET /public/x HTTP/1.1\r\nHost: h\r\nX-Other: a\r\n eg_consumer_id: forged\r\neg_consumer_id: x\r\n forged\r\nConnection: close\r\n\r\n")
	if status == 200 {
		h := <-up.seen
		for k, v := range h {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "eg-consumer-id") {
				t.Errorf("obs-fold: the upstream got %s: %v", k, v)
			}
		}
	} else if status != 400 {
		t.Errorf("obs-fold: status %d, want 200 or 400", status)
	}
}

// TestBoundaryMethodOverride: override headers are stripped by default;
// with methodOverride: forward the overridden method is what routing and
// the pipeline check, and TRACE is refused unless a route lists it.
func TestBoundaryMethodOverride(t *testing.T) {
	g, up := boundaryGateway(t, "")
	status, _ := rawRequest(t, g.base, "POST /items/1 HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nx_method_override: DELETE\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	if status != 200 {
		t.Fatalf("POST with override headers: %d, want 200 (headers stripped, POST served)", status)
	}
	h := <-up.seen
	for _, k := range []string{"X-Http-Method-Override", "X-Http-Method", "X_method_override"} {
		if h.Get(k) != "" {
			t.Errorf("%s reached the upstream by default", k)
		}
	}
	if status, _ := rawRequest(t, g.base, "TRACE /public/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); status != http.StatusMethodNotAllowed {
		t.Errorf("TRACE on a route that does not list it: %d, want 405", status)
	}
	if status, _ := rawRequest(t, g.base, "TRACK /public/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); status != http.StatusMethodNotAllowed {
		t.Errorf("TRACK on a route that does not list it: %d, want 405", status)
	}
	if status, _ := rawRequest(t, g.base, "TRACE /traced HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); status != 200 {
		t.Errorf("TRACE on a route that lists it: %d, want 200", status)
	}

	g, up = boundaryGateway(t, "methodOverride: forward")
	status, _ = rawRequest(t, g.base, "POST /items/1 HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: DELETE\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	if status != http.StatusUnauthorized {
		t.Errorf("forward: POST overridden to DELETE = %d, want the DELETE route's 401", status)
	}
	status, _ = rawRequest(t, g.base, "POST /items/1 HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: DELETE\r\nAuthorization: Bearer "+boundaryToken(t, nil)+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	if status != 200 {
		t.Fatalf("forward with a token: %d", status)
	}
	h = <-up.seen
	if h.Get("X-Method") != "POST" || h.Get("X-Http-Method-Override") != "DELETE" {
		t.Errorf("forward: upstream got %s with override %q, want POST with DELETE", h.Get("X-Method"), h.Get("X-Http-Method-Override"))
	}
	if status, _ := rawRequest(t, g.base, "POST /items/1 HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: DELETE\r\nX-Method-Override: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"); status != 400 {
		t.Errorf("two overrides naming different methods: %d, want 400", status)
	}
	if status, _ := rawRequest(t, g.base, "POST /public/x HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: TRACE\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"); status != http.StatusMethodNotAllowed {
		t.Errorf("override to TRACE: %d, want 405", status)
	}
}

func boundaryToken(t *testing.T, extra map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(boundarySecret)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBoundaryEndpointBodyLimit: an apiEndpoint's maxBodyBytes refuses a
// declared length over it with 413 before any 100 Continue, cuts a chunked
// body at it, and lets a body within it through.
func TestBoundaryEndpointBodyLimit(t *testing.T) {
	up, reached := countingUpstream(t)
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints:
  small: {paths: ['/small/*'], maxBodyBytes: 100}
serviceEndpoints:
  up: {url: '%s'}
policies: [proxy]
pipelines:
  p:
    apiEndpoints: [small]
    policies: [{proxy: {action: {serviceEndpoint: up}}}]
`, up))
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "POST /small/x HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 413") {
		t.Errorf("Expect: 100-continue over the endpoint's limit: first line %q, want 413 before any 100 Continue", line)
	}
	if status, _ := rawRequest(t, g.base, "POST /small/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
		"64\r\n"+strings.Repeat("a", 100)+"\r\n1\r\nb\r\n0\r\n\r\n"); status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the endpoint's limit: %d, want 413", status)
	}
	if n := reached(); n != 0 {
		t.Errorf("%d refused requests reached the upstream", n)
	}
	if status, _ := rawRequest(t, g.base, "POST /small/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"+strings.Repeat("a", 100)); status != 200 {
		t.Errorf("a body within the limit: %d, want 200", status)
	}
}

// countingUpstream reads whole bodies and counts the requests that did.
func countingUpstream(t *testing.T) (string, func() int) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		mu.Lock()
		n++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int { mu.Lock(); defer mu.Unlock(); return n }
}
