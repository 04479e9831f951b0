package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"golang.org/x/oauth2"
)

// TestOAuth2ImplicitGrantEnabled: with oauth2.allowImplicit in
// system.config.yml, response_type=token runs Express Gateway's implicit
// flow (login, consent, token in the redirect URI's fragment, RFC 6749
// §4.2.2) and the token works on a protected route; in JWT mode the token
// is a verifiable RFC 9068 JWT. With oauth2.allowPlainPKCE, a plain
// challenge is accepted in the code flow. The default (both off) is tested
// in TestOAuth2AuthorizationRequestErrors.
func TestOAuth2ImplicitGrantEnabled(t *testing.T) {
	const switches = "oauth2:\n  allowImplicit: true\n  allowPlainPKCE: true\n"
	for _, mode := range []struct {
		name   string
		system string
		jwt    bool
	}{{"opaque", opaqueSystem, false}, {"jwt", jwtSystem, true}} {
		t.Run(mode.name, func(t *testing.T) {
			g := startOAuth(t, mode.system+switches)
			check := checkOpaque
			if mode.jwt {
				check = jwksVerifier(t, g)
			}
			b := newBrowser(t, g.base)
			q := url.Values{"client_id": {g.web.ID}, "response_type": {"token"}, "redirect_uri": {webRedirect},
				"scope": {"read"}, "state": {"st-1"}}
			page := b.consent("/oauth2/authorize?"+q.Encode(), "alice", "alice-password")
			st, u, body := b.decide(page, true)
			if st != http.StatusFound || u == nil {
				t.Fatalf("decision = %d\n%s", st, body)
			}
			if got := u.Scheme + "://" + u.Host + u.Path; got != webRedirect || u.RawQuery != "" {
				t.Fatalf("redirected to %s, want %s with the answer in the fragment only", u, webRedirect)
			}
			f, err := url.ParseQuery(u.Fragment)
			if err != nil {
				t.Fatal(err)
			}
			if f.Get("state") != "st-1" || f.Get("token_type") != "Bearer" || f.Get("expires_in") != "60" ||
				f.Get("scope") != "read" || f.Get("access_token") == "" || f.Has("refresh_token") || f.Has("code") {
				t.Fatalf("fragment %v: want access_token, token_type Bearer, expires_in 60, scope read, the state and no refresh token", f)
			}
			check(t, f.Get("access_token"), g.web.ID, g.alice.ID, "read")
			checkIdentity(t, g.upstreamSees(t, "/read", f.Get("access_token")), g.web.ID, "read")

			// The metadata advertises what is on.
			resp := get(t, g.base+"/.well-known/oauth-authorization-server")
			var meta struct {
				ResponseTypes []string `json:"response_types_supported"`
				GrantTypes    []string `json:"grant_types_supported"`
				Methods       []string `json:"code_challenge_methods_supported"`
			}
			if err := json.Unmarshal([]byte(readBody(t, resp)), &meta); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(meta.ResponseTypes, "token") || !slices.Contains(meta.GrantTypes, "implicit") || !slices.Contains(meta.Methods, "plain") {
				t.Errorf("metadata %+v: want token, implicit and plain listed", meta)
			}

			// plain PKCE in the code flow, with the real client library.
			conf := g.webConfig("read")
			v := oauth2.GenerateVerifier()
			code := g.authorizeCode(t, b, conf, "alice", "alice-password",
				oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
			tok, err := conf.Exchange(clientCtx(t), code, oauth2.VerifierOption(v))
			if err != nil {
				t.Fatalf("code exchange with a plain verifier: %v", err)
			}
			checkIdentity(t, g.upstreamSees(t, "/read", tok.AccessToken), g.web.ID, "read")
		})
	}
}
