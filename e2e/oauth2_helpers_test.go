package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/echo"
	"github.com/gatehouse/gatehouse/internal/store"
)

// oauthGateway is a gateway with the oauth2 policy enabled (its
// authorization server mounted before the pipelines), an echo upstream
// behind it and seeded consumers:
//
//   - user alice (basic-auth password alice-password), user bob (bob-password);
//   - app "web" owned by alice: a confidential client (secret websecret,
//     scopes read write), redirect URI webRedirect;
//   - app "spa": a public client (no secret: PKCE only), scope read,
//     redirect URI spaRedirect;
//   - app "svc": a confidential client with scopes read admin, for
//     client_credentials.
//
// Routes: /api/* (oauth2, no scope), /read/* (scope read), /admin/* (scope
// admin), /open/* (oauth2 with passThrough).
type oauthGateway struct {
	*gatewayUnderTest
	ctx      context.Context
	s        *store.Store
	upstream string
	alice    *store.User
	bob      *store.User
	web      *store.App
	spa      *store.App
	svc      *store.App
}

const (
	webRedirect = "http://127.0.0.1:1/web/callback"
	spaRedirect = "http://127.0.0.1:1/spa/callback"
	webSecret   = "websecret-0123456789abcdefghijklmn"
	svcSecret   = "svcsecret-0123456789abcdefghijklmn"
)

func oauthGatewayYAML(upstream string) string {
	return fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  api:
    paths: ['/api', '/api/*']
  read:
    paths: ['/read', '/read/*']
    scopes: [read]
  admin:
    paths: ['/admin', '/admin/*']
    scopes: [admin]
  open:
    paths: ['/open', '/open/*']
serviceEndpoints:
  backend:
    url: '%s'
policies: [oauth2, proxy]
pipelines:
  protected:
    apiEndpoints: [api, read, admin]
    policies:
      - oauth2:
      - proxy:
          - action:
              serviceEndpoint: backend
  open:
    apiEndpoints: [open]
    policies:
      - oauth2:
          - action:
              passThrough: true
      - proxy:
          - action:
              serviceEndpoint: backend
`, upstream)
}

// startOAuth starts the gateway with systemYAML as system.config.yml and
// extra files (path relative to the config dir: content) in its config
// dir.
func startOAuth(t *testing.T, systemYAML string, files ...map[string]string) *oauthGateway {
	t.Helper()
	return startOAuthWith(t, systemYAML, files, nil)
}

// startOAuthWith is startOAuth with app options (a clock) set by opt.
func startOAuthWith(t *testing.T, systemYAML string, files []map[string]string, opt func(*app.Options)) *oauthGateway {
	t.Helper()
	up := echoServer(t, "upstream")
	dir := t.TempDir()
	gw := oauthGatewayYAML(up.URL)
	all := map[string]string{"system.config.yml": systemYAML, "gateway.config.yml": gw}
	for _, f := range files {
		for k, v := range f {
			all[k] = v
		}
	}
	for name, content := range all {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// bcrypt at its lowest cost (crypto.saltRounds refuses it): the tests
	// hash and check passwords a lot, under the race detector.
	g := startGateway(t, gw, func(o *app.Options) {
		o.ConfigDir = dir
		o.BcryptCost = 4
		if opt != nil {
			opt(o)
		}
	})
	g.dir = dir
	og := &oauthGateway{gatewayUnderTest: g, ctx: context.Background(), s: g.app.Store(), upstream: up.URL}
	og.seed(t)
	return og
}

func (g *oauthGateway) seed(t *testing.T) {
	t.Helper()
	ctx, s := g.ctx, g.s
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateScopes(ctx, "read", "write", "admin"))
	var err error
	g.alice, err = s.CreateUser(ctx, store.User{Username: "alice", Firstname: "Alice", Lastname: "A"})
	must(err)
	g.bob, err = s.CreateUser(ctx, store.User{Username: "bob", Firstname: "Bob", Lastname: "B"})
	must(err)
	for u, pw := range map[string]string{g.alice.ID: "alice-password", g.bob.ID: "bob-password"} {
		_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u, Type: store.BasicAuth, Secret: pw})
		must(err)
	}
	g.web, err = s.CreateApp(ctx, store.App{UserID: g.alice.ID, Name: "web", RedirectURI: webRedirect})
	must(err)
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: g.web.ID, Type: store.OAuth2, Secret: webSecret, Scopes: []string{"read", "write"}})
	must(err)
	g.spa, err = s.CreateApp(ctx, store.App{UserID: g.alice.ID, Name: "spa", RedirectURI: spaRedirect})
	must(err)
	no := false
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: g.spa.ID, Type: store.OAuth2, AutoGeneratePassword: &no, Scopes: []string{"read"}})
	must(err)
	g.svc, err = s.CreateApp(ctx, store.App{UserID: g.alice.ID, Name: "svc"})
	must(err)
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: g.svc.ID, Type: store.OAuth2, Secret: svcSecret, Scopes: []string{"read", "admin"}})
	must(err)
}

func (g *oauthGateway) endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: g.base + "/oauth2/authorize", TokenURL: g.base + "/oauth2/token"}
}

// webConfig is the confidential web client as golang.org/x/oauth2 sees it.
func (g *oauthGateway) webConfig(scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: g.web.ID, ClientSecret: webSecret, Endpoint: g.endpoint(),
		RedirectURL: webRedirect, Scopes: scopes}
}

func (g *oauthGateway) spaConfig(scopes ...string) *oauth2.Config {
	e := g.endpoint()
	e.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: g.spa.ID, Endpoint: e, RedirectURL: spaRedirect, Scopes: scopes}
}

// browser is a user agent with a cookie jar that does not follow
// redirects, so each step of the flow can be checked.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.base + u
	}
	return u
}

// get returns the status, the Location header and the body.
func (b *browser) get(u string) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.abs(u))
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), readBody(b.t, resp)
}

func (b *browser) post(u string, form url.Values) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.abs(u), form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), readBody(b.t, resp)
}

var inputRE = regexp.MustCompile(`(?is)<input\b[^>]*>`)
var attrRE = regexp.MustCompile(`(?is)\b(name|value)\s*=\s*"([^"]*)"`)

