package e2e

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	zrp "github.com/zitadel/oidc/v3/pkg/client/rp"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The OpenID Connect provider as relying-party libraries see it (issue
// #15): github.com/coreos/go-oidc/v3 with golang.org/x/oauth2, with no
// option that relaxes their checks: discovery, the ID token's signature,
// iss, aud, exp and nonce, at_hash, and userinfo.

// oidcModes are system.config.yml files for the RP tests: opaque and JWT
// access tokens with the default RS256 ID tokens, and JWT access tokens
// with ES256 and EdDSA ID tokens (at_hash then SHA-512's left half).
func oidcModes() map[string]string {
	return map[string]string{
		"opaque":    "accessTokens:\n  tokenType: opaque\n",
		"jwt":       "accessTokens:\n  tokenType: jwt\n",
		"jwt-ES256": "accessTokens:\n  tokenType: jwt\noauth2:\n  openid:\n    idTokenAlgorithm: ES256\n",
		"EdDSA":     "accessTokens:\n  tokenType: opaque\noauth2:\n  openid:\n    idTokenAlgorithm: EdDSA\n",
	}
}

// oidcSeed registers the OpenID scopes, a user with an email and a
// confidential client allowed them, redirecting to redirect.
func oidcSeed(t *testing.T, g *oauthGateway, redirect string) (clientID, clientSecret string) {
	t.Helper()
	ctx := g.ctx
	if err := g.s.CreateScopes(ctx, "openid", "profile", "email"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.s.UpdateUser(ctx, g.alice.ID, func(u *store.User) error { u.Email = "alice@example.com"; return nil }); err != nil {
		t.Fatal(err)
	}
	app, err := g.s.CreateApp(ctx, store.App{UserID: g.alice.ID, Name: "Relying Party", RedirectURI: redirect})
	if err != nil {
		t.Fatal(err)
	}
	_, sec, err := g.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2,
		Scopes: []string{"openid", "profile", "email", "read"}})
	if err != nil {
		t.Fatal(err)
	}
	return app.ID, sec
}

// oidcRP is a web application that signs its users in with go-oidc: the
// code flow with state, nonce and PKCE, then the ID token verified and
// userinfo read.
type oidcRP struct {
	srv      *httptest.Server
	conf     *oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	mu       sync.Mutex
	pending  map[string][2]string // state → nonce, PKCE verifier
	results  chan oidcResult
}

type oidcResult struct {
	err      error
	token    *oauth2.Token
	idToken  *oidc.IDToken
	claims   map[string]any
	userinfo map[string]any
}

func newOIDCRP(t *testing.T) *oidcRP {
	rp := &oidcRP{pending: map[string][2]string{}, results: make(chan oidcResult, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", rp.start)
	mux.HandleFunc("GET /callback", rp.callback)
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

// discover configures the RP from the provider's discovery document.
func (rp *oidcRP) discover(t *testing.T, issuer, clientID, clientSecret string) {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery of %s: %v", issuer, err)
	}
	rp.provider = p
	rp.verifier = p.Verifier(&oidc.Config{ClientID: clientID})
	rp.conf = &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: p.Endpoint(),
		RedirectURL: rp.srv.URL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
}

func (rp *oidcRP) start(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = [2]string{nonce, verifier}
	rp.mu.Unlock()
	http.Redirect(w, r, rp.conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

func (rp *oidcRP) callback(w http.ResponseWriter, r *http.Request) {
	var res oidcResult
	defer func() {
		status, detail := "ok", "signed in"
		if res.err != nil {
			status, detail = "error", res.err.Error()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html lang=en><title>RP</title><main><h1 id=result data-status=%s>%s</h1></main></html>",
			status, html.EscapeString(detail))
		rp.results <- res
	}()
	q := r.URL.Query()
	rp.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	if !ok {
		res.err = errors.New("unknown state")
		return
	}
	if e := q.Get("error"); e != "" {
		res.err = errors.New("authorization failed: " + e)
		return
	}
	ctx := r.Context()
	tok, err := rp.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p[1]))
	if err != nil {
		res.err = fmt.Errorf("code exchange: %w", err)
		return
	}
	res.token = tok
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		res.err = errors.New("no id_token in the token response")
		return
	}
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		res.err = fmt.Errorf("ID token: %w", err)
		return
	}
	res.idToken = idt
	if idt.Nonce != p[0] {
		res.err = fmt.Errorf("nonce %q, want %q", idt.Nonce, p[0])
		return
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		res.err = fmt.Errorf("at_hash: %w", err)
		return
	}
	if err := idt.Claims(&res.claims); err != nil {
		res.err = err
		return
	}
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		res.err = fmt.Errorf("userinfo: %w", err)
		return
	}
	if ui.Subject != idt.Subject {
		res.err = fmt.Errorf("userinfo sub %q, ID token sub %q", ui.Subject, idt.Subject)
		return
	}
	if err := ui.Claims(&res.userinfo); err != nil {
		res.err = err
	}
}

