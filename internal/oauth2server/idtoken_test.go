package oauth2server

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

const testIssuer = "https://auth.example"

// oidcSystem is a system config with the issuer set, in one of the
// access-token modes: "opaque", "jwt" (generated ES256 keys) or "hmac".
func oidcSystem(mode string) *config.System {
	sys := &config.System{AccessTokens: &config.AccessTokens{Issuer: testIssuer}}
	switch mode {
	case "jwt":
		sys.AccessTokens.TokenType = "jwt"
	case "hmac":
		sys.AccessTokens.TokenType = "jwt"
		sys.AccessTokens.SecretOrPrivateKey = strings.Repeat("h", 32)
	}
	return sys
}

// rp is a relying party registered with the OpenID scopes.
type rp struct {
	id, secret, redirect string
}

func (f *fixture) newRP(t *testing.T) rp {
	t.Helper()
	return f.newRPWith(t, "https://rp.example/cb", store.ClientMetadata{})
}

// newRPWith registers a relying party with a redirect URI and OpenID
// Connect client metadata.
func (f *fixture) newRPWith(t *testing.T, redirect string, meta store.ClientMetadata) rp {
	t.Helper()
	ctx := context.Background()
	if err := f.s.CreateScopes(ctx, "openid", "profile", "email", "phone", "address"); err != nil && !strings.Contains(err.Error(), "exist") {
		t.Fatal(err)
	}
	app, err := f.s.CreateApp(ctx, store.App{UserID: f.user.ID, Name: "rp " + redirect, RedirectURI: redirect})
	if err != nil {
		t.Fatal(err)
	}
	_, sec, err := f.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2,
		Scopes: []string{"openid", "profile", "email", "phone", "address", "read"}, Client: meta})
	if err != nil {
		t.Fatal(err)
	}
	return rp{id: app.ID, secret: sec, redirect: redirect}
}

// code runs the browser part of a code flow for c with extra parameters
// (the browser is signed in already) and returns the code.
func (b *browser) code(c rp, extra url.Values) string {
	b.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {c.redirect}}
	for k, v := range extra {
		q[k] = v
	}
	resp, page := b.get("/oauth2/authorize?" + q.Encode())
	if resp.StatusCode != 200 {
		b.t.Fatalf("authorize = %d %s (Location %q)", resp.StatusCode, page, resp.Header.Get("Location"))
	}
	resp, _ = b.post("/oauth2/authorize/decision", url.Values{"_csrf": {csrfOf(b.t, page)}, "transaction_id": {resp.Header.Get("transaction_id")}, "allow": {"allow"}})
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		b.t.Fatalf("decision = %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// exchange redeems a code at the token endpoint.
func exchange(t *testing.T, srv *Server, c rp, code string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	return post(t, srv, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.redirect}}, c.id, c.secret)
}

// publicKeys reads the JWKS into keys by kid.
func publicKeys(t *testing.T, srv *Server) map[string]any {
	t.Helper()
	out := map[string]any{}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, k := range jwksOf(t, srv) {
		switch k.Kty {
		case "RSA":
			out[k.KID] = &rsa.PublicKey{N: new(big.Int).SetBytes(dec(k.N)), E: int(new(big.Int).SetBytes(dec(k.E)).Int64())}
		case "EC":
			// The uncompressed point, 0x04 || X || Y (SEC 1 §2.3.3).
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, dec(k.X)...), dec(k.Y)...))
			if err != nil {
				t.Fatalf("JWKS EC key %s: %v", k.KID, err)
			}
			out[k.KID] = pub
		case "OKP":
			out[k.KID] = ed25519.PublicKey(dec(k.X))
		default:
			t.Fatalf("JWKS key of type %q", k.Kty)
		}
	}
	return out
}

// verifyIDToken checks an ID token as a relying party does (Core
// §3.1.3.7) with the published keys and returns its header and claims.
func verifyIDToken(t *testing.T, srv *Server, tok, clientID string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	keys := publicKeys(t, srv)
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		return keys[kid], nil
	}, jwt.WithIssuer(testIssuer), jwt.WithAudience(clientID), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(srv.now), jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}))
	if err != nil {
		t.Fatalf("ID token does not verify with the JWKS: %v", err)
	}
	return parsed.Header, claims
}

