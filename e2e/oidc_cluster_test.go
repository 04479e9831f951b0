package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// The OpenID Provider on two nodes (issue #15, "Multi-node"): two
// `gatehouse serve` processes on one Redis namespace serve one login. The
// sign-in session, the authorization transaction with its nonce and PKCE
// challenge, the code, the remembered consent, the session's clients (for
// Back-Channel Logout) and the ID-token keys all live in the store, so any
// node continues what another began.
//
// One site: the session cookie's name and flags come from the issuer
// (gatehouse_session over http, __Host-gatehouse_session with an https
// issuer; Path=/, no Domain: internal/oauth2server/cookie.go), so both
// nodes must have the same accessTokens.issuer, as a load balancer's nodes
// do. The cookie is host-only, and cookies do not isolate by port (RFC 6265
// §8.5), so Chromium sends the cookie node A set on 127.0.0.1:A to node B
// on 127.0.0.1:B, as it would to two nodes behind one name. The issuer is
// node A's URL (its port reserved before start), so go-oidc discovers the
// provider from A with its issuer check intact (Discovery 1.0 §4.3); B
// answers for the issuer's host (127.0.0.1, compared without the port) and
// publishes the same document, whose URLs are the issuer's: the test sends
// the requests meant for B to B's port itself.

// oidcClusterGatewayYAML has the oauth2 policy in a pipeline, which mounts
// the authorization server; the data-plane port is fixed (the issuer's).
func oidcClusterGatewayYAML(port string) string {
	return `http:
  port: ` + port + `
  host: 127.0.0.1
admin:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  api:
    paths: ['/api', '/api/*']
policies: [oauth2, terminate]
pipelines:
  api:
    apiEndpoints: [api]
    policies:
      - oauth2:
      - terminate:
          - action: {statusCode: 200, message: api-ok}
`
}

// clusterRP is the relying party's web side: its redirect URI hands the
// callback's query to the test, its back-channel logout URI verifies
// logout tokens with go-oidc (Back-Channel Logout 1.0 §2.6).
type clusterRP struct {
	srv       *httptest.Server
	callbacks chan url.Values
	logouts   chan logoutClaims
	verifier  atomic.Pointer[oidc.IDTokenVerifier] // set once the client is registered
}

type logoutClaims struct {
	err    error
	sub    string
	sid    string
	events map[string]any
	nonce  *string
}

func newClusterRP(t *testing.T) *clusterRP {
	rp := &clusterRP{callbacks: make(chan url.Values, 4), logouts: make(chan logoutClaims, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		page(w, "result", "callback")
		rp.callbacks <- r.URL.Query()
	})
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, r *http.Request) {
		page(w, "logged-out", r.URL.Query().Get("state"))
	})
	mux.HandleFunc("POST /backchannel", func(w http.ResponseWriter, r *http.Request) {
		var c logoutClaims
		tok, err := rp.verifier.Load().Verify(r.Context(), r.PostFormValue("logout_token"))
		if err == nil {
			var raw struct {
				SID    string         `json:"sid"`
				Events map[string]any `json:"events"`
				Nonce  *string        `json:"nonce"`
			}
			err = tok.Claims(&raw)
			c = logoutClaims{sub: tok.Subject, sid: raw.SID, events: raw.Events, nonce: raw.Nonce}
		}
		c.err = err
		rp.logouts <- c
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *clusterRP) callback(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-rp.callbacks:
		return q
	case <-time.After(20 * time.Second):
		t.Fatal("the RP's redirect URI was not called")
		return nil
	}
}

// onNode is u with its origin replaced by node n's: the discovery
// document's URLs are the issuer's (node A), the test aims at B itself.
func onNode(t *testing.T, u string, n *clusterNode) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := url.Parse(n.base)
	p.Scheme, p.Host = nb.Scheme, nb.Host
	return p.String()
}

