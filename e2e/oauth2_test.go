package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Every grant, end to end, with the real client library
// golang.org/x/oauth2, then every token on a protected route through the
// gateway (the oauth2 policy in front of an echo upstream). Once with
// opaque access tokens, once with RFC 9068 JWTs.

const opaqueSystem = `
accessTokens:
  timeToExpiry: 60000
refreshTokens:
  timeToExpiry: 600000
authorizationCodes:
  timeToExpiry: 60000
`

const (
	jwtIssuer   = "https://auth.gatehouse.test"
	jwtAudience = "https://api.gatehouse.test"
)

const jwtSystem = `
accessTokens:
  tokenType: jwt
  timeToExpiry: 60000
  issuer: ` + jwtIssuer + `
  audience: ` + jwtAudience + `
refreshTokens:
  timeToExpiry: 600000
`

func TestOAuth2GrantsOpaque(t *testing.T) {
	t.Parallel()
	testGrants(t, startOAuth(t, opaqueSystem), false)
}

func TestOAuth2GrantsJWT(t *testing.T) {
	t.Parallel()
	testGrants(t, startOAuth(t, jwtSystem), true)
}

// tokenChecker checks an access token's format: an opaque "<id>|<secret>"
// value, or an RFC 9068 JWT verified independently (go-jose, keys from the
// JWKS endpoint).
type tokenChecker func(t *testing.T, tok, clientID, subject, scope string)

func testGrants(t *testing.T, g *oauthGateway, jwtMode bool) {
	check := checkOpaque
	if jwtMode {
		check = jwksVerifier(t, g)
	}

	t.Run("client_credentials", func(t *testing.T) {
		ctx := clientCtx(t)
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
			cc := &clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token",
				Scopes: []string{"admin", "read"}, AuthStyle: style}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("auth style %d: %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Expiry.IsZero() {
				t.Fatalf("token %+v: want a Bearer token with an expiry and no refresh token (RFC 6749 §4.4.3)", tok)
			}
			if tok.Extra("scope") != "admin read" {
				t.Errorf("scope = %v", tok.Extra("scope"))
			}
			check(t, tok.AccessToken, g.svc.ID, g.svc.ID, "admin read")
			e := g.upstreamSees(t, "/admin/reports?x=1", tok.AccessToken)
			checkIdentity(t, e, g.svc.ID, "admin read")
			if e.Path != "/admin/reports" || e.Query != "x=1" {
				t.Errorf("upstream saw %s?%s", e.Path, e.Query)
			}
			if u := http.Header(e.Headers).Get("Eg-Consumer-User-Id"); u != g.alice.ID {
				t.Errorf("eg-consumer-user-id = %q, want the app's owner %q", u, g.alice.ID)
			}
		}
		// No scope requested: every scope of the client is granted.
		tok, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token"}).Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkIdentity(t, g.upstreamSees(t, "/read", tok.AccessToken), g.svc.ID, "admin read")
	})

	t.Run("password", func(t *testing.T) {
		ctx := clientCtx(t)
		conf := g.webConfig("read")
		tok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-password")
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" || tok.Expiry.IsZero() || tok.Extra("scope") != "read" {
			t.Fatalf("token %+v", tok)
		}
		check(t, tok.AccessToken, g.web.ID, g.alice.ID, "read")
		e := g.upstreamSees(t, "/read/me", tok.AccessToken)
		checkIdentity(t, e, g.web.ID, "read")
		// The end user is visible upstream (Express Gateway stored it
		// under a misspelt field and lost it, B-3).
		if u := http.Header(e.Headers).Get("Eg-Consumer-User-Id"); u != g.alice.ID {
			t.Errorf("eg-consumer-user-id = %q, want the end user %q", u, g.alice.ID)
		}
		// Users log in with their username or their id.
		if _, err := conf.PasswordCredentialsToken(ctx, g.bob.ID, "bob-password"); err != nil {
			t.Fatalf("password grant with the user id: %v", err)
		}
		_, err = conf.PasswordCredentialsToken(ctx, "alice", "wrong")
		retrieveErr(t, err, 400, "invalid_grant")
	})

	t.Run("authorization_code+PKCE", func(t *testing.T) {
		ctx := clientCtx(t)
		for _, tc := range []struct {
			name  string
			conf  *oauth2.Config
			scope string
		}{
			{"confidential", g.webConfig("read", "write"), "read write"},
			{"confidential, no scope", g.webConfig(), "read write"},
			{"public", g.spaConfig("read"), "read"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v := oauth2.GenerateVerifier()
				code := g.authorizeCode(t, newBrowser(t, g.base), tc.conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
				tok, err := tc.conf.Exchange(ctx, code, oauth2.VerifierOption(v))
				if err != nil {
					t.Fatal(err)
				}
				if tok.RefreshToken == "" || tok.Extra("scope") != tc.scope {
					t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
				}
				check(t, tok.AccessToken, tc.conf.ClientID, g.alice.ID, tc.scope)
				e := g.upstreamSees(t, "/api/orders", tok.AccessToken)
				checkIdentity(t, e, tc.conf.ClientID, tc.scope)
				if u := http.Header(e.Headers).Get("Eg-Consumer-User-Id"); u != g.alice.ID {
					t.Errorf("eg-consumer-user-id = %q, want the end user %q", u, g.alice.ID)
				}
			})
		}
		// A second authorization in the same browser needs no new login.
		b := newBrowser(t, g.base)
		conf := g.webConfig("read")
		for i := 0; i < 2; i++ {
			v := oauth2.GenerateVerifier()
			code := g.authorizeCode(t, b, conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
			if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
				t.Fatal(err)
			}
		}
		// Deny: access_denied back to the client, with the state.
		page := b.consent(conf.AuthCodeURL("st-deny", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "", "")
		st, u, _ := b.decide(page, false)
		if st != http.StatusFound || u.Query().Get("error") != "access_denied" || u.Query().Get("state") != "st-deny" || u.Query().Get("code") != "" {
			t.Errorf("deny = %d %v", st, u)
		}
	})
}

