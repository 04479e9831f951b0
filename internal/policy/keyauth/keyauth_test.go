package keyauth_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/keyauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

func node(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Action(t, src)
}

type fixture struct {
	s                 *store.Store
	keyID, keySecret  string
	inactiveID        string
	scopedID, scopedS string
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	t.Cleanup(func() { s.Close() })
	u, err := s.CreateUser(ctx, store.User{Username: "alice", Firstname: "A", Lastname: "L"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateScopes(ctx, "read", "write"); err != nil {
		t.Fatal(err)
	}
	c, sec, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	off, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: "off", KeySecret: "offsecret-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCredentialActive(ctx, store.KeyAuth, off.ID, false); err != nil {
		t.Fatal(err)
	}
	sc, ssec, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, Scopes: []string{"read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{s: s, keyID: c.KeyID, keySecret: sec, inactiveID: off.ID, scopedID: sc.KeyID, scopedS: ssec}
}

type result struct {
	status  int
	reason  string
	called  bool
	header  http.Header
	url     string
	id      *pipeline.Identity
	anon    bool
	wwwAuth string
}

func run(t *testing.T, f fixture, action string, scopes []string, req *http.Request) result {
	t.Helper()
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: f.s}
	p, err := keyauth.New(node(t, action), env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	st := &pipeline.State{Route: &pipeline.Route{Scopes: scopes}}
	req = pipeline.WithState(req, st)
	var res result
	next := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.called, res.header, res.url = true, r.Header.Clone(), r.URL.String()
		w.WriteHeader(200)
		return nil
	})
	rec := httptest.NewRecorder()
	if err := p.Handle(rec, req, next); err != nil {
		pipeline.WriteError(rec, req, err, slog.New(slog.NewTextHandler(io.Discard, nil)))
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		res.reason = body["error"]
	}
	res.status, res.id, res.anon, res.wwwAuth = rec.Code, st.Identity, st.Anonymous, rec.Header().Get("WWW-Authenticate")
	return res
}

