package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Issue #11 §2, answers that do not leak, end to end against the real app:
// refusals take as long whether or not the name exists, refusal bodies say
// why but never what the gateway expected, every 401 carries a challenge
// (and, in leaks_secrets_test.go, a secret is shown once, only when
// Gatehouse generated it).

// ---------------------------------------------------------------------------
// Timing

// Method of TestRefusalTimingDoesNotTellWhoExists (also in docs/security.md):
//
//   - Two classes per entry point: A, a name that does not exist, and B, a
//     name that exists with a wrong secret (or a deactivated account, whose
//     answer is the same). Both get the same status and body.
//   - n = 40 samples per class, interleaved A B, B A, A B... so that load
//     on the (shared, 2-core) machine falls on both classes alike. Each
//     sample is a fresh name from a fresh client address (127.x.y.z), so
//     no lockout or failure limit is ever reached.
//   - A sample is the server's time: from the request written to the
//     first byte of the answer (net/http/httptrace).
//   - bcrypt runs at the cost where one check takes at least 5 ms in this
//     process (cost 4 under the race detector, about 7 without), so it
//     dominates the answer as it does in production (cost 10: ~60 ms).
//   - Statistics: the ratio of the medians, and the two-sample
//     Kolmogorov–Smirnov statistic D (the largest gap between the two
//     empirical distribution functions). Bound: |median(A)/median(B) - 1|
//     < 0.5 and D < 0.6. Before the fix the classes are disjoint (D = 1,
//     ratio below 0.2: ~0.1 ms against several ms); after it D stays well
//     under the bound (identical distributions give D over 0.43 once in a
//     thousand runs at n = 40).
const (
	timingSamples   = 40
	timingMaxRatio  = 0.5
	timingMaxKS     = 0.6
	timingBcryptMin = 5 * time.Millisecond
)

// timingCost is the bcrypt cost at which one check takes timingBcryptMin
// in this process, from 4 (the lowest) up to 10.
func timingCost() int {
	h, _ := bcrypt.GenerateFromPassword([]byte("calibrate-0123456789"), 4)
	best := time.Hour
	for range 3 {
		st := time.Now()
		_ = bcrypt.CompareHashAndPassword(h, []byte("x"))
		best = min(best, time.Since(st))
	}
	cost := 4
	for d := best; d < timingBcryptMin && cost < 10; d *= 2 {
		cost++
	}
	return cost
}

// lkAddrs hands out distinct loopback source addresses (all of 127/8 is
// local on Linux), one per client, so that no per-address limit counts two
// samples.
var lkAddrs atomic.Uint32

func lkClient(t *testing.T) *http.Client {
	t.Helper()
	n := lkAddrs.Add(1)
	ip := net.IPv4(127, byte(20+n/62500), byte(n/250%250+1), byte(n%250+1))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// lkTimed sends req and returns the status, the body and the server's
// time: from the request written to the answer's first byte.
func lkTimed(t *testing.T, c *http.Client, req *http.Request) (int, string, time.Duration) {
	t.Helper()
	var wrote, first atomic.Int64
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { wrote.Store(time.Now().UnixNano()) },
		GotFirstResponseByte: func() { first.Store(time.Now().UnixNano()) },
	}
	resp, err := c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body), time.Duration(first.Load() - wrote.Load())
}

