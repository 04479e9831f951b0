package oauth2server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/store"
)

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := p.Header["kid"].(string)
	return kid
}

// accessKeysOf is the JWKS without the ID tokens' keys (idtoken.go): the
// access tokens' public keys, in order.
func accessKeysOf(t *testing.T, srv *Server) []jwk {
	t.Helper()
	all := jwksOf(t, srv) // loads the ID tokens' keys
	oidc := map[string]bool{}
	for _, kr := range srv.oidc.keys {
		for _, k := range kr.published() {
			oidc[k.KID] = true
		}
	}
	var out []jwk
	for _, k := range all {
		if !oidc[k.KID] {
			out = append(out, k)
		}
	}
	return out
}

func jwksOf(t *testing.T, srv *Server) []jwk {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	if rec.Code != 200 {
		t.Fatalf("jwks = %d %s", rec.Code, rec.Body)
	}
	var set struct{ Keys []jwk }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

func TestLifetimes(t *testing.T) {
	f := newFixture(t, nil)
	if l := f.srv.life; l.access != 2*time.Hour || l.refresh != 2*time.Hour || l.code != 5*time.Minute {
		t.Errorf("defaults %+v, want Express Gateway's shipped 2h, 2h, 5m", l)
	}
	srv := f.server(t, &config.System{
		AccessTokens:       &config.AccessTokens{TimeToExpiry: new(config.Duration(90 * time.Second))},
		RefreshTokens:      &config.Expiry{TimeToExpiry: new(config.Duration(time.Hour))},
		AuthorizationCodes: &config.Expiry{TimeToExpiry: new(config.Duration(time.Minute))},
	})
	if l := srv.life; l.access != 90*time.Second || l.refresh != time.Hour || l.code != time.Minute {
		t.Errorf("configured %+v", l)
	}
	rec, m := post(t, srv, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.web.ID, f.webSecret)
	if rec.Code != 200 || m["expires_in"] != float64(90) {
		t.Errorf("expires_in = %v, want 90 (timeToExpiry is milliseconds, expires_in seconds)", m["expires_in"])
	}
}

// TestKeyRotation: generated keys rotate while the process runs; tokens
// signed with the previous key keep verifying until they expire, and the
// JWKS publishes both keys meanwhile.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t, jwtSystem())
	tok0 := f.clientToken(t, f.srv)
	kid0 := kidOf(t, tok0)
	other := f.server(t, jwtSystem()) // a second node on the same store
	if kidOf(t, f.clientToken(t, other)) != kid0 {
		t.Fatal("two nodes on one store sign with different keys")
	}

	f.clk.Add(keyRotation - 30*time.Minute)
	old := f.clientToken(t, f.srv) // still the first key
	if kidOf(t, old) != kid0 {
		t.Fatal("rotated too early")
	}
	f.clk.Add(31 * time.Minute)
	fresh := f.clientToken(t, f.srv)
	kid1 := kidOf(t, fresh)
	if kid1 == kid0 || kid1 == "" {
		t.Fatalf("no rotation after %v: kid %q", keyRotation, kid1)
	}
	if err := verify(f.srv, old); err != nil {
		t.Errorf("a token signed with the previous key: %v", err)
	}
	if keys := accessKeysOf(t, f.srv); len(keys) != 2 || keys[0].KID != kid1 || keys[1].KID != kid0 {
		t.Errorf("JWKS after rotation = %+v, want the new key then the previous one", keys)
	}
	// The other node learns the new key from the store when it meets its
	// kid, and signs with it too.
	if err := verify(other, fresh); err != nil {
		t.Errorf("the other node refuses a token signed with the rotated key: %v", err)
	}
	if kidOf(t, f.clientToken(t, other)) != kid1 {
		t.Error("the other node still signs with the retired key")
	}
	// An unknown kid is refused (and does not make every request reread
	// the store).
	if err := verify(other, forge(t, f.srv, jwt.MapClaims{"kid-test": true}, func(h map[string]any) { h["kid"] = "nope" })); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("unknown kid: %v", err)
	}

	// A rotation later, the retired key (whose tokens have all expired) is
	// dropped.
	f.clk.Add(keyRotation)
	kid2 := kidOf(t, f.clientToken(t, f.srv))
	keys := accessKeysOf(t, f.srv)
	if len(keys) != 2 || keys[0].KID != kid2 || keys[1].KID != kid1 {
		t.Errorf("JWKS after the second rotation = %+v", keys)
	}
}

