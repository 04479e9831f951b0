package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Revocation (RFC 7009), introspection (RFC 7662), metadata (RFC 8414) and
// the resource side (the oauth2 policy, RFC 6750).

func TestOAuth2RevokeAndIntrospect(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct{ name, system string }{{"opaque", opaqueSystem}, {"jwt", jwtSystem}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			g := startOAuth(t, mode.system)
			ctx := clientCtx(t)
			introspect := func(tok string) map[string]any {
				t.Helper()
				st, h, body := g.postForm(t, "/oauth2/introspect", url.Values{"token": {tok}}, g.svc.ID, svcSecret)
				if st != 200 || h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
					t.Fatalf("introspect = %d %v", st, body)
				}
				return body
			}
			revoke := func(tok, id, secret string) {
				t.Helper()
				st, _, body := g.postForm(t, "/oauth2/revoke", url.Values{"token": {tok}}, id, secret)
				if st != 200 {
					t.Fatalf("revoke = %d %v", st, body)
				}
			}
			inactive := func(tok string) {
				t.Helper()
				if body := introspect(tok); len(body) != 1 || body["active"] != false {
					t.Errorf("introspection = %v, want exactly {\"active\":false}", body)
				}
			}

			// An active token describes itself.
			tok, err := g.webConfig("read", "write").PasswordCredentialsToken(ctx, "alice", "alice-password")
			if err != nil {
				t.Fatal(err)
			}
			d := introspect(tok.AccessToken)
			if d["active"] != true || d["client_id"] != g.web.ID || d["scope"] != "read write" || d["sub"] != g.alice.ID ||
				d["token_type"] != "Bearer" || d["token_use"] != "access_token" {
				t.Errorf("introspection = %v", d)
			}
			// A refresh token is told apart in token_use, never by a
			// token_type a resource server might not know (issue #11 §6).
			if tok.RefreshToken != "" {
				if r := introspect(tok.RefreshToken); r["active"] != true || r["token_type"] != "Bearer" || r["token_use"] != "refresh_token" {
					t.Errorf("refresh token introspection = %v, want token_type Bearer, token_use refresh_token", r)
				}
			}
			if exp, _ := d["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
				t.Errorf("exp %v", d["exp"])
			}
			if _, ok := d["iat"].(float64); !ok {
				t.Errorf("iat %v", d["iat"])
			}

			// Revoking the access token: inactive and refused by the policy
			// at once.
			revoke(tok.AccessToken, g.web.ID, webSecret)
			inactive(tok.AccessToken)
			g.refused(t, "/read", tok.AccessToken, 401, "token_revoked")

			// Revoking a refresh token revokes its family: the access token
			// of the same grant, and the refresh token itself.
			tok, err = g.webConfig("read").PasswordCredentialsToken(ctx, "alice", "alice-password")
			if err != nil {
				t.Fatal(err)
			}
			g.upstreamSees(t, "/read", tok.AccessToken)
			revoke(tok.RefreshToken, g.web.ID, webSecret)
			inactive(tok.AccessToken)
			g.refused(t, "/read", tok.AccessToken, 401, "token_revoked")
			_, err = g.webConfig("read").TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			retrieveErr(t, err, 400, "invalid_grant")

			// Unknown tokens: 200 all the same (§2.2); introspection says
			// inactive.
			for _, junk := range []string{"nope", "a|b", strings.Repeat("0", 32) + "|" + strings.Repeat("0", 32), "e30.e30.e30"} {
				revoke(junk, g.web.ID, webSecret)
				inactive(junk)
			}
			// Another client's token is not revoked (but still 200).
			svcTok, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token"}).Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			revoke(svcTok.AccessToken, g.web.ID, webSecret)
			g.upstreamSees(t, "/read", svcTok.AccessToken)
			// A public client can revoke its own tokens.
			v := oauth2.GenerateVerifier()
			spa := g.spaConfig("read")
			code := g.authorizeCode(t, newBrowser(t, g.base), spa, "alice", "alice-password", oauth2.S256ChallengeOption(v))
			spaTok, err := spa.Exchange(ctx, code, oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			st, _, body := g.postForm(t, "/oauth2/revoke", url.Values{"token": {spaTok.AccessToken}, "client_id": {g.spa.ID}}, "", "")
			if st != 200 {
				t.Fatalf("public client revocation = %d %v", st, body)
			}
			g.refused(t, "/read", spaTok.AccessToken, 401, "token_revoked")

			// Both endpoints require client authentication; introspection
			// needs a confidential client.
			for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
				st, h, body := g.postForm(t, path, url.Values{"token": {svcTok.AccessToken}}, "", "")
				oauthErr(t, st, h, body, 401, "invalid_client")
				st, h, body = g.postForm(t, path, url.Values{"token": {svcTok.AccessToken}}, g.svc.ID, "wrong")
				oauthErr(t, st, h, body, 401, "invalid_client")
				if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("%s: WWW-Authenticate %q", path, h.Get("WWW-Authenticate"))
				}
				st, h, body = g.postForm(t, path, url.Values{}, g.svc.ID, svcSecret)
				oauthErr(t, st, h, body, 400, "invalid_request")
			}
			st, h, body := g.postForm(t, "/oauth2/introspect", url.Values{"token": {svcTok.AccessToken}, "client_id": {g.spa.ID}}, "", "")
			oauthErr(t, st, h, body, 401, "invalid_client")
		})
	}
}