func (rp *oidcRP) wait(t *testing.T) oidcResult {
	t.Helper()
	select {
	case res := <-rp.results:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("the RP's redirect URI was not called")
		return oidcResult{}
	}
}

// TestOIDCGoOIDCChromium: headless Chromium signs in through the sign-in
// and consent pages for an RP built on go-oidc, which discovers the
// provider, verifies the ID token (signature by the JWKS, iss, aud, exp,
// nonce, at_hash) and reads userinfo, in the opaque and the JWT
// access-token modes.
func TestOIDCGoOIDCChromium(t *testing.T) {
	bin := findChromium(t)
	for _, mode := range []string{"opaque", "jwt"} {
		t.Run(mode, func(t *testing.T) {
			sys := "accessTokens:\n  tokenType: opaque\n"
			if mode == "jwt" {
				sys = "accessTokens:\n  tokenType: jwt\n"
			}
			g := startOAuth(t, sys)
			rp := newOIDCRP(t)
			id, sec := oidcSeed(t, g, rp.srv.URL+"/callback")
			rp.discover(t, g.base, id, sec)

			b := newChromeTab(t, bin)
			b.do("open the RP", chromedp.Navigate(rp.srv.URL+"/start"), chromedp.WaitVisible(chromedp.ID("username")))
			b.do("sign in",
				chromedp.SendKeys(chromedp.ID("username"), "alice"),
				chromedp.SendKeys(chromedp.ID("password"), "alice-password"),
				chromedp.Click(chromedp.ID("signin")),
				chromedp.WaitVisible(chromedp.ID("allow")),
			)
			b.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
			res := rp.wait(t)
			if res.err != nil {
				t.Fatalf("RP: %v", res.err)
			}
			if res.idToken.Subject != g.alice.ID || res.idToken.Issuer != g.base {
				t.Errorf("ID token sub %q iss %q, want %q %q", res.idToken.Subject, res.idToken.Issuer, g.alice.ID, g.base)
			}
			if amr, _ := res.claims["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" || res.claims["auth_time"] == nil || res.claims["sid"] == nil {
				t.Errorf("ID token claims %v, want amr [pwd], auth_time and sid", res.claims)
			}
			if res.userinfo["email"] != "alice@example.com" || res.userinfo["given_name"] != "Alice" || res.userinfo["name"] != "Alice A" {
				t.Errorf("userinfo %v", res.userinfo)
			}

			// Refresh: a new ID token about the same sign-in, which go-oidc
			// verifies again (Core §12.2).
			fresh, err := rp.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: res.token.RefreshToken}).Token()
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := fresh.Extra("id_token").(string)
			again, err := rp.verifier.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("refreshed ID token: %v", err)
			}
			var c2 map[string]any
			if err := again.Claims(&c2); err != nil {
				t.Fatal(err)
			}
			if again.Subject != res.idToken.Subject || c2["auth_time"] != res.claims["auth_time"] || c2["sid"] != res.claims["sid"] {
				t.Errorf("refreshed ID token %v, want the sub, auth_time and sid of %v", c2, res.claims)
			}
		})
	}
}