func lkMedian(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// lkKS is the two-sample Kolmogorov–Smirnov statistic: the largest
// distance between the empirical distribution functions of a and b.
func lkKS(a, b []time.Duration) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	var i, j int
	d := 0.0
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

func lkForm(method, u string, form url.Values, basicID, basicSecret string) *http.Request {
	req, _ := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return req
}

const lkTimingGateway = `http: {port: 0, host: 127.0.0.1}
apiEndpoints:
  basic:
    paths: ['/basic', '/basic/*']
  key:
    paths: ['/key', '/key/*']
serviceEndpoints:
  backend:
    url: '%s'
policies: [basic-auth, key-auth, oauth2, proxy]
pipelines:
  basic:
    apiEndpoints: [basic]
    policies:
      - basic-auth:
      - proxy:
          - action: {serviceEndpoint: backend}
  key:
    apiEndpoints: [key]
    policies:
      - key-auth:
      - proxy:
          - action: {serviceEndpoint: backend}
`

// TestRefusalTimingDoesNotTellWhoExists: at each entry point that checks a
// secret, an unknown name is refused as slowly as a known name with a
// wrong secret (issue #11 §2). The method is in the comment above.
func TestRefusalTimingDoesNotTellWhoExists(t *testing.T) {
	if testing.Short() {
		t.Skip("timing samples; skipped with -short")
	}
	cost := timingCost()
	up := echoServer(t, "upstream")
	g := startGateway(t, fmt.Sprintf(lkTimingGateway, up.URL), func(o *app.Options) { o.BcryptCost = cost })
	ctx, s := t.Context(), g.app.Store()
	n := timingSamples

	// Seed, two at a time (each chosen secret is a bcrypt hash at cost).
	var mu sync.Mutex
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pw := func(i int) string { return fmt.Sprintf("right-password-%02d", i) }
	clientSecret := func(i int) string { return fmt.Sprintf("right-client-secret-%02d-0123456789ab", i) }
	keySecret := func(i int) string { return fmt.Sprintf("right-key-secret-%02d-012345", i) }
	clientIDs := make([]string, n)
	seed := func(i int) error {
		for _, prefix := range []string{"lu", "pu", "qu", "du", "bu"} {
			u, err := s.CreateUser(ctx, store.User{Username: fmt.Sprintf("%s%02d", prefix, i), Firstname: "T", Lastname: "T"})
			if err != nil {
				return err
			}
			if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: pw(i)}); err != nil {
				return err
			}
			if prefix == "du" {
				if _, err := s.SetUserActive(ctx, u.ID, false); err != nil {
					return err
				}
			}
			if prefix == "lu" {
				a, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "client"})
				if err != nil {
					return err
				}
				if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: a.ID, Type: store.OAuth2, Secret: clientSecret(i)}); err != nil {
					return err
				}
				mu.Lock()
				clientIDs[i] = a.ID
				mu.Unlock()
				if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: fmt.Sprintf("kc%02d", i), KeySecret: keySecret(i)}); err != nil {
					return err
				}
				if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: fmt.Sprintf("kg%02d", i)}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				if err := seed(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	owner, err := s.CreateUser(ctx, store.User{Username: "owner", Firstname: "O", Lastname: "O"})
	must(err)
	web, err := s.CreateApp(ctx, store.App{UserID: owner.ID, Name: "web"})
	must(err)
	_, webSecret, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: web.ID, Type: store.OAuth2})
	must(err)

	// signIn posts the sign-in form (its CSRF token read first, untimed).
	signIn := func(t *testing.T, c *http.Client, user, pass string) (int, string, time.Duration) {
		resp, err := c.Get(g.base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		page := readBody(t, resp)
		csrf := formValue(page, "_csrf")
		if csrf == "" {
			t.Fatalf("no _csrf in the sign-in page: %d %s", resp.StatusCode, page)
		}
		st, body, d := lkTimed(t, c, lkForm("POST", g.base+"/login", url.Values{"_csrf": {csrf}, "username": {user}, "password": {pass}}, "", ""))
		body = strings.ReplaceAll(body, user, "USER")
		return st, strings.ReplaceAll(body, formValue(body, "_csrf"), "CSRF"), d
	}
	passwordGrant := func(t *testing.T, c *http.Client, user, pass string) (int, string, time.Duration) {
		return lkTimed(t, c, lkForm("POST", g.base+"/oauth2/token",
			url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}, web.ID, webSecret))
	}
	apiCall := func(t *testing.T, c *http.Client, path, scheme, cred string) (int, string, time.Duration) {
		req, _ := http.NewRequest("GET", g.base+path, nil)
		req.Header.Set("Authorization", scheme+" "+cred)
		st, body, d := lkTimed(t, c, req)
		if i := strings.Index(body, `,"request_id"`); i >= 0 {
			body = body[:i]
		}
		return st, body, d
	}
	basic := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + p)) }
	// The web client's secret is verified once here, so the samples below
	// find it in the store's cache, as a busy client does.
	if st, _, _ := lkTimed(t, lkClient(t), lkForm("POST", g.base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, web.ID, webSecret)); st != 200 {
		t.Fatalf("client_credentials for the web client: %d", st)
	}

	type probe func(t *testing.T, c *http.Client, i int) (int, string, time.Duration)
	for _, tc := range []struct {
		name        string
		unknown     probe // class A
		known       probe // class B
		wantStatus  int
		sameAnswers bool
	}{
		{"sign-in page: unknown user vs wrong password",
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return signIn(t, c, fmt.Sprintf("lx%02d", i), "wrong-password-00")
			},
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return signIn(t, c, fmt.Sprintf("lu%02d", i), "wrong-password-00")
			}, 401, true},
		{"password grant: unknown user vs wrong password",
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return passwordGrant(t, c, fmt.Sprintf("px%02d", i), "wrong-password-00")
			},
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return passwordGrant(t, c, fmt.Sprintf("pu%02d", i), "wrong-password-00")
			}, 400, true},
		{"password grant: deactivated user (right password) vs wrong password",
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return passwordGrant(t, c, fmt.Sprintf("du%02d", i), pw(i))
			},
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return passwordGrant(t, c, fmt.Sprintf("qu%02d", i), "wrong-password-00")
			}, 400, true},
		{"token endpoint: unknown client vs wrong client secret",
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return lkTimed(t, c, lkForm("POST", g.base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
					"client_id": {fmt.Sprintf("00000000-0000-4000-8000-0000000000%02d", i)}, "client_secret": {"wrong-client-secret-0123456789abcd"}}, "", ""))
			},
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return lkTimed(t, c, lkForm("POST", g.base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
					"client_id": {clientIDs[i]}, "client_secret": {"wrong-client-secret-0123456789abcd"}}, "", ""))
			}, 401, true},
		{"key-auth: unknown key id vs wrong chosen key secret",
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return apiCall(t, c, "/key/x", "apiKey", fmt.Sprintf("kx%02d:wrong-key-secret-0123456", i))
			},
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return apiCall(t, c, "/key/x", "apiKey", fmt.Sprintf("kc%02d:wrong-key-secret-0123456", i))
			}, 401, true},
		{"key-auth: unknown key id vs wrong generated key secret",
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return apiCall(t, c, "/key/x", "apiKey", fmt.Sprintf("ky%02d:wrong-key-secret-0123456", i))
			},
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return apiCall(t, c, "/key/x", "apiKey", fmt.Sprintf("kg%02d:wrong-key-secret-0123456", i))
			}, 401, true},
		{"basic-auth: unknown user vs wrong password",
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return apiCall(t, c, "/basic/x", "Basic", basic(fmt.Sprintf("bx%02d", i), "wrong-password-00"))
			},
			func(t *testing.T, c *http.Client, i int) (int, string, time.Duration) {
				return apiCall(t, c, "/basic/x", "Basic", basic(fmt.Sprintf("bu%02d", i), "wrong-password-00"))
			}, 401, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
			var bodyA, bodyB string
			sample := func(unknown bool, i int) {
				p := tc.known
				if unknown {
					p = tc.unknown
				}
				st, body, d := p(t, lkClient(t), i)
				if st != tc.wantStatus {
					t.Fatalf("sample %d (unknown=%v): status %d, want %d: %s", i, unknown, st, tc.wantStatus, body)
				}
				if unknown {
					a, bodyA = append(a, d), body
				} else {
					b, bodyB = append(b, d), body
				}
			}
			for i := range n {
				first := i%2 == 0 // A B, then B A: neither class always goes first
				sample(first, i)
				sample(!first, i)
			}
			if tc.sameAnswers && bodyA != bodyB {
				t.Errorf("the two classes get different answers:\n  unknown: %s\n  known:   %s", bodyA, bodyB)
			}
			ma, mb := lkMedian(a), lkMedian(b)
			ratio := float64(ma) / float64(mb)
			d := lkKS(a, b)
			t.Logf("bcrypt cost %d, n=%d each: median unknown %v, known %v, ratio %.2f, KS D %.3f", cost, n, ma, mb, ratio, d)
			if math.Abs(ratio-1) >= timingMaxRatio || d >= timingMaxKS {
				t.Errorf("the timing tells the classes apart: median ratio %.2f (bound |r-1| < %.1f), KS D %.3f (bound < %.1f)",
					ratio, timingMaxRatio, d, timingMaxKS)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Refusal bodies and challenges

// Values only the gateway's configuration holds: no answer may contain one.
const (
	lkAudience = "audience-only-the-gateway-knows"
	lkIssuer   = "https://issuer-only-the-gateway-knows.example"
	lkClaim    = "claim-only-the-gateway-knows"
	lkType     = "type-only-the-gateway-knows+jwt"
	lkScope    = "scope-only-the-gateway-knows"
	lkHMAC     = "leaks-hmac-key-0123456789abcdefghijklmnopqrstuvwxyz"
	lkAdminKey = "leaks-admin-key-0123456789abcdefghijkl"
)

var lkConfigValues = []string{lkAudience, "audience-only", lkIssuer, "issuer-only", lkClaim, "claim-only", lkType, "type-only",
	lkScope, "scope-only", "HS256", "7s", "7m", "4321"}

const lkGateway = `http: {port: 0, host: 127.0.0.1}
admin: {port: 0, host: 127.0.0.1, apiKey: '` + lkAdminKey + `'}
apiEndpoints:
  basic:
    paths: ['/basic', '/basic/*']
  basicScoped:
    paths: ['/basic-scoped', '/basic-scoped/*']
    scopes: [` + lkScope + `]
  key:
    paths: ['/key', '/key/*']
  keyScoped:
    paths: ['/key-scoped', '/key-scoped/*']
    scopes: [` + lkScope + `]
  jwt:
    paths: ['/jwt', '/jwt/*']
  jwtScoped:
    paths: ['/jwt-scoped', '/jwt-scoped/*']
    scopes: [` + lkScope + `]
  oauth:
    paths: ['/oauth', '/oauth/*']
  intro:
    paths: ['/intro', '/intro/*']
serviceEndpoints:
  backend:
    url: '%s'
policies: [basic-auth, key-auth, jwt, oauth2, oauth2-introspect, proxy]
pipelines:
  basic:
    apiEndpoints: [basic, basicScoped]
    policies:
      - basic-auth:
      - proxy:
          - action: {serviceEndpoint: backend}
  key:
    apiEndpoints: [key, keyScoped]
    policies:
      - key-auth:
      - proxy:
          - action: {serviceEndpoint: backend}
  jwt:
    apiEndpoints: [jwt, jwtScoped]
    policies:
      - jwt:
          - action:
              secretOrPublicKey: '` + lkHMAC + `'
              checkCredentialExistence: false
              algorithms: [HS256]
              audience: ` + lkAudience + `
              issuer: ` + lkIssuer + `
              requiredClaims: [` + lkClaim + `]
              types: [` + lkType + `]
              clockTolerance: 7s
              maxAge: 7m
              maxTokenBytes: 4321
      - proxy:
          - action: {serviceEndpoint: backend}
  oauth:
    apiEndpoints: [oauth]
    policies:
      - oauth2:
      - proxy:
          - action: {serviceEndpoint: backend}
  intro:
    apiEndpoints: [intro]
    policies:
      - oauth2-introspect:
          - action:
              endpoint: '%s'
      - proxy:
          - action: {serviceEndpoint: backend}
`

type lkFixture struct {
	*gatewayUnderTest
	admin                        string // http://host:port of the Admin API
	s                            *store.Store
	ann, off                     *store.User // off is deactivated
	annKey, offKey, offCredKey   string      // keyId:keySecret; offCredKey's credential is deactivated
	svc, svcOff                  *store.App  // confidential clients (generated secrets); svcOff gets deactivated
	svcSecret, svcOffSecret      string
	spa                          *store.App // a public client
	annPassword, offCredPassword string
	offCredUser                  *store.User // active user whose basic-auth credential is deactivated
}

func startLeaks(t *testing.T) *lkFixture {
	t.Helper()
	up := echoServer(t, "upstream")
	intro := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active": false}`)
	}))
	t.Cleanup(intro.Close)
	g := startGateway(t, fmt.Sprintf(lkGateway, up.URL, intro.URL), func(o *app.Options) { o.BcryptCost = 4 })
	f := &lkFixture{gatewayUnderTest: g, admin: "http://" + g.app.Addr("admin").String(), s: g.app.Store()}
	ctx, s := t.Context(), f.s
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	must(s.CreateScopes(ctx, lkScope))
	user := func(name string) *store.User {
		u, err := s.CreateUser(ctx, store.User{Username: name, Firstname: "T", Lastname: "T"})
		must(err)
		return u
	}
	key := func(u *store.User) (string, *store.Credential) {
		c, plain, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
		must(err)
		return c.KeyID + ":" + plain, c
	}
	f.ann, f.off, f.offCredUser = user("ann"), user("off"), user("offcred")
	f.annPassword, f.offCredPassword = "ann-password", "offcred-password"
	for u, p := range map[*store.User]string{f.ann: f.annPassword, f.off: "off-password", f.offCredUser: f.offCredPassword} {
		_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: p})
		must(err)
	}
	f.annKey, _ = key(f.ann)
	f.offKey, _ = key(f.off)
	var offCred *store.Credential
	f.offCredKey, offCred = key(f.offCredUser)
	_, err = s.SetCredentialActive(ctx, store.KeyAuth, offCred.KeyID, false)
	must(err)
	_, err = s.SetCredentialActive(ctx, store.BasicAuth, f.offCredUser.ID, false)
	must(err)
	_, err = s.SetUserActive(ctx, f.off.ID, false)
	must(err)
	client := func(name string) (*store.App, string) {
		a, err := s.CreateApp(ctx, store.App{UserID: f.ann.ID, Name: name})
		must(err)
		_, plain, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: a.ID, Type: store.OAuth2})
		must(err)
		return a, plain
	}
	f.svc, f.svcSecret = client("svc")
	f.svcOff, f.svcOffSecret = client("svc-off")
	f.spa, err = s.CreateApp(ctx, store.App{UserID: f.ann.ID, Name: "spa", RedirectURI: "http://127.0.0.1:1/cb"})
	must(err)
	no := false
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: f.spa.ID, Type: store.OAuth2, AutoGeneratePassword: &no})
	must(err)
	return f
}

