package oauth2_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/oauth2server"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/oauth2"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

func node(t testing.TB, src string) config.Node {
	t.Helper()
	return configtest.Action(t, src)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// flaky is a backend that can be made unavailable (Redis down).
type flaky struct {
	store.Backend
	down atomic.Bool
}

func (f *flaky) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.down.Load() {
		return nil, false, fmt.Errorf("dial tcp: connection refused: %w", store.ErrUnavailable)
	}
	return f.Backend.Get(ctx, key)
}

type env struct {
	clk       *clock
	s         *store.Store
	backend   *flaky
	srv       *oauth2server.Server
	env       *policyenv.Env
	user      *store.User // owns the app
	bob       *store.User // signs in with the password grant
	app       *store.App
	appSecret string
}

func newEnv(t testing.TB, sys *config.System) *env {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	e := &env{clk: clk, backend: &flaky{Backend: memstore.New(clk.Now)}}
	e.s = store.New(e.backend, store.Options{Now: clk.Now, BcryptCost: 4})
	t.Cleanup(func() { e.s.Close() })
	if err := e.s.CreateScopes(ctx, "read", "write", "admin"); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.user, err = e.s.CreateUser(ctx, store.User{Username: "alice", Firstname: "A", Lastname: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err = e.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: e.user.ID, Type: store.BasicAuth, Secret: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	if e.bob, err = e.s.CreateUser(ctx, store.User{Username: "bob", Firstname: "B", Lastname: "B"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err = e.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: e.bob.ID, Type: store.BasicAuth, Secret: "bob-password"}); err != nil {
		t.Fatal(err)
	}
	if e.app, err = e.s.CreateApp(ctx, store.App{UserID: e.user.ID, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, e.appSecret, err = e.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: e.app.ID, Type: store.OAuth2, Scopes: []string{"read", "write"}}); err != nil {
		t.Fatal(err)
	}
	// gw.example: the Host of token() requests, a name the server trusts.
	e.srv, err = oauth2server.New(ctx, oauth2server.Options{Store: e.s, System: sys, Now: clk.Now, Hostnames: []string{"gw.example"}})
	if err != nil {
		t.Fatal(err)
	}
	e.env = &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: e.s}
	return e
}

// token gets an access token (and its refresh token) from the server.
func (e *env) token(t testing.TB, form url.Values) (string, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "http://127.0.0.1/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(e.app.ID+":"+e.appSecret)))
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	if rec.Code != 200 {
		t.Fatalf("token = %d %s", rec.Code, rec.Body)
	}
	rt, _ := m["refresh_token"].(string)
	return m["access_token"].(string), rt
}

type result struct {
	status    int
	reason    string
	challenge string
	st        *pipeline.State
	upstream  *http.Request // what the next step received
}

// run passes a request through the policy built from action.
func (e *env) run(t testing.TB, action string, req *http.Request, scopes []string) result {
	t.Helper()
	p, err := oauth2.New(e.srv)(node(t, action), e.env)
	if err != nil {
		t.Fatal(err)
	}
	st := &pipeline.State{Route: &pipeline.Route{Scopes: scopes}, RequestID: "rid"}
	req = pipeline.WithState(req, st)
	rec := httptest.NewRecorder()
	var up *http.Request
	err = p.Handle(rec, req, pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		up = r
		w.WriteHeader(200)
		return nil
	}))
	if err != nil {
		pipeline.WriteError(rec, req, err, e.env.Logger)
	}
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	reason, _ := body["error"].(string)
	return result{status: rec.Code, reason: reason, challenge: rec.Header().Get("WWW-Authenticate"), st: st, upstream: up}
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest("GET", "http://api.example/x?a=1", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func TestNeedsTheServer(t *testing.T) {
	_, err := oauth2.New(nil)(node(t, ""), &policyenv.Env{})
	if err == nil || !strings.Contains(err.Error(), "top-level policies") {
		t.Errorf("err = %v", err)
	}
}

func TestPolicy(t *testing.T) {
	for _, mode := range []struct {
		name string
		sys  *config.System
	}{{"opaque", nil}, {"jwt", &config.System{AccessTokens: &config.AccessTokens{TokenType: "jwt"}}}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, mode.sys)
			cc, _ := e.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
			pw, _ := e.token(t, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-password"}})

			// Success: the client is the consumer, the end user and the
			// token's scopes come along, the token does not go upstream.
			r := e.run(t, "", bearer(cc), []string{"read"})
			if r.status != 200 {
				t.Fatalf("valid token = %d %s", r.status, r.reason)
			}
			id := r.st.Identity
			if id.ConsumerID != e.app.ID || id.ConsumerType != "application" || id.ConsumerName != "web" || id.AuthType != "oauth2" ||
				strings.Join(id.Scopes, " ") != "read" || id.TokenID == "" || id.ExpiresAt.IsZero() {
				t.Errorf("identity %+v", id)
			}
			if id.UserID != e.user.ID { // client_credentials: the app's owner
				t.Errorf("user %q", id.UserID)
			}
			if (id.Claims != nil) != (mode.name == "jwt") {
				t.Errorf("claims %v", id.Claims)
			}
			if r.upstream.Header.Get("Authorization") != "" {
				t.Error("Authorization forwarded upstream")
			}
			r = e.run(t, "", bearer(pw), []string{"read", "write"})
			if r.status != 200 || r.st.Identity.AuthenticatedUserID != e.bob.ID || strings.Join(r.st.Identity.Scopes, " ") != "read write" {
				t.Errorf("password token = %d %+v", r.status, r.st.Identity)
			}

			// Query form, removed before proxying.
			q := httptest.NewRequest("GET", "http://api.example/x?a=1&access_token="+url.QueryEscape(cc)+"&b=2", nil)
			r = e.run(t, "", q, nil)
			if r.status != 200 || strings.Contains(r.upstream.URL.RawQuery, "access_token") || r.upstream.URL.Query().Get("b") != "2" {
				t.Errorf("query token = %d, upstream query %q", r.status, r.upstream.URL.RawQuery)
			}
			// stripCredentials: false forwards it, and keepAuthorization:
			// true is its older name.
			for _, action := range []string{"{stripCredentials: false}", "{keepAuthorization: true}", "{keepAuthorization: true, stripCredentials: false}"} {
				r = e.run(t, action, bearer(cc), nil)
				if r.status != 200 || r.upstream.Header.Get("Authorization") != "Bearer "+cc {
					t.Errorf("%s = %d %q", action, r.status, r.upstream.Header.Get("Authorization"))
				}
			}
			for _, action := range []string{"{stripCredentials: true}", "{keepAuthorization: false}"} {
				if r = e.run(t, action, bearer(cc), nil); r.status != 200 || r.upstream.Header.Get("Authorization") != "" {
					t.Errorf("%s = %d %q, want the header removed", action, r.status, r.upstream.Header.Get("Authorization"))
				}
			}
			// Both names, saying opposite things: refused at load.
			if _, err := oauth2.New(e.srv)(node(t, "{keepAuthorization: true, stripCredentials: true}"), e.env); err == nil ||
				!strings.Contains(err.Error(), "action.keepAuthorization: contradicts stripCredentials") {
				t.Errorf("contradicting options: %v", err)
			}
			// The Express Gateway jwt: block is accepted (and ignored).
			if r = e.run(t, "{jwt: {secretOrPublicKey: x, checkCredentialExistence: false}}", bearer(cc), nil); r.status != 200 {
				t.Errorf("with a jwt block = %d", r.status)
			}

			// Scopes: 403 insufficient_scope with a Bearer challenge.
			r = e.run(t, "", bearer(cc), []string{"read", "admin"})
			if r.status != 403 || r.reason != "insufficient_scope" || !strings.Contains(r.challenge, `error="insufficient_scope"`) || !strings.Contains(r.challenge, `scope="read admin"`) {
				t.Errorf("scope = %d %s %q", r.status, r.reason, r.challenge)
			}

			basic := httptest.NewRequest("GET", "/", nil)
			basic.Header.Set("Authorization", "Basic YTpi")
			for name, tc := range map[string]struct {
				req    *http.Request
				reason string
			}{
				"missing":        {bearer(""), "missing_token"},
				"not Bearer":     {basic, "malformed_token"},
				"too large":      {bearer(strings.Repeat("a", 9000)), "token_too_large"},
				"garbage":        {bearer("garbage"), "invalid_token"},
				"unknown opaque": {bearer(strings.Repeat("0", 32) + "|" + strings.Repeat("0", 32)), "invalid_token"},
				"forged JWT":     {bearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), "invalid_token"},
			} {
				r := e.run(t, "", tc.req, nil)
				if r.status != 401 || r.reason != tc.reason || !strings.HasPrefix(r.challenge, `Bearer realm="gatehouse"`) {
					t.Errorf("%s: %d %s %q, want 401 %s", name, r.status, r.reason, r.challenge, tc.reason)
				}
				// passThrough: on, anonymous, with the reason for the logs.
				r = e.run(t, "{passThrough: true}", tc.req, nil)
				if r.status != 200 || !r.st.Anonymous || r.st.Identity != nil || r.st.Record.Reason != tc.reason {
					t.Errorf("%s with passThrough: %d anonymous=%v reason=%s", name, r.status, r.st.Anonymous, r.st.Record.Reason)
				}
			}
			// passThrough with a good token authenticates.
			if r = e.run(t, "{passThrough: true}", bearer(cc), nil); r.status != 200 || r.st.Anonymous || r.st.Identity == nil {
				t.Errorf("passThrough with a valid token: %+v", r.st)
			}

			// Deactivated user (the end user, not the app's owner), then
			// client.
			ctx := context.Background()
			e.s.SetUserActive(ctx, e.bob.ID, false)
			if r = e.run(t, "", bearer(pw), nil); r.status != 401 || r.reason != "inactive_consumer" {
				t.Errorf("deactivated user = %d %s", r.status, r.reason)
			}
			if r = e.run(t, "", bearer(cc), nil); r.status != 200 {
				t.Errorf("the client's own token after the end user's deactivation = %d %s", r.status, r.reason)
			}
			e.s.SetUserActive(ctx, e.bob.ID, true)
			e.s.SetAppActive(ctx, e.app.ID, false)
			if r = e.run(t, "", bearer(cc), nil); r.status != 401 || r.reason != "inactive_consumer" {
				t.Errorf("deactivated client = %d %s", r.status, r.reason)
			}
			e.s.SetAppActive(ctx, e.app.ID, true)

			// Revoked: at once.
			rev := httptest.NewRequest("POST", "http://127.0.0.1/oauth2/revoke", strings.NewReader("token="+url.QueryEscape(cc)))
			rev.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rev.SetBasicAuth(e.app.ID, e.appSecret)
			e.srv.ServeHTTP(httptest.NewRecorder(), rev)
			if r = e.run(t, "", bearer(cc), nil); r.status != 401 || r.reason != "token_revoked" || !strings.Contains(r.challenge, `error="invalid_token"`) {
				t.Errorf("revoked = %d %s %q", r.status, r.reason, r.challenge)
			}

			// Expired: JWTs say so; opaque tokens are gone from the store
			// and are unknown.
			e.clk.Add(3 * time.Hour)
			want := "invalid_token"
			if mode.name == "jwt" {
				want = "token_expired"
			}
			if r = e.run(t, "", bearer(pw), nil); r.status != 401 || r.reason != want {
				t.Errorf("expired = %d %s, want %s", r.status, r.reason, want)
			}
			e.clk.Add(-3 * time.Hour)

			// The store down: 503, never passed through.
			e.backend.down.Store(true)
			defer e.backend.down.Store(false)
			for _, action := range []string{"", "{passThrough: true}"} {
				r = e.run(t, action, bearer(strings.Repeat("9", 32)+"|"+strings.Repeat("9", 32)), nil)
				if r.status != 503 || r.reason != "store_unavailable" {
					t.Errorf("store down (%q) = %d %s", action, r.status, r.reason)
				}
			}
		})
	}
}