// TestIDTokenOnCodeGrant: with openid, the code grant's response has an ID
// token with Core §2's claims, verifiable with the JWKS, in every
// access-token mode and with each ID-token algorithm: iss exactly the
// configured issuer, aud [client], azp, the nonce echoed, at_hash of the
// access token, auth_time of the sign-in, amr pwd, sid, typ JWT.
func TestIDTokenOnCodeGrant(t *testing.T) {
	for _, c := range []struct{ mode, alg, wantAlg string }{
		{"opaque", "", "RS256"}, {"jwt", "", "RS256"}, {"hmac", "", "RS256"},
		{"opaque", "ES256", "ES256"}, {"jwt", "EdDSA", "EdDSA"},
	} {
		t.Run(c.mode+"/"+c.wantAlg, func(t *testing.T) {
			sys := oidcSystem(c.mode)
			if c.alg != "" {
				sys.OAuth2 = &config.OAuth2Server{OpenID: &config.OpenID{IDTokenAlgorithm: c.alg}}
			}
			f := newFixture(t, sys)
			c1 := f.newRP(t)
			b := newBrowser(t, f.srv)
			signedInAt := f.clk.Now()
			b.signIn("")
			f.clk.Add(time.Minute)
			nonce := "n-0S6_WzA2Mj+/ \"é"
			rec, m := exchange(t, f.srv, c1, b.code(c1, url.Values{"scope": {"openid read"}, "nonce": {nonce}}))
			if rec.Code != 200 {
				t.Fatalf("token = %d %s", rec.Code, rec.Body)
			}
			idt, _ := m["id_token"].(string)
			if idt == "" {
				t.Fatalf("no id_token in %v", m)
			}
			h, claims := verifyIDToken(t, f.srv, idt, c1.id)
			if h["alg"] != c.wantAlg || h["typ"] != "JWT" || h["kid"] == "" {
				t.Errorf("header %v, want alg %s, typ JWT and a kid", h, c.wantAlg)
			}
			at := m["access_token"].(string)
			sum := sha256.Sum256([]byte(at))
			wantHash := base64.RawURLEncoding.EncodeToString(sum[:16])
			if c.wantAlg == "EdDSA" {
				wantHash = leftHash("EdDSA", at)
			}
			want := map[string]any{"iss": testIssuer, "sub": f.user.ID, "aud": []any{c1.id}, "azp": c1.id,
				"nonce": nonce, "at_hash": wantHash, "auth_time": float64(signedInAt.Unix()), "amr": []any{"pwd"}}
			for k, v := range want {
				if !reflect.DeepEqual(claims[k], v) {
					t.Errorf("%s = %#v, want %#v", k, claims[k], v)
				}
			}
			if sid, _ := claims["sid"].(string); len(sid) < 16 {
				t.Errorf("sid = %q, want the sign-in session's id", sid)
			}
			// An ID token is no access token: the oauth2 policy's check
			// refuses it (typ, and the ID tokens' own keys).
			if err := verify(f.srv, idt); err != ErrTokenInvalid {
				t.Errorf("the ID token as an access token: %v, want ErrTokenInvalid", err)
			}
		})
	}
}

// TestIDTokenOnlyWithOpenID: without openid, the code grant issues no ID
// token; without a nonce, the ID token has none.
func TestIDTokenOnlyWithOpenID(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	c1 := f.newRP(t)
	b := newBrowser(t, f.srv)
	b.signIn("")
	_, m := exchange(t, f.srv, c1, b.code(c1, url.Values{"scope": {"read"}, "nonce": {"n"}}))
	if _, ok := m["id_token"]; ok || m["access_token"] == nil {
		t.Errorf("scope read: %v, want an access token and no id_token", m)
	}
	_, m = exchange(t, f.srv, c1, b.code(c1, url.Values{"scope": {"openid"}}))
	_, claims := verifyIDToken(t, f.srv, m["id_token"].(string), c1.id)
	if _, ok := claims["nonce"]; ok {
		t.Errorf("no nonce sent, nonce claim %v", claims["nonce"])
	}
}

