package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/echo"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Lockouts that strangers cannot trigger, limits that guessers cannot
// dodge (issue #11 §1), against the real app. The test client connects
// from 127.0.0.1, a trusted proxy, and names the client in
// X-Forwarded-For: the stranger is 198.51.100.7, the real user or client
// 203.0.113.5.

const (
	stranger = "198.51.100.7"
	owner    = "203.0.113.5"
)

// lockoutSystem trusts the loopback proxy; extra is more YAML.
func lockoutSystem(trusted, extra string) string {
	return opaqueSystem + "trustedProxies: " + trusted + "\n" + extra
}

// lockoutGatewayYAML has the oauth2 routes of the other tests' gateway and
// /basic (basic-auth), /key (key-auth), /echo (req.ip as a header, xfwd
// proxy) and /limited (rate-limit by the default key, 1 per minute).
func lockoutGatewayYAML(upstream string) string {
	return fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  api: {paths: ['/api', '/api/*']}
  basic: {paths: ['/basic', '/basic/*']}
  key: {paths: ['/key', '/key/*']}
  echo: {paths: ['/echo', '/echo/*']}
  limited: {paths: ['/limited']}
serviceEndpoints:
  backend:
    url: '%s'
policies: [oauth2, basic-auth, key-auth, headers, rate-limit, proxy]
pipelines:
  api:
    apiEndpoints: [api]
    policies:
      - oauth2:
      - proxy: [{action: {serviceEndpoint: backend}}]
  basic:
    apiEndpoints: [basic]
    policies:
      - basic-auth:
      - proxy: [{action: {serviceEndpoint: backend}}]
  key:
    apiEndpoints: [key]
    policies:
      - key-auth:
      - proxy: [{action: {serviceEndpoint: backend}}]
  echo:
    apiEndpoints: [echo]
    policies:
      - headers: [{action: {headersPrefix: x-gw-, forwardHeaders: {ip: req.ip}}}]
      - proxy: [{action: {serviceEndpoint: backend, xfwd: true}}]
  limited:
    apiEndpoints: [limited]
    policies:
      - rate-limit: [{action: {max: 1, windowMs: 60000}}]
      - proxy: [{action: {serviceEndpoint: backend}}]
`, upstream)
}

func startLockout(t *testing.T, system string) *oauthGateway {
	t.Helper()
	up := echoServer(t, "upstream")
	return startOAuth(t, system, map[string]string{"gateway.config.yml": lockoutGatewayYAML(up.URL)})
}

// send makes a request from the client at xff ("" sends no
// X-Forwarded-For) and returns the response, its body read.
func (g *oauthGateway) send(t *testing.T, method, path, xff string, h http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, g.base+path, strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// clientToken asks for a client_credentials token from xff.
func (g *oauthGateway) clientToken(t *testing.T, xff, id, secret string) (int, http.Header, map[string]any) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}}
	resp, body := g.send(t, "POST", "/oauth2/token", xff, h, "grant_type=client_credentials")
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return resp.StatusCode, resp.Header, m
}

// passwordToken asks for a password grant as the web client from xff.
func (g *oauthGateway) passwordToken(t *testing.T, xff, user, pass string) (int, http.Header, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(g.web.ID)+":"+url.QueryEscape(webSecret)))}}
	resp, body := g.send(t, "POST", "/oauth2/token", xff, h, form.Encode())
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return resp.StatusCode, resp.Header, m
}

// xffTransport sends every request of a browser from one client address.
type xffTransport struct{ addr string }

func (x xffTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.addr)
	return http.DefaultTransport.RoundTrip(r)
}

// browserAt is a browser whose requests come from addr behind the proxy.
func browserAt(t *testing.T, base, addr string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: xffTransport{addr},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// retryAfter checks a Retry-After of at least 1 and at most max seconds.
func retryAfter(t *testing.T, h http.Header, max int) {
	t.Helper()
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 1 || n > max {
		t.Errorf("Retry-After = %q, want 1..%d seconds", h.Get("Retry-After"), max)
	}
}

// A stranger's twenty wrong secrets for a client id (ids are public) lock
// out the stranger, not the client: the real client, from its own address,
// still gets its token.
func TestLockoutStrangerCannotLockClient(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[127.0.0.1, '::1']", ""))
	for i := 1; i <= 20; i++ {
		if st, _, m := g.clientToken(t, stranger, g.svc.ID, "wrong-secret"); st != 401 || m["error"] != "invalid_client" {
			t.Fatalf("stranger's failure %d = %d %v", i, st, m)
		}
	}
	st, h, m := g.clientToken(t, stranger, g.svc.ID, "wrong-secret")
	if st != http.StatusTooManyRequests {
		t.Fatalf("stranger's 21st attempt = %d %v, want 429", st, m)
	}
	retryAfter(t, h, 60)
	if d, _ := m["error_description"].(string); !strings.Contains(d, "from your network") {
		t.Errorf("429 description %q does not say what was counted", d)
	}
	// The stranger's address waits even with the right secret; the owner
	// does not wait at all.
	if st, _, _ := g.clientToken(t, stranger, g.svc.ID, svcSecret); st != http.StatusTooManyRequests {
		t.Errorf("the right secret from the stranger's address = %d, want 429", st)
	}
	if st, _, m := g.clientToken(t, owner, g.svc.ID, svcSecret); st != 200 || m["access_token"] == nil {
		t.Fatalf("the real client from its own address = %d %v, want its token", st, m)
	}
}

// Five wrong passwords for alice from a stranger do not lock alice out of
// the sign-in page or the password grant; the stranger's page says what
// was counted without calling the password wrong.
func TestLockoutStrangerCannotLockUser(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[127.0.0.1, '::1']", ""))
	sb := browserAt(t, g.base, stranger)
	for i := 1; i <= 5; i++ {
		if st, _, _ := sb.login("alice", "wrong-password"); st != http.StatusUnauthorized {
			t.Fatalf("stranger's failure %d = %d", i, st)
		}
	}
	st, _, page := sb.login("alice", "alice-password")
	if st != http.StatusTooManyRequests {
		t.Fatalf("stranger's sixth attempt = %d, want 429\n%s", st, page)
	}
	if !strings.Contains(page, "Too many failed attempts for this account from your network. Try again in ") ||
		strings.Contains(page, "incorrect") {
		t.Errorf("the locked-out page blames the reader or says nothing useful:\n%s", page)
	}
	ab := browserAt(t, g.base, owner)
	if st, loc, page := ab.login("alice", "alice-password"); st != http.StatusFound {
		t.Fatalf("alice from her own address = %d %q, want 302\n%s", st, loc, page)
	}
	if st, _, m := g.passwordToken(t, owner, "alice", "alice-password"); st != 200 {
		t.Fatalf("alice's password grant from her own address = %d %v", st, m)
	}
	// The password grant shares the sign-in page's counts.
	st, h, m := g.passwordToken(t, stranger, "alice", "alice-password")
	if st != http.StatusTooManyRequests {
		t.Fatalf("password grant from the stranger = %d %v, want 429", st, m)
	}
	retryAfter(t, h, 60)
}

// Past the per-account limit (10 an hour here), only addresses that failed
// for the account wait; the right password from an address with no
// failure signs in, however many failures came from elsewhere.
func TestLockoutAccountLimitDelaysOnlyFailingAddresses(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[127.0.0.1, '::1']", `failureLimits:
  signIn:
    perAccount: {failures: 10, window: 1h}
`))
	for i := 1; i <= 12; i++ {
		addr := fmt.Sprintf("198.18.0.%d", i)
		if st, _, m := g.passwordToken(t, addr, "alice", "wrong-password"); st != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("failure from %s = %d %v", addr, st, m)
		}
	}
	// An address that failed waits, right password or not, a bounded time.
	st, h, m := g.passwordToken(t, "198.18.0.1", "alice", "alice-password")
	if st != http.StatusTooManyRequests {
		t.Fatalf("a failing address after the account's limit = %d %v, want 429", st, m)
	}
	retryAfter(t, h, 360) // one attempt per hour/10
	if d, _ := m["error_description"].(string); !strings.HasPrefix(d, "Too many failed attempts for this account. Try again in ") {
		t.Errorf("description %q", d)
	}
	// A fresh address is let through: a wrong password is answered as one,
	// the right one signs in, on the page and by the grant.
	if st, _, m := g.passwordToken(t, "203.0.113.66", "alice", "wrong-password"); st != 400 {
		t.Errorf("a wrong password from a fresh address = %d %v, want 400", st, m)
	}
	if st, _, m := g.passwordToken(t, owner, "alice", "alice-password"); st != 200 {
		t.Errorf("alice from a clean address = %d %v, want her token", st, m)
	}
	if st, _, page := browserAt(t, g.base, "203.0.113.77").login("alice", "alice-password"); st != http.StatusFound {
		t.Errorf("alice signing in from a clean address = %d\n%s", st, page)
	}
}

// One address trying one password against 30 users is refused past the
// per-address limit (20 per 5 minutes), on the sign-in page and by the
// password grant; other addresses are not.
func TestLockoutSprayingRefused(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[127.0.0.1, '::1']", ""))
	var users []string
	for i := range 30 {
		u, err := g.s.CreateUser(g.ctx, store.User{Username: fmt.Sprintf("user%02d", i), Firstname: "U", Lastname: "U"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.s.CreateCredential(g.ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: fmt.Sprintf("password-of-user%02d", i)}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u.Username)
	}
	// The password grant from one address.
	var codes []int
	for _, u := range users {
		st, h, _ := g.passwordToken(t, stranger, u, "Summer2026!")
		codes = append(codes, st)
		if st == http.StatusTooManyRequests {
			retryAfter(t, h, 15)
		}
	}
	for i, st := range codes {
		if want := map[bool]int{true: 400, false: 429}[i < 20]; st != want {
			t.Fatalf("password grant spraying: answers %v, want 20 × 400 then 429", codes)
		}
	}
	// The sign-in page from another address.
	b := browserAt(t, g.base, "198.51.100.8")
	codes = codes[:0]
	var last string
	for _, u := range users {
		st, _, page := b.login(u, "Summer2026!")
		codes = append(codes, st)
		last = page
	}
	for i, st := range codes {
		if want := map[bool]int{true: 401, false: 429}[i < 20]; st != want {
			t.Fatalf("sign-in spraying: answers %v, want 20 × 401 then 429", codes)
		}
	}
	if !strings.Contains(last, "Too many failed attempts from your network.") {
		t.Errorf("the spraying address's page:\n%s", last)
	}
	// Everyone else signs in.
	if st, _, m := g.passwordToken(t, owner, "user00", "password-of-user00"); st != 200 {
		t.Errorf("user00 from another address = %d %v", st, m)
	}
}

// basic-auth: past 10 wrong passwords for alice from one address, that
// address gets 429 with Retry-After, even with the right password; alice,
// from a clean address, gets in.
func TestLockoutBasicAuth(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[127.0.0.1, '::1']", ""))
	basic := func(user, pass string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
	}
	for i := 1; i <= 10; i++ {
		if resp, body := g.send(t, "GET", "/basic/x", stranger, basic("alice", fmt.Sprintf("guess-%d", i)), ""); resp.StatusCode != 401 {
			t.Fatalf("failure %d = %d %s", i, resp.StatusCode, body)
		}
	}
	for _, pass := range []string{"guess-11", "alice-password"} {
		resp, body := g.send(t, "GET", "/basic/x", stranger, basic("alice", pass), "")
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"too_many_failures"`) {
			t.Fatalf("after 10 failures, %s = %d %s, want 429 too_many_failures", pass, resp.StatusCode, body)
		}
		retryAfter(t, resp.Header, 6) // one more per minute/10
	}
	// Her id names the same account: it shares the budget (found in
	// review: the id and the username were counted apart, doubling it).
	if resp, body := g.send(t, "GET", "/basic/x", stranger, basic(g.alice.ID, "guess-12"), ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 10 failures as alice, her id = %d %s, want 429", resp.StatusCode, body)
	}
	if resp, body := g.send(t, "GET", "/basic/x", owner, basic("alice", "alice-password"), ""); resp.StatusCode != 200 {
		t.Fatalf("alice from a clean address = %d %s", resp.StatusCode, body)
	}
	// Another user from the stranger's address is not refused on alice's
	// count.
	if resp, body := g.send(t, "GET", "/basic/x", stranger, basic("bob", "bob-password"), ""); resp.StatusCode != 200 {
		t.Errorf("bob from the stranger's address = %d %s", resp.StatusCode, body)
	}
}