// TestOIDCNegative: one rule each. The nonce is echoed exactly (so an RP
// expecting another one, or one when none was sent, refuses the token); a
// replayed code gives no ID token and kills the first access token at
// userinfo; an ID token is refused as an access token by userinfo and by
// the oauth2 policy.
func TestOIDCNegative(t *testing.T) {
	for mode, sys := range oidcModes() {
		t.Run(mode, func(t *testing.T) {
			g := startOAuth(t, sys)
			const redirect = "http://127.0.0.1:1/rp/callback"
			id, sec := oidcSeed(t, g, redirect)
			ctx := context.Background()
			p, err := oidc.NewProvider(ctx, g.base)
			if err != nil {
				t.Fatal(err)
			}
			verifier := p.Verifier(&oidc.Config{ClientID: id})
			conf := &oauth2.Config{ClientID: id, ClientSecret: sec, Endpoint: p.Endpoint(), RedirectURL: redirect,
				Scopes: []string{oidc.ScopeOpenID, "email"}}
			b := newBrowser(t, g.base)
			flow := func(opts ...oauth2.AuthCodeOption) (string, *oauth2.Token, *oidc.IDToken) {
				t.Helper()
				code := g.authorizeCode(t, b, conf, "alice", "alice-password", opts...)
				tok, err := conf.Exchange(ctx, code)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := tok.Extra("id_token").(string)
				idt, err := verifier.Verify(ctx, raw)
				if err != nil {
					t.Fatalf("ID token: %v", err)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Fatalf("at_hash: %v", err)
				}
				return code, tok, idt
			}

			t.Run("nonce echoed exactly", func(t *testing.T) {
				nonce := "n-0S6_WzA2Mj é+/="
				_, _, idt := flow(oidc.Nonce(nonce))
				if idt.Nonce != nonce {
					t.Errorf("nonce %q, want %q echoed exactly", idt.Nonce, nonce)
				}
			})
			t.Run("no nonce sent, none echoed", func(t *testing.T) {
				if _, _, idt := flow(); idt.Nonce != "" {
					t.Errorf("nonce %q in the ID token of a request without one", idt.Nonce)
				}
			})
			t.Run("replayed code", func(t *testing.T) {
				code, tok, _ := flow(oidc.Nonce("r"))
				if _, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
					t.Fatalf("userinfo before the replay: %v", err)
				}
				_, err := conf.Exchange(ctx, code)
				retrieveErr(t, err, 400, "invalid_grant")
				if _, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil || !strings.Contains(err.Error(), "401") {
					t.Errorf("userinfo with the replayed code's access token: %v, want 401", err)
				}
			})
			t.Run("ID token as access token", func(t *testing.T) {
				_, tok, _ := flow(oidc.Nonce("a"))
				raw := tok.Extra("id_token").(string)
				req, _ := http.NewRequest("GET", p.UserInfoEndpoint(), nil)
				req.Header.Set("Authorization", "Bearer "+raw)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("userinfo with the ID token = %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
				if resp := g.call(t, "/api/x", raw); resp.StatusCode != 401 {
					t.Errorf("the oauth2 policy with the ID token = %d, want 401", resp.StatusCode)
				}
				if resp := g.call(t, "/api/x", tok.AccessToken); resp.StatusCode != 200 {
					t.Errorf("the oauth2 policy with the access token = %d, want 200", resp.StatusCode)
				}
			})
		})
	}
}

// zitadelNonce carries the nonce a zitadel RP expects into its verifier.
type zitadelNonce struct{}