func (f *lkFixture) send(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, resp.Header, readBody(t, resp)
}

func (f *lkFixture) api(path string, hdr ...string) *http.Request {
	req, _ := http.NewRequest("GET", f.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

func (f *lkFixture) token(t *testing.T, a *store.App, secret string) string {
	t.Helper()
	st, _, body := f.send(t, lkForm("POST", f.base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, a.ID, secret))
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	tok, _ := m["access_token"].(string)
	if st != 200 || tok == "" {
		t.Fatalf("client_credentials: %d %s", st, body)
	}
	return tok
}

// lkJWT signs claims (on top of valid ones) with the jwt policy's key; a
// nil value removes the claim. alg and typ are the header's.
func lkJWT(t *testing.T, alg jwt.SigningMethod, typ string, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": "someone", "aud": lkAudience, "iss": lkIssuer, lkClaim: "x",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "read"}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok := jwt.NewWithClaims(alg, c)
	tok.Header["typ"] = typ
	s, err := tok.SignedString([]byte(lkHMAC))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRefusalsDoNotSayWhatWasExpected: a token refused for its audience,
// issuer, algorithm, type, a missing claim, its age or size, and a
// credential refused for a scope, get a reason code and a generic message;
// neither the body nor the challenge names the configured audience,
// issuer, algorithms, types, claims, scopes, clock tolerance or size limit
// (issue #11 §2). The detail is in the log.
func TestRefusalsDoNotSayWhatWasExpected(t *testing.T) {
	f := startLeaks(t)
	now := time.Now()
	hs := func(extra map[string]any) string { return lkJWT(t, jwt.SigningMethodHS256, lkType, extra) }
	valid := hs(nil)
	if st, _, body := f.send(t, f.api("/jwt/x", "Authorization", "Bearer "+valid)); st != 200 {
		t.Fatalf("a valid token: %d %s", st, body)
	}
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"wrong audience", hs(map[string]any{"aud": "another-api"}), "audience_mismatch"},
		{"no audience", hs(map[string]any{"aud": nil}), "audience_mismatch"},
		{"wrong issuer", hs(map[string]any{"iss": "https://evil.example"}), "issuer_mismatch"},
		{"no issuer", hs(map[string]any{"iss": nil}), "issuer_mismatch"},
		{"algorithm not allowed", lkJWT(t, jwt.SigningMethodHS384, lkType, nil), "algorithm_not_allowed"},
		{"required claim missing", hs(map[string]any{lkClaim: nil}), "missing_claim"},
		{"wrong type", lkJWT(t, jwt.SigningMethodHS256, "JWT", nil), "token_type_mismatch"},
		{"expired", hs(map[string]any{"exp": now.Add(-time.Hour).Unix()}), "token_expired"},
		{"not yet valid", hs(map[string]any{"nbf": now.Add(time.Hour).Unix()}), "token_not_yet_valid"},
		{"too old", hs(map[string]any{"iat": now.Add(-time.Hour).Unix()}), "token_too_old"},
		{"too large", hs(map[string]any{"pad": strings.Repeat("x", 5000)}), "token_too_large"},
	} {
		t.Run("jwt "+tc.name, func(t *testing.T) {
			st, h, body := f.send(t, f.api("/jwt/x", "Authorization", "Bearer "+tc.token))
			ch := h.Get("WWW-Authenticate")
			if st != 401 || !strings.Contains(body, `"error":"`+tc.reason+`"`) || !strings.HasPrefix(ch, `Bearer realm="gatehouse", error="invalid_token"`) {
				t.Fatalf("%d %q %s", st, ch, body)
			}
			if i := strings.Index(body, `,"request_id"`); i >= 0 {
				body = body[:i] // a random id may hold "7s" or "7m"
			}
			for _, v := range lkConfigValues {
				if strings.Contains(body, v) || strings.Contains(ch, v) {
					t.Errorf("the answer names the configuration (%q):\n  WWW-Authenticate: %s\n  %s", v, ch, body)
				}
			}
		})
	}
	// The detail is logged for the operator.
	if logs := f.logs.String(); !strings.Contains(logs, lkAudience) || !strings.Contains(logs, "audience_mismatch") {
		t.Errorf("the log does not say which audience was expected:\n%s", logs)
	}

	// A valid credential without the endpoint's scope: the body does not
	// list the scopes; a bearer challenge carries them (RFC 6750 §3).
	basic := base64.StdEncoding.EncodeToString([]byte("ann:" + f.annPassword))
	for _, tc := range []struct {
		name, path, header, value string
		bearer                    bool
	}{
		{"basic-auth", "/basic-scoped/x", "Authorization", "Basic " + basic, false},
		{"key-auth", "/key-scoped/x", "Authorization", "apiKey " + f.annKey, false},
		{"jwt", "/jwt-scoped/x", "Authorization", "Bearer " + valid, true},
	} {
		t.Run(tc.name+" insufficient scope", func(t *testing.T) {
			st, h, body := f.send(t, f.api(tc.path, tc.header, tc.value))
			if st != 403 || !strings.Contains(body, `"error":"insufficient_scope"`) {
				t.Fatalf("%d %s", st, body)
			}
			if strings.Contains(body, lkScope) {
				t.Errorf("the body lists the endpoint's scopes: %s", body)
			}
			ch := h.Get("WWW-Authenticate")
			if tc.bearer && ch != `Bearer realm="gatehouse", error="insufficient_scope", scope="`+lkScope+`"` {
				t.Errorf("bearer challenge: %q", ch)
			}
			if !tc.bearer && ch != "" {
				t.Errorf("challenge on a 403: %q", ch)
			}
		})
	}
}

// TestEvery401HasAChallenge walks every 401 the gateway, its authorization
// server, its sign-in page and its Admin API can answer, and checks the
// WWW-Authenticate header (RFC 9110 §15.5.2), invalid_client after a
// client authenticated in the body included (RFC 6749 §5.2).
func TestEvery401HasAChallenge(t *testing.T) {
	f := startLeaks(t)
	ctx := t.Context()
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	live := f.token(t, f.svc, f.svcSecret)
	revoked := f.token(t, f.svc, f.svcSecret)
	if st, _, body := f.send(t, lkForm("POST", f.base+"/oauth2/revoke", url.Values{"token": {revoked}}, f.svc.ID, f.svcSecret)); st != 200 {
		t.Fatalf("revoke: %d %s", st, body)
	}
	orphan := f.token(t, f.svcOff, f.svcOffSecret)
	if _, err := f.s.SetAppActive(ctx, f.svcOff.ID, false); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := f.send(t, f.api("/oauth/x", "Authorization", "Bearer "+live)); st != 200 {
		t.Fatalf("a live token: %d", st)
	}
	// The sign-in form with its CSRF token.
	b := newBrowser(t, f.base)
	_, _, page := b.get("/login")
	csrf := formValue(page, "_csrf")
	loginReq := lkForm("POST", f.base+"/login", url.Values{"_csrf": {csrf}, "username": {"ann"}, "password": {"wrong-password"}}, "", "")
	u, _ := url.Parse(f.base)
	for _, c := range b.c.Jar.Cookies(u) {
		loginReq.AddCookie(c)
	}
	adminReq := func(hdr ...string) *http.Request {
		req, _ := http.NewRequest("GET", f.admin+"/users", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return req
	}
	token := func(path string, form url.Values, basicID, basicSecret string) *http.Request {
		return lkForm("POST", f.base+path, form, basicID, basicSecret)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, x := range v {
			out[k] = x
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	const (
		basicCh = `Basic realm="gatehouse", charset="UTF-8"`
		keyCh   = `apiKey realm="gatehouse"`
		bearer  = `Bearer realm="gatehouse"`
	)
	for _, tc := range []struct {
		name      string
		req       *http.Request
		challenge string // the header's prefix
	}{
		{"basic-auth: no credentials", f.api("/basic/x"), basicCh},
		{"basic-auth: malformed", f.api("/basic/x", "Authorization", "Basic !!!"), basicCh},
		{"basic-auth: unknown user", f.api("/basic/x", "Authorization", basic("nobody", "whatever-password")), basicCh},
		{"basic-auth: wrong password", f.api("/basic/x", "Authorization", basic("ann", "wrong-password")), basicCh},
		{"basic-auth: deactivated credential", f.api("/basic/x", "Authorization", basic("offcred", f.offCredPassword)), basicCh},
		{"basic-auth: deactivated user", f.api("/basic/x", "Authorization", basic("off", "off-password")), basicCh},
		{"key-auth: no key", f.api("/key/x"), keyCh},
		{"key-auth: malformed", f.api("/key/x", "Authorization", "apiKey nocolon"), keyCh},
		{"key-auth: unknown key", f.api("/key/x", "Authorization", "apiKey nokey:whatever-secret-0123456789"), keyCh},
		{"key-auth: wrong secret", f.api("/key/x", "Authorization", "apiKey "+strings.Split(f.annKey, ":")[0]+":wrong-secret-0123456789"), keyCh},
		{"key-auth: deactivated credential", f.api("/key/x", "Authorization", "apiKey "+f.offCredKey), keyCh},
		{"key-auth: deactivated user", f.api("/key/x", "Authorization", "apiKey "+f.offKey), keyCh},
		{"jwt: no token", f.api("/jwt/x"), bearer},
		{"jwt: malformed", f.api("/jwt/x", "Authorization", "Bearer a.b.c"), bearer + `, error="invalid_token"`},
		{"jwt: bad signature", f.api("/jwt/x", "Authorization", "Bearer "+lkJWT(t, jwt.SigningMethodHS256, lkType, nil)+"x"), bearer + `, error="invalid_token"`},
		{"jwt: expired", f.api("/jwt/x", "Authorization", "Bearer "+lkJWT(t, jwt.SigningMethodHS256, lkType, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), bearer + `, error="invalid_token"`},
		{"oauth2: no token", f.api("/oauth/x"), bearer},
		{"oauth2: not a Bearer header", f.api("/oauth/x", "Authorization", "Bearer a b"), bearer + `, error="invalid_request"`},
		{"oauth2: unknown token", f.api("/oauth/x", "Authorization", "Bearer nope"), bearer + `, error="invalid_token"`},
		{"oauth2: too large", f.api("/oauth/x", "Authorization", "Bearer "+strings.Repeat("x", 9000)), bearer + `, error="invalid_token"`},
		{"oauth2: not at+jwt", f.api("/oauth/x", "Authorization", "Bearer "+lkJWT(t, jwt.SigningMethodHS256, "JWT", nil)), bearer + `, error="invalid_token"`},
		{"oauth2: revoked", f.api("/oauth/x", "Authorization", "Bearer "+revoked), bearer + `, error="invalid_token"`},
		{"oauth2: deactivated client", f.api("/oauth/x", "Authorization", "Bearer "+orphan), bearer + `, error="invalid_token"`},
		{"oauth2-introspect: no token", f.api("/intro/x"), bearer},
		{"oauth2-introspect: inactive", f.api("/intro/x", "Authorization", "Bearer whatever"), bearer + `, error="invalid_token"`},
		{"oauth2-introspect: too large", f.api("/intro/x", "Authorization", "Bearer "+strings.Repeat("y", 9000)), bearer + `, error="invalid_token"`},
		{"token: HTTP Basic, wrong secret", token("/oauth2/token", cc, f.svc.ID, "wrong-secret"), basicCh},
		{"token: HTTP Basic, malformed", func() *http.Request {
			r := token("/oauth2/token", cc, "", "")
			r.Header.Set("Authorization", "Basic !!!")
			return r
		}(), basicCh},
		{"token: body, wrong secret", token("/oauth2/token", with(cc, "client_id", f.svc.ID, "client_secret", "wrong-secret"), "", ""), basicCh},
		{"token: body, unknown client", token("/oauth2/token", with(cc, "client_id", "nobody", "client_secret", "wrong-secret"), "", ""), basicCh},
		{"token: body, deactivated client", token("/oauth2/token", with(cc, "client_id", f.svcOff.ID, "client_secret", f.svcOffSecret), "", ""), basicCh},
		{"token: no client at all", token("/oauth2/token", cc, "", ""), basicCh},
		{"token: confidential client without its secret", token("/oauth2/token", with(cc, "client_id", f.svc.ID), "", ""), basicCh},
		{"revoke: body, wrong secret", token("/oauth2/revoke", url.Values{"token": {live}, "client_id": {f.svc.ID}, "client_secret": {"wrong-secret"}}, "", ""), basicCh},
		{"introspect: body, wrong secret", token("/oauth2/introspect", url.Values{"token": {live}, "client_id": {f.svc.ID}, "client_secret": {"wrong-secret"}}, "", ""), basicCh},
		{"introspect: a public client", token("/oauth2/introspect", url.Values{"token": {live}, "client_id": {f.spa.ID}}, "", ""), basicCh},
		{"sign-in page: wrong password", loginReq, `Cookie realm="gatehouse", form-action="/login"`},
		{"Admin API: no key", adminReq(), `Bearer realm="gatehouse-admin"`},
		{"Admin API: wrong key", adminReq("Authorization", "Bearer wrong-key"), `Bearer realm="gatehouse-admin"`},
		{"Admin API: wrong X-Admin-Key", adminReq("X-Admin-Key", "wrong-key"), `Bearer realm="gatehouse-admin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, h, body := f.send(t, tc.req)
			if st != 401 {
				t.Fatalf("status %d, want 401: %s", st, body)
			}
			if ch := h.Get("WWW-Authenticate"); !strings.HasPrefix(ch, tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q...: %s", ch, tc.challenge, body)
			}
		})
	}
}
