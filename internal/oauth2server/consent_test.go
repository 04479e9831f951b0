package oauth2server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// codeOf returns the code of a redirect to c's redirect URI, or "".
func codeOf(c rp, resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, c.redirect) {
		return ""
	}
	u, _ := url.Parse(loc)
	return u.Query().Get("code")
}

// TestSingleSignOn: one sign-in serves every client of the issuer: after
// signing in for one client, another's authorization request goes to its
// consent page, not to the sign-in form.
func TestSingleSignOn(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	a, b2 := f.newLogoutRP(t, "a", ""), f.newLogoutRP(t, "b", "")
	b := newBrowser(t, f.srv)
	b.signInAt(mustGet(b, authzQuery(a, nil)))
	b.code(a, url.Values{"scope": {"openid"}})
	resp, _ := b.get(authzQuery(b2, nil))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("transaction_id") == "" {
		t.Fatalf("the second client: status %d, Location %q, want its consent page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func mustGet(b *browser, path string) *http.Response {
	resp, _ := b.get(path)
	return resp
}

// TestRememberedConsent: an allowed request is remembered per user and
// client: a later one for the same scopes or fewer gets a code without the
// page (prompt=none too), one for more scopes, with prompt=consent, or of
// another client shows it.
func TestRememberedConsent(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	c, other := f.newLogoutRP(t, "rp", ""), f.newLogoutRP(t, "other", "")
	b := newBrowser(t, f.srv)
	b.signIn("")
	b.code(c, url.Values{"scope": {"openid read"}})
	for _, q := range []url.Values{{"scope": {"openid read"}}, {"scope": {"openid"}}, {"scope": {"read openid"}, "prompt": {"none"}}} {
		resp, _ := b.get(authzQuery(c, q))
		code := codeOf(c, resp)
		if code == "" {
			t.Fatalf("%v: status %d, Location %q, want a code without the consent page", q, resp.StatusCode, resp.Header.Get("Location"))
		}
		if rec, _ := exchange(t, f.srv, c, code); rec.Code != http.StatusOK {
			t.Fatalf("%v: the code = %d %s", q, rec.Code, rec.Body)
		}
	}
	for _, cl := range []struct {
		c rp
		q url.Values
	}{
		{c, url.Values{"scope": {"openid read offline_access"}}},
		{c, url.Values{"scope": {"openid read"}, "prompt": {"consent"}}},
		{other, url.Values{"scope": {"openid"}}},
	} {
		resp, _ := b.get(authzQuery(cl.c, cl.q))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("transaction_id") == "" {
			t.Errorf("%v: status %d, Location %q, want the consent page", cl.q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A plain OAuth 2.0 request (no openid) shows the page every time, as
	// Express Gateway's did.
	for range 2 {
		resp, page := b.get(authzQuery(c, url.Values{"scope": {"read"}}))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("without openid: status %d, Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
		}
		b.post("/oauth2/authorize/decision", url.Values{"_csrf": {csrfOf(t, page)}, "transaction_id": {resp.Header.Get("transaction_id")}, "allow": {"allow"}})
	}
	// A denial remembers nothing.
	resp, page := b.get(authzQuery(other, url.Values{"scope": {"openid"}}))
	b.post("/oauth2/authorize/decision", url.Values{"_csrf": {csrfOf(t, page)}, "transaction_id": {resp.Header.Get("transaction_id")}, "cancel": {"deny"}})
	if resp, _ := b.get(authzQuery(other, url.Values{"scope": {"openid"}})); resp.StatusCode != http.StatusOK {
		t.Errorf("after a denial: status %d, want the consent page", resp.StatusCode)
	}
}

// TestRememberedConsentNotForNativeApps: a public client with a loopback
// redirect URI is always asked (RFC 8252 §8.6): another app on the device
// could claim its redirect.
func TestRememberedConsentNotForNativeApps(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	ctx := context.Background()
	app, err := f.s.CreateApp(ctx, store.App{UserID: f.user.ID, Name: "native", RedirectURI: "http://127.0.0.1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	if err := f.s.CreateScopes(ctx, "openid"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2, AutoGeneratePassword: &no, Scopes: []string{"openid", "read"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.GrantConsent(ctx, f.user.ID, app.ID, []string{"openid", "read"}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.srv)
	b.signIn("")
	q := url.Values{"response_type": {"code"}, "client_id": {app.ID}, "redirect_uri": {"http://127.0.0.1:5000/cb"}, "scope": {"openid read"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	resp, _ := b.get("/oauth2/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestConsentsPage: the consents page lists the user's remembered
// consents; revoking one (with the form's CSRF token only) forgets it, so
// the client is asked again, and revokes the client's refresh token.
func TestConsentsPage(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	c := f.newLogoutRP(t, "Remembered RP", "")
	b := newBrowser(t, f.srv)
	if resp := mustGet(b, consentsPath); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Fatalf("signed out: status %d, want the sign-in page", resp.StatusCode)
	}
	if got := b.signIn(""); got != consentsPath {
		t.Fatalf("the sign-in goes to %q, want back to the consents page", got)
	}
	m := signedInRP(t, f, b, c, "openid read")
	resp, page := b.get(consentsPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Remembered RP") || !strings.Contains(page, `data-client-id="`+c.id+`"`) {
		t.Fatalf("status %d, want the consent listed:\n%s", resp.StatusCode, page)
	}
	resp, _ = b.post(consentsRevokePath, url.Values{"client_id": {c.id}, "_csrf": {"forged"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke without the CSRF token: status %d, want 403", resp.StatusCode)
	}
	if _, err := f.s.GetConsent(context.Background(), f.user.ID, c.id); err != nil {
		t.Fatalf("the refused revoke: %v", err)
	}
	resp, _ = b.post(consentsRevokePath, url.Values{"client_id": {c.id}, "_csrf": {csrfOf(t, page)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: status %d", resp.StatusCode)
	}
	_, page = b.get(resp.Header.Get("Location"))
	if !strings.Contains(page, `id="revoked"`) || strings.Contains(page, `data-client-id="`+c.id+`"`) {
		t.Fatalf("after the revoke the page still lists it or does not say so:\n%s", page)
	}
	if resp := mustGet(b, authzQuery(c, url.Values{"scope": {"openid read"}})); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the revoke: status %d, Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
	}
	rec, _ := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, c.id, c.secret)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("the refresh token after the revoke = %d, want 400", rec.Code)
	}
}