func TestOAuth2Metadata(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name, system, issuer string
		jwks                 bool
	}{{"opaque", opaqueSystem, "", false}, {"jwt", jwtSystem, jwtIssuer, true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			g := startOAuth(t, mode.system)
			resp := get(t, g.base+"/.well-known/oauth-authorization-server")
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("metadata = %d", resp.StatusCode)
			}
			var md map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			iss := mode.issuer
			if iss == "" {
				iss = g.base
			}
			for k, want := range map[string]string{"issuer": iss, "authorization_endpoint": iss + "/oauth2/authorize",
				"token_endpoint": iss + "/oauth2/token", "revocation_endpoint": iss + "/oauth2/revoke",
				"introspection_endpoint": iss + "/oauth2/introspect"} {
				if md[k] != want {
					t.Errorf("%s = %v, want %s", k, md[k], want)
				}
			}
			list := func(k string) []string {
				var out []string
				for _, v := range md[k].([]any) {
					out = append(out, v.(string))
				}
				slices.Sort(out)
				return out
			}
			if got := list("grant_types_supported"); !slices.Equal(got, []string{"authorization_code", "client_credentials", "password", "refresh_token"}) {
				t.Errorf("grant_types_supported = %v", got)
			}
			if got := list("response_types_supported"); !slices.Equal(got, []string{"code"}) {
				t.Errorf("response_types_supported = %v", got)
			}
			if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
				t.Errorf("code_challenge_methods_supported = %v", got)
			}
			// The store's scopes, and the OpenID Connect ones (Discovery
			// 1.0 §3: openid at least; docs/openid-connect.md).
			if got := list("scopes_supported"); !slices.Equal(got, []string{"address", "admin", "email", "offline_access", "openid", "phone", "profile", "read", "write"}) {
				t.Errorf("scopes_supported = %v", got)
			}
			if got := list("token_endpoint_auth_methods_supported"); !slices.Equal(got, []string{"client_secret_basic", "client_secret_post", "none"}) {
				t.Errorf("token_endpoint_auth_methods_supported = %v", got)
			}
			// jwks_uri in every mode: the ID tokens' keys are there
			// (docs/openid-connect.md#id-tokens).
			if md["jwks_uri"] != iss+"/.well-known/jwks.json" {
				t.Errorf("jwks_uri = %v", md["jwks_uri"])
			}
			resp = get(t, g.base+"/.well-known/jwks.json")
			readBody(t, resp)
			if resp.StatusCode != 200 {
				t.Errorf("jwks.json = %d", resp.StatusCode)
			}
			// The endpoints answer before the pipelines, but only for the
			// names the server trusts (issuer_host_test.go): another Host
			// gets 421.
			req, _ := http.NewRequest("GET", g.base+"/.well-known/oauth-authorization-server", nil)
			req.Host = "other.example"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("metadata on another host = %d, want 421", resp.StatusCode)
			}
		})
	}
}