// TestIDTokenOnRefresh: refreshing an openid grant issues an ID token with
// the same iss, sub, aud, azp, auth_time, sid (Core §12.2) and no nonce;
// a refresh narrowed to scopes without openid issues none.
func TestIDTokenOnRefresh(t *testing.T) {
	for _, mode := range []string{"opaque", "jwt"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, oidcSystem(mode))
			c1 := f.newRP(t)
			b := newBrowser(t, f.srv)
			b.signIn("")
			_, m := exchange(t, f.srv, c1, b.code(c1, url.Values{"scope": {"openid read"}, "nonce": {"abc"}}))
			_, first := verifyIDToken(t, f.srv, m["id_token"].(string), c1.id)
			f.clk.Add(10 * time.Minute)
			rec, m2 := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, c1.id, c1.secret)
			if rec.Code != 200 || m2["id_token"] == nil {
				t.Fatalf("refresh = %d %v, want an id_token", rec.Code, m2)
			}
			_, again := verifyIDToken(t, f.srv, m2["id_token"].(string), c1.id)
			for _, k := range []string{"iss", "sub", "aud", "azp", "auth_time", "sid", "amr"} {
				if !reflect.DeepEqual(first[k], again[k]) {
					t.Errorf("%s on refresh = %v, want %v", k, again[k], first[k])
				}
			}
			if again["iat"] == first["iat"] {
				t.Error("iat on refresh is the original's, want the new issue time")
			}
			if _, ok := again["nonce"]; ok {
				t.Error("the refreshed ID token repeats the nonce")
			}
			if again["at_hash"] != leftHash("RS256", m2["access_token"].(string)) {
				t.Error("at_hash on refresh is not the new access token's")
			}
			_, m3 := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m2["refresh_token"].(string)},
				"scope": {"read"}}, c1.id, c1.secret)
			if m3["access_token"] == nil || m3["id_token"] != nil {
				t.Errorf("refresh narrowed to read: %v, want an access token and no id_token", m3)
			}
		})
	}
}

// TestDiscovery: /.well-known/openid-configuration has Discovery 1.0 §3's
// members and is the RFC 8414 document, in every mode (jwks_uri too: the
// ID tokens' keys).
func TestDiscovery(t *testing.T) {
	for _, mode := range []string{"opaque", "jwt", "hmac"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, oidcSystem(mode))
			get := func(path string) map[string]any {
				rec := httptest.NewRecorder()
				f.srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://gw.example"+path, nil))
				if rec.Code != 200 {
					t.Fatalf("%s = %d", path, rec.Code)
				}
				var m map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
			oidc, oauth := get("/.well-known/openid-configuration"), get("/.well-known/oauth-authorization-server")
			if !reflect.DeepEqual(oidc, oauth) {
				t.Errorf("the two documents differ:\n%v\n%v", oidc, oauth)
			}
			for k, v := range map[string]any{
				"issuer": testIssuer, "authorization_endpoint": testIssuer + "/oauth2/authorize",
				"token_endpoint": testIssuer + "/oauth2/token", "userinfo_endpoint": testIssuer + "/oauth2/userinfo",
				"jwks_uri": testIssuer + "/.well-known/jwks.json", "subject_types_supported": []any{"public", "pairwise"},
				"id_token_signing_alg_values_supported": []any{"RS256", "ES256", "EdDSA"}, "response_types_supported": []any{"code"},
				"request_parameter_supported": false, "request_uri_parameter_supported": false, "claims_parameter_supported": false,
			} {
				if !reflect.DeepEqual(oidc[k], v) {
					t.Errorf("%s = %#v, want %#v", k, oidc[k], v)
				}
			}
			for _, list := range []struct {
				key  string
				want []string
			}{
				{"scopes_supported", []string{"openid", "profile", "email", "address", "phone", "offline_access", "read"}},
				{"claims_supported", []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "email"}},
			} {
				have, _ := oidc[list.key].([]any)
				for _, w := range list.want {
					if !slices.Contains(have, any(w)) {
						t.Errorf("%s = %v lacks %s", list.key, have, w)
					}
				}
			}
			// The JWKS has the ID tokens' key, never an HMAC secret.
			for _, k := range jwksOf(t, f.srv) {
				if k.Kty == "oct" || strings.HasPrefix(k.Alg, "HS") {
					t.Errorf("JWKS publishes %+v", k)
				}
			}
		})
	}
}