// forge signs claims with the server's current key, as the server would,
// then lets edit change the header.
func forge(t *testing.T, srv *Server, claims jwt.MapClaims, edit func(h map[string]any)) string {
	t.Helper()
	now := srv.now()
	base := jwt.MapClaims{"iss": "http://gw.example", "sub": "s", "aud": "http://gw.example", "client_id": "c",
		"jti": "j", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	k, hmacKey := srv.keys.current()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), base)
	tok.Header["typ"] = "at+jwt"
	if k.KID != "" {
		tok.Header["kid"] = k.KID
	}
	if edit != nil {
		edit(tok.Header)
	}
	var key any = k.private
	if hmacKey != nil {
		key = hmacKey
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTVerification(t *testing.T) {
	sys := jwtSystem()
	sys.AccessTokens.Issuer = "https://auth.example/"
	sys.AccessTokens.Audience = config.StringList{"https://api.example", "https://other.example"}
	f := newFixture(t, sys)
	tok := f.clientToken(t, f.srv)
	at, err := f.srv.VerifyAccessToken(httptest.NewRequest("GET", "/", nil), tok)
	if err != nil {
		t.Fatal(err)
	}
	if at.ClientID != f.web.ID || at.UserID != "" || at.ID == "" || strings.Join(at.Scopes, " ") != "read write" || at.Claims["iss"] != "https://auth.example" {
		t.Errorf("access token %+v", at)
	}
	good := jwt.MapClaims{"iss": "https://auth.example", "aud": []string{"https://other.example"}}
	if err := verify(f.srv, forge(t, f.srv, good, nil)); err != nil {
		t.Fatalf("a well-formed token: %v", err)
	}
	with := func(extra jwt.MapClaims) jwt.MapClaims {
		out := jwt.MapClaims{}
		for k, v := range good {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	now := f.clk.Now()
	pub := f.srv.keys.published()[0].private.Public()
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	for name, tc := range map[string]struct {
		tok  string
		want error
	}{
		"wrong issuer":         {forge(t, f.srv, with(jwt.MapClaims{"iss": "https://evil.example"}), nil), ErrTokenInvalid},
		"wrong audience":       {forge(t, f.srv, with(jwt.MapClaims{"aud": "https://evil.example"}), nil), ErrTokenInvalid},
		"no exp":               {forge(t, f.srv, with(jwt.MapClaims{"exp": nil}), nil), ErrTokenInvalid},
		"expired":              {forge(t, f.srv, with(jwt.MapClaims{"exp": now.Add(-jwtLeeway - time.Second).Unix()}), nil), ErrTokenExpired},
		"issued in the future": {forge(t, f.srv, with(jwt.MapClaims{"iat": now.Add(time.Minute).Unix()}), nil), ErrTokenInvalid},
		"typ JWT (an ID token, not an access token)": {forge(t, f.srv, good, func(h map[string]any) { h["typ"] = "JWT" }), ErrTokenInvalid},
		"alg none": {func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, with(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), ErrTokenInvalid},
		"HS256 keyed with the public key": {func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS256, with(jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}))
			tk.Header["kid"] = f.srv.keys.published()[0].KID
			s, _ := tk.SignedString(pubDER)
			return s
		}(), ErrTokenInvalid},
		"other key, same kid": {func() string {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tk := jwt.NewWithClaims(jwt.SigningMethodES256, with(jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}))
			tk.Header["kid"] = f.srv.keys.published()[0].KID
			s, _ := tk.SignedString(k)
			return s
		}(), ErrTokenInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			if err := verify(f.srv, tc.tok); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Within the clock-skew leeway an expired token is still accepted.
	if err := verify(f.srv, forge(t, f.srv, with(jwt.MapClaims{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-2 * time.Second).Unix()}), nil)); err != nil {
		t.Errorf("2s past exp: %v", err)
	}
	// exp is iat + timeToExpiry, in seconds (Express Gateway put the
	// milliseconds in as seconds, B-1).
	claims, _ := f.srv.parseJWT(tok)
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("exp - iat = %v s, want 3600", exp-iat)
	}
}

