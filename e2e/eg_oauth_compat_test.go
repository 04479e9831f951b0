package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/app"
)

// Express Gateway behaviours of its authorization server that Gatehouse
// matches (issue #12), each written from EG's code and tests
// (/work/shared/spec/express-gateway.md §1; EG's test/policies/oauth/
// jwt-token.js, test/oauth/implicit.test.js, test/rest-api/applications.js).
// Tokens are decoded with go-jose, not the gateway's golang-jwt.

// egSecret is the HS256 key of accessTokens.secretOrPrivateKey, repeated
// in the jwt policy's secretOrPublicKey, as EG's jwt-token.js test does.
const egSecret = "eg-compat-hmac-secret-0123456789abcdef"

// egJWTSystem is EG's jwt-token.js setup: JWT access tokens signed with
// an HMAC secret; no timeToExpiry, so the default lifetimes apply.
const egJWTSystem = `
accessTokens:
  tokenType: jwt
  issuer: ` + jwtIssuer + `
  audience: ` + jwtAudience + `
  secretOrPrivateKey: ` + egSecret + `
`

// startEG starts the oauthGateway of oauth2_helpers_test.go with one more
// route, /jwt, behind the jwt policy verifying the gateway's own JWTs with
// the shared secret (EG's uncontrolled mode), in front of an echo
// upstream that receives the Authorization header (the jwt policy
// forwards it), so a test can decode the token as an upstream does.
func startEG(t *testing.T, system string) *oauthGateway {
	t.Helper()
	up := echoServer(t, "upstream")
	gw := oauthGatewayYAML(up.URL)
	gw = strings.Replace(gw, "apiEndpoints:\n", "apiEndpoints:\n  jwtapi:\n    paths: ['/jwt', '/jwt/*']\n", 1)
	gw = strings.Replace(gw, "policies: [oauth2, proxy]", "policies: [oauth2, jwt, proxy]", 1)
	gw += fmt.Sprintf(`  jwtpolicy:
    apiEndpoints: [jwtapi]
    policies:
      - jwt:
          - action:
              secretOrPublicKey: %s
              checkCredentialExistence: false
              issuer: %s
              audience: %s
      - proxy:
          - action:
              serviceEndpoint: backend
`, egSecret, jwtIssuer, jwtAudience)
	return startOAuth(t, system, map[string]string{"gateway.config.yml": gw})
}

// hsClaims verifies an HS256 JWT with the shared secret, iss and aud (as
// EG's test does with jsonwebtoken.verify) and returns all its claims.
func hsClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatalf("not an HS256 JWS: %v", err)
	}
	var std josejwt.Claims
	var all map[string]any
	if err := tok.Claims([]byte(egSecret), &std, &all); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: jwtIssuer, AnyAudience: josejwt.Audience{jwtAudience}, Time: time.Now()}, 0); err != nil {
		t.Fatalf("claims %v: %v", all, err)
	}
	return all
}

// unverifiedClaims reads a JWT's claims without checking anything (what
// an upstream behind the gateway may do).
func unverifiedClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256, jose.ES256})
	if err != nil {
		t.Fatalf("not a JWS: %v", err)
	}
	var all map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&all); err != nil {
		t.Fatal(err)
	}
	return all
}