// formValue reads the value of the named input of an HTML page, whatever
// the attribute order (the pages are customisable).
func formValue(page, name string) string {
	for _, tag := range inputRE.FindAllString(page, -1) {
		var n, v string
		for _, m := range attrRE.FindAllStringSubmatch(tag, -1) {
			if strings.EqualFold(m[1], "name") {
				n = html.UnescapeString(m[2])
			} else {
				v = html.UnescapeString(m[2])
			}
		}
		if n == name {
			return v
		}
	}
	return ""
}

// login signs in on the login page (its CSRF token read from the form).
func (b *browser) login(user, pass string) (int, string, string) {
	b.t.Helper()
	st, _, page := b.get("/login")
	if st != 200 {
		b.t.Fatalf("GET /login = %d", st)
	}
	csrf := formValue(page, "_csrf")
	if csrf == "" {
		b.t.Fatalf("no _csrf in the login page:\n%s", page)
	}
	return b.post("/login", url.Values{"_csrf": {csrf}, "username": {user}, "password": {pass}})
}

// consent drives an authorization request up to the consent page: GET
// authURL, log in when sent to /login, come back. It returns the page.
func (b *browser) consent(authURL, user, pass string) string {
	b.t.Helper()
	st, loc, page := b.signInFor(authURL, user, pass)
	if st != 200 {
		b.t.Fatalf("authorization request = %d (Location %q)\n%s", st, loc, page)
	}
	return page
}

// signInFor sends the authorization request authURL, signs in when sent
// to /login and comes back: the authorization endpoint's last answer.
func (b *browser) signInFor(authURL, user, pass string) (int, string, string) {
	b.t.Helper()
	st, loc, page := b.get(authURL)
	if st == http.StatusFound && loc == "/login" {
		st, loc, page = b.login(user, pass)
		if st != http.StatusFound || !strings.HasPrefix(loc, "/oauth2/authorize?") {
			b.t.Fatalf("login = %d Location %q, want 302 back to the authorization request\n%s", st, loc, page)
		}
		st, loc, page = b.get(loc)
	}
	return st, loc, page
}

// allow drives an authorization request to the client's redirect: through
// the sign-in and consent pages (Allow), or straight back when the user's
// consent is remembered (an OpenID Connect request, OpenID Connect Core
// 1.0 §3.1.2.4). It returns the redirect as decide does.
func (b *browser) allow(authURL, user, pass string) (int, *url.URL, string) {
	b.t.Helper()
	st, loc, page := b.signInFor(authURL, user, pass)
	if st == http.StatusFound {
		u, _ := url.Parse(loc)
		return st, u, page
	}
	if st != 200 {
		b.t.Fatalf("authorization request = %d (Location %q)\n%s", st, loc, page)
	}
	return b.decide(page, true)
}

// decide posts the consent form (allow or deny) and returns the redirect.
func (b *browser) decide(page string, allow bool) (int, *url.URL, string) {
	b.t.Helper()
	form := url.Values{"_csrf": {formValue(page, "_csrf")}, "transaction_id": {formValue(page, "transaction_id")}}
	if form.Get("transaction_id") == "" || form.Get("_csrf") == "" {
		b.t.Fatalf("consent page without transaction_id or _csrf:\n%s", page)
	}
	if allow {
		form.Set("allow", "allow")
	} else {
		form.Set("cancel", "deny")
	}
	st, loc, body := b.post("/oauth2/authorize/decision", form)
	u, _ := url.Parse(loc)
	return st, u, body
}