func TestJWTHMACAndConfiguredKeys(t *testing.T) {
	t.Run("HMAC secret", func(t *testing.T) {
		sys := jwtSystem()
		sys.AccessTokens.SecretOrPrivateKey = strings.Repeat("k", 32)
		f := newFixture(t, sys)
		tok := f.clientToken(t, f.srv)
		p, _, _ := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if p.Method.Alg() != "HS256" {
			t.Errorf("alg %s, want HS256 (Express Gateway's default)", p.Method.Alg())
		}
		if err := verify(f.srv, tok); err != nil {
			t.Fatal(err)
		}
		// The JWKS has only the ID tokens' public keys: the secret is not
		// published.
		if keys := accessKeysOf(t, f.srv); len(keys) != 0 {
			t.Errorf("JWKS with an HMAC secret has access-token keys %+v, want none (the secret is not published)", keys)
		}
		sys.AccessTokens.SecretOrPrivateKey = "ssssst"
		if _, err := New(context.Background(), Options{Store: f.s, System: sys}); err == nil {
			t.Error("a 6-character HMAC secret was accepted")
		}
	})
	t.Run("RSA key file", func(t *testing.T) {
		dir := t.TempDir()
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		if err := os.WriteFile(filepath.Join(dir, "signing.pem"), pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		sys := jwtSystem()
		sys.AccessTokens.SecretOrPrivateKeyFile = "signing.pem"
		f := newFixture(t, sys, func(o *Options) { o.ConfigDir = dir })
		tok := f.clientToken(t, f.srv)
		p, _, _ := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if p.Method.Alg() != "RS256" || !strings.HasPrefix(kidOf(t, tok), "cfg-") {
			t.Errorf("alg %s kid %s", p.Method.Alg(), kidOf(t, tok))
		}
		keys := accessKeysOf(t, f.srv)
		if len(keys) != 1 || keys[0].Kty != "RSA" || keys[0].KID != kidOf(t, tok) || keys[0].N == "" {
			t.Errorf("JWKS %+v", keys)
		}
		sys.AccessTokens.Algorithm = "ES256"
		if _, err := New(context.Background(), Options{Store: f.s, System: sys, ConfigDir: dir}); err == nil {
			t.Error("ES256 with an RSA key was accepted")
		}
	})
	t.Run("generated keys need ES256", func(t *testing.T) {
		sys := jwtSystem()
		sys.AccessTokens.Algorithm = "RS256"
		f := newFixture(t, nil)
		if _, err := New(context.Background(), Options{Store: f.s, System: sys}); err == nil {
			t.Error("RS256 without a key was accepted")
		}
	})
}

func TestOpaqueTokenStates(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.clientToken(t, f.srv)
	if err := verify(f.srv, tok); err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(tok, "|")
	if _, err := f.s.RevokeToken(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := verify(f.srv, tok); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked: %v", err)
	}
	tok = f.clientToken(t, f.srv)
	f.clk.Add(2 * time.Hour)
	// The store drops expired tokens (TTL), so an expired opaque token is
	// indistinguishable from an unknown one.
	if err := verify(f.srv, tok); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expired: %v", err)
	}
	if err := verify(f.srv, "no-bar"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("not opaque, not JWT mode: %v", err)
	}
}

// TestCodeExpiry uses the clock: a code is good for
// authorizationCodes.timeToExpiry (5 minutes by default).
func TestCodeExpiry(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	save := func() string {
		code := strings.Repeat("c", 20) + f.clk.Now().Format("150405.000000000")
		now := f.clk.Now()
		if err := f.s.SaveCode(ctx, &store.Code{ID: codeHash(code), ConsumerID: f.web.ID, UserID: f.user.ID,
			RedirectURI: f.web.RedirectURI, Scopes: []string{"read"}, CreatedAt: now, ExpiresAt: now.Add(f.srv.life.code)}); err != nil {
			t.Fatal(err)
		}
		return code
	}
	exchange := func(code string) (int, map[string]any) {
		rec, m := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}}, f.web.ID, f.webSecret)
		return rec.Code, m
	}
	code := save()
	f.clk.Add(5 * time.Minute)
	if st, m := exchange(code); st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("expired code = %d %v", st, m)
	}
	code = save()
	f.clk.Add(5*time.Minute - time.Second)
	if st, m := exchange(code); st != 200 || m["scope"] != "read" || m["refresh_token"] == nil {
		t.Errorf("code 1s before expiry = %d %v", st, m)
	}
}