// TestOIDCClusterTwoNodes: Chromium signs in on node A, the authorization
// request (openid, nonce, PKCE S256) goes to node B, which knows the
// session (the consent page, no sign-in page) and takes the consent; A's
// token endpoint redeems B's code; go-oidc verifies the ID token (nothing
// relaxed, nonce and at_hash checked); B's userinfo answers A's access
// token; a second authorization on A skips the consent given on B, and its
// code is redeemed at B. RP-Initiated Logout on A (id_token_hint) ends the
// session for both nodes, the client's back-channel logout URI receives a
// logout token it verifies, and B refuses the refresh token it accepted
// before the logout.
func TestOIDCClusterTwoNodes(t *testing.T) {
	chromium := findChromium(t)
	ro := redistest.Server(t) // 127.0.0.1:6379 (or REDIS_URL), else skip
	bin := buildBinary(t)
	ns := redistest.Namespace()
	t.Cleanup(func() { // registered first: runs after both nodes stopped
		if err := redistest.Purge(ro, ns); err != nil {
			t.Logf("deleting namespace %s: %v", ns, err)
		}
	})
	_, portA, _ := net.SplitHostPort(freeAddr(t))
	_, portB, _ := net.SplitHostPort(freeAddr(t))
	issuer := "http://127.0.0.1:" + portA
	t.Logf("redis %s, namespace %s, issuer %s", ro.Addr, ns, issuer)
	sys := nodeSystemYAML(ro, ns) + "accessTokens:\n  issuer: " + issuer + "\n"
	a := startClusterNode(t, bin, "A", writeNodeDir(t, sys, oidcClusterGatewayYAML(portA)))
	b := startClusterNode(t, bin, "B", writeNodeDir(t, sys, oidcClusterGatewayYAML(portB)))
	if a.base != issuer {
		t.Fatalf("node A listens on %s, want the issuer %s", a.base, issuer)
	}
	for _, n := range []*clusterNode{a, b} {
		if code, m := n.adminCall(t, "GET", "/readyz", nil); code != 200 {
			t.Fatalf("node %s /readyz = %d %v", n.name, code, m)
		}
	}

	// The user and the client, through node A's Admin API only.
	rp := newClusterRP(t)
	a.mustAdmin(t, "POST", "/scopes", map[string]any{"scopes": []string{"openid", "profile", "email"}})
	user := a.mustAdmin(t, "POST", "/users", map[string]any{"username": "dana", "firstname": "Dana", "lastname": "D", "email": "dana@example.com"})
	userID := user["id"].(string)
	const password = "dana-password-0123456789"
	a.mustAdmin(t, "POST", "/credentials", map[string]any{"consumerId": userID, "type": "basic-auth", "credential": map[string]any{"password": password}})
	app := a.mustAdmin(t, "POST", "/apps", map[string]any{"userId": userID, "name": "Cluster RP", "redirectUri": rp.srv.URL + "/callback"})
	clientID := app["id"].(string)
	cred := a.mustAdmin(t, "POST", "/credentials", map[string]any{"consumerId": clientID, "type": "oauth2", "credential": map[string]any{
		"scopes":                    []string{"openid", "profile", "email"},
		"post_logout_redirect_uris": []string{rp.srv.URL + "/logged-out"},
		"backchannel_logout_uri":    rp.srv.URL + "/backchannel",
	}})
	secret, _ := cred["secret"].(string)
	if secret == "" {
		t.Fatalf("oauth2 credential without a secret: %v", cred)
	}

	// Discovery: from A with go-oidc's issuer check; B publishes the same
	// document (one issuer, one set of keys).
	ctx := context.Background()
	provA, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery from node A: %v", err)
	}
	_, docA, _ := a.call(t, "GET", "/.well-known/openid-configuration", nil)
	_, docB, _ := b.call(t, "GET", "/.well-known/openid-configuration", nil)
	if docA != docB {
		t.Fatalf("the nodes publish different discovery documents:\nA: %s\nB: %s", docA, docB)
	}
	_, jwksA, _ := a.call(t, "GET", "/.well-known/jwks.json", nil)
	_, jwksB, _ := b.call(t, "GET", "/.well-known/jwks.json", nil)
	if jwksA != jwksB {
		t.Fatalf("the nodes publish different keys:\nA: %s\nB: %s", jwksA, jwksB)
	}
	var cfg oidc.ProviderConfig
	if err := json.Unmarshal([]byte(docB), &cfg); err != nil || cfg.IssuerURL != issuer {
		t.Fatalf("node B's discovery issuer %q (%v), want %q", cfg.IssuerURL, err, issuer)
	}
	// B as an RP configured by hand sees it: B's token, userinfo and JWKS
	// endpoints, the same issuer.
	cfg.TokenURL, cfg.UserInfoURL, cfg.JWKSURL = onNode(t, cfg.TokenURL, b), onNode(t, cfg.UserInfoURL, b), onNode(t, cfg.JWKSURL, b)
	provB := cfg.NewProvider(ctx)
	verifierA := provA.Verifier(&oidc.Config{ClientID: clientID})
	verifierB := provB.Verifier(&oidc.Config{ClientID: clientID})
	rp.verifier.Store(verifierA)
	scopes := []string{oidc.ScopeOpenID, "profile", "email"}
	confA := &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: provA.Endpoint(), RedirectURL: rp.srv.URL + "/callback", Scopes: scopes}
	confB := &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: provB.Endpoint(), RedirectURL: rp.srv.URL + "/callback", Scopes: scopes}

	type pending struct{ state, nonce, pkce, url string }
	authRequest := func(n *clusterNode) pending {
		p := pending{oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), ""}
		p.url = onNode(t, confA.AuthCodeURL(p.state, oidc.Nonce(p.nonce), oauth2.S256ChallengeOption(p.pkce)), n)
		return p
	}
	codeOf := func(p pending) string {
		t.Helper()
		q := rp.callback(t)
		if q.Get("state") != p.state || q.Get("error") != "" || q.Get("code") == "" {
			t.Fatalf("callback %v, want a code with state %q", q, p.state)
		}
		return q.Get("code")
	}
	// redeem exchanges the code with PKCE at conf's token endpoint and
	// checks the ID token as an RP must: signature, iss, aud, exp (go-oidc),
	// the nonce it sent, at_hash.
	redeem := func(conf *oauth2.Config, v *oidc.IDTokenVerifier, p pending, code string) (*oauth2.Token, *oidc.IDToken, string) {
		t.Helper()
		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(p.pkce))
		if err != nil {
			t.Fatalf("code exchange at %s: %v", conf.Endpoint.TokenURL, err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := v.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("ID token from %s: %v", conf.Endpoint.TokenURL, err)
		}
		if idt.Nonce != p.nonce {
			t.Fatalf("ID token nonce %q, want %q", idt.Nonce, p.nonce)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		var c struct {
			SID string `json:"sid"`
		}
		if err := idt.Claims(&c); err != nil || c.SID == "" || idt.Subject != userID || idt.Issuer != issuer {
			t.Fatalf("ID token sub %q iss %q sid %q (%v), want %q %q and a sid", idt.Subject, idt.Issuer, c.SID, err, userID, issuer)
		}
		return tok, idt, c.SID
	}

	tab := newChromeTab(t, chromium)
	tab.do("sign in on A", chromedp.Navigate(a.base+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "dana"), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("signed-in-as")))

	// B knows A's session: its consent page, not its sign-in page.
	first := authRequest(b)
	tab.do("authorize on B", chromedp.Navigate(first.url), chromedp.WaitVisible(chromedp.ID("allow")))
	if u := tab.location(); u.Host != hostOf(b.base) || u.Path != "/oauth2/authorize" {
		t.Fatalf("the authorization request on B shows %s, want B's consent page without a sign-in", u)
	}
	tab.do("allow on B", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	tok1, _, sid := redeem(confA, verifierA, first, codeOf(first))

	infoB, err := provB.UserInfo(ctx, oauth2.StaticTokenSource(tok1))
	if err != nil {
		t.Fatalf("userinfo on B with A's access token: %v", err)
	}
	var claims map[string]any
	if err := infoB.Claims(&claims); err != nil || infoB.Subject != userID || claims["email"] != "dana@example.com" || claims["given_name"] != "Dana" {
		t.Fatalf("userinfo on B: sub %q claims %v (%v)", infoB.Subject, claims, err)
	}

	// The consent given on B is remembered on A (Core §3.1.2.4): straight
	// back to the client; that code is redeemed at B and verified with B's
	// JWKS.
	second := authRequest(a)
	tab.do("authorize again on A", chromedp.Navigate(second.url), chromedp.WaitVisible(chromedp.ID("result")))
	if u := tab.location(); u.Host != hostOf(rp.srv.URL) {
		t.Fatalf("the second authorization on A ended on %s, want the client's callback without the consent page", u)
	}
	tok2, _, sid2 := redeem(confB, verifierB, second, codeOf(second))
	if sid2 != sid {
		t.Errorf("sid %q on the second ID token, want the session's %q", sid2, sid)
	}

	// Before the logout B refreshes A's refresh token (rotated, Core
	// §12.2): the refusal below is the logout's doing.
	fresh, err := confB.TokenSource(ctx, &oauth2.Token{RefreshToken: tok1.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh on B before the logout: %v", err)
	}
	if raw, _ := fresh.Extra("id_token").(string); raw == "" {
		t.Error("no ID token on the refresh of an openid grant")
	} else if _, err := verifierB.Verify(ctx, raw); err != nil {
		t.Errorf("refreshed ID token: %v", err)
	}

	// RP-Initiated Logout 1.0 on A with the ID token B's token endpoint
	// issued as the hint.
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provA.Claims(&meta); err != nil || meta.EndSession == "" {
		t.Fatalf("no end_session_endpoint in the discovery document (%v)", err)
	}
	hint, _ := tok2.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rp.srv.URL + "/logged-out"}, "state": {"bye"}}
	tab.do("log out on A", chromedp.Navigate(onNode(t, meta.EndSession, a)+"?"+q.Encode()), chromedp.WaitVisible(chromedp.ID("logged-out")))
	if got := tab.text("#logged-out"); got != "bye" {
		t.Errorf("post-logout page shows state %q, want bye", got)
	}
	select {
	case c := <-rp.logouts:
		if c.err != nil {
			t.Fatalf("logout token: %v", c.err)
		}
		if c.sid != sid || c.sub != userID || c.nonce != nil || c.events["http://schemas.openid.net/event/backchannel-logout"] == nil {
			t.Errorf("logout token sub %q sid %q events %v nonce %v, want sub %q sid %q, the back-channel event and no nonce",
				c.sub, c.sid, c.events, c.nonce, userID, sid)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no back-channel logout token reached the client")
	}
	_, err = confB.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token()
	retrieveErr(t, err, 400, "invalid_grant")

	// The session ended for B too: its sign-in page again.
	again := authRequest(b)
	tab.do("authorize on B after the logout", chromedp.Navigate(again.url), chromedp.WaitVisible(chromedp.ID("username")))
	if u := tab.location(); u.Host != hostOf(b.base) || u.Path != "/login" {
		t.Errorf("after the logout B shows %s, want its sign-in page", u)
	}
}