// BenchmarkPolicy is the oauth2 policy alone on a request with a valid
// token: an opaque token (its record cached in the store's object cache
// after the first request) and a JWT (signature verification each time).
func BenchmarkPolicy(b *testing.B) {
	for _, mode := range []struct {
		name string
		sys  *config.System
	}{{"opaque-cached", nil}, {"jwt-ES256", &config.System{AccessTokens: &config.AccessTokens{TokenType: "jwt"}}}} {
		b.Run(mode.name, func(b *testing.B) {
			e := newEnv(b, mode.sys)
			tok, _ := e.token(b, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "scope": {"read"}})
			p, err := oauth2.New(e.srv)(node(b, ""), e.env)
			if err != nil {
				b.Fatal(err)
			}
			next := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
			req := httptest.NewRequest("GET", "http://api.example/x", nil)
			auth := "Bearer " + tok
			w := httptest.NewRecorder()
			// One route for every request, as the gateway shares it.
			route := &pipeline.Route{Scopes: []string{"read"}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req.Header.Set("Authorization", auth)
				st := &pipeline.State{Route: route}
				if err := p.Handle(w, pipeline.WithState(req, st), next); err != nil || st.Identity == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOneToken: the token is sent once, in one place (RFC 6750 §2): a
// second one, or the same one twice, is 400 invalid_request, passThrough
// or not, and nothing goes on.
func TestOneToken(t *testing.T) {
	e := newEnv(t, nil)
	tok, _ := e.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	other, _ := e.token(t, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	q := url.QueryEscape
	two := bearer(tok)
	two.Header.Add("Authorization", "Bearer "+other)
	for name, r := range map[string]*http.Request{
		"two Authorization headers":    two,
		"comma-joined":                 bearer(tok + ", Bearer " + other),
		"header and another query one": func() *http.Request { r := bearer(tok); r.URL.RawQuery = "access_token=" + q(other); return r }(),
		"header and the same in query": func() *http.Request { r := bearer(tok); r.URL.RawQuery = "access_token=" + q(tok); return r }(),
		"the query parameter twice":    httptest.NewRequest("GET", "http://api.example/x?access_token="+q(tok)+"&access_token="+q(other), nil),
	} {
		for _, action := range []string{"", "{passThrough: true}"} {
			res := e.run(t, action, r.Clone(r.Context()), nil)
			if res.status != 400 || res.reason != "invalid_request" || res.upstream != nil ||
				!strings.HasPrefix(res.challenge, `Bearer realm="gatehouse", error="invalid_request", error_description="send the credential once`) {
				t.Errorf("%s %s: %d %s %q (passed on: %v)", name, action, res.status, res.reason, res.challenge, res.upstream != nil)
			}
		}
	}
	// keepAuthorization keeps the token where it was, and only there.
	r := httptest.NewRequest("GET", "http://api.example/x?b=2&access_token="+q(tok)+"&a=1", nil)
	if res := e.run(t, "{keepAuthorization: true}", r, nil); res.status != 200 || res.upstream.URL.Query().Get("access_token") != tok {
		t.Errorf("keepAuthorization, query: %d %q", res.status, res.upstream.URL.RawQuery)
	}
	r = httptest.NewRequest("GET", "http://api.example/x?b=2&access_token="+q(tok)+"&a=1", nil)
	if res := e.run(t, "", r, nil); res.status != 200 || res.upstream.URL.RawQuery != "b=2&a=1" {
		t.Errorf("query token: %d, upstream query %q, want b=2&a=1", res.status, res.upstream.URL.RawQuery)
	}
}

// TestAccessTokenType: RFC 9068 §4, a JWT is an access token only with typ
// at+jwt (or application/at+jwt). Tokens are minted with go-jose under the
// server's own HMAC secret, so only the typ is wrong.
func TestAccessTokenType(t *testing.T) {
	const secret = "an-hmac-secret-of-at-least-32-characters"
	const issuer = "https://auth.gatehouse.test"
	e := newEnv(t, &config.System{AccessTokens: &config.AccessTokens{TokenType: "jwt", SecretOrPrivateKey: secret, Issuer: issuer}})
	mint := func(typ any) string {
		opts := &jose.SignerOptions{}
		if typ != nil {
			opts = opts.WithHeader(jose.HeaderType, typ)
		}
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		now := e.clk.Now()
		tok, err := josejwt.Signed(sig).Claims(map[string]any{"iss": issuer, "client_id": e.app.ID, "sub": e.app.ID, "scope": "read",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": fmt.Sprint(typ)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		typ    any
		status int
	}{
		{"at+jwt", 200},
		{"AT+JWT", 200},
		{"application/at+jwt", 200},
		{nil, 401},   // no typ: an ID token or any JWT signed with the key
		{"JWT", 401}, // an OpenID Connect ID token
		{"jwt", 401},
		{"at+jwt; x=1", 401},
		{"example/at+jwt", 401},
		{7, 401},
	} {
		r := e.run(t, "", bearer(mint(c.typ)), []string{"read"})
		if r.status != c.status {
			t.Errorf("typ %v: %d %s, want %d", c.typ, r.status, r.reason, c.status)
		}
		if c.status == 401 && (r.reason != "invalid_token" || !strings.Contains(r.challenge, `error="invalid_token"`)) {
			t.Errorf("typ %v: %s %q", c.typ, r.reason, r.challenge)
		}
	}
}
