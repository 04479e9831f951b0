package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// What the authorization server must refuse, in both token modes where the
// mode matters.

func TestOAuth2CodeReplay(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct{ name, system string }{{"opaque", opaqueSystem}, {"jwt", jwtSystem}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			g := startOAuth(t, mode.system)
			ctx := clientCtx(t)
			conf := g.webConfig("read")
			v := oauth2.GenerateVerifier()
			code := g.authorizeCode(t, newBrowser(t, g.base), conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
			tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			g.upstreamSees(t, "/read", tok.AccessToken)

			// RFC 6749 §4.1.2: a code used twice fails, and what it issued
			// is revoked — at once, on this node.
			_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(v))
			retrieveErr(t, err, 400, "invalid_grant")
			g.refused(t, "/read", tok.AccessToken, 401, "token_revoked")
			_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			retrieveErr(t, err, 400, "invalid_grant")
			st, _, body := g.postForm(t, "/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, g.svc.ID, svcSecret)
			if st != 200 || body["active"] != false || len(body) != 1 {
				t.Errorf("introspection of the revoked token = %d %v, want {\"active\":false}", st, body)
			}
		})
	}
}

func TestOAuth2AuthorizationRequestErrors(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	ctx := clientCtx(t)
	b := newBrowser(t, g.base)
	if st, _, _ := b.login("alice", "alice-password"); st != http.StatusFound {
		t.Fatalf("login = %d", st)
	}
	authURL := func(q url.Values) string { return "/oauth2/authorize?" + q.Encode() }
	v := oauth2.GenerateVerifier()
	s256 := oauth2.S256ChallengeFromVerifier(v)

	t.Run("wrong redirect_uri at authorize: an error page, no redirect", func(t *testing.T) {
		for _, ru := range []string{"http://evil.example/cb", webRedirect + "/extra", webRedirect + "?x=1"} {
			q := url.Values{"client_id": {g.web.ID}, "response_type": {"code"}, "redirect_uri": {ru}, "state": {"s"},
				"code_challenge": {s256}, "code_challenge_method": {"S256"}}
			for _, br := range []*browser{b, newBrowser(t, g.base)} { // signed in or not
				st, loc, page := br.get(authURL(q))
				if st != 400 || loc != "" || !strings.Contains(page, "redirect") {
					t.Errorf("redirect_uri %s: %d Location %q", ru, st, loc)
				}
			}
		}
		for _, q := range []url.Values{
			{"client_id": {"no-such-client"}, "response_type": {"code"}},
			{"response_type": {"code"}},
			{"client_id": {g.web.ID, g.web.ID}, "response_type": {"code"}},
		} {
			if st, loc, _ := b.get(authURL(q)); st != 400 || loc != "" {
				t.Errorf("%v: %d Location %q, want an error page", q, st, loc)
			}
		}
	})

	// Once the client and its redirect URI are trusted, errors go back to
	// the client (RFC 6749 §4.1.2.1), with the state.
	redirectErr := func(t *testing.T, q url.Values, want string) {
		t.Helper()
		q.Set("state", "xyz")
		st, loc, _ := b.get(authURL(q))
		u, _ := url.Parse(loc)
		if st != http.StatusFound || u == nil || u.Query().Get("error") != want || u.Query().Get("state") != "xyz" || u.Query().Get("code") != "" {
			t.Fatalf("%v: %d Location %q, want a redirect with error=%s", q, st, loc, want)
		}
	}
	t.Run("plain PKCE refused by default", func(t *testing.T) {
		redirectErr(t, url.Values{"client_id": {g.web.ID}, "response_type": {"code"}, "code_challenge": {v}, "code_challenge_method": {"plain"}}, "invalid_request")
		redirectErr(t, url.Values{"client_id": {g.web.ID}, "response_type": {"code"}, "code_challenge": {v}}, "invalid_request")
	})
	t.Run("public client without PKCE", func(t *testing.T) {
		redirectErr(t, url.Values{"client_id": {g.spa.ID}, "response_type": {"code"}}, "invalid_request")
	})
	t.Run("scope the client lacks", func(t *testing.T) {
		redirectErr(t, url.Values{"client_id": {g.web.ID}, "response_type": {"code"}, "scope": {"read admin"}}, "invalid_scope")
	})
	t.Run("implicit grant disabled", func(t *testing.T) {
		// The answer to a response_type=token request goes in the fragment.
		st, loc, _ := b.get(authURL(url.Values{"client_id": {g.web.ID}, "response_type": {"token"}, "state": {"xyz"}}))
		u, _ := url.Parse(loc)
		f, _ := url.ParseQuery(u.Fragment)
		if st != http.StatusFound || f.Get("error") != "unsupported_response_type" || f.Get("state") != "xyz" {
			t.Fatalf("%d Location %q", st, loc)
		}
	})

	t.Run("wrong redirect_uri at the token endpoint", func(t *testing.T) {
		conf := g.webConfig("read")
		code := g.authorizeCode(t, b, conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
		other := *conf
		other.RedirectURL = "http://127.0.0.1:1/other"
		_, err := other.Exchange(ctx, code, oauth2.VerifierOption(v))
		retrieveErr(t, err, 400, "invalid_grant")
	})
	t.Run("PKCE verifier mismatch", func(t *testing.T) {
		conf := g.webConfig("read")
		code := g.authorizeCode(t, b, conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
		_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		retrieveErr(t, err, 400, "invalid_grant")
	})
	t.Run("PKCE verifier missing", func(t *testing.T) {
		conf := g.spaConfig("read")
		code := g.authorizeCode(t, b, conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
		_, err := conf.Exchange(ctx, code)
		retrieveErr(t, err, 400, "invalid_grant")
	})
	t.Run("code of another client", func(t *testing.T) {
		code := g.authorizeCode(t, b, g.webConfig("read"), "alice", "alice-password", oauth2.S256ChallengeOption(v))
		spa := g.spaConfig("read")
		spa.RedirectURL = webRedirect
		_, err := spa.Exchange(ctx, code, oauth2.VerifierOption(v))
		retrieveErr(t, err, 400, "invalid_grant")
	})
}

func TestOAuth2ExpiredCode(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	g := startOAuthWith(t, "authorizationCodes:\n  timeToExpiry: 2000\n", nil, withClock(clock))
	conf := g.webConfig("read")
	v := oauth2.GenerateVerifier()
	b := newBrowser(t, g.base)
	if st, _, _ := b.login("alice", "alice-password"); st != http.StatusFound {
		t.Fatal("login failed")
	}
	code := g.authorizeCode(t, b, conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
	clock.Advance(2500 * time.Millisecond) // past the code's two seconds
	_, err := conf.Exchange(clientCtx(t), code, oauth2.VerifierOption(v))
	retrieveErr(t, err, 400, "invalid_grant")
	// A fresh code exchanged at once works.
	code = g.authorizeCode(t, b, conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
	if _, err := conf.Exchange(clientCtx(t), code, oauth2.VerifierOption(v)); err != nil {
		t.Fatal(err)
	}
}

func TestOAuth2ScopeEscalation(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	ctx := clientCtx(t)
	// client_credentials asking for a scope the client's credential lacks.
	_, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token",
		Scopes: []string{"read", "write"}}).Token(ctx)
	retrieveErr(t, err, 400, "invalid_scope")
	// password grant likewise.
	_, err = g.webConfig("admin").PasswordCredentialsToken(ctx, "alice", "alice-password")
	retrieveErr(t, err, 400, "invalid_scope")

	// Refresh may narrow the scope, never widen it.
	tok, err := g.webConfig("read").PasswordCredentialsToken(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	st, h, body := g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"scope": {"read write"}}, g.web.ID, webSecret)
	oauthErr(t, st, h, body, 400, "invalid_scope")
	// The refused request did not use the refresh token up.
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"scope": {"read"}}, g.web.ID, webSecret)
	if st != 200 || body["scope"] != "read" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh with the same scope = %d %v", st, body)
	}
	// Narrowing: a token with read write refreshed to read.
	tok, err = g.webConfig("read", "write").PasswordCredentialsToken(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	st, _, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"scope": {"write"}}, g.web.ID, webSecret)
	if st != 200 || body["scope"] != "write" {
		t.Fatalf("narrowing refresh = %d %v", st, body)
	}
	g.refused(t, "/read", body["access_token"].(string), 403, "insufficient_scope")

	// A refresh token is bound to its client (Express Gateway let any
	// client use any refresh token, B-2).
	tok, _ = g.webConfig("read").PasswordCredentialsToken(ctx, "alice", "alice-password")
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, g.svc.ID, svcSecret)
	oauthErr(t, st, h, body, 400, "invalid_grant")
	// And its secret half is checked (B-2).
	id, _, _ := strings.Cut(tok.RefreshToken, "|")
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {id + "|" + strings.Repeat("0", 32)}}, g.web.ID, webSecret)
	oauthErr(t, st, h, body, 400, "invalid_grant")
}