// TestOAuth2RefreshAfterExpiry: access tokens that live three seconds; after
// they expire the gateway refuses them, golang.org/x/oauth2's TokenSource
// refreshes (the refresh token rotates), the new token works, and a reuse
// of the rotated refresh token revokes the family. The gateway's clock is
// moved past the expiry instead of waiting for it.
func TestOAuth2RefreshAfterExpiry(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name, system, expiredReason string
		wait                        time.Duration
	}{
		{"opaque", "accessTokens:\n  timeToExpiry: 3000\n", "invalid_token", 3500 * time.Millisecond},
		// JWTs are accepted for 5 seconds of clock skew past exp.
		{"jwt", "accessTokens:\n  tokenType: jwt\n  timeToExpiry: 3000\n", "token_expired", 8500 * time.Millisecond},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{}
			g := startOAuthWith(t, mode.system, nil, withClock(clock))
			ctx := clientCtx(t)
			conf := g.webConfig("read", "write")
			v := oauth2.GenerateVerifier()
			code := g.authorizeCode(t, newBrowser(t, g.base), conf, "alice", "alice-password", oauth2.S256ChallengeOption(v))
			first, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			if first.ExpiresIn != 3 {
				t.Errorf("expires_in = %d, want 3 (accessTokens.timeToExpiry is in milliseconds)", first.ExpiresIn)
			}
			g.upstreamSees(t, "/api", first.AccessToken)
			clock.Advance(mode.wait)
			g.refused(t, "/api", first.AccessToken, 401, mode.expiredReason)

			ts := conf.TokenSource(ctx, first)
			second, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			if second.AccessToken == first.AccessToken || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
				t.Fatal("the refresh did not issue a new access token and a new (rotated) refresh token")
			}
			if second.Extra("scope") != "read write" {
				t.Errorf("refreshed scope = %v", second.Extra("scope"))
			}
			checkIdentity(t, g.upstreamSees(t, "/read", second.AccessToken), g.web.ID, "read write")

			// The first refresh token was used up; presenting it again is a
			// replay: invalid_grant, and the whole family is revoked.
			_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
			retrieveErr(t, err, 400, "invalid_grant")
			g.refused(t, "/api", second.AccessToken, 401, "token_revoked")
			_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: second.RefreshToken}).Token()
			retrieveErr(t, err, 400, "invalid_grant")
		})
	}
}

