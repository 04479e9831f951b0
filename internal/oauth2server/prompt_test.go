package oauth2server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/store"
)

// authzQuery is an OpenID authorization request of c with extra
// parameters.
func authzQuery(c rp, extra url.Values) string {
	q := url.Values{"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {c.redirect}, "scope": {"openid"}, "state": {"st"}}
	for k, v := range extra {
		q[k] = v
	}
	return "/oauth2/authorize?" + q.Encode()
}

// redirectErrorOf returns the error code of a redirect to c's redirect URI
// (the state checked), or fails.
func redirectErrorOf(t *testing.T, c rp, resp *http.Response) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc, c.redirect) {
		t.Fatalf("status %d, Location %q: want a redirect to %s", resp.StatusCode, loc, c.redirect)
	}
	if u.Query().Get("state") != "st" {
		t.Fatalf("Location %q: state not echoed", loc)
	}
	return u.Query().Get("error")
}

// signInAt follows a redirect to /login, signs in as alice and returns
// where the sign-in sends the browser.
func (b *browser) signInAt(resp *http.Response) string {
	b.t.Helper()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		b.t.Fatalf("status %d, Location %q: want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	return b.signIn("")
}

// TestPromptNone: prompt=none never shows a page (OpenID Connect Core 1.0
// §3.1.2.1): without a session login_required, signed in without a
// remembered consent consent_required, both at the redirect URI with the
// state.
func TestPromptNone(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	c := f.newRP(t)
	b := newBrowser(t, f.srv)
	none := url.Values{"prompt": {"none"}}
	resp, _ := b.get(authzQuery(c, none))
	if got := redirectErrorOf(t, c, resp); got != "login_required" {
		t.Fatalf("prompt=none without a session: error %q, want login_required", got)
	}
	b.signIn("")
	resp, _ = b.get(authzQuery(c, none))
	if got := redirectErrorOf(t, c, resp); got != "consent_required" {
		t.Fatalf("prompt=none without consent: error %q, want consent_required", got)
	}
}

// TestPromptValues: prompt=none with another value, an unknown prompt
// value and a malformed max_age are invalid_request at the redirect URI.
func TestPromptValues(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	c := f.newRP(t)
	b := newBrowser(t, f.srv)
	for _, extra := range []url.Values{
		{"prompt": {"none login"}},
		{"prompt": {"consent none"}},
		{"prompt": {"bogus"}},
		{"max_age": {"-1"}},
		{"max_age": {"ten"}},
	} {
		resp, _ := b.get(authzQuery(c, extra))
		if got := redirectErrorOf(t, c, resp); got != "invalid_request" {
			t.Errorf("%v: error %q, want invalid_request", extra, got)
		}
	}
	// ui_locales, claims_locales and display are accepted.
	resp, _ := b.get(authzQuery(c, url.Values{"ui_locales": {"fr-CA fr"}, "claims_locales": {"fr"}, "display": {"popup"}}))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Fatalf("ui_locales, claims_locales, display: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestForcedSignIn: prompt=login and an exceeded max_age send a signed-in
// user to sign in again; the sign-in then serves that request (the
// consent page, not the form again), once: the same request a second
// time asks again. A recent enough sign-in meets max_age.
func TestForcedSignIn(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra url.Values
		wait  time.Duration
	}{
		{"prompt=login", url.Values{"prompt": {"login"}}, 0},
		{"prompt=select_account", url.Values{"prompt": {"select_account"}}, 0},
		{"max_age exceeded", url.Values{"max_age": {"60"}}, 61 * time.Second},
		{"max_age=0", url.Values{"max_age": {"0"}}, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, oidcSystem("opaque"))
			client := f.newRP(t)
			b := newBrowser(t, f.srv)
			b.signIn("")
			f.clk.Add(c.wait)
			req := authzQuery(client, c.extra)
			resp, _ := b.get(req)
			back := b.signInAt(resp)
			if canonicalRequest(back) != canonicalRequest(req) {
				t.Fatalf("the sign-in goes to %q, want back to %q", back, req)
			}
			resp, page := b.get(back)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("transaction_id") == "" {
				t.Fatalf("after the forced sign-in: status %d, Location %q, want the consent page\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
			}
			f.clk.Add(c.wait)
			resp, _ = b.get(back)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
				t.Fatalf("the same request again: status %d, Location %q, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	t.Run("max_age met", func(t *testing.T) {
		f := newFixture(t, oidcSystem("opaque"))
		client := f.newRP(t)
		b := newBrowser(t, f.srv)
		b.signIn("")
		f.clk.Add(30 * time.Second)
		resp, _ := b.get(authzQuery(client, url.Values{"max_age": {"60"}}))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a sign-in 30 s old, max_age 60: status %d, Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
		}
		f.clk.Add(31 * time.Second)
		resp, _ = b.get(authzQuery(client, url.Values{"max_age": {"60"}, "prompt": {"none"}}))
		if got := redirectErrorOf(t, client, resp); got != "login_required" {
			t.Fatalf("max_age exceeded with prompt=none: error %q, want login_required", got)
		}
	})
}

// TestLoginHint: login_hint prefills the sign-in form's user name.
func TestLoginHint(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	c := f.newRP(t)
	b := newBrowser(t, f.srv)
	b.get(authzQuery(c, url.Values{"login_hint": {"alice@example.com"}}))
	_, page := b.get("/login")
	if !strings.Contains(page, `value="alice@example.com"`) {
		t.Fatalf("the sign-in form has no prefilled user name:\n%s", page)
	}
}

// TestIDTokenHint: an id_token_hint naming the signed-in user is met; one
// naming another user is login_required with prompt=none and a fresh
// sign-in without; one this server did not sign is invalid_request.
func TestIDTokenHint(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	c := f.newRP(t)
	bob, err := f.s.CreateUser(context.Background(), store.User{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	hint := func(userID string) string {
		tok, err := f.srv.signJWT(jwt.MapClaims{"iss": testIssuer, "sub": userID, "aud": []string{c.id}, "azp": c.id,
			"iat": f.clk.Now().Unix(), "exp": f.clk.Now().Add(time.Hour).Unix()}, "")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	b := newBrowser(t, f.srv)
	b.signIn("")
	resp, _ := b.get(authzQuery(c, url.Values{"id_token_hint": {hint(f.user.ID)}}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a hint for the signed-in user: status %d, Location %q, want the consent page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get(authzQuery(c, url.Values{"id_token_hint": {hint(bob.ID)}, "prompt": {"none"}}))
	if got := redirectErrorOf(t, c, resp); got != "login_required" {
		t.Fatalf("a hint for another user with prompt=none: error %q, want login_required", got)
	}
	resp, _ = b.get(authzQuery(c, url.Values{"id_token_hint": {hint(bob.ID)}}))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Fatalf("a hint for another user: status %d, Location %q, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	forged := hint(f.user.ID)
	forged = forged[:strings.LastIndexByte(forged, '.')+1] + "AAAA"
	resp, _ = b.get(authzQuery(c, url.Values{"id_token_hint": {forged}}))
	if got := redirectErrorOf(t, c, resp); got != "invalid_request" {
		t.Fatalf("a hint with a bad signature: error %q, want invalid_request", got)
	}
}

// TestRegisteredResponseTypes: a client registered for other response
// types (response_types, grant_types) is refused with unauthorized_client
// at its redirect URI.
func TestRegisteredResponseTypes(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	ctx := context.Background()
	app, err := f.s.CreateApp(ctx, store.App{UserID: f.user.ID, Name: "m2m", RedirectURI: "https://m2m.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2, Scopes: []string{"read"},
		Client: store.ClientMetadata{GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{}}}); err != nil {
		t.Fatal(err)
	}
	c := rp{id: app.ID, redirect: "https://m2m.example/cb"}
	resp, _ := newBrowser(t, f.srv).get(authzQuery(c, url.Values{"scope": {"read"}}))
	if got := redirectErrorOf(t, c, resp); got != "unauthorized_client" {
		t.Fatalf("error %q, want unauthorized_client", got)
	}
}
