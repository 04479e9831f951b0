package oauth2server

// OpenID Connect benchmarks (issue #15): the authorization-code + ID token
// round trip a relying party and a browser make, the UserInfo endpoint,
// and the client_credentials token endpoint over the same real HTTP
// (httptest on 127.0.0.1), so that `go test -bench 'OIDC|Token'` gives
// their ratios in one run. The ID token is checked with go-jose, not with
// the golang-jwt the server signs with.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// benchOP is a server of the fixture (memory store, real clock) behind a
// loopback HTTP listener, with a relying party registered for the OpenID
// scopes and the JWKS it would fetch.
type benchOP struct {
	f    *fixture
	base string
	rp   rp
	keys jose.JSONWebKeySet
	// transport is shared by every client of a benchmark: keep-alive
	// connections, as a browser and an RP keep them.
	transport *http.Transport
}

// newBenchOP builds the provider in an access-token mode (oidcSystem)
// with an ID token algorithm ("" is RS256, the default) and a bcrypt cost
// for the store (the tests' 4; the sign-in benchmark sets its own).
func newBenchOP(b *testing.B, mode, idAlg string, bcryptCost int) *benchOP {
	b.Helper()
	st := store.New(memstore.New(nil), store.Options{BcryptCost: bcryptCost})
	sys := oidcSystem(mode)
	if idAlg != "" {
		sys.OAuth2 = &config.OAuth2Server{OpenID: &config.OpenID{IDTokenAlgorithm: idAlg}}
	}
	f := newFixtureOn(b, st, nil, sys)
	ts := httptest.NewServer(f.srv)
	b.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	op := &benchOP{f: f, base: ts.URL, transport: tr}
	op.rp = op.register(b)
	// What an RP reads once: discovery, then its jwks_uri (the issuer's
	// host is not this listener's, so only its path is used).
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	op.getJSON(b, "/.well-known/openid-configuration", &disc)
	if disc.Issuer != testIssuer {
		b.Fatalf("discovery issuer %q, want %q", disc.Issuer, testIssuer)
	}
	u, err := url.Parse(disc.JWKSURI)
	if err != nil {
		b.Fatal(err)
	}
	op.getJSON(b, u.Path, &op.keys)
	if len(op.keys.Keys) == 0 {
		b.Fatal("empty JWKS")
	}
	return op
}

// register is newRPWith for a benchmark: a confidential client with the
// OpenID scopes (client_secret_basic at the token endpoint).
func (op *benchOP) register(b *testing.B) rp {
	b.Helper()
	ctx := context.Background()
	s := op.f.s
	if err := s.CreateScopes(ctx, "openid", "profile", "email", "phone", "address"); err != nil {
		b.Fatal(err)
	}
	const redirect = "https://rp.example/cb"
	app, err := s.CreateApp(ctx, store.App{UserID: op.f.user.ID, Name: "bench rp", RedirectURI: redirect})
	if err != nil {
		b.Fatal(err)
	}
	_, sec, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2,
		Scopes: []string{"openid", "profile", "email", "read"}})
	if err != nil {
		b.Fatal(err)
	}
	return rp{id: app.ID, secret: sec, redirect: redirect}
}

func (op *benchOP) getJSON(b *testing.B, path string, v any) {
	b.Helper()
	resp, err := (&http.Client{Transport: op.transport}).Get(op.base + path)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s = %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		b.Fatal(err)
	}
}

// benchBrowser is a browser: cookies kept, redirects seen one by one
// (the redirect to the RP's callback is not followed, the RP reads it).
type benchBrowser struct {
	op *benchOP
	c  *http.Client
}

