package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// Several `gatehouse serve` processes on one Redis and namespace behave as
// one gateway: what one node writes (tokens, revocations, deactivations,
// rotated secrets, rate-limit counters) is what the other node enforces,
// within the pub/sub invalidation delay.

// clusterNode is one running `gatehouse serve` process.
type clusterNode struct {
	name  string
	dir   string
	cmd   *exec.Cmd
	base  string // http://127.0.0.1:port (data plane)
	admin string // http://127.0.0.1:port (Admin API, /readyz)
	logs  *syncBuffer
	done  chan struct{} // closed when the process has exited
}

var (
	nodeHTTPRE  = regexp.MustCompile(`"listener":"http","addr":"([^"]+)"`)
	nodeAdminRE = regexp.MustCompile(`"listener":"admin","addr":"([^"]+)"`)
)

// clusterHTTP is the client of the cluster tests: no call outlives 5s.
var clusterHTTP = &http.Client{Timeout: 5 * time.Second}

// nodeSystemYAML is a system.config.yml pointing at the Redis o, namespace
// ns.
func nodeSystemYAML(o *redis.Options, ns string) string {
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		host, port = o.Addr, "6379"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "db:\n  redis:\n    host: %s\n    port: %s\n    namespace: %s\n", host, port, ns)
	if o.Username != "" {
		fmt.Fprintf(&b, "    username: %q\n", o.Username)
	}
	if o.Password != "" {
		fmt.Fprintf(&b, "    password: %q\n", o.Password)
	}
	if o.DB != 0 {
		fmt.Fprintf(&b, "    db: %d\n", o.DB)
	}
	if o.TLSConfig != nil {
		fmt.Fprintf(&b, "    tls: {insecureSkipVerify: %v}\n", o.TLSConfig.InsecureSkipVerify)
	}
	return b.String()
}