func TestOAuth2ClientAuthentication(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	ctx := clientCtx(t)
	cc := func(secret string, style oauth2.AuthStyle) error {
		_, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: secret, TokenURL: g.base + "/oauth2/token", AuthStyle: style}).Token(ctx)
		return err
	}
	// Wrong secret with HTTP Basic: 401 invalid_client and a Basic
	// challenge (RFC 6749 §5.2).
	err := cc("wrong", oauth2.AuthStyleInHeader)
	retrieveErr(t, err, 401, "invalid_client")
	if ch := err.(*oauth2.RetrieveError).Response.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Basic ") {
		t.Errorf("WWW-Authenticate = %q, want a Basic challenge", ch)
	}
	// In the body: 401 invalid_client, and the same challenge: every 401
	// carries one (RFC 9110 §15.5.2, issue #11 §2).
	err = cc("wrong", oauth2.AuthStyleInParams)
	retrieveErr(t, err, 401, "invalid_client")
	if ch := err.(*oauth2.RetrieveError).Response.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Basic ") {
		t.Errorf("WWW-Authenticate = %q for body credentials, want a Basic challenge", ch)
	}
	// Unknown client, no credentials at all, both methods at once.
	st, h, body := g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "nobody", "x")
	oauthErr(t, st, h, body, 401, "invalid_client")
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "", "")
	oauthErr(t, st, h, body, 401, "invalid_client")
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_secret": {svcSecret}}, g.svc.ID, svcSecret)
	oauthErr(t, st, h, body, 400, "invalid_request")
	// A public client cannot use client_credentials.
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {g.spa.ID}}, "", "")
	oauthErr(t, st, h, body, 400, "unauthorized_client")
	// A public client that sends a secret is refused.
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, g.spa.ID, "made-up")
	oauthErr(t, st, h, body, 401, "invalid_client")

	// unsupported_grant_type is 400 (Express Gateway: 501); a missing
	// grant_type is invalid_request.
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"urn:example:magic"}}, g.svc.ID, svcSecret)
	oauthErr(t, st, h, body, 400, "unsupported_grant_type")
	st, h, body = g.postForm(t, "/oauth2/token", url.Values{}, g.svc.ID, svcSecret)
	oauthErr(t, st, h, body, 400, "invalid_request")
	// Missing parameters, with Express Gateway's descriptions.
	for grant, want := range map[string]string{"authorization_code": "Missing required parameter: code",
		"password": "Missing required parameter: username", "refresh_token": "Missing required parameter: refresh_token"} {
		st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {grant}}, g.web.ID, webSecret)
		oauthErr(t, st, h, body, 400, "invalid_request")
		if body["error_description"] != want {
			t.Errorf("%s: error_description %q, want %q", grant, body["error_description"], want)
		}
	}
	// JSON bodies are accepted (as Express Gateway).
	req, _ := http.NewRequest("POST", g.base+"/oauth2/token", strings.NewReader(`{"grant_type":"client_credentials","client_id":"`+g.svc.ID+`","client_secret":"`+svcSecret+`","scope":"read"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("JSON token request = %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestOAuth2DeactivatedConsumers(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct{ name, system string }{{"opaque", opaqueSystem}, {"jwt", jwtSystem}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			g := startOAuth(t, mode.system)
			ctx := clientCtx(t)
			svc := &clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token"}
			svcTok, err := svc.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			bobTok, err := g.webConfig("read").PasswordCredentialsToken(ctx, "bob", "bob-password")
			if err != nil {
				t.Fatal(err)
			}
			g.upstreamSees(t, "/read", svcTok.AccessToken)
			g.upstreamSees(t, "/read", bobTok.AccessToken)

			// Deactivated client: its tokens are refused at once, grants
			// refused, introspection says inactive.
			if _, err := g.s.SetAppActive(g.ctx, g.svc.ID, false); err != nil {
				t.Fatal(err)
			}
			g.refused(t, "/read", svcTok.AccessToken, 401, "inactive_consumer")
			_, err = svc.Token(ctx)
			retrieveErr(t, err, 401, "invalid_client")
			st, _, body := g.postForm(t, "/oauth2/introspect", url.Values{"token": {svcTok.AccessToken}}, g.web.ID, webSecret)
			if st != 200 || body["active"] != false {
				t.Errorf("introspection of a deactivated client's token = %d %v", st, body)
			}
			if _, err := g.s.SetAppActive(g.ctx, g.svc.ID, true); err != nil {
				t.Fatal(err)
			}
			g.upstreamSees(t, "/read", svcTok.AccessToken)

			// Deactivated user: the tokens issued for them are refused,
			// the password and refresh grants refused, login refused.
			if _, err := g.s.SetUserActive(g.ctx, g.bob.ID, false); err != nil {
				t.Fatal(err)
			}
			g.refused(t, "/read", bobTok.AccessToken, 401, "inactive_consumer")
			_, err = g.webConfig("read").PasswordCredentialsToken(ctx, "bob", "bob-password")
			retrieveErr(t, err, 400, "invalid_grant")
			_, err = g.webConfig("read").TokenSource(ctx, &oauth2.Token{RefreshToken: bobTok.RefreshToken}).Token()
			retrieveErr(t, err, 400, "invalid_grant")
			if st, loc, _ := newBrowser(t, g.base).login("bob", "bob-password"); st != 401 || loc != "" {
				t.Errorf("login of a deactivated user = %d Location %q", st, loc)
			}
			st, _, body = g.postForm(t, "/oauth2/introspect", url.Values{"token": {bobTok.AccessToken}}, g.svc.ID, svcSecret)
			if st != 200 || body["active"] != false {
				t.Errorf("introspection of a deactivated user's token = %d %v", st, body)
			}
		})
	}
}

func TestOAuth2CSRF(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	b := newBrowser(t, g.base)

	// /login: no token, or a wrong one, is 403 and logs nobody in.
	st, _, page := b.get("/login")
	csrf := formValue(page, "_csrf")
	if st != 200 || csrf == "" {
		t.Fatalf("login page %d", st)
	}
	for _, bad := range []string{"", "wrong", csrf + "x"} {
		st, loc, _ := b.post("/login", url.Values{"_csrf": {bad}, "username": {"alice"}, "password": {"alice-password"}})
		if st != http.StatusForbidden || loc != "" {
			t.Errorf("login with _csrf %q = %d Location %q, want 403", bad, st, loc)
		}
	}
	// A login form from another browser's session does not work either.
	other := newBrowser(t, g.base)
	_, _, otherPage := other.get("/login")
	if st, _, _ := b.post("/login", url.Values{"_csrf": {formValue(otherPage, "_csrf")}, "username": {"alice"}, "password": {"alice-password"}}); st != http.StatusForbidden {
		t.Errorf("login with another session's _csrf = %d", st)
	}
	if st, loc, _ := b.get("/oauth2/authorize?" + url.Values{"client_id": {g.web.ID}, "response_type": {"code"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}.Encode()); st != http.StatusFound || loc != "/login" {
		t.Fatalf("after refused logins the browser is signed in: %d %q", st, loc)
	}

	// The consent POST: without the session's token, 403 and no code.
	conf := g.webConfig("read")
	page = b.consent(conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", "alice-password")
	tid := formValue(page, "transaction_id")
	for _, bad := range []string{"", "wrong"} {
		st, loc, _ := b.post("/oauth2/authorize/decision", url.Values{"_csrf": {bad}, "transaction_id": {tid}, "allow": {"allow"}})
		if st != http.StatusForbidden || loc != "" {
			t.Errorf("decision with _csrf %q = %d Location %q, want 403 and no code", bad, st, loc)
		}
	}
	// Another signed-in user's browser cannot complete alice's transaction.
	bobB := newBrowser(t, g.base)
	bobB.login("bob", "bob-password")
	_, _, bobPage := bobB.get("/logout")
	if st, loc, _ := bobB.post("/oauth2/authorize/decision", url.Values{"_csrf": {formValue(bobPage, "_csrf")}, "transaction_id": {tid}}); st != http.StatusForbidden || loc != "" {
		t.Errorf("decision on another session's transaction = %d %q", st, loc)
	}
	// Unknown transaction.
	if st, loc, _ := b.post("/oauth2/authorize/decision", url.Values{"_csrf": {formValue(page, "_csrf")}, "transaction_id": {"nope"}}); st != http.StatusForbidden || loc != "" {
		t.Errorf("decision on an unknown transaction = %d %q", st, loc)
	}
	// Not signed in: back to /login.
	if st, loc, _ := newBrowser(t, g.base).post("/oauth2/authorize/decision", url.Values{"transaction_id": {tid}}); st != http.StatusFound || loc != "/login" {
		t.Errorf("decision without a session = %d %q", st, loc)
	}

	// Logout: GET shows a form, POST needs its token, then the session
	// is gone (Express Gateway's logout did not log out, B-12).
	st, _, page = b.get("/logout")
	if st != 200 {
		t.Fatalf("GET /logout = %d", st)
	}
	if st, _, _ := b.post("/logout", url.Values{"_csrf": {"wrong"}}); st != http.StatusForbidden {
		t.Errorf("logout with a wrong _csrf = %d", st)
	}
	if st, loc, _ := b.post("/logout", url.Values{"_csrf": {formValue(page, "_csrf")}}); st != http.StatusFound || loc != "/login" {
		t.Errorf("logout = %d %q", st, loc)
	}
	if st, loc, _ := b.get(conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); st != http.StatusFound || loc != "/login" {
		t.Errorf("after logout the authorization request = %d %q, want a new login", st, loc)
	}
}

func TestOAuth2LoginRateLimit(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	b := newBrowser(t, g.base)
	for i := 1; i <= 5; i++ {
		if st, _, page := b.login("alice", "wrong"); st != http.StatusUnauthorized || !strings.Contains(page, "incorrect") {
			t.Fatalf("failure %d = %d", i, st)
		}
	}
	// After five failures even the right password waits.
	st, _, page := b.login("alice", "alice-password")
	if st != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt = %d, want 429\n%s", st, page)
	}
	// The password grant shares the per-user limit.
	_, err := g.webConfig("read").PasswordCredentialsToken(clientCtx(t), "alice", "alice-password")
	retrieveErr(t, err, 429, "invalid_request")
	// Another user is not affected by alice's limit through the password
	// grant (the address limit applies to the login form).
	if _, err := g.webConfig("read").PasswordCredentialsToken(clientCtx(t), "bob", "bob-password"); err != nil {
		t.Errorf("bob's password grant: %v", err)
	}
}

func TestOAuth2TokenEndpointRateLimit(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	var last int
	for i := 0; i < 21; i++ {
		last, _, _ = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, g.svc.ID, "wrong")
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("21st failed client authentication = %d, want 429", last)
	}
}
