package oauth2server

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// browser is a cookie-keeping client of a server on 127.0.0.1 (a trusted
// loopback host) that does not follow redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, srv *Server) *browser {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: ts.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return m[1]
}

// signIn opens /login (with query q) and signs in as alice; it returns
// where the sign-in redirects.
func (b *browser) signIn(q string) string {
	b.t.Helper()
	resp, page := b.get("/login" + q)
	if resp.StatusCode != 200 {
		b.t.Fatalf("GET /login%s = %d", q, resp.StatusCode)
	}
	resp, _ = b.post("/login", url.Values{"_csrf": {csrfOf(b.t, page)}, "username": {"alice"}, "password": {"alice-password"}})
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("POST /login = %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// authorize runs a code flow for web (signed in already) and exchanges
// the code; it returns the token response.
func (b *browser) authorize(f *fixture, scope string) map[string]any {
	b.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {f.web.ID}, "redirect_uri": {"https://client.example/cb"}, "scope": {scope}}
	resp, page := b.get("/oauth2/authorize?" + q.Encode())
	if resp.StatusCode != 200 {
		b.t.Fatalf("authorize = %d %s", resp.StatusCode, page)
	}
	resp, _ = b.post("/oauth2/authorize/decision", url.Values{"_csrf": {csrfOf(b.t, page)}, "transaction_id": {resp.Header.Get("transaction_id")}, "allow": {"allow"}})
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		b.t.Fatalf("decision = %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	rec, m := post(b.t, f.srv, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {"https://client.example/cb"}}, f.web.ID, f.webSecret)
	if rec.Code != 200 {
		b.t.Fatalf("token = %d %s", rec.Code, rec.Body)
	}
	return m
}

// TestSignInLandsOnAccountPage: a sign-in at /login goes to
// oauth2.signInRedirect (default the account page), or to a return_to on
// this server; a return_to that a browser would read as another origin is
// ignored (no open redirect).
func TestSignInLandsOnAccountPage(t *testing.T) {
	f := newFixture(t, nil)
	if got := newBrowser(t, f.srv).signIn(""); got != "/oauth2/account" {
		t.Errorf("direct sign-in lands on %q, want /oauth2/account", got)
	}
	if got := newBrowser(t, f.srv).signIn("?return_to=" + url.QueryEscape("/app/home?x=1")); got != "/app/home?x=1" {
		t.Errorf("return_to: lands on %q", got)
	}
	for _, evil := range []string{"//evil.com", `/\evil.com`, "https://evil.com", "/\t/evil.com", "evil.com", "javascript:alert(1)", "/\n/evil.com"} {
		if got := newBrowser(t, f.srv).signIn("?return_to=" + url.QueryEscape(evil)); got != "/oauth2/account" {
			t.Errorf("return_to=%q: lands on %q, want the account page", evil, got)
		}
	}
	// A stored return address that is not local (a session written by an
	// older version, or tampered with) is not followed either.
	for _, evil := range []string{"//evil.com", `/\evil.com`, "https://evil.com"} {
		if got := f.srv.returnTo(evil); got != "/oauth2/account" {
			t.Errorf("returnTo(%q) = %q", evil, got)
		}
	}
	other := f.server(t, &config.System{OAuth2: &config.OAuth2Server{SignInRedirect: "/welcome"}})
	if got := newBrowser(t, other).signIn(""); got != "/welcome" {
		t.Errorf("with signInRedirect: lands on %q, want /welcome", got)
	}
}

// TestAccountPage: the account page needs a session, names the user, lists
// the applications holding its tokens with their scopes, revokes one
// (CSRF-checked), and signs out.
func TestAccountPage(t *testing.T) {
	for _, tc := range []struct {
		name string
		sys  *config.System
	}{{"opaque", nil}, {"jwt", jwtSystem()}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.sys)
			if _, err := f.s.SetScopeDescription(context.Background(), "read", "Read your data"); err != nil {
				t.Fatal(err)
			}
			b := newBrowser(t, f.srv)
			resp, _ := b.get("/oauth2/account")
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
				t.Fatalf("signed out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if got := b.signIn(""); got != "/oauth2/account" {
				t.Fatalf("after sign-in: %q", got)
			}
			resp, page := b.get("/oauth2/account")
			if resp.StatusCode != 200 || !strings.Contains(page, "Signed in as <strong>Alice (alice)</strong>") || !strings.Contains(page, `id="no-apps"`) {
				t.Fatalf("account page: %d\n%s", resp.StatusCode, page)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP %q", csp)
			}
			tok := b.authorize(f, "read")
			_, page = b.get("/oauth2/account")
			if !strings.Contains(page, `data-client-id="`+f.web.ID+`"`) || !strings.Contains(page, `<span class="app-name">web</span>`) ||
				!strings.Contains(page, "Read your data <code>read</code>") {
				t.Fatalf("account page after a code flow:\n%s", page)
			}
			csrf := csrfOf(t, page)
			resp, _ = b.post("/oauth2/account/revoke", url.Values{"_csrf": {"forged"}, "client_id": {f.web.ID}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("revoke without the CSRF token = %d, want 403", resp.StatusCode)
			}
			if err := verify(f.srv, tok["access_token"].(string)); err != nil {
				t.Fatalf("a refused revoke revoked the token: %v", err)
			}
			resp, _ = b.post("/oauth2/account/revoke", url.Values{"_csrf": {csrf}, "client_id": {f.web.ID}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/oauth2/account?revoked="+f.web.ID {
				t.Fatalf("revoke = %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if err := verify(f.srv, tok["access_token"].(string)); err == nil {
				t.Error("the access token still verifies after the user revoked the app")
			}
			rec, _ := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, f.web.ID, f.webSecret)
			if rec.Code != 400 {
				t.Errorf("refresh after revoke = %d, want 400", rec.Code)
			}
			_, page = b.get("/oauth2/account?revoked=" + f.web.ID)
			if !strings.Contains(page, "Access for <strong>web</strong> was revoked") || !strings.Contains(page, `id="no-apps"`) {
				t.Errorf("account page after revoke:\n%s", page)
			}
			// Sign out from the account page's form.
			resp, _ = b.post("/logout", url.Values{"_csrf": {csrfOf(t, page)}})
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("sign out = %d", resp.StatusCode)
			}
			if resp, _ = b.get("/oauth2/account"); resp.StatusCode != http.StatusFound {
				t.Errorf("account page after sign-out = %d, want a redirect to /login", resp.StatusCode)
			}
		})
	}
}