// TestConcurrentRedemption: of concurrent uses of one code or one refresh
// token exactly one claims it, and whatever that one was issued is dead:
// either the replays revoked it after it was saved, or the store refused to
// save it into the revoked grant and the winner got invalid_grant too (RFC
// 6749 §4.1.2, RFC 9700 §4.14.2). Several rounds, so both orders occur.
func TestConcurrentRedemption(t *testing.T) {
	for _, mode := range []struct {
		name string
		sys  func() *config.System
	}{{"opaque", func() *config.System { return nil }}, {"jwt", jwtSystem}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t, mode.sys())
			ctx := context.Background()
			race := func(form url.Values) (winners int, issued map[string]any) {
				var wg sync.WaitGroup
				var mu sync.Mutex
				for range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rec, m := post(t, f.srv, "/oauth2/token", form, f.web.ID, f.webSecret)
						mu.Lock()
						defer mu.Unlock()
						desc, _ := m["error_description"].(string)
						switch {
						case rec.Code == 200:
							winners++
							issued = m
						case m["error"] != "invalid_grant":
							t.Errorf("loser = %d %v", rec.Code, m)
						case strings.Contains(desc, "revoked while the tokens were issued"):
							winners++ // claimed first, refused at save
						}
					}()
				}
				wg.Wait()
				return winners, issued
			}
			dead := func(what string, issued map[string]any) {
				t.Helper()
				if issued == nil {
					return
				}
				if err := verify(f.srv, issued["access_token"].(string)); err == nil {
					t.Errorf("%s: access token still valid after the replays", what)
				}
				rec, m := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"},
					"refresh_token": {issued["refresh_token"].(string)}}, f.web.ID, f.webSecret)
				if rec.Code != 400 || m["error"] != "invalid_grant" {
					t.Errorf("%s: refresh token after the replays = %d %v", what, rec.Code, m)
				}
			}
			for round := range 10 {
				now := f.clk.Now()
				code := fmt.Sprintf("%043d", round)
				if err := f.s.SaveCode(ctx, &store.Code{ID: codeHash(code), ConsumerID: f.web.ID, UserID: f.user.ID,
					RedirectURI: f.web.RedirectURI, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
				n, issued := race(url.Values{"grant_type": {"authorization_code"}, "code": {code}})
				if n != 1 {
					t.Fatalf("round %d: %d of 8 concurrent code exchanges claimed the code", round, n)
				}
				dead("code", issued)

				rec, m := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}}, f.web.ID, f.webSecret)
				if rec.Code != 200 {
					t.Fatal(rec.Body)
				}
				n, issued = race(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}})
				if n != 1 {
					t.Fatalf("round %d: %d of 8 concurrent refreshes claimed the token", round, n)
				}
				dead("refresh", issued)
				if err := verify(f.srv, m["access_token"].(string)); err == nil {
					t.Errorf("round %d: the family's first access token still valid after refresh-token reuse", round)
				}
			}
		})
	}
}

// TestJWTCacheLookupsCounted: the verified-JWT cache of the server's own
// access tokens reports its hits and misses as "oauth2-jwt".
func TestJWTCacheLookupsCounted(t *testing.T) {
	m := metrics.New()
	f := newFixture(t, jwtSystem(), func(o *Options) { o.Metrics = m })
	tok := f.clientToken(t, f.srv)
	for range 3 {
		if err := verify(f.srv, tok); err != nil {
			t.Fatal(err)
		}
	}
	if h, mi := m.Cache("oauth2-jwt").Counts(); h != 2 || mi != 1 {
		t.Errorf("oauth2-jwt cache: %d hits %d misses, want 2 and 1", h, mi)
	}
}

func TestIntrospectionAndRevocationJWT(t *testing.T) {
	f := newFixture(t, jwtSystem())
	tok := f.clientToken(t, f.srv)
	rec, m := post(t, f.srv, "/oauth2/introspect", url.Values{"token": {tok}}, f.web.ID, f.webSecret)
	if rec.Code != 200 || m["active"] != true || m["client_id"] != f.web.ID || m["scope"] != "read write" {
		t.Fatalf("introspect = %d %v", rec.Code, m)
	}
	// A public client may not introspect.
	rec, m = post(t, f.srv, "/oauth2/introspect", url.Values{"token": {tok}, "client_id": {f.spa.ID}}, "", "")
	if rec.Code != 401 || m["error"] != "invalid_client" {
		t.Errorf("public client introspection = %d %v", rec.Code, m)
	}
	// Another client cannot revoke it; its own client can.
	post(t, f.srv, "/oauth2/revoke", url.Values{"token": {tok}, "client_id": {f.spa.ID}}, "", "")
	if err := verify(f.srv, tok); err != nil {
		t.Fatalf("revoked by another client: %v", err)
	}
	if rec, _ := post(t, f.srv, "/oauth2/revoke", url.Values{"token": {tok}}, f.web.ID, f.webSecret); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if err := verify(f.srv, tok); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("after revocation: %v", err)
	}
	// The denial is kept in the store: another node refuses it too.
	if err := verify(f.server(t, jwtSystem()), tok); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("other node after revocation: %v", err)
	}
	if _, m := post(t, f.srv, "/oauth2/introspect", url.Values{"token": {tok}}, f.web.ID, f.webSecret); len(m) != 1 || m["active"] != false {
		t.Errorf("introspect revoked = %v", m)
	}
}