func (op *benchOP) newBrowser() *benchBrowser {
	jar, _ := cookiejar.New(nil)
	return &benchBrowser{op: op, c: &http.Client{Transport: op.transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends req and returns the status, the Location and the body (read to
// the end, so the connection is reused).
func (br *benchBrowser) do(req *http.Request) (int, string, string, error) {
	resp, err := br.c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body), err
}

func (br *benchBrowser) get(ref string) (int, string, string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return 0, "", "", err
	}
	req, _ := http.NewRequest("GET", br.op.base+u.RequestURI(), nil)
	return br.do(req)
}

func (br *benchBrowser) post(path string, form url.Values) (int, string, string, error) {
	req, _ := http.NewRequest("POST", br.op.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return br.do(req)
}

// signIn submits the sign-in form at /login as alice (GET for its CSRF
// token, then POST) and returns where the sign-in sends the browser.
func (br *benchBrowser) signIn() (string, error) {
	code, _, page, err := br.get("/login")
	if err != nil || code != 200 {
		return "", fmt.Errorf("GET /login = %d %v", code, err)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("no CSRF field in the sign-in page")
	}
	code, loc, _, err := br.post("/login", url.Values{"_csrf": {m[1]}, "username": {"alice"}, "password": {"alice-password"}})
	if err != nil || code != http.StatusFound {
		return "", fmt.Errorf("POST /login = %d %v", code, err)
	}
	return loc, nil
}

// flow is one authorization request of the RP: PKCE S256 (RFC 7636 §4.1,
// §4.2), a nonce and a state, each fresh.
type flow struct {
	verifier, nonce, state string
}

func randomValue() string {
	p := make([]byte, 32)
	_, _ = rand.Read(p)
	return base64.RawURLEncoding.EncodeToString(p)
}

func newFlow() flow { return flow{verifier: randomValue(), nonce: randomValue(), state: randomValue()} }

func (fl flow) authorizeURL(c rp, scope string) string {
	sum := sha256.Sum256([]byte(fl.verifier))
	return "/oauth2/authorize?" + url.Values{"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {c.redirect},
		"scope": {scope}, "state": {fl.state}, "nonce": {fl.nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
}

// callback reads the code of a redirect to the RP's callback, checking
// the state (RFC 6749 §10.12).
func (fl flow) callback(c rp, status int, loc string) (string, error) {
	if status != http.StatusFound || !strings.HasPrefix(loc, c.redirect+"?") {
		return "", fmt.Errorf("authorize = %d, Location %q: want the RP's callback", status, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if q.Get("state") != fl.state || q.Get("code") == "" {
		return "", fmt.Errorf("callback %q: no code, or another state", loc)
	}
	return q.Get("code"), nil
}

// tokens is the token endpoint's answer to the code.
type tokens struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
}

// redeem is the RP's back-channel request: the code, the redirect URI and
// the PKCE verifier, with client_secret_basic.
func (op *benchOP) redeem(c *http.Client, fl flow, code string) (tokens, error) {
	var t tokens
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {op.rp.redirect}, "code_verifier": {fl.verifier}}
	req, _ := http.NewRequest("POST", op.base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicHeader(op.rp.id, op.rp.secret))
	resp, err := c.Do(req)
	if err != nil {
		return t, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return t, err
	}
	if resp.StatusCode != 200 {
		return t, fmt.Errorf("token = %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return t, err
	}
	if t.IDToken == "" || t.AccessToken == "" {
		return t, fmt.Errorf("token response without an ID token or an access token: %s", body)
	}
	return t, nil
}

// idAlgs are the ID token algorithms the provider can sign with.
var idAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// checkIDToken validates the ID token as an RP does (OpenID Connect Core
// 1.0 §3.1.3.7): the signature with the JWKS key of its kid, iss exactly
// the issuer, aud and azp the client, exp and iat, the nonce of the
// request, and at_hash of the access token (§3.1.3.8: the left half of
// the hash of the alg's family, SHA-256 for RS256 and ES256, SHA-512 for
// EdDSA with Ed25519 as go-oidc has it).
func (op *benchOP) checkIDToken(t tokens, fl flow) error {
	tok, err := josejwt.ParseSigned(t.IDToken, idAlgs)
	if err != nil {
		return err
	}
	keys := op.keys.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return fmt.Errorf("no JWKS key %q", tok.Headers[0].KeyID)
	}
	var std josejwt.Claims
	var oidc struct {
		Nonce  string `json:"nonce"`
		AZP    string `json:"azp"`
		AtHash string `json:"at_hash"`
	}
	if err := tok.Claims(keys[0].Key, &std, &oidc); err != nil {
		return err
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: testIssuer, AnyAudience: josejwt.Audience{op.rp.id}, Time: time.Now()}, time.Minute); err != nil {
		return err
	}
	var sum []byte
	if tok.Headers[0].Algorithm == string(jose.EdDSA) {
		s := sha512.Sum512([]byte(t.AccessToken))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(t.AccessToken))
		sum = s[:]
	}
	if oidc.Nonce != fl.nonce || oidc.AZP != op.rp.id || oidc.AtHash != base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]) {
		return fmt.Errorf("ID token nonce %q azp %q at_hash %q: not this request's", oidc.Nonce, oidc.AZP, oidc.AtHash)
	}
	return nil
}

// consent signs br in and allows the RP the scope once (the consent page's
// form), so that later requests for it skip the page (remembered consent,
// Core §3.1.2.4), and returns that first flow's tokens.
func (op *benchOP) consent(b *testing.B, br *benchBrowser, scope string) tokens {
	b.Helper()
	fl := newFlow()
	status, loc, _, err := br.get(fl.authorizeURL(op.rp, scope))
	if err != nil || status != http.StatusFound || loc != "/login" {
		b.Fatalf("authorize before sign-in = %d %q %v, want /login", status, loc, err)
	}
	if loc, err = br.signIn(); err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("GET", op.base+loc, nil)
	resp, err := br.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindStringSubmatch(string(page))
	if resp.StatusCode != 200 || m == nil || resp.Header.Get("transaction_id") == "" {
		b.Fatalf("authorize after sign-in = %d, want the consent page", resp.StatusCode)
	}
	status, loc, _, err = br.post("/oauth2/authorize/decision", url.Values{"_csrf": {m[1]},
		"transaction_id": {resp.Header.Get("transaction_id")}, "allow": {"allow"}})
	if err != nil {
		b.Fatal(err)
	}
	t, err := op.finish(br, fl, status, loc)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// finish is the relying party's side of a flow once the authorization
// endpoint answered (status, loc): the code read from the redirect, the
// token request, and the ID token checked.
func (op *benchOP) finish(br *benchBrowser, fl flow, status int, loc string) (tokens, error) {
	code, err := fl.callback(op.rp, status, loc)
	if err != nil {
		return tokens{}, err
	}
	t, err := op.redeem(br.c, fl, code)
	if err != nil {
		return tokens{}, err
	}
	return t, op.checkIDToken(t, fl)
}

const benchScope = "openid profile email"

// BenchmarkOIDCCodeRoundTrip is one programmatic sign-in of an RP per op,
// over loopback HTTP: GET /oauth2/authorize with PKCE S256 and a nonce,
// the redirect to the callback read for its code, POST /oauth2/token, and
// the ID token verified with go-jose against the JWKS. "opaque" and "jwt"
// are the access-token modes; the last name the ID token's algorithm
// (RS256 the default: its signature is most of a consented round trip's
// CPU; the sign-in variants use it).
//
//   - consented: the browser is signed in and the consent is remembered,
//     so the authorization request answers with the code (one redirect).
//   - signin/*: each op is a fresh browser that signs in too: the
//     authorization request sends it to /login, GET /login (the form's
//     CSRF token), POST /login, back to the authorization request, which
//     the remembered consent answers. The store remembers a verified
//     password (a MAC of it, for the credential's revision), so a user
//     signing in again skips bcrypt: "cached". "bcrypt4" and "bcrypt10"
//     change the credential's revision before each op, so the sign-in
//     checks alice's password with bcrypt at cost 4 (the tests' store) or
//     10 (the store's default, Express Gateway's saltRounds).
func BenchmarkOIDCCodeRoundTrip(b *testing.B) {
	for _, c := range []struct{ mode, alg string }{{"opaque", "RS256"}, {"jwt", "RS256"}, {"opaque", "ES256"}, {"opaque", "EdDSA"}} {
		b.Run("consented/"+c.mode+"/"+c.alg, func(b *testing.B) {
			op := newBenchOP(b, c.mode, c.alg, 4)
			br := op.newBrowser()
			op.consent(b, br, benchScope)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				fl := newFlow()
				status, loc, _, err := br.get(fl.authorizeURL(op.rp, benchScope))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := op.finish(br, fl, status, loc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, c := range []struct {
		name string
		cost int
		cold bool
	}{{"cached", 4, false}, {"bcrypt4", 4, true}, {"bcrypt10", 10, true}} {
		b.Run("signin/"+c.name+"/opaque", func(b *testing.B) {
			op := newBenchOP(b, "opaque", "", c.cost)
			op.consent(b, op.newBrowser(), benchScope)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if c.cold {
					// A new revision of alice's password credential
					// (deactivated and activated, outside the timer)
					// misses the store's verified-secret cache: this
					// sign-in pays the bcrypt check.
					b.StopTimer()
					for _, active := range []bool{false, true} {
						if _, err := op.f.s.SetCredentialActive(ctx, store.BasicAuth, op.f.user.ID, active); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				br := op.newBrowser()
				fl := newFlow()
				authz := fl.authorizeURL(op.rp, benchScope)
				status, loc, _, err := br.get(authz)
				if err != nil || status != http.StatusFound || loc != "/login" {
					b.Fatalf("authorize = %d %q %v, want /login", status, loc, err)
				}
				if loc, err = br.signIn(); err != nil {
					b.Fatal(err)
				}
				if loc != authz {
					b.Fatalf("the sign-in sends the browser to %q, want the authorization request", loc)
				}
				if status, loc, _, err = br.get(loc); err != nil {
					b.Fatal(err)
				}
				if _, err := op.finish(br, fl, status, loc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOIDCUserinfo is GET /oauth2/userinfo (Core §5.3) with one
// bearer access token of the code flow (openid profile email), on every
// CPU over loopback HTTP, in each access-token mode: opaque (a store
// lookup) and jwt (the signature check, cached after the first).
func BenchmarkOIDCUserinfo(b *testing.B) {
	for _, mode := range []string{"opaque", "jwt"} {
		b.Run(mode, func(b *testing.B) {
			op := newBenchOP(b, mode, "", 4)
			t := op.consent(b, op.newBrowser(), benchScope)
			c := &http.Client{Transport: op.transport}
			auth := "Bearer " + t.AccessToken
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", op.base+userinfoPath, nil)
					req.Header.Set("Authorization", auth)
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					var claims struct {
						Sub   string `json:"sub"`
						Email string `json:"email"`
					}
					err = json.NewDecoder(resp.Body).Decode(&claims)
					resp.Body.Close()
					if resp.StatusCode != 200 || err != nil || claims.Sub == "" {
						b.Errorf("userinfo = %d %v %+v", resp.StatusCode, err, claims)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTokenClientCredentialsHTTP is BenchmarkTokenClientCredentials
// (memory store) over the loopback HTTP the OIDC benchmarks use, the
// baseline of their ratios: one client at a time (serial, beside the code
// round trip) and on every CPU (parallel, beside userinfo).
func BenchmarkTokenClientCredentialsHTTP(b *testing.B) {
	for _, mode := range []string{"opaque", "jwt"} {
		newOP := func(b *testing.B) (*benchOP, *http.Client) {
			op := newBenchOP(b, mode, "", 4)
			return op, &http.Client{Transport: op.transport}
		}
		one := func(op *benchOP, c *http.Client) error {
			req, _ := http.NewRequest("POST", op.base+"/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=read"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", basicHeader(op.f.web.ID, op.f.webSecret))
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			var t tokens
			err = json.NewDecoder(resp.Body).Decode(&t)
			resp.Body.Close()
			if resp.StatusCode != 200 || err != nil || t.AccessToken == "" {
				return fmt.Errorf("token = %d %v", resp.StatusCode, err)
			}
			return nil
		}
		b.Run(mode+"/serial", func(b *testing.B) {
			op, c := newOP(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := one(op, c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode+"/parallel", func(b *testing.B) {
			op, c := newOP(b)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := one(op, c); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