// TestConsentShowsScopeDescriptions: the consent page shows a scope's
// description with its raw name beside it, and the bare name for a scope
// without one; the sign-in page names the application that asks.
func TestConsentShowsScopeDescriptions(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.s.SetScopeDescription(context.Background(), "read", "Read your <data>"); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.srv)
	q := url.Values{"response_type": {"code"}, "client_id": {f.web.ID}, "redirect_uri": {"https://client.example/cb"}, "scope": {"read write"}}
	resp, _ := b.get("/oauth2/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Fatalf("signed out authorize = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := b.get("/login")
	if !strings.Contains(page, `continue to <strong class="client">web</strong>`) {
		t.Errorf("the sign-in page does not name the application:\n%s", page)
	}
	ret := b.signIn("")
	if !strings.HasPrefix(ret, "/oauth2/authorize?") {
		t.Fatalf("sign-in went to %q, want back to the authorization request", ret)
	}
	_, page = b.get(ret)
	if !strings.Contains(page, `<span class="scope-description">Read your &lt;data&gt;</span> <code class="scope-name">read</code>`) {
		t.Errorf("no description beside the raw name:\n%s", page)
	}
	if !strings.Contains(page, "<code>write</code>") {
		t.Errorf("a scope without a description lost its name:\n%s", page)
	}
	// A direct sign-in names no application.
	_, page = newBrowser(t, f.srv).get("/login")
	if strings.Contains(page, `id="login-client"`) {
		t.Errorf("a direct sign-in names an application:\n%s", page)
	}
}
