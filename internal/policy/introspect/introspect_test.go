package introspect_test

import (
	"encoding/json"
	"errors"
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

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/metrics/metricstest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/introspect"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

func node(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Action(t, src)
}

// authServer is a stand-in RFC 7662 server: tokens map to answers.
type authServer struct {
	*httptest.Server
	calls    atomic.Int64
	delay    atomic.Int64 // ns
	down     atomic.Bool
	mu       sync.Mutex
	answers  map[string]map[string]any
	lastReq  url.Values
	lastAuth string
	wantAuth string // when set, other credentials get 401
}

func newAuthServer(t *testing.T) *authServer {
	a := &authServer{answers: map[string]map[string]any{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		if d := a.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if a.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if a.wantAuth != "" && r.Header.Get("Authorization") != a.wantAuth {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		r.ParseForm()
		a.mu.Lock()
		a.lastReq, a.lastAuth = r.PostForm, r.Header.Get("Authorization")
		ans, ok := a.answers[r.PostForm.Get("token")]
		a.mu.Unlock()
		if !ok {
			ans = map[string]any{"active": false}
		}
		json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) set(tok string, ans map[string]any) {
	a.mu.Lock()
	a.answers[tok] = ans
	a.mu.Unlock()
}

type outcome struct {
	status int
	reason string
	id     *pipeline.Identity
}

func do(t *testing.T, p pipeline.Policy, token string, scopes []string) outcome {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	st := &pipeline.State{Route: &pipeline.Route{Scopes: scopes}}
	req = pipeline.WithState(req, st)
	rec := httptest.NewRecorder()
	err := p.Handle(rec, req, pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(200)
		return nil
	}))
	if err != nil {
		pipeline.WriteError(rec, req, err, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	var body map[string]string
	json.Unmarshal(rec.Body.Bytes(), &body)
	return outcome{status: rec.Code, reason: body["error"], id: st.Identity}
}

func build(t *testing.T, as *authServer, extra string) pipeline.Policy {
	t.Helper()
	return buildAt(t, as, extra, nil)
}

// buildAt builds the policy on the clock now (nil: the real one).
func buildAt(t *testing.T, as *authServer, extra string, now func() time.Time) pipeline.Policy {
	t.Helper()
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HTTPClient: &http.Client{}, Now: now}
	p, err := introspect.New(node(t, fmt.Sprintf("{endpoint: '%s', authorization_value: 'Basic YXBpMTpzZWNyZXQ='%s}", as.URL, extra)), env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIntrospection(t *testing.T) {
	as := newAuthServer(t)
	exp := float64(time.Now().Add(time.Hour).Unix())
	as.set("good", map[string]any{"active": true, "scope": "read write", "sub": "user-1", "client_id": "app-1", "username": "ann", "exp": exp})
	as.set("noscope", map[string]any{"active": true, "sub": "user-2", "exp": exp})
	as.set("expired", map[string]any{"active": true, "exp": float64(time.Now().Add(-time.Minute).Unix())})
	as.set("stringy", map[string]any{"active": "true"})
	p := build(t, as, "")

	tests := []struct {
		name, token string
		scopes      []string
		status      int
		reason      string
	}{
		{"active", "good", nil, 200, ""},
		{"scopes held", "good", []string{"read"}, 200, ""},
		{"scope missing", "good", []string{"admin"}, 403, "insufficient_scope"},
		{"token without scopes on a scoped endpoint", "noscope", []string{"read"}, 403, "insufficient_scope"},
		{"inactive", "bad", nil, 401, "inactive_token"},
		{"expired although active", "expired", nil, 401, "inactive_token"},
		{"active must be a JSON boolean", "stringy", nil, 401, "inactive_token"},
		{"missing", "", nil, 401, "missing_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, p, tt.token, tt.scopes)
			if got.status != tt.status || got.reason != tt.reason {
				t.Fatalf("got %d %q, want %d %q", got.status, got.reason, tt.status, tt.reason)
			}
		})
	}
	got := do(t, p, "good", nil)
	if got.id == nil || got.id.ConsumerID != "user-1" || got.id.ConsumerName != "ann" || got.id.AuthType != "oauth2-introspect" || len(got.id.Scopes) != 2 {
		t.Errorf("identity %+v", got.id)
	}
	as.mu.Lock()
	if as.lastReq.Get("token_type_hint") != "access_token" || as.lastAuth != "Basic YXBpMTpzZWNyZXQ=" {
		t.Errorf("request: form %v auth %q", as.lastReq, as.lastAuth)
	}
	as.mu.Unlock()
}

func TestCachingAndOutages(t *testing.T) {
	as := newAuthServer(t)
	exp := float64(time.Now().Add(time.Hour).Unix())
	as.set("good", map[string]any{"active": true, "scope": "read", "exp": exp})
	p := build(t, as, ", timeout: 200")

	// Twenty concurrent requests for one new token make one call.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); do(t, p, "good", nil) }()
	}
	wg.Wait()
	if n := as.calls.Load(); n != 1 {
		t.Errorf("%d introspection calls for 20 concurrent requests, want 1", n)
	}
	// Cached: the server going down does not matter, scopes still checked.
	as.down.Store(true)
	if got := do(t, p, "good", nil); got.status != 200 {
		t.Errorf("cached token with the server down: %d", got.status)
	}
	if got := do(t, p, "good", []string{"admin"}); got.status != 403 {
		t.Errorf("scopes must be re-checked on cache hits: %d", got.status)
	}
	// An uncached token with the server down: 503, not 401.
	if got := do(t, p, "other", nil); got.status != 503 || got.reason != "introspection_unavailable" {
		t.Errorf("server down: %d %q, want 503", got.status, got.reason)
	}
	as.down.Store(false)
	// Slow server: bounded by the timeout.
	as.delay.Store(int64(time.Second))
	start := time.Now()
	if got := do(t, p, "slow", nil); got.status != 503 {
		t.Errorf("slow server: %d, want 503", got.status)
	}
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("timeout not honoured: %v", d)
	}
	as.delay.Store(0)
	// Negative answers are cached briefly: a flood of one bad token is one call.
	before := as.calls.Load()
	for i := 0; i < 5; i++ {
		do(t, p, "bad", nil)
	}
	if n := as.calls.Load() - before; n != 1 {
		t.Errorf("%d calls for a repeated bad token, want 1", n)
	}
}

// TestCacheLookupsCounted: the cache's hits and misses reach the process's
// "introspection" counter (gatehouse_cache_lookups_total).
func TestCacheLookupsCounted(t *testing.T) {
	as := newAuthServer(t)
	as.set("good", map[string]any{"active": true, "exp": float64(time.Now().Add(time.Hour).Unix())})
	m := metrics.New()
	env := &policyenv.Env{Logger: slog.New(slog.DiscardHandler), HTTPClient: &http.Client{}, Metrics: m}
	p, err := introspect.New(node(t, fmt.Sprintf("{endpoint: '%s'}", as.URL)), env)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := do(t, p, "good", nil); got.status != 200 {
			t.Fatalf("status %d", got.status)
		}
	}
	if h, mi := m.Cache("introspection").Counts(); h != 2 || mi != 1 {
		t.Errorf("introspection cache: %d hits %d misses, want 2 and 1", h, mi)
	}
}

// TestWrongGatewayCredentials: the authorization server refusing the
// gateway's authorization_value is the operator's mistake: the client gets
// 503 (its token was not judged) and the log names the setting to fix.
func TestWrongGatewayCredentials(t *testing.T) {
	as := newAuthServer(t)
	as.wantAuth = "Basic right"
	env := &policyenv.Env{Logger: slog.New(slog.DiscardHandler), HTTPClient: &http.Client{}}
	p, err := introspect.New(node(t, fmt.Sprintf("{endpoint: '%s', authorization_value: 'Basic wrong'}", as.URL)), env)
	if err != nil {
		t.Fatal(err)
	}
	req := pipeline.WithState(httptest.NewRequest("GET", "/", nil), &pipeline.State{Route: &pipeline.Route{}})
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	err = p.Handle(rec, req, pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	var rej *pipeline.Rejection
	if !errors.As(err, &rej) || rej.Status != 503 || rej.Code != "introspection_unavailable" {
		t.Fatalf("err = %v, want a 503 introspection_unavailable", err)
	}
	if !strings.Contains(rej.Err.Error(), "check authorization_value") {
		t.Errorf("cause %q does not say what to fix", rej.Err)
	}
}

// TestCacheNeverOutlivesExp runs on a fake clock: exp has second
// resolution, so with the real one a token "valid for 1.1s" may have only
// 100ms left, which a loaded machine can spend before the first answer.
func TestCacheNeverOutlivesExp(t *testing.T) {
	as := newAuthServer(t)
	start := time.Unix(1_700_000_000, 0)
	var clock atomic.Int64
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	exp := start.Add(time.Second)
	as.set("short", map[string]any{"active": true, "exp": float64(exp.Unix())})
	p := buildAt(t, as, ", ttl: 600", now)
	if got := do(t, p, "short", nil); got.status != 200 {
		t.Fatalf("first: %d", got.status)
	}
	as.set("short", map[string]any{"active": false})
	clock.Store(exp.Add(-time.Millisecond).UnixNano())
	if got := do(t, p, "short", nil); got.status != 200 || as.calls.Load() != 1 {
		t.Fatalf("just before exp: %d after %d calls, want 200 from the cache", got.status, as.calls.Load())
	}
	clock.Store(exp.UnixNano())
	if got := do(t, p, "short", nil); got.status != 401 {
		t.Errorf("cached past the token's exp: %d", got.status)
	}
	if n := as.calls.Load(); n != 2 {
		t.Errorf("%d introspection calls, want 2 (the cache entry ends at exp)", n)
	}
}

func TestLoadErrors(t *testing.T) {
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for src, want := range map[string]string{
		"{ttl: 5}":                                  "gateway.config.yml:1: action.endpoint: is required: the http(s) URL of the RFC 7662 introspection endpoint",
		"{endpoint: 'ftp://x'}":                     "gateway.config.yml:1: action.endpoint: is required: the http(s) URL of the RFC 7662 introspection endpoint",
		"{endpoint: 'http://x', ttl: -1}":           "gateway.config.yml:1: action.ttl: must not be negative",
		"{endpoint: 'http://x', cacheSize: 0}":      "gateway.config.yml:1: action.cacheSize: must be positive",
		"{endpoint: 'http://x', cacheBytes: 100}":   "gateway.config.yml:1: action.cacheBytes: must be at least 16384 bytes, room for a few answers (default 16777216, 16 MiB)",
		"{endpoint: 'http://x', cacheBytes: '1MB'}": `gateway.config.yml:1: action.cacheBytes: expected a whole number, got "1MB"`,
	} {
		if _, err := introspect.New(node(t, src), env); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

// passOn runs req through p and returns the status, the reason and the
// request the next step received (nil when refused).
func passOn(t *testing.T, p pipeline.Policy, req *http.Request) (int, string, string, *http.Request) {
	t.Helper()
	req = pipeline.WithState(req, &pipeline.State{Route: &pipeline.Route{}})
	rec := httptest.NewRecorder()
	var up *http.Request
	err := p.Handle(rec, req, pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		up = r
		w.WriteHeader(200)
		return nil
	}))
	if err != nil {
		pipeline.WriteError(rec, req, err, slog.New(slog.DiscardHandler))
	}
	var body map[string]string
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body["error"], rec.Header().Get("WWW-Authenticate"), up
}

// TestOneToken: a token sent twice is 400 invalid_request (RFC 6750 §2,
// §3.1), passThrough or not; the authorization server is not asked.
func TestOneToken(t *testing.T) {
	as := newAuthServer(t)
	exp := float64(time.Now().Add(time.Hour).Unix())
	as.set("good", map[string]any{"active": true, "sub": "u", "exp": exp})
	as.set("other", map[string]any{"active": true, "sub": "v", "exp": exp})
	withAuth := func(target string, values ...string) *http.Request {
		r := httptest.NewRequest("GET", target, nil)
		for _, v := range values {
			r.Header.Add("Authorization", v)
		}
		return r
	}
	for name, r := range map[string]*http.Request{
		"two headers":           withAuth("/", "Bearer good", "Bearer other"),
		"comma-joined":          withAuth("/", "Bearer good, Bearer other"),
		"header and query":      withAuth("/?access_token=other", "Bearer good"),
		"header and same query": withAuth("/?access_token=good", "Bearer good"),
		"query twice":           withAuth("/?access_token=good&access_token=other"),
	} {
		for _, extra := range []string{"", ", passThrough: true"} {
			before := as.calls.Load()
			status, reason, challenge, up := passOn(t, build(t, as, extra), r.Clone(r.Context()))
			if status != 400 || reason != "invalid_request" || up != nil || !strings.HasPrefix(challenge, `Bearer realm="gatehouse", error="invalid_request"`) {
				t.Errorf("%s%s: %d %s %q (passed on: %v)", name, extra, status, reason, challenge, up != nil)
			}
			if as.calls.Load() != before {
				t.Errorf("%s%s: the authorization server was asked", name, extra)
			}
		}
	}
}

// TestStripCredentials: ?access_token= is removed by default, the
// Authorization header forwarded; true removes both, false neither (EG).
func TestStripCredentials(t *testing.T) {
	as := newAuthServer(t)
	as.set("good", map[string]any{"active": true, "sub": "u", "exp": float64(time.Now().Add(time.Hour).Unix())})
	for _, c := range []struct {
		extra         string
		header, query bool // what the upstream still gets
	}{
		{"", true, false},
		{", stripCredentials: true", false, false},
		{", stripCredentials: false", true, true},
	} {
		p := build(t, as, c.extra)
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer good")
		if _, _, _, up := passOn(t, p, r); up == nil || (up.Header.Get("Authorization") != "") != c.header {
			t.Errorf("%q: header upstream = %v, want %v", c.extra, up != nil && up.Header.Get("Authorization") != "", c.header)
		}
		_, _, _, up := passOn(t, p, httptest.NewRequest("GET", "/?b=2&access_token=good&a=1", nil))
		if up == nil {
			t.Fatalf("%q: query token refused", c.extra)
		}
		if want := map[bool]string{true: "b=2&access_token=good&a=1", false: "b=2&a=1"}[c.query]; up.URL.RawQuery != want {
			t.Errorf("%q: upstream query %q, want %q", c.extra, up.URL.RawQuery, want)
		}
	}
}

// TestCacheBytesBound: the answer cache keeps within its byte bound as
// well as its entry bound (issue #14), counting each answer's members, so
// big answers hold fewer entries in the same budget; an evicted token
// costs a new call; the figures reach gatehouse_cache_entries,
// gatehouse_cache_bytes and gatehouse_cache_evictions_total under the
// step's cache name.
func TestCacheBytesBound(t *testing.T) {
	exp := float64(time.Now().Add(time.Hour).Unix())
	groups := make([]any, 50)
	for i := range groups {
		groups[i] = fmt.Sprintf("cn=group-%02d,ou=groups,dc=example,dc=com", i)
	}
	small := func(i int) map[string]any {
		return map[string]any{"active": true, "sub": fmt.Sprint("user-", i), "scope": "read", "exp": exp}
	}
	big := func(i int) map[string]any {
		a := small(i)
		a["groups"] = groups
		return a
	}
	const tokens = 20
	for _, tc := range []struct {
		name             string
		extra            string
		answer           func(int) map[string]any
		wantMin, wantMax int
	}{
		{"entry bound wins", ", cacheSize: 5", small, 5, 5},
		{"byte bound, small answers", ", cacheBytes: 16384", small, 20, 20},
		{"byte bound, big answers", ", cacheBytes: 16384", big, 3, 6},
		{"defaults", "", big, tokens, tokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newAuthServer(t)
			m := metrics.New()
			env := &policyenv.Env{Logger: slog.New(slog.DiscardHandler), HTTPClient: &http.Client{}, Metrics: m}
			p, err := introspect.New(configtest.Node(t, "pipelines.api.policies[0].oauth2-introspect[0].action",
				fmt.Sprintf("{endpoint: '%s'%s}", as.URL, tc.extra)), env)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tokens {
				tok := fmt.Sprint("tok-", i)
				as.set(tok, tc.answer(i))
				if got := do(t, p, tok, nil); got.status != 200 {
					t.Fatalf("%s: %d %s", tok, got.status, got.reason)
				}
			}
			const name = "introspection:pipelines.api.policies[0].oauth2-introspect[0]"
			n, b, ev := gauge(t, m, "gatehouse_cache_entries", name), gauge(t, m, "gatehouse_cache_bytes", name), gauge(t, m, "gatehouse_cache_evictions_total", name)
			if n < float64(tc.wantMin) || n > float64(tc.wantMax) {
				t.Errorf("%g answers kept (%g bytes), want %d to %d", n, b, tc.wantMin, tc.wantMax)
			}
			if ev != tokens-n {
				t.Errorf("%g evictions for %d answers and %g kept", ev, tokens, n)
			}
			before := as.calls.Load()
			do(t, p, "tok-0", nil)
			if called := as.calls.Load() - before; (n < tokens) != (called == 1) {
				t.Errorf("the oldest token again: %d calls with %g of %d answers kept", called, n, tokens)
			}
		})
	}
}

// gauge reads one series of m's registry with cache=name.
func gauge(t *testing.T, m *metrics.Metrics, metric, name string) float64 {
	t.Helper()
	v, ok := metricstest.CacheValue(m, metric, name)
	if !ok {
		t.Fatalf("%s{cache=%q} is not in the registry", metric, name)
	}
	return v
}