// TestEGJWTLegacyClaims: with accessTokens.tokenType jwt, the access
// tokens carry EG's claims, consumerId (the client app's id: EG's
// createJWT({consumerId, scopes})) and scopes (a list), beside the RFC
// 9068 ones (iss, sub, aud, client_id, scope, jti, iat, exp), so both an
// upstream that decodes EG's tokens and an RFC 9068 resource server work;
// so does the refreshed token (EG's jwt-token.js). accessTokens.
// legacyClaims: false leaves only the RFC claims. Either way the gateway's
// own oauth2 and jwt policies accept the tokens. Without timeToExpiry the
// default lifetime (2 h) applies.
func TestEGJWTLegacyClaims(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		system string
		legacy bool
	}{
		{"default", egJWTSystem, true},
		{"legacyClaims false", egJWTSystem + "  legacyClaims: false\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startEG(t, tt.system)
			conf := g.webConfig("read", "write")
			ctx := clientCtx(t)
			tok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-password")
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken == "" {
				t.Fatal("the password grant must include a refresh token (EG's jwt-token.js)")
			}
			if got := tok.Extra("expires_in"); got != float64(7200) {
				t.Errorf("expires_in = %v, want 7200: without timeToExpiry the default lifetime applies", got)
			}
			check := func(t *testing.T, raw string) {
				t.Helper()
				c := hsClaims(t, raw)
				// RFC 9068 §2.2, whatever legacyClaims says.
				if c["client_id"] != g.web.ID || c["sub"] != g.alice.ID || c["scope"] != "read write" || c["jti"] == nil {
					t.Errorf("RFC 9068 claims %v: want client_id %s, sub %s (the user), scope \"read write\", a jti", c, g.web.ID, g.alice.ID)
				}
				iat, _ := c["iat"].(float64)
				exp, _ := c["exp"].(float64)
				if exp-iat != 7200 {
					t.Errorf("exp - iat = %vs, want 7200s (the default 2 h)", exp-iat)
				}
				if !tt.legacy {
					if _, ok := c["consumerId"]; ok {
						t.Errorf("legacyClaims false: consumerId present in %v", c)
					}
					if _, ok := c["scopes"]; ok {
						t.Errorf("legacyClaims false: scopes present in %v", c)
					}
					return
				}
				if c["consumerId"] != g.web.ID {
					t.Errorf("consumerId = %v, want the client app's id %s", c["consumerId"], g.web.ID)
				}
				scopes, _ := c["scopes"].([]any)
				if !slices.Equal(scopes, []any{"read", "write"}) {
					t.Errorf("scopes = %#v, want the list [read write]", c["scopes"])
				}
			}
			check(t, tok.AccessToken)

			// The gateway's oauth2 policy accepts it (the route needs read).
			checkIdentity(t, g.upstreamSees(t, "/read", tok.AccessToken), g.web.ID, "read write")
			// Its jwt policy too; the upstream behind it gets the token and
			// decodes EG's claims from it.
			up := g.upstreamSees(t, "/jwt", tok.AccessToken)
			fwd, ok := strings.CutPrefix(http.Header(up.Headers).Get("Authorization"), "Bearer ")
			if !ok {
				t.Fatalf("the jwt policy did not forward the token: headers %v", up.Headers)
			}
			c := unverifiedClaims(t, fwd)
			if _, has := c["consumerId"]; has != tt.legacy || (tt.legacy && c["consumerId"] != g.web.ID) {
				t.Errorf("upstream decoded consumerId %v, want it only with legacy claims", c["consumerId"])
			}

			// The refreshed token has the same claims (EG's jwt-token.js).
			next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			check(t, next.AccessToken)
			checkIdentity(t, g.upstreamSees(t, "/read", next.AccessToken), g.web.ID, "read write")
			g.upstreamSees(t, "/jwt", next.AccessToken)
		})
	}
}

// TestEGTimeToExpiryZero: timeToExpiry: 0 in accessTokens, refreshTokens
// and authorizationCodes means "already expired", as in EG (expiresAt =
// now, refused on read), not "use the default". What is issued is refused
// by every resource-server path: the oauth2 policy, the jwt policy (for
// JWTs, whose exp lies before any clock tolerance) and introspection,
// which answers active:false; the refresh token and the code are refused
// by the token endpoint.
func TestEGTimeToExpiryZero(t *testing.T) {
	t.Parallel()
	const zero = "refreshTokens:\n  timeToExpiry: 0\nauthorizationCodes:\n  timeToExpiry: 0\n"
	for _, tt := range []struct {
		name, system, reason string
		jwt                  bool
	}{
		{"opaque", "accessTokens:\n  timeToExpiry: 0\n" + zero, "invalid_token", false},
		{"jwt", egJWTSystem + "  timeToExpiry: 0\n" + zero, "token_expired", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startEG(t, tt.system)
			refusedEverywhere := func(t *testing.T, tok string) {
				t.Helper()
				g.refused(t, "/api", tok, http.StatusUnauthorized, tt.reason)
				if tt.jwt {
					c := unverifiedClaims(t, tok)
					iat, _ := c["iat"].(float64)
					exp, _ := c["exp"].(float64)
					if exp > iat || exp == 0 {
						t.Errorf("exp %v, iat %v: a token issued expired must have exp before its iat", exp, iat)
					}
					g.refused(t, "/jwt", tok, http.StatusUnauthorized, "token_expired")
				}
				st, _, body := g.postForm(t, "/oauth2/introspect", url.Values{"token": {tok}}, g.svc.ID, svcSecret)
				if st != 200 || body["active"] != false || len(body) != 1 {
					t.Errorf("introspection = %d %v, want 200 {\"active\": false}", st, body)
				}
			}

			// client_credentials: an access token with expires_in 0.
			st, h, body := g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, g.svc.ID, svcSecret)
			if st != 200 || body["expires_in"] != float64(0) || body["access_token"] == nil {
				t.Fatalf("client_credentials = %d %v, want 200 with expires_in 0", st, body)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", h.Get("Cache-Control"))
			}
			refusedEverywhere(t, body["access_token"].(string))

			// password: the refresh token is expired as well.
			st, _, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"},
				"password": {"alice-password"}}, g.web.ID, webSecret)
			rt, _ := body["refresh_token"].(string)
			if st != 200 || rt == "" {
				t.Fatalf("password grant = %d %v, want 200 with a refresh token", st, body)
			}
			refusedEverywhere(t, body["access_token"].(string))
			st, h, body = g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, g.web.ID, webSecret)
			oauthErr(t, st, h, body, http.StatusBadRequest, "invalid_grant")
			st, _, body = g.postForm(t, "/oauth2/introspect", url.Values{"token": {rt}}, g.svc.ID, svcSecret)
			if st != 200 || body["active"] != false {
				t.Errorf("introspection of the refresh token = %d %v, want active false", st, body)
			}

			// authorization_code: the code in the redirect is expired.
			conf := g.webConfig("read")
			code := g.authorizeCode(t, newBrowser(t, g.base), conf, "alice", "alice-password")
			_, err := conf.Exchange(clientCtx(t), code)
			retrieveErr(t, err, http.StatusBadRequest, "invalid_grant")
		})
	}
}