// TestParseIDTokenHint: an ID token of this server is accepted as a hint
// even expired (Core §3.1.2.1); an access token, a token of another key or
// issuer, or a tampered one is not.
func TestParseIDTokenHint(t *testing.T) {
	f := newFixture(t, oidcSystem("jwt"))
	c1 := f.newRP(t)
	b := newBrowser(t, f.srv)
	b.signIn("")
	_, m := exchange(t, f.srv, c1, b.code(c1, url.Values{"scope": {"openid"}}))
	idt := m["id_token"].(string)
	f.clk.Add(3 * time.Hour) // past exp
	claims, err := f.srv.parseIDTokenHint(idt)
	if err != nil || claims["sub"] != f.user.ID {
		t.Fatalf("an expired ID token as hint: %v %v", claims, err)
	}
	foreign, err := f.srv.signJWT(jwt.MapClaims{"iss": "https://evil.example", "sub": f.user.ID, "aud": c1.id}, "")
	if err != nil {
		t.Fatal(err)
	}
	logout, err := f.srv.signJWTType(jwt.MapClaims{"iss": testIssuer, "sub": f.user.ID}, "", "logout+jwt")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(idt, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), f.user.ID, "someone", 1))) + "." + parts[2]
	for name, tok := range map[string]string{
		"access token": m["access_token"].(string), "foreign iss": foreign, "logout token": logout,
		"tampered": tampered, "garbage": "a.b.c",
	} {
		if _, err := f.srv.parseIDTokenHint(tok); err == nil {
			t.Errorf("%s accepted as id_token_hint", name)
		}
	}
}

// TestPairwiseSub: pairwise subjects differ per sector and per salt, are
// stable, and the generated salt is shared by nodes on one store.
func TestPairwiseSub(t *testing.T) {
	a, b := pairwiseSub("a.example", "u1", "s"), pairwiseSub("b.example", "u1", "s")
	if a == b || a == "u1" || a != pairwiseSub("a.example", "u1", "s") || a == pairwiseSub("a.example", "u1", "t") {
		t.Errorf("pairwise subs: %s %s", a, b)
	}
	if pairwiseSub("a.example", "bc", "s") == pairwiseSub("a.exampleb", "c", "s") {
		t.Error("the parts are not separated")
	}
	f := newFixture(t, nil)
	s1, err := f.srv.pairwiseSalt(context.Background())
	if err != nil || len(s1) < 32 {
		t.Fatalf("salt %q %v", s1, err)
	}
	s2, err := f.server(t, nil).pairwiseSalt(context.Background())
	if err != nil || s2 != s1 {
		t.Errorf("another node's salt %q, want %q", s2, s1)
	}
	sys := &config.System{OAuth2: &config.OAuth2Server{OpenID: &config.OpenID{PairwiseSalt: "configured"}}}
	if s, _ := f.server(t, sys).pairwiseSalt(context.Background()); s != "configured" {
		t.Errorf("configured salt: %q", s)
	}
}

// TestLeftHash: Core §3.1.3.8's example-free check: the left half of the
// algorithm's hash.
func TestLeftHash(t *testing.T) {
	for alg, size := range map[string]int{"RS256": 16, "ES256": 16, "EdDSA": 32, "ES384": 24} {
		b, err := base64.RawURLEncoding.DecodeString(leftHash(alg, "token"))
		if err != nil || len(b) != size {
			t.Errorf("%s: %d bytes, want %d", alg, len(b), size)
		}
	}
	sum := sha256.Sum256([]byte("token"))
	if leftHash("RS256", "token") != base64.RawURLEncoding.EncodeToString(sum[:16]) {
		t.Error("RS256 at_hash is not the left half of SHA-256")
	}
}