// writeNodeDir writes a config dir with the two files.
func writeNodeDir(t *testing.T, systemYAML, gatewayYAML string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"system.config.yml": systemYAML, "gateway.config.yml": gatewayYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startClusterNode runs `gatehouse serve` on dir and waits for its http and
// admin addresses in the JSON log. The process is stopped (SIGTERM, then
// SIGKILL) when the test ends; its log is shown if the test failed.
func startClusterNode(t *testing.T, bin, name, dir string) *clusterNode {
	t.Helper()
	n := &clusterNode{name: name, dir: dir, logs: &syncBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(bin, "serve", "--config-dir", dir, "--log-format", "json", "--access-log", "off", "--reload-interval", "0")
	n.cmd.Stderr = n.logs
	n.cmd.Stdout = n.logs
	n.cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_KEY=")
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() { n.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for n.base == "" || n.admin == "" {
		l := n.logs.String()
		if m := nodeHTTPRE.FindStringSubmatch(l); m != nil {
			n.base = "http://" + m[1]
		}
		if m := nodeAdminRE.FindStringSubmatch(l); m != nil {
			n.admin = "http://" + m[1]
		}
		select {
		case <-n.done:
			t.Fatalf("node %s exited before listening:\n%s", name, indent(l))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not report its addresses:\n%s", name, indent(l))
		}
	}
	return n
}

func (n *clusterNode) stop(t *testing.T) {
	select {
	case <-n.done:
	default:
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	}
	if t.Failed() {
		t.Logf("node %s log:\n%s", n.name, indent(tail(n.logs.String(), 40)))
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// adminCall sends a JSON request to the node's Admin API and decodes the
// JSON answer (nil for an empty body).
func (n *clusterNode) adminCall(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.admin+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s on %s: %d, not JSON: %s", method, path, n.name, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m
}

// mustAdmin is adminCall that wants a 2xx.
func (n *clusterNode) mustAdmin(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	code, m := n.adminCall(t, method, path, body)
	if code/100 != 2 {
		t.Fatalf("%s %s on %s = %d %v", method, path, n.name, code, m)
	}
	return m
}

// call sends a request to the node's data plane; hdr is name, value pairs.
// It returns the status, the body and the response headers.
func (n *clusterNode) call(t *testing.T, method, path string, form url.Values, hdr ...string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, n.base+path, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// waitStatus polls fn until it answers want or limit passes; it returns how
// long it took, or fails the test with the last answer.
func waitStatus(t *testing.T, what string, limit time.Duration, want int, fn func() (int, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, body := fn()
		if code == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: still %d %s after %v, want %d", what, code, strings.TrimSpace(body), limit, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// clusterRateMax is the rate limit of /limited: per hour, so that no
// request is refilled while the test runs.
const clusterRateMax = 5

var clusterGatewayYAML = `http:
  port: 0
  host: 127.0.0.1
admin:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  oauth:
    paths: ['/oauth', '/oauth/*']
  key:
    paths: ['/key', '/key/*']
  limited:
    paths: ['/limited', '/limited/*']
policies: [oauth2, key-auth, rate-limit, terminate]
pipelines:
  oauth:
    apiEndpoints: [oauth]
    policies:
      - oauth2:
      - terminate:
          - action: {statusCode: 200, message: oauth-ok}
  key:
    apiEndpoints: [key]
    policies:
      - key-auth:
      - terminate:
          - action: {statusCode: 200, message: key-ok}
  limited:
    apiEndpoints: [limited]
    policies:
      - rate-limit:
          - action:
              max: ` + strconv.Itoa(clusterRateMax) + `
              windowMs: 3600000
              rateLimitBy: '${req.headers.x-client}'
      - terminate:
          - action: {statusCode: 200, message: limited-ok}
`

// clusterPair is two nodes on one fresh namespace, with identity data
// written through node A's Admin API only: user carol with a key-auth
// credential, and her application svc, an oauth2 confidential client.
type clusterPair struct {
	a, b             *clusterNode
	userID, appID    string
	clientSecret     string
	keyID, keySecret string
}

// startClusterPair starts the two nodes; extraSystem is appended to their
// system.config.yml. The namespace is deleted when the test ends.
func startClusterPair(t *testing.T, extraSystem string) *clusterPair {
	t.Helper()
	ro := redistest.Server(t) // REDIS_URL, 127.0.0.1:6379, a started redis-server, or skip
	bin := buildBinary(t)
	ns := redistest.Namespace()
	t.Cleanup(func() { // registered first: runs after both nodes stopped
		if err := redistest.Purge(ro, ns); err != nil {
			t.Logf("deleting namespace %s: %v", ns, err)
		}
	})
	t.Logf("redis %s, namespace %s", ro.Addr, ns)
	sys := nodeSystemYAML(ro, ns) + extraSystem
	p := &clusterPair{
		a: startClusterNode(t, bin, "A", writeNodeDir(t, sys, clusterGatewayYAML)),
		b: startClusterNode(t, bin, "B", writeNodeDir(t, sys, clusterGatewayYAML)),
	}
	for _, n := range []*clusterNode{p.a, p.b} {
		if code, m := n.adminCall(t, "GET", "/readyz", nil); code != 200 {
			t.Fatalf("node %s /readyz = %d %v", n.name, code, m)
		}
	}
	a := p.a
	user := a.mustAdmin(t, "POST", "/users", map[string]any{"username": "carol", "firstname": "Carol", "lastname": "C"})
	p.userID = user["id"].(string)
	app := a.mustAdmin(t, "POST", "/apps", map[string]any{"userId": p.userID, "name": "svc"})
	p.appID = app["id"].(string)
	oc := a.mustAdmin(t, "POST", "/credentials", map[string]any{"consumerId": p.appID, "type": "oauth2"})
	p.clientSecret, _ = oc["secret"].(string)
	kc := a.mustAdmin(t, "POST", "/credentials", map[string]any{"consumerId": p.userID, "type": "key-auth"})
	p.keyID, _ = kc["keyId"].(string)
	p.keySecret, _ = kc["keySecret"].(string)
	if p.clientSecret == "" || p.keyID == "" || p.keySecret == "" {
		t.Fatalf("credentials without secrets: %v %v", oc, kc)
	}
	// Node B sees what A wrote.
	if code, m := p.b.adminCall(t, "GET", "/apps/"+p.appID, nil); code != 200 || m["name"] != "svc" {
		t.Fatalf("node B GET /apps/%s = %d %v", p.appID, code, m)
	}
	return p
}

// issue gets a client_credentials access token from node n.
func (p *clusterPair) issue(t *testing.T, n *clusterNode) string {
	t.Helper()
	code, body := p.clientPost(t, n, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}})
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("POST /oauth2/token on %s = %d %s", n.name, code, body)
	}
	return tr.AccessToken
}

// revoke revokes tok at node n (RFC 7009).
func (p *clusterPair) revoke(t *testing.T, n *clusterNode, tok string) {
	t.Helper()
	if code, body := p.clientPost(t, n, "/oauth2/revoke", url.Values{"token": {tok}}); code != 200 {
		t.Fatalf("POST /oauth2/revoke on %s = %d %s", n.name, code, body)
	}
}

func (p *clusterPair) clientPost(t *testing.T, n *clusterNode, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.appID, p.clientSecret)
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readBody(t, resp)
}

// bearer is a request to node n's oauth2 route with tok.
func bearer(t *testing.T, n *clusterNode, tok string) func() (int, string) {
	return func() (int, string) {
		code, body, _ := n.call(t, "GET", "/oauth/x", nil, "Authorization", "Bearer "+tok)
		return code, body
	}
}

// apiKey is a request to node n's key-auth route with key.
func apiKey(t *testing.T, n *clusterNode, key string) func() (int, string) {
	return func() (int, string) {
		code, body, _ := n.call(t, "GET", "/key/x", nil, "Authorization", "apiKey "+key)
		return code, body
	}
}

// wantCall checks one answer.
func wantCall(t *testing.T, what string, fn func() (int, string), status int, bodyPart string) {
	t.Helper()
	code, body := fn()
	if code != status || !strings.Contains(body, bodyPart) {
		t.Fatalf("%s = %d %s, want %d with %q", what, code, strings.TrimSpace(body), status, bodyPart)
	}
}

// TestClusterTwoNodes runs two gatehouse processes on one Redis namespace
// and checks that they act as one gateway: what is written through node A
// (tokens, revocations, deactivations, rotated secrets, rate-limit counts)
// is enforced by node B within 1s.
func TestClusterTwoNodes(t *testing.T) {
	p := startClusterPair(t, "")
	a, b := p.a, p.b

	t.Run("opaque token issued on A works on B, revocation on A is enforced by B", func(t *testing.T) {
		tok := p.issue(t, a)
		if !strings.Contains(tok, "|") {
			t.Fatalf("expected an opaque <id>|<secret> token, got %q", tok)
		}
		wantCall(t, "B with A's token", bearer(t, b, tok), 200, "oauth-ok") // B caches the token
		wantCall(t, "A with A's token", bearer(t, a, tok), 200, "oauth-ok")
		p.revoke(t, a, tok)
		d := waitStatus(t, "B with the token revoked on A", time.Second, 401, bearer(t, b, tok))
		t.Logf("revocation on A refused by B after %v", d)
		wantCall(t, "B with the revoked token", bearer(t, b, tok), 401, "token_revoked")
		wantCall(t, "A with the revoked token", bearer(t, a, tok), 401, "token_revoked")
	})

	t.Run("deactivating the client on A is enforced by B", func(t *testing.T) {
		tok := p.issue(t, a)
		wantCall(t, "B with a fresh token", bearer(t, b, tok), 200, "oauth-ok") // B caches token and client
		a.mustAdmin(t, "PUT", "/apps/"+p.appID+"/status", map[string]any{"status": false})
		d := waitStatus(t, "B after the client was deactivated on A", time.Second, 401, bearer(t, b, tok))
		t.Logf("deactivation on A refused by B after %v", d)
		wantCall(t, "B with the deactivated client's token", bearer(t, b, tok), 401, "inactive_consumer")
		a.mustAdmin(t, "PUT", "/apps/"+p.appID+"/status", map[string]any{"status": true})
		d = waitStatus(t, "B after the client was reactivated on A", time.Second, 200, bearer(t, b, tok))
		t.Logf("reactivation on A accepted by B after %v", d)
	})

	t.Run("rotating a key-auth secret on A is enforced by B", func(t *testing.T) {
		old := p.keyID + ":" + p.keySecret
		wantCall(t, "B with the key", apiKey(t, b, old), 200, "key-ok") // B caches the credential and its verification
		wantCall(t, "A with the key", apiKey(t, a, old), 200, "key-ok")
		rc := a.mustAdmin(t, "PUT", "/credentials/key-auth/"+p.keyID+"/secret", nil)
		newSecret, _ := rc["keySecret"].(string)
		if newSecret == "" || newSecret == p.keySecret {
			t.Fatalf("rotation answered %v", rc)
		}
		rotated := time.Now()
		d := waitStatus(t, "B with the old key after rotation on A", time.Second, 401, apiKey(t, b, old))
		t.Logf("rotation on A: old key refused by B after %v", d)
		wantCall(t, "A with the old key", apiKey(t, a, old), 401, "invalid_credentials")
		fresh := p.keyID + ":" + newSecret
		wantCall(t, "B with the new key", apiKey(t, b, fresh), 200, "key-ok")
		wantCall(t, "A with the new key", apiKey(t, a, fresh), 200, "key-ok")
		if e := time.Since(rotated); e > time.Second {
			t.Errorf("B took %v to switch to the new key, want within 1s", e)
		}
	})

	t.Run("rate limit is shared: exactly max pass across both nodes", func(t *testing.T) {
		client := "c-" + randomHex(6)
		passed := 0
		nodes := []*clusterNode{a, b}
		for i := range 2 * clusterRateMax {
			n := nodes[i%2]
			code, body, h := n.call(t, "GET", "/limited/x", nil, "X-Client", client)
			switch code {
			case 200:
				passed++
				if got, want := h.Get("RateLimit-Remaining"), strconv.Itoa(clusterRateMax-passed); got != want {
					t.Errorf("request %d on %s: RateLimit-Remaining %q, want %s (one counter for both nodes)", i, n.name, got, want)
				}
			case 429:
				ra, err := strconv.Atoi(h.Get("Retry-After"))
				if err != nil || ra < 1 {
					t.Errorf("request %d on %s: 429 with Retry-After %q", i, n.name, h.Get("Retry-After"))
				}
				if i < clusterRateMax {
					t.Errorf("request %d on %s refused before max (%d) requests passed", i, n.name, clusterRateMax)
				}
			default:
				t.Fatalf("request %d on %s = %d %s", i, n.name, code, body)
			}
		}
		if passed != clusterRateMax {
			t.Fatalf("%d requests passed across both nodes, want exactly %d", passed, clusterRateMax)
		}
		for _, n := range nodes {
			code, _, h := n.call(t, "GET", "/limited/x", nil, "X-Client", client)
			if code != 429 || h.Get("Retry-After") == "" {
				t.Errorf("node %s after the limit: %d, Retry-After %q; want 429 with Retry-After", n.name, code, h.Get("Retry-After"))
			}
		}
		// Another client has its own budget.
		if code, _, _ := b.call(t, "GET", "/limited/x", nil, "X-Client", client+"-other"); code != 200 {
			t.Errorf("another client = %d, want 200", code)
		}
	})
}

// TestClusterJWTAccessTokens: with JWT access tokens the nodes share one
// generated signing key (kept in Redis), so a token issued on A verifies
// on B with no store lookup for the signature, and a revocation on A
// reaches B within 1s.
func TestClusterJWTAccessTokens(t *testing.T) {
	p := startClusterPair(t, "accessTokens:\n  tokenType: jwt\n  issuer: https://gateway.example\n")
	a, b := p.a, p.b
	_, jwksA, _ := a.call(t, "GET", "/.well-known/jwks.json", nil)
	_, jwksB, _ := b.call(t, "GET", "/.well-known/jwks.json", nil)
	if jwksA != jwksB || !strings.Contains(jwksA, `"kid"`) {
		t.Fatalf("the nodes publish different keys:\nA: %s\nB: %s", jwksA, jwksB)
	}
	tok := p.issue(t, a)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("expected a JWT access token, got %q", tok)
	}
	wantCall(t, "B with A's JWT", bearer(t, b, tok), 200, "oauth-ok")
	p.revoke(t, a, tok)
	d := waitStatus(t, "B with the JWT revoked on A", time.Second, 401, bearer(t, b, tok))
	t.Logf("JWT revocation on A refused by B after %v", d)
	wantCall(t, "B with the revoked JWT", bearer(t, b, tok), 401, "token_revoked")
}