// key-auth: the same per key id.
func TestLockoutKeyAuth(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[127.0.0.1, '::1']", ""))
	cred, sec, err := g.s.CreateCredential(g.ctx, store.CredentialInput{ConsumerID: g.alice.ID, Type: store.KeyAuth})
	if err != nil {
		t.Fatal(err)
	}
	key := func(k string) http.Header { return http.Header{"Authorization": {"apiKey " + k}} }
	for i := 1; i <= 10; i++ {
		if resp, body := g.send(t, "GET", "/key/x", stranger, key(fmt.Sprintf("%s:guess-%d", cred.KeyID, i)), ""); resp.StatusCode != 401 {
			t.Fatalf("failure %d = %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := g.send(t, "GET", "/key/x", stranger, key(cred.KeyID+":"+sec), "")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"too_many_failures"`) {
		t.Fatalf("the right key after 10 failures from the same address = %d %s, want 429", resp.StatusCode, body)
	}
	retryAfter(t, resp.Header, 6)
	if resp, body := g.send(t, "GET", "/key/x", owner, key(cred.KeyID+":"+sec), ""); resp.StatusCode != 200 {
		t.Fatalf("the key from a clean address = %d %s", resp.StatusCode, body)
	}
}

// From a peer that is not a trusted proxy, X-Forwarded-For is ignored
// everywhere: guesses with a new forged address each are counted on the
// peer, and the upstream's X-Forwarded-For holds only the peer.
func TestLockoutForgedForwardedForIgnored(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[10.0.0.0/8]", ""))
	basic := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:guess"))}}
	var codes []int
	for i := 1; i <= 11; i++ {
		resp, _ := g.send(t, "GET", "/basic/x", fmt.Sprintf("192.0.2.%d", i), basic, "")
		codes = append(codes, resp.StatusCode)
	}
	if codes[9] != 401 || codes[10] != http.StatusTooManyRequests {
		t.Fatalf("guesses with forged addresses: %v, want 10 × 401 then 429 (counted on the peer)", codes)
	}
	resp, body := g.send(t, "GET", "/echo/x", "6.6.6.6", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("/echo = %d %s", resp.StatusCode, body)
	}
	var e echo.Request
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	h := http.Header(e.Headers)
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For = %q, want only the peer 127.0.0.1", got)
	}
	if got := h.Get("X-Gw-Ip"); got != "127.0.0.1" {
		t.Errorf("req.ip = %q, want the peer 127.0.0.1", got)
	}
}

// Behind a trusted proxy the client address is the forwarded one
// everywhere: req.ip, the upstream's X-Forwarded-For (what the trusted
// hops vouched for, then the proxy), the rate-limit policy's default key,
// the access log.
func TestLockoutClientAddressEverywhere(t *testing.T) {
	t.Parallel()
	g := startLockout(t, lockoutSystem("[127.0.0.1, '::1']", ""))
	resp, body := g.send(t, "GET", "/echo/x", "6.6.6.6, "+owner, nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("/echo = %d %s", resp.StatusCode, body)
	}
	var e echo.Request
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	h := http.Header(e.Headers)
	if got := h.Get("X-Gw-Ip"); got != owner {
		t.Errorf("req.ip = %q, want %s", got, owner)
	}
	if got := strings.Join(h.Values("X-Forwarded-For"), ", "); got != owner+", 127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For = %q, want %q (the forged 6.6.6.6 dropped)", got, owner+", 127.0.0.1")
	}
	// One request per minute per client: two clients behind the proxy do
	// not share it.
	if resp, _ := g.send(t, "GET", "/limited", owner, nil, ""); resp.StatusCode != 200 {
		t.Errorf("first request of %s = %d", owner, resp.StatusCode)
	}
	if resp, _ := g.send(t, "GET", "/limited", owner, nil, ""); resp.StatusCode != 429 {
		t.Errorf("second request of %s = %d, want 429", owner, resp.StatusCode)
	}
	if resp, _ := g.send(t, "GET", "/limited", stranger, nil, ""); resp.StatusCode != 200 {
		t.Errorf("first request of %s = %d, want 200 (its own limit)", stranger, resp.StatusCode)
	}
	// The access log names the client, and the proxy as peer.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var found bool
		for _, line := range strings.Split(g.acc.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["path"] != "/echo/x" {
				continue
			}
			found = true
			if m["remote"] != owner || !strings.HasPrefix(fmt.Sprint(m["peer"]), "127.0.0.1:") {
				t.Errorf("access log remote %v peer %v, want %s and the proxy 127.0.0.1:port", m["remote"], m["peer"], owner)
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for /echo/x:\n%s", g.acc.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On Redis the counts are the gateway's, not a node's: ten wrong keys sent
// to node A make node B refuse the stranger's address, and only it.
func TestLockoutSharedAcrossNodes(t *testing.T) {
	p := startClusterPair(t, "trustedProxies: [127.0.0.1, '::1']\n")
	for i := 1; i <= 10; i++ {
		code, body, _ := p.a.call(t, "GET", "/key/x", nil, "Authorization", "apiKey "+p.keyID+":guess", "X-Forwarded-For", stranger)
		if code != 401 {
			t.Fatalf("failure %d on A = %d %s", i, code, body)
		}
	}
	code, body, h := p.b.call(t, "GET", "/key/x", nil, "Authorization", "apiKey "+p.keyID+":"+p.keySecret, "X-Forwarded-For", stranger)
	if code != http.StatusTooManyRequests || !strings.Contains(body, "too_many_failures") {
		t.Fatalf("the right key from the stranger's address on B = %d %s, want 429", code, body)
	}
	retryAfter(t, h, 6)
	if code, body, _ := p.b.call(t, "GET", "/key/x", nil, "Authorization", "apiKey "+p.keyID+":"+p.keySecret, "X-Forwarded-For", owner); code != 200 {
		t.Fatalf("the key from a clean address on B = %d %s", code, body)
	}
}
