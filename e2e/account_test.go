package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Issue #12: the account page, where a sign-in at /login lands, and the
// messages around identity (scope descriptions on the consent page, the
// application named on the sign-in page, user status and apps).

// accountGatewayYAML has the oauth2 policy on /api/* (scope orders:read)
// and the Admin API on a port of its own.
func accountGatewayYAML(upstream string) string {
	return fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
admin:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  orders:
    host: '*'
    paths: ['/api/*']
    scopes: [orders:read]
serviceEndpoints:
  backend:
    url: '%s'
policies: [oauth2, proxy]
pipelines:
  orders:
    apiEndpoints: [orders]
    policies:
      - oauth2:
      - proxy:
          - action:
              serviceEndpoint: backend
`, upstream)
}

// startAccountGateway starts the gateway with systemYAML as
// system.config.yml.
func startAccountGateway(t *testing.T, systemYAML string) *gatewayUnderTest {
	t.Helper()
	return startGateway(t, accountGatewayYAML(echoServer(t, "orders").URL), func(o *app.Options) {
		o.BcryptCost = 4
		if systemYAML == "" {
			return
		}
		if err := os.WriteFile(filepath.Join(o.ConfigDir, "system.config.yml"), []byte(systemYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

// adminJSON calls the gateway's Admin API.
func adminJSON(t *testing.T, g *gatewayUnderTest, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://"+g.app.Addr("admin").String()+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readBody(t, resp)
	var m map[string]any
	_ = json.Unmarshal([]byte(raw), &m)
	return resp.StatusCode, m
}

// TestAccountPageBrowser: in headless Chromium, a user signs in at /login
// directly and lands on the account page; a client application's code
// flow shows the scope's description (set through the Admin API) beside
// its raw name; the account page then lists the application; revoking it
// ends its token; signing out ends the session. Screenshots go to
// e2e/artifacts/.
func TestAccountPageBrowser(t *testing.T) {
	bin := findChromium(t)
	g := startAccountGateway(t, "")
	ctx := context.Background()
	st := g.app.Store()
	client := newUIClientApp(t)
	if err := st.CreateScopes(ctx, "orders:read"); err != nil {
		t.Fatal(err)
	}
	if code, body := adminJSON(t, g, "PUT", "/scopes/orders:read", map[string]any{"description": "See your orders"}); code != 200 {
		t.Fatalf("PUT /scopes/orders:read = %d %v", code, body)
	}
	const username, password = "ada", "correct horse battery staple"
	user, err := st.CreateUser(ctx, store.User{Username: username, Firstname: "Ada", Lastname: "Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateCredential(ctx, store.CredentialInput{ConsumerID: user.ID, Type: store.BasicAuth, Secret: password}); err != nil {
		t.Fatal(err)
	}
	dev, err := st.CreateUser(ctx, store.User{Username: "acme-dev"})
	if err != nil {
		t.Fatal(err)
	}
	acme, err := st.CreateApp(ctx, store.App{UserID: dev.ID, Name: "Acme Dashboard", RedirectURI: client.srv.URL + "/callback"})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := st.CreateCredential(ctx, store.CredentialInput{ConsumerID: acme.ID, Type: store.OAuth2, Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	client.apiURL = g.base + "/api/orders/42"
	client.conf = &oauth2.Config{ClientID: acme.ID, ClientSecret: secret, RedirectURL: client.srv.URL + "/callback",
		Scopes:   []string{"orders:read"},
		Endpoint: oauth2.Endpoint{AuthURL: g.base + "/oauth2/authorize", TokenURL: g.base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}

	b := newChromeTab(t, bin)

	// 1. Sign in at /login directly: the account page, not a JSON 404.
	b.do("open /login", chromedp.Navigate(g.base+"/login"), chromedp.WaitVisible(chromedp.ID("username")))
	if got := b.text("main"); strings.Contains(got, "continue to") {
		t.Errorf("a direct sign-in names an application:\n%s", indent(got))
	}
	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
	)
	if p := b.location().Path; p != "/oauth2/account" {
		t.Fatalf("a sign-in at /login landed on %s, want /oauth2/account", p)
	}
	b.checkPage("account")
	if got := b.text("#signed-in-as"); !strings.Contains(got, "Ada (ada)") {
		t.Errorf("account page says %q", got)
	}
	if got := b.text("#no-apps"); !strings.Contains(got, "No application") {
		t.Errorf("account page before any authorization: %q", got)
	}
	b.shots("account-empty")

	// 2. The client app's code flow: already signed in, straight to the
	// consent page, which shows the description and the raw name.
	b.do("open the client app", chromedp.Navigate(client.srv.URL+"/start"), chromedp.WaitVisible(chromedp.ID("allow")))
	b.checkPage("consent with descriptions")
	if got := b.text(".scopes"); !strings.Contains(got, "See your orders") || !strings.Contains(got, "orders:read") {
		t.Errorf("consent scopes show %q, want the description and the raw name", got)
	}
	b.shots("consent-described")
	b.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	res := client.wait(t)
	if res.err != nil || res.apiStatus != http.StatusOK {
		t.Fatalf("client app: %v (API %d)", res.err, res.apiStatus)
	}

	// 3. The account page lists the application with its scope.
	b.do("account page", chromedp.Navigate(g.base+"/oauth2/account"), chromedp.WaitVisible(chromedp.CSS(".app")))
	b.checkPage("account with an app")
	if got := b.text(".apps"); !strings.Contains(got, "Acme Dashboard") || !strings.Contains(got, "See your orders") || !strings.Contains(got, "orders:read") {
		t.Errorf("account page apps: %q", got)
	}
	b.shots("account")

	// 4. Revoke: the application's token stops working.
	b.do("revoke", chromedp.Click(chromedp.CSS(`.app[data-client-id="`+acme.ID+`"] button`)), chromedp.WaitVisible(chromedp.ID("revoked")))
	if got := b.text("#revoked"); !strings.Contains(got, "Acme Dashboard") {
		t.Errorf("after revoke: %q", got)
	}
	if b.text("#no-apps") == "" {
		t.Error("the revoked application is still listed")
	}
	req, _ := http.NewRequest("GET", client.apiURL, nil)
	req.Header.Set("Authorization", "Bearer "+res.token.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with a revoked token = %d, want 401", resp.StatusCode)
	}

	// 5. Sign out from the account page.
	b.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("username")))
	if p := b.location().Path; p != "/login" {
		t.Errorf("after signing out the browser is on %s, want /login", p)
	}
	b.do("account page signed out", chromedp.Navigate(g.base+"/oauth2/account"), chromedp.WaitVisible(chromedp.ID("username")))
	if p := b.location().Path; p != "/login" {
		t.Errorf("the account page after sign-out is %s, want /login", p)
	}
}

// TestSignInRedirectAndReturnTo: through the real app, a sign-in at /login
// lands on oauth2.signInRedirect, return_to is followed only to a path of
// this server, and a signInRedirect to another origin is refused at start.
func TestSignInRedirectAndReturnTo(t *testing.T) {
	g := startAccountGateway(t, "oauth2:\n  signInRedirect: /welcome\n")
	ctx := context.Background()
	st := g.app.Store()
	u, err := st.CreateUser(ctx, store.User{Username: "ann", Firstname: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "ann-password"}); err != nil {
		t.Fatal(err)
	}
	signIn := func(query string) string {
		b := newBrowser(t, g.base)
		code, _, page := b.get("/login" + query)
		if code != 200 {
			t.Fatalf("GET /login%s = %d", query, code)
		}
		code, loc, _ := b.post("/login", url.Values{"_csrf": {formValue(page, "_csrf")}, "username": {"ann"}, "password": {"ann-password"}})
		if code != http.StatusFound {
			t.Fatalf("POST /login = %d", code)
		}
		return loc
	}
	if got := signIn(""); got != "/welcome" {
		t.Errorf("direct sign-in lands on %q, want /welcome", got)
	}
	if got := signIn("?return_to=%2Foauth2%2Faccount"); got != "/oauth2/account" {
		t.Errorf("return_to=/oauth2/account lands on %q", got)
	}
	for _, evil := range []string{"//evil.com", `/\evil.com`, "https://evil.com", "/\t/evil.com", "/\\/evil.com"} {
		if got := signIn("?return_to=" + url.QueryEscape(evil)); got != "/welcome" {
			t.Errorf("return_to=%q lands on %q, want /welcome (no open redirect)", evil, got)
		}
	}

	for _, evil := range []string{"//evil.com", `/\evil.com`, "https://evil.com"} {
		dir := t.TempDir()
		writeConfig(t, dir, accountGatewayYAML("http://127.0.0.1:1"))
		if err := os.WriteFile(filepath.Join(dir, "system.config.yml"), []byte("oauth2:\n  signInRedirect: '"+evil+"'\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := app.Start(app.Options{ConfigDir: dir, Lookup: func(string) (string, bool) { return "", false }})
		if err == nil {
			_ = a.Shutdown(context.Background())
			t.Errorf("signInRedirect %q: the gateway started", evil)
			continue
		}
		if !strings.Contains(err.Error(), "system.config.yml:2: oauth2.signInRedirect:") {
			t.Errorf("signInRedirect %q: %v, want file:line: path: message", evil, err)
		}
	}
}

// TestUserReactivationKeepsClient: the docs/cli.md walkthrough's
// `users deactivate` then `users activate` leaves the user's client
// working, through the Admin API the CLI calls; an app deactivated on its
// own stays off, and the answers say so.
func TestUserReactivationKeepsClient(t *testing.T) {
	g := startAccountGateway(t, "")
	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		code, m := adminJSON(t, g, method, path, body)
		if code != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, code, m, want)
		}
		return m
	}
	call("POST", "/scopes", map[string]any{"scopes": []string{"orders:read"}}, 201)
	if m := call("POST", "/scopes", map[string]any{"scopes": []string{"write", "orders:read"}}, 409); m["message"] != "One or more scopes already exist: orders:read (none of the scopes was created)" {
		t.Errorf("409 message %v", m["message"])
	}
	user := call("POST", "/users", map[string]any{"username": "jdoe", "firstname": "John", "lastname": "Doe"}, 200)
	web := call("POST", "/apps", map[string]any{"userId": "jdoe", "name": "my-app", "redirectUri": "https://app.example.com/cb"}, 200)
	other := call("POST", "/apps", map[string]any{"userId": "jdoe", "name": "old-app"}, 200)
	cred := call("POST", "/credentials", map[string]any{"consumerId": "my-app", "type": "oauth2", "credential": map[string]any{"scopes": []string{"orders:read"}}}, 200)
	call("PUT", "/apps/"+other["id"].(string)+"/status", map[string]any{"status": false}, 200)
	conf := clientcredentials.Config{ClientID: web["id"].(string), ClientSecret: cred["secret"].(string), TokenURL: g.base + "/oauth2/token", Scopes: []string{"orders:read"}}
	token := func() error { _, err := conf.Token(context.Background()); return err }
	if err := token(); err != nil {
		t.Fatalf("a token for my-app before: %v", err)
	}
	m := call("PUT", "/users/jdoe/status", map[string]any{"status": false}, 200)
	if fmt.Sprint(m) != fmt.Sprint(map[string]any{"status": "Deactivated", "deactivatedApps": []any{map[string]any{"id": web["id"], "name": "my-app"}}}) {
		t.Errorf("deactivate answered %v", m)
	}
	if err := token(); err == nil {
		t.Error("a deactivated user's app still gets tokens")
	}
	m = call("PUT", "/users/jdoe/status", map[string]any{"status": true}, 200)
	if m["status"] != "Activated" || fmt.Sprint(m["activatedApps"]) != fmt.Sprint([]any{map[string]any{"id": web["id"], "name": "my-app"}}) ||
		fmt.Sprint(m["inactiveApps"]) != fmt.Sprint([]any{map[string]any{"id": other["id"], "name": "old-app"}}) {
		t.Errorf("activate answered %v", m)
	}
	if err := token(); err != nil {
		t.Errorf("after users activate the client does not work: %v", err)
	}
	if a := call("GET", "/apps/"+other["id"].(string), nil, 200); a["isActive"] != false {
		t.Errorf("the app deactivated on its own came back: %v", a)
	}
	_ = user
}