// TestOIDCZitadelRP: the same flow with a second RP library,
// github.com/zitadel/oidc/v3's pkg/client/rp: discovery, the code
// exchange with its ID-token verification (signature, iss, aud, azp, exp,
// iat, nonce, at_hash), userinfo with its sub check, and a refresh whose
// ID token it verifies again. The nonce check is on (WithNonce: the nonce
// this RP sent), so a wrong echo fails it; nothing is relaxed.
func TestOIDCZitadelRP(t *testing.T) {
	for mode, sys := range oidcModes() {
		t.Run(mode, func(t *testing.T) {
			g := startOAuth(t, sys)
			const redirect = "http://127.0.0.1:1/zitadel/callback"
			id, sec := oidcSeed(t, g, redirect)
			ctx := context.Background()
			nonceOf := func(ctx context.Context) string { n, _ := ctx.Value(zitadelNonce{}).(string); return n }
			relying, err := zrp.NewRelyingPartyOIDC(ctx, g.base, id, sec, redirect, []string{"openid", "profile", "email"},
				zrp.WithVerifierOpts(zrp.WithNonce(nonceOf)), zrp.WithSigningAlgsFromDiscovery())
			if err != nil {
				t.Fatalf("zitadel discovery: %v", err)
			}
			b := newBrowser(t, g.base)
			code := func(nonce string) string {
				t.Helper()
				state := oauth2.GenerateVerifier()[:16]
				st, u, body := b.allow(zrp.AuthURL(state, relying, zrp.AuthURLOpt(zrp.WithURLParam("nonce", nonce))), "alice", "alice-password")
				if st != http.StatusFound || u.Query().Get("state") != state || u.Query().Get("code") == "" {
					t.Fatalf("decision = %d %v\n%s", st, u, body)
				}
				return u.Query().Get("code")
			}
			nonce := oauth2.GenerateVerifier()
			tokens, err := zrp.CodeExchange[*zoidc.IDTokenClaims](context.WithValue(ctx, zitadelNonce{}, nonce), code(nonce), relying)
			if err != nil {
				t.Fatalf("zitadel code exchange: %v", err)
			}
			if tokens.IDTokenClaims.GetSubject() != g.alice.ID || tokens.IDTokenClaims.Nonce != nonce {
				t.Errorf("ID token sub %q nonce %q", tokens.IDTokenClaims.GetSubject(), tokens.IDTokenClaims.Nonce)
			}
			info, err := zrp.Userinfo[*zoidc.UserInfo](ctx, tokens.AccessToken, tokens.TokenType, tokens.IDTokenClaims.GetSubject(), relying)
			if err != nil {
				t.Fatalf("zitadel userinfo: %v", err)
			}
			if info.Email != "alice@example.com" || info.GivenName != "Alice" {
				t.Errorf("userinfo %+v", info)
			}
			fresh, err := zrp.RefreshTokens[*zoidc.IDTokenClaims](ctx, relying, tokens.RefreshToken, "", "")
			if err != nil {
				t.Fatalf("zitadel refresh: %v", err)
			}
			if fresh.IDTokenClaims == nil || fresh.IDTokenClaims.GetSubject() != g.alice.ID ||
				!fresh.IDTokenClaims.GetAuthTime().Equal(tokens.IDTokenClaims.GetAuthTime()) {
				t.Errorf("refreshed ID token %+v", fresh.IDTokenClaims)
			}
			// A nonce the RP did not send: the echo does not match, and the
			// library refuses the token.
			if _, err := zrp.CodeExchange[*zoidc.IDTokenClaims](context.WithValue(ctx, zitadelNonce{}, "another"), code(nonce), relying); err == nil {
				t.Error("zitadel accepted an ID token whose nonce is not the one it expected")
			}
		})
	}
}

// TestOIDCIDTokenRefusedByJWTPolicy: a resource gateway whose jwt policy
// trusts Gatehouse by OpenID Connect discovery (issuer + discover: true)
// verifies with the JWKS that also holds the ID tokens' keys. With types:
// [at+jwt] (RFC 9068 §4, as docs/oauth2.md advises) it takes the access
// token and refuses the ID token; with audience set to the API it refuses
// it too (an ID token's aud is the client). Without either the policy
// still refuses it, by its ID-token claims (at_hash, nonce); only
// acceptIdTokens: true lets it through.
func TestOIDCIDTokenRefusedByJWTPolicy(t *testing.T) {
	g := startOAuth(t, "accessTokens:\n  tokenType: jwt\n")
	const redirect = "http://127.0.0.1:1/rp/callback"
	id, sec := oidcSeed(t, g, redirect)
	conf := &oauth2.Config{ClientID: id, ClientSecret: sec, Endpoint: g.endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "read"}}
	b := newBrowser(t, g.base)
	tok, err := conf.Exchange(context.Background(), g.authorizeCode(t, b, conf, "alice", "alice-password"))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	up := echoServer(t, "resource")
	for _, c := range []struct {
		name, extra string
		idTokenPass bool
	}{
		{"types at+jwt", "types: [at+jwt]", false},
		{"audience", "audience: '" + g.base + "'", false},
		{"neither", "", false},
		{"acceptIdTokens", "acceptIdTokens: true", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			extra := ""
			if c.extra != "" {
				extra = "\n            " + c.extra
			}
			rs := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints:
  api: {host: '*', paths: '/api/*'}
serviceEndpoints:
  backend: {url: '%s'}
policies: [jwt, proxy]
pipelines:
  default:
    apiEndpoints: [api]
    policies:
      - jwt:
          action:
            issuer: '%s'
            discover: true
            checkCredentialExistence: false%s
      - proxy:
          action: {serviceEndpoint: backend}
`, up.URL, g.base, extra))
			call := func(token string) int {
				req, _ := http.NewRequest("GET", rs.base+"/api/x", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if st := call(tok.AccessToken); st != 200 {
				t.Errorf("the access token = %d, want 200", st)
			}
			if st := call(idt); (st == 200) != c.idTokenPass {
				t.Errorf("the ID token = %d, want passing %v", st, c.idTokenPass)
			}
		})
	}
}