func TestKeyAuth(t *testing.T) {
	f := setup(t)
	key := f.keyID + ":" + f.keySecret
	tests := []struct {
		name     string
		action   string
		scopes   []string
		header   map[string]string
		url      string
		status   int
		reason   string
		stripped bool
	}{
		// Express Gateway forwards the header by default; stripCredentials
		// removes it.
		{name: "header with scheme", header: map[string]string{"Authorization": "apiKey " + key}, status: 200},
		{name: "header stripped when asked", action: "{stripCredentials: true}", header: map[string]string{"Authorization": "apiKey " + key}, status: 200, stripped: true},
		{name: "scheme case-insensitive", header: map[string]string{"Authorization": "APIKEY " + key}, status: 200},
		{name: "query parameter", url: "/x?z=2&apiKey=" + key + "&keep=1", status: 200},
		{name: "missing", status: 401, reason: "missing_credentials"},
		{name: "wrong secret", header: map[string]string{"Authorization": "apiKey " + f.keyID + ":nope"}, status: 401, reason: "invalid_credentials"},
		{name: "unknown key", header: map[string]string{"Authorization": "apiKey nosuch:nosuch"}, status: 401, reason: "invalid_credentials"},
		{name: "no secret part", header: map[string]string{"Authorization": "apiKey " + f.keyID}, status: 401, reason: "malformed_credentials"},
		{name: "wrong scheme ignores the header", header: map[string]string{"Authorization": "Bearer " + key}, status: 401, reason: "missing_credentials"},
		{name: "deactivated key", header: map[string]string{"Authorization": "apiKey off:offsecret-0123456789abcdef"}, status: 401, reason: "inactive_credentials"},
		{name: "deactivated key, wrong secret: nothing told", header: map[string]string{"Authorization": "apiKey off:guess"}, status: 401, reason: "invalid_credentials"},
		{name: "endpoint scope granted", scopes: []string{"read"}, header: map[string]string{"Authorization": "apiKey " + key}, status: 200},
		{name: "endpoint scope missing is 403", scopes: []string{"read", "write"}, header: map[string]string{"Authorization": "apiKey " + key}, status: 403, reason: "insufficient_scope"},
		{name: "all scopes", scopes: []string{"read", "write"}, header: map[string]string{"Authorization": "apiKey " + f.scopedID + ":" + f.scopedS}, status: 200},
		{name: "custom header without scheme", action: "{apiKeyHeader: X-API-Key, disableHeadersScheme: true}", header: map[string]string{"X-Api-Key": key}, status: 200},
		{name: "custom scheme", action: "{apiKeyHeaderScheme: Key}", header: map[string]string{"Authorization": "Key " + key}, status: 200},
		{name: "headers disabled", action: "{disableHeaders: true}", header: map[string]string{"Authorization": "apiKey " + key}, status: 401, reason: "missing_credentials"},
		{name: "query disabled", action: "{disableQueryParam: true}", url: "/x?apiKey=" + key, status: 401, reason: "missing_credentials"},
		{name: "custom query field", action: "{apiKeyField: key}", url: "/x?key=" + key, status: 200},
		{name: "passThrough continues anonymously", action: "{passThrough: true}", status: 200},
		{name: "keep credentials when asked", action: "{stripCredentials: false}", header: map[string]string{"Authorization": "apiKey " + key}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if url == "" {
				url = "/x"
			}
			req := httptest.NewRequest("GET", url, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			res := run(t, f, tt.action, tt.scopes, req)
			if res.status != tt.status || res.reason != tt.reason {
				t.Fatalf("got %d %q, want %d %q", res.status, res.reason, tt.status, tt.reason)
			}
			if tt.status == 401 && res.wwwAuth == "" && !strings.Contains(tt.action, "passThrough") {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.status != 200 {
				return
			}
			if strings.Contains(tt.action, "passThrough") {
				if !res.anon || res.id != nil {
					t.Errorf("passThrough: anonymous=%v identity=%v", res.anon, res.id)
				}
				return
			}
			if res.id == nil || res.id.ConsumerName != "alice" || res.id.AuthType != "key-auth" || res.id.ConsumerType != "user" {
				t.Errorf("identity = %+v", res.id)
			}
			if tt.stripped && res.header.Get("Authorization") != "" {
				t.Error("the API key was forwarded upstream")
			}
			if !tt.stripped && tt.header["Authorization"] != "" && res.header.Get("Authorization") == "" {
				t.Error("the header must be forwarded unless stripCredentials is true")
			}
			if strings.Contains(url, "apiKey=") && strings.Contains(res.url, "apiKey") {
				t.Errorf("the key stayed in the query: %s", res.url)
			}
			if strings.Contains(url, "keep=1") && !strings.HasSuffix(res.url, "?z=2&keep=1") {
				t.Errorf("other query parameters lost or reordered: %s", res.url)
			}
		})
	}
}

func TestKeyAuthLoadErrors(t *testing.T) {
	f := setup(t)
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: f.s}
	for src, want := range map[string]string{
		"{disableHeaders: true, disableQueryParam: true}": "gateway.config.yml:1: action.disableQueryParam: disableHeaders and disableQueryParam together leave no place for the key",
		"{apiKeyHeadr: X}": "gateway.config.yml:1: action.apiKeyHeadr: unknown key (expected one of: passThrough, apiKeyHeader, apiKeyHeaderScheme, apiKeyField, disableHeaders, disableHeadersScheme, disableQueryParam, stripCredentials)",
	} {
		_, err := keyauth.New(node(t, src), env)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}

// TestOneKey: a key sent twice (two header lines, comma-joined lines, the
// header and the query, the query twice), even the same key, is 400
// invalid_request, passThrough or not: the upstream would otherwise get a
// key the gateway never checked.
func TestOneKey(t *testing.T) {
	f := setup(t)
	key := f.keyID + ":" + f.keySecret
	other := f.scopedID + ":" + f.scopedS
	two := httptest.NewRequest("GET", "/x", nil)
	two.Header.Add("Authorization", "apiKey "+key)
	two.Header.Add("Authorization", "apiKey "+other)
	for name, c := range map[string]struct {
		action string
		req    *http.Request
	}{
		"two Authorization headers": {"", two},
		"comma-joined":              {"", withAuth("/x", "apiKey "+key+", apiKey "+other)},
		"header and query":          {"", withAuth("/x?apiKey="+other, "apiKey "+key)},
		"header and the same query": {"", withAuth("/x?apiKey="+key, "apiKey "+key)},
		"the query twice":           {"", httptest.NewRequest("GET", "/x?apiKey="+key+"&apiKey="+other, nil)},
		"custom header and field": {"{apiKeyHeader: X-API-Key, disableHeadersScheme: true, apiKeyField: key}", func() *http.Request {
			r := httptest.NewRequest("GET", "/x?key="+other, nil)
			r.Header.Set("X-Api-Key", key)
			return r
		}()},
	} {
		for _, extra := range []string{"", "passThrough: true"} {
			action := c.action
			if extra != "" {
				action = "{" + extra + "}"
				if c.action != "" {
					action = strings.TrimSuffix(c.action, "}") + ", " + extra + "}"
				}
			}
			res := run(t, f, action, nil, c.req.Clone(c.req.Context()))
			if res.status != 400 || res.reason != "invalid_request" || res.called || res.id != nil {
				t.Errorf("%s %s: %d %s (passed on: %v)", name, extra, res.status, res.reason, res.called)
			}
		}
	}
	// Not a second key: a header with another scheme (another policy's
	// credential) beside a query key; it stays, the key goes.
	res := run(t, f, "", nil, withAuth("/x?apiKey="+key+"&a=1", "Bearer for-the-next-policy"))
	if res.status != 200 || res.header.Get("Authorization") != "Bearer for-the-next-policy" || res.url != "/x?a=1" {
		t.Errorf("foreign header beside a query key: %d %q %s", res.status, res.header.Get("Authorization"), res.url)
	}
	// stripCredentials: false keeps the query key (Express Gateway).
	res = run(t, f, "{stripCredentials: false}", nil, httptest.NewRequest("GET", "/x?apiKey="+key, nil))
	if res.status != 200 || !strings.Contains(res.url, "apiKey=") {
		t.Errorf("stripCredentials false: %d %s", res.status, res.url)
	}
}

func withAuth(target, value string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set("Authorization", value)
	return r
}

// The requests of one key share an identity (authn.IdentityCache) until
// the store's records change: an updated user is in the next identity.
func TestIdentityFollowsStore(t *testing.T) {
	f := setup(t)
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: f.s}
	p, err := keyauth.New(node(t, "{}"), env)
	if err != nil {
		t.Fatal(err)
	}
	once := func() *pipeline.Identity {
		t.Helper()
		st := &pipeline.State{Route: &pipeline.Route{}}
		req := pipeline.WithState(withAuth("/x", "apiKey "+f.keyID+":"+f.keySecret), st)
		next := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
		if err := p.Handle(httptest.NewRecorder(), req, next); err != nil {
			t.Fatalf("Handle: %v", err)
		}
		return st.Identity
	}
	first := once()
	if again := once(); again != first {
		t.Error("a second request of the same key built its own identity")
	}
	if _, err := f.s.UpdateUser(context.Background(), "alice", func(u *store.User) error {
		u.RedirectURI = "https://app.example.com/cb"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := once(); got == first || got.RedirectURI != "https://app.example.com/cb" {
		t.Errorf("after the update: redirect %q (same identity: %v), want the new one", got.RedirectURI, got == first)
	}
}