// TestEGImplicitWithoutScope: the implicit grant without scope issues a
// token with no scopes, as EG does ("should grant access token when
// requesting without scopes": token.scopes does not exist), not the
// client's scopes; with scope it has exactly those. The scope-less token
// opens a route without scopes and is refused (403) on one that needs
// read. In JWT mode there is no scope claim, and EG's scopes is empty.
func TestEGImplicitWithoutScope(t *testing.T) {
	t.Parallel()
	const implicit = "oauth2:\n  allowImplicit: true\n"
	for _, tt := range []struct {
		name, system string
		jwt          bool
	}{
		{"opaque", opaqueSystem + implicit, false},
		{"jwt", egJWTSystem + implicit, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startEG(t, tt.system)
			b := newBrowser(t, g.base)
			implicitToken := func(scope string) url.Values {
				t.Helper()
				q := url.Values{"client_id": {g.web.ID}, "response_type": {"token"}, "redirect_uri": {webRedirect}, "state": {"s"}}
				if scope != "" {
					q.Set("scope", scope)
				}
				st, u, body := b.decide(b.consent("/oauth2/authorize?"+q.Encode(), "alice", "alice-password"), true)
				if st != http.StatusFound || u == nil {
					t.Fatalf("decision = %d\n%s", st, body)
				}
				f, err := url.ParseQuery(u.Fragment)
				if err != nil || f.Get("access_token") == "" {
					t.Fatalf("fragment %q: %v", u.Fragment, err)
				}
				return f
			}

			f := implicitToken("")
			if f.Has("scope") {
				t.Errorf("fragment scope = %q, want none: nothing was asked for", f.Get("scope"))
			}
			tok := f.Get("access_token")
			st, _, intro := g.postForm(t, "/oauth2/introspect", url.Values{"token": {tok}}, g.svc.ID, svcSecret)
			if st != 200 || intro["active"] != true {
				t.Fatalf("introspection = %d %v, want an active token", st, intro)
			}
			if _, has := intro["scope"]; has {
				t.Errorf("introspection scope = %v, want none (the client has read write)", intro["scope"])
			}
			if tt.jwt {
				c := hsClaims(t, tok)
				if _, has := c["scope"]; has {
					t.Errorf("JWT scope claim %v, want none", c["scope"])
				}
				if s, ok := c["scopes"].([]any); !ok || len(s) != 0 {
					t.Errorf("JWT scopes = %#v, want an empty list", c["scopes"])
				}
			}
			checkIdentity(t, g.upstreamSees(t, "/api", tok), g.web.ID, "")
			g.refused(t, "/read", tok, http.StatusForbidden, "insufficient_scope")

			// With a scope: exactly that one.
			f = implicitToken("read")
			if f.Get("scope") != "read" {
				t.Errorf("fragment scope = %q, want read", f.Get("scope"))
			}
			checkIdentity(t, g.upstreamSees(t, "/read", f.Get("access_token")), g.web.ID, "read")
		})
	}
}