func checkOpaque(t *testing.T, tok, _, _, _ string) {
	t.Helper()
	id, sec, ok := strings.Cut(tok, "|")
	if !ok || len(id) != 32 || len(sec) != 32 {
		t.Errorf("opaque token %q: want <32 hex>|<32 hex> (Express Gateway's shape)", tok)
	}
}

// jwksVerifier verifies JWT access tokens with go-jose (not the library
// that signed them), with the keys from /.well-known/jwks.json.
func jwksVerifier(t *testing.T, g *oauthGateway) tokenChecker {
	resp := get(t, g.base+"/.well-known/jwks.json")
	if resp.StatusCode != 200 {
		t.Fatalf("jwks = %d %s", resp.StatusCode, readBody(t, resp))
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(set.Keys) == 0 {
		t.Fatal("empty JWKS")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.KeyID == "" {
			t.Fatalf("JWKS key %+v: want a public signing key with a kid", k)
		}
	}
	return func(t *testing.T, raw, clientID, subject, scope string) {
		t.Helper()
		tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
		if err != nil {
			t.Fatalf("not a JWS: %v", err)
		}
		h := tok.Headers[0]
		if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
			t.Errorf("typ = %v, want at+jwt (RFC 9068 §2.1)", typ)
		}
		keys := set.Key(h.KeyID)
		if h.KeyID == "" || len(keys) != 1 {
			t.Fatalf("kid %q is not in the JWKS", h.KeyID)
		}
		var std josejwt.Claims
		var extra struct {
			ClientID string `json:"client_id"`
			Scope    string `json:"scope"`
		}
		if err := tok.Claims(keys[0].Key, &std, &extra); err != nil {
			t.Fatalf("signature: %v", err)
		}
		if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: jwtIssuer, AnyAudience: josejwt.Audience{jwtAudience},
			Subject: subject, Time: time.Now()}, time.Second); err != nil {
			t.Errorf("claims %+v: %v", std, err)
		}
		if extra.ClientID != clientID || extra.Scope != scope {
			t.Errorf("client_id %q scope %q, want %q %q", extra.ClientID, extra.Scope, clientID, scope)
		}
		if std.ID == "" || std.Expiry == nil || std.IssuedAt == nil {
			t.Fatalf("jti, exp and iat are required: %+v", std)
		}
		// exp is in seconds: the configured 60000 ms, not 60000 s (B-1).
		if life := std.Expiry.Time().Sub(std.IssuedAt.Time()); life != time.Minute {
			t.Errorf("exp - iat = %v, want 1m (accessTokens.timeToExpiry: 60000 ms)", life)
		}
	}
}

// TestOAuth2JWTNoConfiguredIssuer: without accessTokens.issuer the issuer
// is the gateway's origin, a token obtained on one host name works on
// another, and the metadata points at the JWKS.
func TestOAuth2JWTNoConfiguredIssuer(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, "accessTokens:\n  tokenType: jwt\n")
	tok, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token"}).Token(clientCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := josejwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var std josejwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&std); err != nil {
		t.Fatal(err)
	}
	if std.Issuer != g.base || !slices.Equal([]string(std.Audience), []string{g.base}) {
		t.Errorf("iss %q aud %v, want the gateway's origin %s", std.Issuer, std.Audience, g.base)
	}
	other := strings.Replace(g.base, "127.0.0.1", "localhost", 1)
	req, _ := http.NewRequest("GET", other+"/api", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Errorf("token issued on %s refused on %s: %d %s", g.base, other, resp.StatusCode, readBody(t, resp))
	}
	resp.Body.Close()
	var md map[string]any
	resp = get(t, g.base+"/.well-known/oauth-authorization-server")
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["jwks_uri"] != g.base+"/.well-known/jwks.json" || md["issuer"] != g.base {
		t.Errorf("metadata %v", md)
	}
}