// authorizeCode runs the browser part of the code flow as user and returns
// the code (the state is checked).
func (g *oauthGateway) authorizeCode(t *testing.T, b *browser, conf *oauth2.Config, user, pass string, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	state := oauth2.GenerateVerifier()[:16]
	st, u, body := b.allow(conf.AuthCodeURL(state, opts...), user, pass)
	if st != http.StatusFound || u == nil {
		t.Fatalf("decision = %d\n%s", st, body)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != conf.RedirectURL {
		t.Fatalf("redirected to %s, want %s", got, conf.RedirectURL)
	}
	q := u.Query()
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", u)
	}
	return q.Get("code")
}

// call requests path on the gateway with the token in the Authorization
// header.
func (g *oauthGateway) call(t *testing.T, path, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", g.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// upstreamSees calls a protected route with the token and returns what the
// echo upstream saw; the call must succeed.
func (g *oauthGateway) upstreamSees(t *testing.T, path, token string) echo.Request {
	t.Helper()
	resp := g.call(t, path, token)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s with the token = %d %s (WWW-Authenticate %q)", path, resp.StatusCode, readBody(t, resp), resp.Header.Get("WWW-Authenticate"))
	}
	return decodeEcho(t, resp)
}

// checkIdentity checks the identity headers the upstream receives.
func checkIdentity(t *testing.T, e echo.Request, clientID, scopes string) {
	t.Helper()
	h := http.Header(e.Headers)
	if got := h.Get("Eg-Consumer-Id"); got != clientID {
		t.Errorf("eg-consumer-id = %q, want the client %q", got, clientID)
	}
	if got := h.Get("Eg-Consumer-Type"); got != "application" {
		t.Errorf("eg-consumer-type = %q, want application", got)
	}
	if got := h.Get("Eg-Token-Scopes"); got != scopes {
		t.Errorf("eg-token-scopes = %q, want %q", got, scopes)
	}
	if got := h.Get("Eg-Request-Id"); len(got) != 22 {
		t.Errorf("eg-request-id = %q, want 22 base62 characters", got)
	}
	if got := h.Get("Authorization"); got != "" {
		t.Errorf("the upstream received the Authorization header %q", got)
	}
}

// refused calls path with the token and checks the refusal: status, the
// reason code in the JSON body, and a Bearer challenge.
func (g *oauthGateway) refused(t *testing.T, path, token string, status int, reason string) {
	t.Helper()
	resp := g.call(t, path, token)
	body := readBody(t, resp)
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	if resp.StatusCode != status || m["error"] != reason {
		t.Fatalf("GET %s = %d %s, want %d with error %q", path, resp.StatusCode, body, status, reason)
	}
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", ch)
	}
}

// postForm posts to the server with optional Basic client credentials and
// returns status, headers and the decoded JSON body.
func (g *oauthGateway) postForm(t *testing.T, path string, form url.Values, basicID, basicSecret string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", g.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(basicID)+":"+url.QueryEscape(basicSecret))))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("POST %s: body is not JSON (%d): %s", path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// oauthErr checks an RFC 6749 §5.2 error response, with no-store.
func oauthErr(t *testing.T, st int, h http.Header, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if st != wantStatus || body["error"] != wantCode {
		t.Fatalf("got %d %v, want %d %s", st, body, wantStatus, wantCode)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("error response Cache-Control = %q, want no-store", h.Get("Cache-Control"))
	}
}

// retrieveErr checks a golang.org/x/oauth2 token error.
func retrieveErr(t *testing.T, err error, status int, code string) {
	t.Helper()
	re, ok := err.(*oauth2.RetrieveError)
	if !ok {
		t.Fatalf("err = %v (%T), want a token endpoint error %s", err, err, code)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("token endpoint answered %d %q (%s), want %d %s", re.Response.StatusCode, re.ErrorCode, re.Body, status, code)
	}
	if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// noStoreTransport checks Cache-Control: no-store on every token response
// the oauth2 library receives.
type noStoreTransport struct {
	t *testing.T
}

func (n noStoreTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/oauth2/token") {
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			n.t.Errorf("token response %d: Cache-Control = %q, want no-store", resp.StatusCode, cc)
		}
		if p := resp.Header.Get("Pragma"); p != "no-cache" {
			n.t.Errorf("token response %d: Pragma = %q, want no-cache", resp.StatusCode, p)
		}
	}
	return resp, err
}

// clientCtx is a context whose oauth2 HTTP client checks no-store.
func clientCtx(t *testing.T) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: noStoreTransport{t}, Timeout: 10 * time.Second})
}
