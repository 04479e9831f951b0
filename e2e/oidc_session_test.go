package e2e

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The sign-in session as relying parties see it (issue #15): one sign-in
// for two clients (single sign-on), a remembered consent, RP-Initiated
// Logout 1.0 and Back-Channel Logout 1.0, driven through headless
// Chromium, each RP on github.com/coreos/go-oidc/v3 with no relaxed check.

// sessionRP is a relying party with a back-channel logout endpoint and a
// logout link.
type sessionRP struct {
	name     string
	srv      *httptest.Server
	conf     *oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	clientID string

	mu       sync.Mutex
	state    string
	nonce    string
	pkce     string
	idToken  string
	refresh  string
	err      error
	signedIn chan *oidc.IDToken
	logouts  chan string // verified logout tokens' sid
}

func newSessionRP(t *testing.T, name string) *sessionRP {
	rp := &sessionRP{name: name, signedIn: make(chan *oidc.IDToken, 4), logouts: make(chan string, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", rp.start)
	mux.HandleFunc("GET /callback", rp.callback)
	mux.HandleFunc("GET /logout", rp.logout)
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, r *http.Request) {
		page(w, "logged-out", r.URL.Query().Get("state"))
	})
	mux.HandleFunc("POST /backchannel", rp.backchannel)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

func page(w http.ResponseWriter, id, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><html lang=en><title>RP</title><main><h1 id=%s>%s</h1></main></html>", id, html.EscapeString(text))
}

// register seeds the client: redirect, post-logout redirect and
// back-channel URIs on this RP.
func (rp *sessionRP) register(t *testing.T, g *oauthGateway) {
	t.Helper()
	app, err := g.s.CreateApp(g.ctx, store.App{UserID: g.alice.ID, Name: rp.name, RedirectURI: rp.srv.URL + "/callback"})
	if err != nil {
		t.Fatal(err)
	}
	_, sec, err := g.s.CreateCredential(g.ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2, Scopes: []string{"openid", "read"},
		Client: store.ClientMetadata{PostLogoutRedirectURIs: []string{rp.srv.URL + "/logged-out"}, BackchannelLogoutURI: rp.srv.URL + "/backchannel"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := oidc.NewProvider(g.ctx, g.base)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	rp.clientID, rp.provider = app.ID, p
	rp.verifier = p.Verifier(&oidc.Config{ClientID: app.ID})
	rp.conf = &oauth2.Config{ClientID: app.ID, ClientSecret: sec, Endpoint: p.Endpoint(), RedirectURL: rp.srv.URL + "/callback",
		Scopes: []string{oidc.ScopeOpenID, "read"}}
}

func (rp *sessionRP) start(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	rp.state, rp.nonce, rp.pkce = oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	u := rp.conf.AuthCodeURL(rp.state, oidc.Nonce(rp.nonce), oauth2.S256ChallengeOption(rp.pkce))
	rp.mu.Unlock()
	http.Redirect(w, r, u, http.StatusFound)
}

func (rp *sessionRP) callback(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	idt, err := rp.finish(r)
	if err != nil {
		rp.err = err
		page(w, "result", "error: "+err.Error())
		rp.signedIn <- nil
		return
	}
	page(w, "result", "signed in")
	rp.signedIn <- idt
}

func (rp *sessionRP) finish(r *http.Request) (*oidc.IDToken, error) {
	q := r.URL.Query()
	if q.Get("state") != rp.state || q.Get("error") != "" {
		return nil, fmt.Errorf("callback %v", q)
	}
	tok, err := rp.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(rp.pkce))
	if err != nil {
		return nil, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	if idt.Nonce != rp.nonce {
		return nil, errors.New("nonce mismatch")
	}
	rp.idToken, rp.refresh = raw, tok.RefreshToken
	return idt, nil
}

// logout sends the browser to the provider's end_session_endpoint
// (RP-Initiated Logout 1.0 §2), read from discovery.
func (rp *sessionRP) logout(w http.ResponseWriter, r *http.Request) {
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := rp.provider.Claims(&meta); err != nil || meta.EndSession == "" {
		http.Error(w, "no end_session_endpoint", http.StatusInternalServerError)
		return
	}
	rp.mu.Lock()
	q := url.Values{"id_token_hint": {rp.idToken}, "post_logout_redirect_uri": {rp.srv.URL + "/logged-out"}, "state": {"bye-" + rp.name}}
	rp.mu.Unlock()
	http.Redirect(w, r, meta.EndSession+"?"+q.Encode(), http.StatusFound)
}

// backchannel verifies a logout token as Back-Channel Logout 1.0 §2.6
// says, with go-oidc's verifier (signature, iss, aud, exp) and the events
// and nonce checks on top.
func (rp *sessionRP) backchannel(w http.ResponseWriter, r *http.Request) {
	tok, err := rp.verifier.Verify(r.Context(), r.PostFormValue("logout_token"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var c struct {
		Events map[string]any `json:"events"`
		SID    string         `json:"sid"`
		Nonce  *string        `json:"nonce"`
	}
	if err := tok.Claims(&c); err != nil || c.Events["http://schemas.openid.net/event/backchannel-logout"] == nil || c.Nonce != nil || c.SID == "" {
		http.Error(w, "not a logout token", http.StatusBadRequest)
		return
	}
	rp.logouts <- c.SID
	w.Header().Set("Cache-Control", "no-store")
}

func (rp *sessionRP) waitSignIn(t *testing.T) *oidc.IDToken {
	t.Helper()
	select {
	case idt := <-rp.signedIn:
		if idt == nil {
			t.Fatalf("%s: %v", rp.name, rp.err)
		}
		return idt
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no sign-in", rp.name)
		return nil
	}
}

// TestOIDCSessionChromium: Chromium signs in once for RP a (sign-in and
// consent pages), then RP b gets the consent page without a sign-in
// (single sign-on), then a again goes straight back to a (remembered
// consent). a's logout link ends the session at the provider and comes
// back with the state; both RPs get a logout token they verify with
// go-oidc, with the ID tokens' sid; b's refresh token stops working; a new
// sign-in at a shows the sign-in page again.
func TestOIDCSessionChromium(t *testing.T) {
	bin := findChromium(t)
	g := startOAuth(t, "accessTokens:\n  tokenType: opaque\n")
	if err := g.s.CreateScopes(g.ctx, "openid"); err != nil {
		t.Fatal(err)
	}
	a, b := newSessionRP(t, "a"), newSessionRP(t, "b")
	a.register(t, g)
	b.register(t, g)
	tab := newChromeTab(t, bin)

	tab.do("a: sign in and allow", chromedp.Navigate(a.srv.URL+"/start"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"), chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
		chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("allow")),
		chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	idA := a.waitSignIn(t)

	tab.do("b: single sign-on", chromedp.Navigate(b.srv.URL+"/start"), chromedp.WaitVisible(chromedp.ID("allow")))
	if p := tab.location().Path; p != "/oauth2/authorize" {
		t.Fatalf("b's authorization request shows %s, want the consent page without a sign-in", p)
	}
	tab.do("b: allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	idB := b.waitSignIn(t)
	var sidA, sidB struct {
		SID string `json:"sid"`
	}
	_ = idA.Claims(&sidA)
	_ = idB.Claims(&sidB)
	if idA.Subject != idB.Subject || sidA.SID == "" || sidA.SID != sidB.SID {
		t.Fatalf("a and b: sub %q/%q, sid %q/%q, want one user and one session", idA.Subject, idB.Subject, sidA.SID, sidB.SID)
	}

	tab.do("a: remembered consent", chromedp.Navigate(a.srv.URL+"/start"), chromedp.WaitVisible(chromedp.ID("result")))
	a.waitSignIn(t)
	if u := tab.location(); u.Host != hostOf(a.srv.URL) {
		t.Fatalf("a's second request ended on %s, want a's callback without the consent page", u)
	}

	tab.do("a: log out", chromedp.Navigate(a.srv.URL+"/logout"), chromedp.WaitVisible(chromedp.ID("logged-out")))
	if got := tab.text("#logged-out"); got != "bye-a" {
		t.Errorf("a's post-logout page shows state %q, want bye-a", got)
	}
	for _, rp := range []*sessionRP{a, b} {
		select {
		case sid := <-rp.logouts:
			if sid != sidA.SID {
				t.Errorf("%s: logout token sid %q, want %q", rp.name, sid, sidA.SID)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: no back-channel logout", rp.name)
		}
	}
	if _, err := b.conf.TokenSource(g.ctx, &oauth2.Token{RefreshToken: b.refresh}).Token(); err == nil {
		t.Error("b's refresh token still works after the logout")
	}
	tab.do("a: sign in again", chromedp.Navigate(a.srv.URL+"/start"), chromedp.WaitVisible(chromedp.ID("username")))
}

func hostOf(u string) string {
	p, _ := url.Parse(u)
	return p.Host
}
