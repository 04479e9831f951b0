package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/echo"
	"github.com/gatehouse/gatehouse/internal/store"
)

// One credential, presented once, and not passed on (issue #10 §3), for
// the five auth policies through the real app: a credential sent twice is
// refused before anything reaches the upstream, a credential read from the
// query never reaches it, oauth2 takes only RFC 9068 access tokens, jwt's
// types option refuses other JWTs, and a token that is no store consumer
// never becomes eg-consumer-id.

const (
	cbJWTSecret    = "e2e-jwt-secret-of-at-least-32-bytes!!"
	cbServerSecret = "e2e-oauth2-server-hmac-secret-0123456789"
	cbIssuer       = "https://auth.gatehouse.test"
)

type credGateway struct {
	*gatewayUnderTest
	hits     atomic.Int64 // requests that reached the upstream
	key      string       // key-auth keyId:keySecret
	otherKey string
	password string // alice's basic-auth password
	svc      *store.App
	svcSec   string          // its client secret
	intro    map[string]bool // tokens the stub introspection server calls active
}

// startCredGateway starts the gateway; typed adds /jwt-typed/* (jwt with
// types: [at+jwt]), an option the other tests do not depend on.
func startCredGateway(t *testing.T, typed bool) *credGateway {
	t.Helper()
	g := &credGateway{intro: map[string]bool{"intro-good": true, "intro-other": true}}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hits.Add(1)
		echo.Handler("upstream").ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ans := map[string]any{"active": false}
		if tok := r.PostForm.Get("token"); g.intro[tok] {
			ans = map[string]any{"active": true, "sub": tok + "-user", "exp": time.Now().Add(time.Hour).Unix()}
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(as.Close)

	pipe := func(name, policy, action string) string {
		return fmt.Sprintf("  %s:\n    apiEndpoints: [%s]\n    policies:\n      - %s:\n          - action: %s\n      - proxy:\n          - action: {serviceEndpoint: backend}\n", name, name, policy, action)
	}
	jwtBase := "secretOrPublicKey: '" + cbJWTSecret + "', checkCredentialExistence: false"
	gw := fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  jwt: {paths: ['/jwt', '/jwt/*']}
  jwtquery: {paths: ['/jwt-query', '/jwt-query/*']}
  jwttyped: {paths: ['/jwt-typed', '/jwt-typed/*']}
  oauth: {paths: ['/api', '/api/*']}
  intro: {paths: ['/intro', '/intro/*']}
  key: {paths: ['/key', '/key/*']}
  keysoft: {paths: ['/key-soft', '/key-soft/*']}
  basic: {paths: ['/basic', '/basic/*']}
serviceEndpoints:
  backend:
    url: '%s'
policies: [jwt, oauth2, oauth2-introspect, key-auth, basic-auth, proxy]
pipelines:
`, up.URL) +
		pipe("jwt", "jwt", "{"+jwtBase+"}") +
		pipe("jwtquery", "jwt", "{"+jwtBase+", jwtExtractor: query, jwtExtractorField: access_token}") +
		pipe("oauth", "oauth2", "{}") +
		pipe("intro", "oauth2-introspect", "{endpoint: '"+as.URL+"'}") +
		pipe("key", "key-auth", "{}") +
		pipe("keysoft", "key-auth", "{passThrough: true}") +
		pipe("basic", "basic-auth", "{}")
	if typed {
		gw += pipe("jwttyped", "jwt", "{"+jwtBase+", types: [at+jwt]}")
	}
	g.gatewayUnderTest = startJWTServerGateway(t, gw)

	ctx, s := context.Background(), g.app.Store()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	alice, err := s.CreateUser(ctx, store.User{Username: "alice", Firstname: "Alice", Lastname: "A"})
	must(err)
	// Generated secrets only: they are stored as SHA-256 hashes, so the
	// test runs no bcrypt.
	_, g.password, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: alice.ID, Type: store.BasicAuth})
	must(err)
	c, sec, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: alice.ID, Type: store.KeyAuth})
	must(err)
	g.key = c.KeyID + ":" + sec
	c, sec, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: alice.ID, Type: store.KeyAuth})
	must(err)
	g.otherKey = c.KeyID + ":" + sec
	g.svc, err = s.CreateApp(ctx, store.App{UserID: alice.ID, Name: "svc"})
	must(err)
	_, g.svcSec, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: g.svc.ID, Type: store.OAuth2})
	must(err)
	return g
}

// accessToken gets a client_credentials access token (an RFC 9068 JWT).
func (g *credGateway) accessToken(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest("POST", g.base+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(g.svc.ID, g.svcSec)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	body := readBody(t, resp)
	_ = json.Unmarshal([]byte(body), &m)
	tok, _ := m["access_token"].(string)
	if resp.StatusCode != 200 || tok == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return tok
}

// cbMint signs an HS256 JWT; typ nil means no typ header.
func cbMint(t *testing.T, secret string, typ any, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != nil {
		opts = opts.WithHeader(jose.HeaderType, typ)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (g *credGateway) userToken(t *testing.T, typ any, sub string) string {
	now := time.Now()
	return cbMint(t, cbJWTSecret, typ, map[string]any{"sub": sub, "iss": "https://idp.test/", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
}

type sent struct {
	status    int
	reason    string
	challenge string
	echo      *echo.Request // the upstream's view, on 200
	hits      int64         // upstream requests it caused
}

// send makes a GET with every "Name: value" header line in headers (a
// name may repeat: the lines go out as they are).
func (g *credGateway) send(t *testing.T, target string, headers ...string) sent {
	t.Helper()
	req, err := http.NewRequest("GET", g.base+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	before := g.hits.Load()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := sent{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
	if resp.StatusCode == 200 {
		e := decodeEcho(t, resp)
		out.echo = &e
	} else {
		var body map[string]any
		_ = json.Unmarshal([]byte(readBody(t, resp)), &body)
		out.reason, _ = body["error"].(string)
	}
	out.hits = g.hits.Load() - before
	return out
}

// TestCredentialPresentedTwice: for each of the five policies, every way
// of sending the credential twice gets 400 invalid_request and nothing
// reaches the upstream; the single credential, as a control, gets 200.
func TestCredentialPresentedTwice(t *testing.T) {
	t.Parallel()
	g := startCredGateway(t, false)
	jwtA, jwtB := g.userToken(t, "JWT", "user-a"), g.userToken(t, "JWT", "user-b")
	atA, atB := g.accessToken(t), g.accessToken(t)
	basicA := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+g.password))
	basicB := "Basic " + base64.StdEncoding.EncodeToString([]byte("mallory:x"))
	q := url.QueryEscape
	type call struct {
		target  string
		headers []string
	}
	for _, c := range []struct {
		policy, bearer string // bearer: the challenge scheme of the 400, "" for none
		ok             call
		twice          map[string]call
	}{
		{"jwt", "Bearer", call{"/jwt/x", []string{"Authorization: Bearer " + jwtA}}, map[string]call{
			"two Authorization headers":    {"/jwt/x", []string{"Authorization: Bearer " + jwtA, "Authorization: Bearer " + jwtB}},
			"comma-joined":                 {"/jwt/x", []string{"Authorization: Bearer " + jwtA + ", Bearer " + jwtB}},
			"header and another query one": {"/jwt/x?access_token=" + jwtB, []string{"Authorization: Bearer " + jwtA}},
			"header and the same in query": {"/jwt/x?access_token=" + jwtA, []string{"Authorization: Bearer " + jwtA}},
		}},
		{"jwt (query extractor)", "Bearer", call{"/jwt-query/x?access_token=" + jwtA, nil}, map[string]call{
			"the query parameter twice": {"/jwt-query/x?access_token=" + jwtA + "&access_token=" + jwtB, nil},
			"query and a Bearer header": {"/jwt-query/x?access_token=" + jwtA, []string{"Authorization: Bearer " + jwtB}},
		}},
		{"oauth2", "Bearer", call{"/api/x", []string{"Authorization: Bearer " + atA}}, map[string]call{
			"two Authorization headers":    {"/api/x", []string{"Authorization: Bearer " + atA, "Authorization: Bearer " + atB}},
			"header and another query one": {"/api/x?access_token=" + q(atB), []string{"Authorization: Bearer " + atA}},
			"the query parameter twice":    {"/api/x?access_token=" + q(atA) + "&access_token=" + q(atB), nil},
		}},
		{"oauth2-introspect", "Bearer", call{"/intro/x", []string{"Authorization: Bearer intro-good"}}, map[string]call{
			"two Authorization headers":    {"/intro/x", []string{"Authorization: Bearer intro-good", "Authorization: Bearer intro-other"}},
			"header and another query one": {"/intro/x?access_token=intro-other", []string{"Authorization: Bearer intro-good"}},
			"the query parameter twice":    {"/intro/x?access_token=intro-good&access_token=intro-other", nil},
		}},
		{"key-auth", "", call{"/key/x", []string{"Authorization: apiKey " + g.key}}, map[string]call{
			"two Authorization headers":    {"/key/x", []string{"Authorization: apiKey " + g.key, "Authorization: apiKey " + g.otherKey}},
			"header and another query one": {"/key/x?apiKey=" + g.otherKey, []string{"Authorization: apiKey " + g.key}},
			"the query parameter twice":    {"/key/x?apiKey=" + g.key + "&apiKey=" + g.otherKey, nil},
		}},
		{"key-auth with passThrough", "", call{"/key-soft/x", []string{"Authorization: apiKey " + g.key}}, map[string]call{
			"two Authorization headers": {"/key-soft/x", []string{"Authorization: apiKey " + g.key, "Authorization: apiKey " + g.otherKey}},
			"the query parameter twice": {"/key-soft/x?apiKey=" + g.key + "&apiKey=" + g.otherKey, nil},
		}},
		// basic-auth reads the Authorization header only: there is no query
		// place to duplicate.
		{"basic-auth", "", call{"/basic/x", []string{"Authorization: " + basicA}}, map[string]call{
			"two Authorization headers": {"/basic/x", []string{"Authorization: " + basicA, "Authorization: " + basicB}},
			"comma-joined":              {"/basic/x", []string{"Authorization: " + basicA + ", " + basicB}},
		}},
	} {
		t.Run(c.policy, func(t *testing.T) {
			if r := g.send(t, c.ok.target, c.ok.headers...); r.status != 200 || r.hits != 1 {
				t.Fatalf("the credential once: %d %s (%d upstream requests)", r.status, r.reason, r.hits)
			}
			for name, s := range c.twice {
				r := g.send(t, s.target, s.headers...)
				if r.status != 400 || r.reason != "invalid_request" || r.hits != 0 {
					t.Errorf("%s: %d %q, %d upstream requests; want 400 invalid_request and none", name, r.status, r.reason, r.hits)
				}
				if c.bearer != "" && !strings.HasPrefix(r.challenge, c.bearer+` realm="gatehouse", error="invalid_request"`) {
					t.Errorf("%s: challenge %q", name, r.challenge)
				}
			}
		})
	}
}

// TestQueryCredentialNotForwarded: a credential read from the query is
// removed before proxying by default, for every policy that reads one; the
// other parameters arrive as sent, in order.
func TestQueryCredentialNotForwarded(t *testing.T) {
	t.Parallel()
	g := startCredGateway(t, false)
	jwtA := g.userToken(t, "JWT", "user-a")
	at := g.accessToken(t)
	for policy, c := range map[string]struct{ target, credential string }{
		"jwt (query extractor)": {"/jwt-query/x?b=2&access_token=" + jwtA + "&a=1", jwtA},
		"oauth2":                {"/api/x?b=2&access_token=" + url.QueryEscape(at) + "&a=1", at},
		"oauth2-introspect":     {"/intro/x?b=2&access_token=intro-good&a=1", "intro-good"},
		"key-auth":              {"/key/x?b=2&apiKey=" + g.key + "&a=1", g.key},
	} {
		r := g.send(t, c.target)
		if r.status != 200 {
			t.Errorf("%s: %d %s", policy, r.status, r.reason)
			continue
		}
		if r.echo.Query != "b=2&a=1" || strings.Contains(r.echo.Query, url.QueryEscape(c.credential)) {
			t.Errorf("%s: the upstream got the query %q, want b=2&a=1", policy, r.echo.Query)
		}
	}
}

// TestOAuth2RefusesOtherJWTTypes: the oauth2 policy takes a JWT signed
// with the server's own key only when its typ is at+jwt (RFC 9068 §4); an
// ID token (typ JWT) or a JWT without typ is not an access token.
func TestOAuth2RefusesOtherJWTTypes(t *testing.T) {
	t.Parallel()
	g := startCredGateway(t, false)
	now := time.Now()
	claims := map[string]any{"iss": cbIssuer, "client_id": g.svc.ID, "sub": g.svc.ID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for _, c := range []struct {
		typ    any
		status int
	}{{"at+jwt", 200}, {"application/at+jwt", 200}, {nil, 401}, {"JWT", 401}, {"id_token+jwt", 401}} {
		claims["jti"] = fmt.Sprint("t-", c.typ)
		r := g.send(t, "/api/x", "Authorization: Bearer "+cbMint(t, cbServerSecret, c.typ, claims))
		if r.status != c.status || (c.status == 401 && (r.reason != "invalid_token" || r.hits != 0)) {
			t.Errorf("typ %v: %d %s (%d upstream requests), want %d", c.typ, r.status, r.reason, r.hits, c.status)
		}
	}
}

// TestJWTTypesRefusesIDToken: with types: [at+jwt], an OpenID Connect ID
// token (typ JWT, or no typ) signed by the same key is refused.
func TestJWTTypesRefusesIDToken(t *testing.T) {
	t.Parallel()
	g := startCredGateway(t, true)
	for _, c := range []struct {
		typ    any
		status int
	}{{"at+jwt", 200}, {"JWT", 401}, {nil, 401}} {
		r := g.send(t, "/jwt-typed/x", "Authorization: Bearer "+g.userToken(t, c.typ, "user-a"))
		if r.status != c.status || (c.status == 401 && (r.reason != "token_type_mismatch" || !strings.Contains(r.challenge, `error="invalid_token"`) || r.hits != 0)) {
			t.Errorf("typ %v: %d %s %q, want %d", c.typ, r.status, r.reason, r.challenge, c.status)
		}
	}
}

// TestJWTWithoutStoreNoConsumerID: with checkCredentialExistence: false,
// the token's subject is not a store consumer: no eg-consumer-id (even
// when the client sends one, or the token has EG's id claim); the subject
// and issuer arrive as eg-token-sub and eg-token-iss.
func TestJWTWithoutStoreNoConsumerID(t *testing.T) {
	t.Parallel()
	g := startCredGateway(t, false)
	now := time.Now()
	tok := cbMint(t, cbJWTSecret, "JWT", map[string]any{"sub": "auth0|12345", "iss": "https://idp.test/", "id": "claimed-id",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	r := g.send(t, "/jwt/x", "Authorization: Bearer "+tok, "Eg-Consumer-Id: spoofed", "Eg-Token-Sub: spoofed")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.reason)
	}
	h := r.echo.Headers
	if v, ok := h["Eg-Consumer-Id"]; ok {
		t.Errorf("eg-consumer-id reached the upstream: %q", v)
	}
	if v, ok := h["Eg-Token-Consumer-Id"]; ok {
		t.Errorf("eg-token-consumer-id reached the upstream: %q", v)
	}
	if got := strings.Join(h["Eg-Token-Sub"], ","); got != "auth0|12345" {
		t.Errorf("eg-token-sub = %q, want auth0|12345", got)
	}
	if got := strings.Join(h["Eg-Token-Iss"], ","); got != "https://idp.test/" {
		t.Errorf("eg-token-iss = %q, want https://idp.test/", got)
	}
	if got := strings.Join(h["Eg-Token-Auth-Type"], ","); got != "jwt" {
		t.Errorf("eg-token-auth-type = %q", got)
	}
}

// startJWTServerGateway starts gw with an authorization server that issues
// HS256 JWT access tokens (cbIssuer, cbServerSecret), as the credential
// tests' oauth2 and jwt policies expect.
func startJWTServerGateway(t *testing.T, gw string) *gatewayUnderTest {
	t.Helper()
	system := "accessTokens:\n  tokenType: jwt\n  timeToExpiry: 60000\n  issuer: " + cbIssuer +
		"\n  secretOrPrivateKey: " + cbServerSecret + "\n"
	dir := t.TempDir()
	for name, content := range map[string]string{"gateway.config.yml": gw, "system.config.yml": system} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return startGateway(t, gw, func(o *app.Options) { o.ConfigDir = dir })
}