// TestEGAppForUnknownUser: creating an application for a user that does
// not exist answers 409, EG's status (its test/rest-api/applications.js
// asserts it), with Gatehouse's JSON reason; the CLI's `apps create` exits
// non-zero with the message on one line. Nothing is created.
func TestEGAppForUnknownUser(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "http: {port: 0, host: 127.0.0.1}\nadmin: {port: 0, host: 127.0.0.1}\n",
		func(o *app.Options) { o.BcryptCost = 4 })
	admin := "http://" + g.app.Addr("admin").String()
	resp, err := http.Post(admin+"/apps", "application/json", strings.NewReader(`{"userId":"nobody","name":"shop"}`))
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	if resp.StatusCode != http.StatusConflict || m["error"] != "unknown_user" || m["field"] != "userId" ||
		m["message"] != "The specified user does not exist: nobody" {
		t.Errorf("POST /apps for an unknown user = %d %s, want 409 unknown_user on userId", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}

	bin := buildBinary(t)
	cmd := exec.Command(bin, "apps", "create", "-u", "nobody", "-p", "name=shop", "--admin-url", admin, "--config-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_KEY=", "EG_ADMIN_URL=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("gatehouse apps create -u nobody: %v, want a non-zero exit", err)
	}
	if got := errb.String(); got != "gatehouse: The specified user does not exist: nobody\n" || out.Len() != 0 {
		t.Errorf("stderr %q stdout %q, want one line naming the missing user", got, out.String())
	}
	resp = get(t, admin+"/apps")
	if body := readBody(t, resp); !strings.Contains(body, `"apps":[]`) {
		t.Errorf("apps after the refusals: %s, want none", body)
	}
}

// TestEGRevokedRefreshTokenMessage: a refresh token revoked through
// /oauth2/revoke (RFC 7009) is refused as revoked; "already used; every
// token of its grant is revoked" is for a rotated token presented again
// (RFC 9700 §4.14.2, theft), which alone is logged as a reuse.
func TestEGRevokedRefreshTokenMessage(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	password := func() map[string]any {
		t.Helper()
		st, _, body := g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"},
			"password": {"alice-password"}}, g.web.ID, webSecret)
		if st != 200 || body["refresh_token"] == nil {
			t.Fatalf("password grant = %d %v", st, body)
		}
		return body
	}
	refresh := func(rt string) (int, http.Header, map[string]any) {
		t.Helper()
		return g.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, g.web.ID, webSecret)
	}

	// Revoked, then presented.
	tok := password()
	rt := tok["refresh_token"].(string)
	if st, _, body := g.postForm(t, "/oauth2/revoke", url.Values{"token": {rt}}, g.web.ID, webSecret); st != 200 {
		t.Fatalf("revoke = %d %v", st, body)
	}
	g.refused(t, "/api", tok["access_token"].(string), http.StatusUnauthorized, "token_revoked") // RFC 7009 §2.1
	st, h, body := refresh(rt)
	oauthErr(t, st, h, body, http.StatusBadRequest, "invalid_grant")
	if d := body["error_description"]; d != "refresh token was revoked" {
		t.Errorf("error_description = %q, want \"refresh token was revoked\"", d)
	}
	if strings.Contains(g.logs.String(), "refresh token reused") {
		t.Errorf("a revoked refresh token was logged as reused:\n%s", g.logs.String())
	}

	// Rotated, then the old one presented again.
	rt = password()["refresh_token"].(string)
	st, _, body = refresh(rt)
	if st != 200 || body["refresh_token"] == nil {
		t.Fatalf("rotation = %d %v", st, body)
	}
	next := body["refresh_token"].(string)
	st, h, body = refresh(rt)
	oauthErr(t, st, h, body, http.StatusBadRequest, "invalid_grant")
	if d := body["error_description"]; d != "refresh token was already used; every token of its grant is revoked" {
		t.Errorf("replay: error_description = %q", d)
	}
	if !strings.Contains(g.logs.String(), "refresh token reused") {
		t.Error("the replay was not logged")
	}
	// The family went with it; its live token is now refused as revoked.
	st, h, body = refresh(next)
	oauthErr(t, st, h, body, http.StatusBadRequest, "invalid_grant")
	if d := body["error_description"]; d != "refresh token was revoked" {
		t.Errorf("the replayed family's newest token: error_description = %q, want revoked", d)
	}
}

// TestEGTokenEndpointWrongMethod: GET /oauth2/token (and any method but
// POST on the token, revocation and introspection endpoints) answers 405
// with Allow: POST and an RFC 6749 §5.2 JSON body, like every other error
// of these endpoints; golang.org/x/oauth2 still gets its tokens by POST.
func TestEGTokenEndpointWrongMethod(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem)
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"} {
		for _, method := range []string{"GET", "HEAD", "PUT", "DELETE"} {
			req, _ := http.NewRequest(method, g.base+path+"?grant_type=client_credentials", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
				t.Errorf("%s %s = %d Allow %q, want 405 Allow: POST", method, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s %s: Content-Type %q, want JSON", method, path, ct)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, resp.Header.Get("Cache-Control"))
			}
			if method == "HEAD" {
				continue
			}
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil || m["error"] != "invalid_request" ||
				m["error_description"] != path+" accepts only POST, not "+method {
				t.Errorf("%s %s: body %s, want {\"error\":\"invalid_request\",\"error_description\":...}", method, path, b)
			}
		}
	}
	if _, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token"}).Token(clientCtx(t)); err != nil {
		t.Errorf("POST still works: %v", err)
	}
}