func TestOAuth2Policy(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct{ name, system string }{{"opaque", opaqueSystem}, {"jwt", jwtSystem}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			g := startOAuth(t, mode.system)
			ctx := clientCtx(t)
			tok, err := g.webConfig("read").PasswordCredentialsToken(ctx, "alice", "alice-password")
			if err != nil {
				t.Fatal(err)
			}
			at := tok.AccessToken

			// The apiEndpoint's scopes: 403 insufficient_scope with a
			// Bearer challenge naming them (RFC 6750 §3.1).
			resp := g.call(t, "/admin/x", at)
			body := readBody(t, resp)
			if resp.StatusCode != 403 || !strings.Contains(body, `"error":"insufficient_scope"`) {
				t.Errorf("/admin with a read token = %d %s", resp.StatusCode, body)
			}
			if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="admin"`) {
				t.Errorf("WWW-Authenticate = %q", ch)
			}
			checkIdentity(t, g.upstreamSees(t, "/read", at), g.web.ID, "read")

			// ?access_token= (RFC 6750 §2.3): accepted, and removed before
			// the upstream sees the query.
			resp = get(t, g.base+"/read/q?a=1&access_token="+url.QueryEscape(at)+"&b=2")
			if resp.StatusCode != 200 {
				t.Fatalf("query token = %d %s", resp.StatusCode, readBody(t, resp))
			}
			e := decodeEcho(t, resp)
			if strings.Contains(e.Query, "access_token") || !strings.Contains(e.Query, "a=1") || !strings.Contains(e.Query, "b=2") {
				t.Errorf("upstream query = %q", e.Query)
			}
			checkIdentity(t, e, g.web.ID, "read")
			// Header and query at once: RFC 6750 §2, one method only.
			req, _ := http.NewRequest("GET", g.base+"/read?access_token="+url.QueryEscape(at), nil)
			req.Header.Set("Authorization", "Bearer "+at)
			resp, _ = http.DefaultClient.Do(req)
			if resp.StatusCode != 400 || !strings.Contains(readBody(t, resp), "invalid_request") {
				t.Errorf("token twice = %d, want 400 invalid_request", resp.StatusCode)
			}

			// Reason codes in the JSON body.
			g.refused(t, "/api", "", 401, "missing_token")
			g.refused(t, "/api", "garbage", 401, "invalid_token")
			g.refused(t, "/api", strings.Repeat("0", 32)+"|"+strings.Repeat("0", 32), 401, "invalid_token")
			if id, _, ok := strings.Cut(at, "|"); ok {
				g.refused(t, "/api", id+"|"+strings.Repeat("f", 32), 401, "invalid_token") // right id, wrong secret
			}
			g.refused(t, "/api", tok.RefreshToken, 401, "invalid_token") // a refresh token is not an access token
			req, _ = http.NewRequest("GET", g.base+"/api", nil)
			req.Header.Set("Authorization", "Basic YTpi")
			resp, _ = http.DefaultClient.Do(req)
			if resp.StatusCode != 401 || !strings.Contains(readBody(t, resp), "malformed_token") {
				t.Errorf("Basic instead of Bearer = %d", resp.StatusCode)
			}
			st, _, _ := g.postForm(t, "/oauth2/revoke", url.Values{"token": {at}}, g.web.ID, webSecret)
			if st != 200 {
				t.Fatal(st)
			}
			g.refused(t, "/api", at, 401, "token_revoked")

			// passThrough: a request without a valid token goes on,
			// anonymous; a client's spoofed identity header is dropped.
			for _, tk := range []string{"", "garbage", at} {
				req, _ := http.NewRequest("GET", g.base+"/open/x", nil)
				if tk != "" {
					req.Header.Set("Authorization", "Bearer "+tk)
				}
				req.Header.Set("Eg-Consumer-Id", g.svc.ID)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 200 {
					t.Fatalf("passThrough with token %q = %d %s", tk, resp.StatusCode, readBody(t, resp))
				}
				h := http.Header(decodeEcho(t, resp).Headers)
				if id := h.Get("Eg-Consumer-Id"); id != "" && id != "anonymous" {
					t.Errorf("passThrough: upstream eg-consumer-id = %q", id)
				}
			}
			// passThrough with a valid token authenticates.
			tok2, err := g.webConfig("read").PasswordCredentialsToken(ctx, "alice", "alice-password")
			if err != nil {
				t.Fatal(err)
			}
			checkIdentity(t, g.upstreamSees(t, "/open/y", tok2.AccessToken), g.web.ID, "read")
		})
	}
}

// TestOAuth2JWTExpiredReason: a JWT past exp (and the clock-skew leeway)
// is refused with token_expired.
func TestOAuth2JWTExpiredReason(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	g := startOAuthWith(t, "accessTokens:\n  tokenType: jwt\n  timeToExpiry: 3000\n", nil, withClock(clock))
	tok, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token"}).Token(clientCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	g.upstreamSees(t, "/read", tok.AccessToken)
	clock.Advance(8500 * time.Millisecond) // past exp and the 5 s leeway
	g.refused(t, "/read", tok.AccessToken, 401, "token_expired")
	st, _, body := g.postForm(t, "/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, g.svc.ID, svcSecret)
	if st != 200 || body["active"] != false {
		t.Errorf("introspection of an expired JWT = %d %v", st, body)
	}
}