// TestPairwiseClients: a pairwise client's ID token and userinfo carry the
// same sub (Core §5.3.2), not the user's id; two clients of one sector
// (the redirect URIs' host, or sector_identifier_uri's) get the same sub,
// a client of another sector another; a public client the user's id.
func TestPairwiseClients(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	pw := store.ClientMetadata{SubjectType: store.SubjectPairwise}
	a1 := f.newRPWith(t, "https://a.example/cb1", pw)
	a2 := f.newRPWith(t, "https://a.example/cb2", pw)
	b1 := f.newRPWith(t, "https://b.example/cb", pw)
	bs := f.newRPWith(t, "https://c.example/cb", store.ClientMetadata{SubjectType: store.SubjectPairwise, SectorIdentifierURI: "https://a.example/sector.json"})
	pub := f.newRP(t)
	br := newBrowser(t, f.srv)
	br.signIn("")
	subs := map[string]string{}
	for name, c := range map[string]rp{"a1": a1, "a2": a2, "b1": b1, "bs": bs, "pub": pub} {
		_, m := exchange(t, f.srv, c, br.code(c, url.Values{"scope": {"openid"}}))
		_, claims := verifyIDToken(t, f.srv, m["id_token"].(string), c.id)
		sub, _ := claims["sub"].(string)
		rec, ui := userinfoCall(t, f.srv, "GET", "Bearer "+m["access_token"].(string), nil)
		if rec.Code != 200 || ui["sub"] != sub {
			t.Errorf("%s: userinfo %d sub %v, ID token sub %q", name, rec.Code, ui["sub"], sub)
		}
		subs[name] = sub
	}
	if subs["pub"] != f.user.ID {
		t.Errorf("public client's sub %q, want the user's id", subs["pub"])
	}
	if subs["a1"] == f.user.ID || subs["a1"] != subs["a2"] || subs["a1"] != subs["bs"] || subs["a1"] == subs["b1"] {
		t.Errorf("pairwise subs %v: want a1 = a2 = bs (sector a.example), b1 another, none the user's id", subs)
	}
}

// TestClientIDTokenAlg: a client's id_token_signed_response_alg picks the
// ID token's algorithm; others get the default.
func TestClientIDTokenAlg(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	es := f.newRPWith(t, "https://es.example/cb", store.ClientMetadata{IDTokenSignedResponseAlg: "ES256"})
	def := f.newRP(t)
	b := newBrowser(t, f.srv)
	b.signIn("")
	for c, want := range map[rp]string{es: "ES256", def: "RS256"} {
		_, m := exchange(t, f.srv, c, b.code(c, url.Values{"scope": {"openid"}}))
		h, claims := verifyIDToken(t, f.srv, m["id_token"].(string), c.id)
		if h["alg"] != want || claims["at_hash"] != leftHash(want, m["access_token"].(string)) {
			t.Errorf("client %s: alg %v, want %s", c.redirect, h["alg"], want)
		}
	}
}

// TestIDTokenKeysAcrossNodesAndRotation: two nodes on one store sign ID
// tokens with the same generated key, each verifies the other's; after
// keyRotation a new key signs, and the retired one stays published, so an
// older ID token still verifies as an id_token_hint on either node.
func TestIDTokenKeysAcrossNodesAndRotation(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	other := f.server(t, oidcSystem("opaque"))
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": testIssuer, "sub": f.user.ID, "aud": []string{f.web.ID}, "iat": f.clk.Now().Unix()}
	}
	old, err := f.srv.signJWT(claims(), "")
	if err != nil {
		t.Fatal(err)
	}
	mine, err := other.signJWT(claims(), "")
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, old) != kidOf(t, mine) {
		t.Fatal("two nodes on one store sign ID tokens with different keys")
	}
	f.clk.Add(keyRotation + time.Minute)
	fresh, err := f.srv.signJWT(claims(), "")
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, fresh) == kidOf(t, old) {
		t.Fatal("no ID-token key rotation after keyRotation")
	}
	f.clk.Add(6 * time.Second) // past the other node's reload throttle
	for name, srv := range map[string]*Server{"this node": f.srv, "the other node": other} {
		for tokName, tok := range map[string]string{"old": old, "fresh": fresh} {
			if _, err := srv.parseIDTokenHint(tok); err != nil {
				t.Errorf("%s: the %s ID token: %v", name, tokName, err)
			}
		}
	}
	kids := map[string]bool{}
	for _, k := range jwksOf(t, other) {
		kids[k.KID] = true
	}
	if !kids[kidOf(t, old)] || !kids[kidOf(t, fresh)] {
		t.Errorf("the other node's JWKS %v lacks the retired or the new ID-token key", kids)
	}
}