func TestCheckPKCE(t *testing.T) {
	v := strings.Repeat("a", 43)
	sum := sha256.Sum256([]byte(v))
	s256 := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, tc := range []struct {
		name              string
		challenge, method string
		verifier          string
		ok                bool
	}{
		{"no PKCE", "", "", "", true},
		{"verifier without challenge", "", "", v, false},
		{"S256", s256, "S256", v, true},
		{"S256 mismatch", s256, "S256", strings.Repeat("b", 43), false},
		{"missing verifier", s256, "S256", "", false},
		{"short verifier", s256, "S256", "abc", false},
		{"long verifier", s256, "S256", strings.Repeat("a", 129), false},
		{"bad characters", s256, "S256", strings.Repeat("a", 42) + "+", false},
		{"plain", v, "plain", v, true},
		{"plain mismatch", v, "plain", strings.Repeat("b", 43), false},
	} {
		err := checkPKCE(&store.Code{CodeChallenge: tc.challenge, CodeChallengeMethod: tc.method}, tc.verifier)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestPlainPKCEOption(t *testing.T) {
	f := newFixture(t, nil, func(o *Options) { o.AllowPlainPKCE = true })
	q := url.Values{"client_id": {f.web.ID}, "response_type": {"code"}, "code_challenge": {strings.Repeat("p", 43)}, "code_challenge_method": {"plain"}}
	ar, err := f.srv.validate(context.Background(), q)
	if err != nil || ar.method != "plain" {
		t.Errorf("plain with AllowPlainPKCE: %v", err)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/oauth-authorization-server", nil))
	if !strings.Contains(rec.Body.String(), `"plain"`) {
		t.Errorf("metadata does not list plain: %s", rec.Body)
	}
}

func TestParams(t *testing.T) {
	req := func(ct, body string) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	if v, err := params(req("application/x-www-form-urlencoded; charset=utf-8", "a=1&b=two+words")); err != nil || v.Get("b") != "two words" {
		t.Errorf("form: %v %v", v, err)
	}
	if v, err := params(req("application/json", `{"a":"1","n":2,"b":true,"z":null}`)); err != nil || v.Get("n") != "2" || v.Get("b") != "true" || v.Has("z") {
		t.Errorf("json: %v %v", v, err)
	}
	for name, r := range map[string]*http.Request{
		"repeated":        req("application/x-www-form-urlencoded", "a=1&a=2"),
		"json array":      req("application/json", `{"scope":["a","b"]}`),
		"bad json":        req("application/json", `{`),
		"other type":      req("text/plain", "a=1"),
		"too large":       req("application/x-www-form-urlencoded", "a="+strings.Repeat("x", maxBody)),
		"bad form escape": req("application/x-www-form-urlencoded", "a=%zz"),
	} {
		if _, err := params(r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBasicAuthParsing(t *testing.T) {
	for _, tc := range []struct {
		header, id, secret string
		present, ok        bool
	}{
		{"", "", "", false, true},
		{basicHeader("my client", "p:a%ss"), "my client", "p:a%ss", true, true},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), "a", "b", true, true},
		{"Bearer x", "", "", true, false},
		{"Basic !!!", "", "", true, false},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "", "", true, false},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		id, sec, present, err := basicAuth(r)
		if id != tc.id || sec != tc.secret || present != tc.present || (err == nil) != tc.ok {
			t.Errorf("%q: %q %q %v %v", tc.header, id, sec, present, err)
		}
	}
}

func TestGrantScopes(t *testing.T) {
	allowed := []string{"read", "write"}
	if got, err := grantScopes("", allowed); err != nil || strings.Join(got, " ") != "read write" {
		t.Errorf("none requested: %v %v", got, err)
	}
	if got, err := grantScopes("write read write", allowed); err != nil || strings.Join(got, " ") != "read write" {
		t.Errorf("duplicates: %v %v", got, err)
	}
	if _, err := grantScopes("read admin", allowed); err == nil {
		t.Error("escalation accepted")
	}
}

func TestOwns(t *testing.T) {
	for p, want := range map[string]bool{"/login": true, "/logout": true, "/oauth2/token": true, "/oauth2/static/style.css": true,
		"/.well-known/jwks.json": true, "/.well-known/oauth-authorization-server": true, "/api": false, "/oauth2": false, "/loginx": false} {
		if Owns(p) != want {
			t.Errorf("Owns(%q) = %v", p, !want)
		}
	}
}
