package oauth2server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// clock is a settable clock shared by the server and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a server on a memory store with one user (alice/alice-password), a
// confidential client (web, scopes read write) and a public one (spa).
type fixture struct {
	srv       *Server
	s         *store.Store
	clk       *clock
	user      *store.User
	web, spa  *store.App
	webSecret string
}

func newStore(clk *clock) *store.Store {
	return store.New(memstore.New(clk.Now), store.Options{Now: clk.Now, BcryptCost: 4})
}

func newFixture(t testing.TB, sys *config.System, opts ...func(*Options)) *fixture {
	t.Helper()
	clk := newClock()
	return newFixtureOn(t, newStore(clk), clk, sys, opts...)
}

// newFixtureOn seeds s and builds a server on it; a nil clk is the real
// clock.
func newFixtureOn(t testing.TB, s *store.Store, clk *clock, sys *config.System, opts ...func(*Options)) *fixture {
	t.Helper()
	t.Cleanup(func() { s.Close() })
	f := &fixture{s: s, clk: clk}
	f.seed(t)
	f.srv = f.server(t, sys, opts...)
	return f
}

func (f *fixture) now() func() time.Time {
	if f.clk == nil {
		return time.Now
	}
	return f.clk.Now
}

// testHosts are the Hosts of the tests' requests (post's, and
// httptest.NewRequest's default): names the fixture's servers trust.
var testHosts = []string{"gw.example", "example.com"}

// server builds another server (another node) on the fixture's store.
func (f *fixture) server(t testing.TB, sys *config.System, opts ...func(*Options)) *Server {
	t.Helper()
	o := Options{Store: f.s, System: sys, Now: f.now(), Hostnames: testHosts}
	for _, fn := range opts {
		fn(&o)
	}
	srv, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func (f *fixture) seed(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.s.CreateScopes(ctx, "read", "write", "admin"))
	var err error
	f.user, err = f.s.CreateUser(ctx, store.User{Username: "alice", Firstname: "Alice", Lastname: "A"})
	must(err)
	_, _, err = f.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: f.user.ID, Type: store.BasicAuth, Secret: "alice-password"})
	must(err)
	f.web, err = f.s.CreateApp(ctx, store.App{UserID: f.user.ID, Name: "web", RedirectURI: "https://client.example/cb"})
	must(err)
	_, f.webSecret, err = f.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: f.web.ID, Type: store.OAuth2, Scopes: []string{"read", "write"}})
	must(err)
	f.spa, err = f.s.CreateApp(ctx, store.App{UserID: f.user.ID, Name: "spa", RedirectURI: "https://spa.example/cb"})
	must(err)
	no := false
	_, _, err = f.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: f.spa.ID, Type: store.OAuth2, AutoGeneratePassword: &no, Scopes: []string{"read"}})
	must(err)
}

func jwtSystem() *config.System {
	return &config.System{AccessTokens: &config.AccessTokens{TokenType: "jwt", TimeToExpiry: new(config.Duration(time.Hour))}}
}

func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// post sends a form to srv (with HTTP Basic when id is set) and decodes the
// JSON answer.
func post(t testing.TB, srv http.Handler, path string, form url.Values, id, secret string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "http://gw.example"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.Header.Set("Authorization", basicHeader(id, secret))
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var m map[string]any
	if rec.Body.Len() > 0 {
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
	}
	return rec, m
}

// clientToken gets a client_credentials access token for web.
func (f *fixture) clientToken(t testing.TB, srv *Server) string {
	t.Helper()
	rec, m := post(t, srv, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.web.ID, f.webSecret)
	if rec.Code != 200 {
		t.Fatalf("token = %d %s", rec.Code, rec.Body)
	}
	return m["access_token"].(string)
}

// verify runs VerifyAccessToken as the oauth2 policy does.
func verify(srv *Server, tok string) error {
	_, err := srv.VerifyAccessToken(httptest.NewRequest("GET", "http://api.example/x", nil), tok)
	return err
}
