package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

// A Redis outage, end to end: one gatehouse process on a redis-server this
// test owns, stopped with SIGSTOP (connections hang, the worst case: nothing
// is refused, everything times out) for a few seconds, then resumed with
// SIGCONT (the data survives).

// ownRedis is a redis-server child this test can stop, resume, kill and
// start again on the same port.
type ownRedis struct {
	bin  string
	port string
	addr string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "outage test: no redis-server on PATH (it needs a Redis it can stop)"
		if os.Getenv("CI") == "true" { // .ci/run installs redis-server: never skip there
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var lastErr error
	for range 3 { // the free port may be taken before redis-server binds it
		port := strings.Split(freeAddr(t), ":")[1]
		r := &ownRedis{bin: bin, port: port, addr: "127.0.0.1:" + port}
		if lastErr = r.start(t); lastErr == nil {
			t.Cleanup(func() { r.kill() })
			return r
		}
	}
	t.Fatalf("redis-server did not answer: %v", lastErr)
	return nil
}

// start runs redis-server on r.port (no persistence) and waits for PONG.
func (r *ownRedis) start(t *testing.T) error {
	cmd := exec.Command(r.bin, "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: r.addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited (port %s taken?): %v", r.port, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.kill()
	return err
}

// kill stops the process (stopped or not) and waits for it.
func (r *ownRedis) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	<-done
}

func (r *ownRedis) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redis-server %v: %v", sig, err)
	}
}

// outageJWTSecret signs the HS256 tokens of the store-free route.
const outageJWTSecret = "outage-test-hmac-secret-0123456789abcdef"

func outageGatewayYAML(withJWT bool) string {
	free := `      - terminate:
          - action: {statusCode: 200, message: free-ok}`
	policies := "[oauth2, key-auth, rate-limit, terminate]"
	if withJWT {
		free = `      - jwt:
          - action:
              secretOrPublicKey: ` + outageJWTSecret + `
              checkCredentialExistence: false
` + free
		policies = "[jwt, oauth2, key-auth, rate-limit, terminate]"
	}
	return `http:
  port: 0
  host: 127.0.0.1
admin:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  free:
    paths: ['/free', '/free/*']
  key:
    paths: ['/key', '/key/*']
  limited:
    paths: ['/limited', '/limited/*']
  oauth:
    paths: ['/oauth', '/oauth/*']
policies: ` + policies + `
pipelines:
  free:
    apiEndpoints: [free]
    policies:
` + free + `
  key:
    apiEndpoints: [key]
    policies:
      - key-auth:
      - terminate:
          - action: {statusCode: 200, message: key-ok}
  limited:
    apiEndpoints: [limited]
    policies:
      - rate-limit:
          - action: {max: 1000000, windowMs: 1000}
      - terminate:
          - action: {statusCode: 200, message: limited-ok}
  oauth:
    apiEndpoints: [oauth]
    policies:
      - oauth2:
      - terminate:
          - action: {statusCode: 200, message: oauth-ok}
`
}

// outageBurst is how many fresh-key and how many rate-limited requests are
// sent at once when Redis stops (more than the client's pool of
// connections).
const outageBurst = 40

// outageResult is one request of the load.
type outageResult struct {
	route   string
	start   time.Time
	latency time.Duration
	status  int
	retry   string // Retry-After
	err     error
}

// TestOutageRedisStopped: while Redis is stopped the store-free (jwt)
// route loses nothing, store-backed checks answer 503 with Retry-After
// (never 500, never a hang), credentials the node already verified are
// served from its cache, the rate limit fails open, /readyz says 503; once
// Redis is back everything works again within 2s, without a restart.
func TestOutageRedisStopped(t *testing.T) {
	bin := buildBinary(t)
	rs := startOwnRedis(t)
	host, port, _ := strings.Cut(rs.addr, ":")
	_, withJWT := gateway.Policies(nil)["jwt"]
	if !withJWT {
		t.Log("NOTE: the jwt policy is not registered in internal/gateway/policies.go: the store-free route is a terminate stand-in")
	}
	sys := fmt.Sprintf("db:\n  redis:\n    host: %s\n    port: %s\n    namespace: outage\n", host, port)
	n := startClusterNode(t, bin, "gw", writeNodeDir(t, sys, outageGatewayYAML(withJWT)))

	// Seed: one user with a warm key (used before the outage, so the node
	// has it cached) and fresh keys the node has never seen.
	user := n.mustAdmin(t, "POST", "/users", map[string]any{"username": "dora", "firstname": "Dora", "lastname": "D"})
	userID := user["id"].(string)
	newKey := func() string {
		c := n.mustAdmin(t, "POST", "/credentials", map[string]any{"consumerId": userID, "type": "key-auth"})
		return c["keyId"].(string) + ":" + c["keySecret"].(string)
	}
	warm := newKey()
	fresh := make([]string, 8)
	for i := range fresh {
		fresh[i] = newKey()
	}
	app := n.mustAdmin(t, "POST", "/apps", map[string]any{"userId": userID, "name": "svc"})
	oc := n.mustAdmin(t, "POST", "/credentials", map[string]any{"consumerId": app["id"], "type": "oauth2"})
	op := &clusterPair{a: n, appID: app["id"].(string), clientSecret: oc["secret"].(string)}
	warmTok, freshTok := op.issue(t, n), op.issue(t, n) // opaque, stored in Redis
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "outage-client", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	jwtToken, err := tok.SignedString([]byte(outageJWTSecret))
	if err != nil {
		t.Fatal(err)
	}

	client := &http.Client{Timeout: 3 * time.Second}
	do := func(route, path, auth string) outageResult {
		req, _ := http.NewRequest("GET", n.base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res := outageResult{route: route, start: time.Now()}
		resp, err := client.Do(req)
		res.latency = time.Since(res.start)
		if err != nil {
			res.err = err
			return res
		}
		_, res.err = io.Copy(io.Discard, resp.Body) // no t.Fatal: load goroutines call this
		_ = resp.Body.Close()
		res.status, res.retry = resp.StatusCode, resp.Header.Get("Retry-After")
		return res
	}
	freeReq := func() outageResult { return do("jwt", "/free/x", "Bearer "+jwtToken) }
	keyReq := func(key string) func() outageResult {
		return func() outageResult { return do("key-auth", "/key/x", "apiKey "+key) }
	}
	limitedReq := func() outageResult { return do("rate-limit", "/limited/x", "") }
	oauthReq := func(tok string) func() outageResult {
		return func() outageResult { return do("oauth2", "/oauth/x", "Bearer "+tok) }
	}
	ready := func() (int, string) {
		code, m := n.adminCall(t, "GET", "/readyz", nil)
		return code, fmt.Sprint(m)
	}

	// Redis up: everything works.
	for _, f := range []func() outageResult{freeReq, keyReq(warm), limitedReq, oauthReq(warmTok)} {
		if r := f(); r.err != nil || r.status != 200 {
			t.Fatalf("%s before the outage: %d %v", r.route, r.status, r.err)
		}
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("/readyz before the outage = %d %s", code, body)
	}

	// Bounded load: two goroutines per route until stop.
	var (
		mu      sync.Mutex
		results []outageResult
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	for _, f := range []func() outageResult{freeReq, freeReq, keyReq(warm), keyReq(warm), limitedReq, limitedReq, oauthReq(warmTok)} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100_000 { // bounded; stop ends it long before
				select {
				case <-stop:
					return
				default:
				}
				r := f()
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)

	// Outage.
	rs.signal(t, syscall.SIGSTOP)
	stopped := time.Now()
	t.Log("redis-server stopped (SIGSTOP)")
	// A burst right at the start of the outage, the worst moment: every
	// request needs Redis and none may hang.
	burst := make([]outageResult, 2*outageBurst)
	var bwg sync.WaitGroup
	for i := range burst {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			if i%2 == 0 {
				burst[i] = keyReq(fresh[1+(i/2)%6])()
			} else {
				burst[i] = limitedReq()
			}
		}()
	}
	bwg.Wait()
	var freshDuring []outageResult
	var readyDuring []int
	for i := 0; time.Since(stopped) < 4800*time.Millisecond && i < 100; i++ {
		// Never cached (failures are not): a key, an opaque token.
		freshDuring = append(freshDuring, keyReq(fresh[i%4])(), oauthReq(freshTok)())
		code, _ := ready()
		readyDuring = append(readyDuring, code)
		time.Sleep(200 * time.Millisecond)
	}
	// The token endpoint cannot store a token: 503, with Retry-After.
	tokenStart := time.Now()
	form := "grant_type=client_credentials"
	treq, _ := http.NewRequest("POST", n.base+"/oauth2/token", strings.NewReader(form))
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	treq.SetBasicAuth(op.appID, op.clientSecret)
	if resp, err := client.Do(treq); err != nil {
		t.Errorf("POST /oauth2/token during the outage: %v after %v", err, time.Since(tokenStart))
	} else {
		body := readBody(t, resp)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "temporarily_unavailable") {
			t.Errorf("POST /oauth2/token during the outage: %d %s (Retry-After %q), want 503 temporarily_unavailable", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
	if rest := 5*time.Second - time.Since(stopped); rest > 0 {
		time.Sleep(rest)
	}
	rs.signal(t, syscall.SIGCONT)
	resumed := time.Now()
	t.Logf("redis-server resumed (SIGCONT) after %v", resumed.Sub(stopped).Round(time.Millisecond))

	// Recovery: a key the node has never seen, then one refused during the
	// outage, then /readyz.
	recovered := waitStatus(t, "fresh key after Redis came back", 2*time.Second, 200, func() (int, string) {
		r := keyReq(fresh[len(fresh)-1])()
		return r.status, fmt.Sprint(r.err)
	})
	t.Logf("store-backed requests succeed again %v after Redis came back", recovered.Round(time.Millisecond))
	if r := keyReq(fresh[0])(); r.status != 200 {
		t.Errorf("a key refused with 503 during the outage, after it: %d %v (the failure must not be cached)", r.status, r.err)
	}
	if r := oauthReq(freshTok)(); r.status != 200 {
		t.Errorf("a token refused with 503 during the outage, after it: %d %v", r.status, r.err)
	}
	readyBack := waitStatus(t, "/readyz after Redis came back", 2*time.Second, 200, ready)
	t.Logf("/readyz ready again %v after Redis came back", readyBack.Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	// The burst: 503 (key-auth) or 200 (rate-limit, open), all in time.
	var burstMax time.Duration
	for i, r := range burst {
		burstMax = max(burstMax, r.latency)
		switch {
		case r.err != nil:
			t.Errorf("burst %s request %d: %v after %v (want an answer before the 3s client timeout)", r.route, i, r.err, r.latency.Round(time.Millisecond))
		case r.route == "key-auth" && (r.status != 503 || r.retry == ""):
			t.Errorf("burst key-auth request %d: %d, Retry-After %q; want 503 with Retry-After", i, r.status, r.retry)
		case r.route == "rate-limit" && r.status != 200:
			t.Errorf("burst rate-limit request %d: %d, want 200 (fail open)", i, r.status)
		}
	}
	t.Logf("burst of %d concurrent store-backed requests at the start of the outage: slowest answered in %v", len(burst), burstMax.Round(time.Millisecond))

	// Fresh keys and /readyz during the outage.
	for i, r := range freshDuring {
		switch {
		case r.err != nil:
			t.Errorf("uncached %s probe %d during the outage: %v after %v (want 503 before the 3s client timeout)", r.route, i, r.err, r.latency)
		case r.status != 503 || r.retry == "":
			t.Errorf("uncached %s probe %d during the outage: %d, Retry-After %q; want 503 with Retry-After", r.route, i, r.status, r.retry)
		}
	}
	for i, code := range readyDuring {
		if code != 503 {
			t.Errorf("/readyz probe %d during the outage = %d, want 503", i, code)
		}
	}
	if len(freshDuring) == 0 || len(readyDuring) == 0 {
		t.Error("no probe ran during the outage")
	}
	lat := make([]time.Duration, 0, len(freshDuring))
	for _, r := range freshDuring {
		lat = append(lat, r.latency.Round(time.Millisecond))
	}
	t.Logf("uncached key and token during the outage: %d probes over 5s, all 503, latencies %v", len(freshDuring), lat)

	// The load.
	type phaseStats struct {
		n        int
		byStatus map[int]int
		errs     int
		max      time.Duration
	}
	stats := map[string]*phaseStats{}
	phaseOf := func(r outageResult) string {
		switch {
		case r.start.Before(stopped):
			return "before"
		case r.start.Before(resumed):
			return "during"
		default:
			return "after"
		}
	}
	for _, r := range results {
		k := r.route + " " + phaseOf(r)
		s := stats[k]
		if s == nil {
			s = &phaseStats{byStatus: map[int]int{}}
			stats[k] = s
		}
		s.n++
		s.max = max(s.max, r.latency)
		if r.err != nil {
			s.errs++
		} else {
			s.byStatus[r.status]++
		}
		switch {
		case r.err != nil:
			var ue interface{ Timeout() bool }
			if errors.As(r.err, &ue) && ue.Timeout() {
				t.Errorf("%s (%s): no answer within the 3s client timeout", r.route, phaseOf(r))
			} else {
				t.Errorf("%s (%s): %v", r.route, phaseOf(r), r.err)
			}
		case r.route == "jwt" && r.status != 200:
			t.Errorf("jwt route (%s): %d, want 200 (it needs no store)", phaseOf(r), r.status)
		case r.route == "rate-limit" && r.status != 200:
			t.Errorf("rate-limit route (%s): %d, want 200 (the limiter fails open)", phaseOf(r), r.status)
		case (r.route == "key-auth" || r.route == "oauth2") && r.status != 200 && r.status != 503:
			t.Errorf("%s route (%s): %d, want 200 (cached) or 503", r.route, phaseOf(r), r.status)
		case r.status == 503 && r.retry == "":
			t.Errorf("%s (%s): 503 without Retry-After", r.route, phaseOf(r))
		}
	}
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := stats[k]
		codes := make([]string, 0, len(s.byStatus))
		for c, m := range s.byStatus {
			codes = append(codes, strconv.Itoa(c)+"×"+strconv.Itoa(m))
		}
		sort.Strings(codes)
		t.Logf("%-20s %5d requests, %v, %d errors, max latency %v", k, s.n, codes, s.errs, s.max.Round(time.Millisecond))
	}
	for _, route := range []string{"jwt", "key-auth", "rate-limit", "oauth2"} {
		if stats[route+" during"] == nil || stats[route+" during"].n == 0 {
			t.Errorf("no %s request ran during the outage", route)
		}
	}
}

// TestOutageRedisRestarted: Redis is killed (connections are refused, the
// fast case) and started again empty on the same port. While it is away the
// store-free route works, fresh keys get 503 at once, cached ones pass;
// once it is back the node accepts writes again within 2s with no restart,
// and its cache is purged (the data is gone) when its invalidation
// subscription comes back.
func TestOutageRedisRestarted(t *testing.T) {
	bin := buildBinary(t)
	rs := startOwnRedis(t)
	host, port, _ := strings.Cut(rs.addr, ":")
	_, withJWT := gateway.Policies(nil)["jwt"]
	if !withJWT {
		t.Log("NOTE: the jwt policy is not registered in internal/gateway/policies.go: the store-free route is a terminate stand-in")
	}
	sys := fmt.Sprintf("db:\n  redis:\n    host: %s\n    port: %s\n    namespace: outage\n", host, port)
	n := startClusterNode(t, bin, "gw", writeNodeDir(t, sys, outageGatewayYAML(withJWT)))

	const warm, fresh = "warm-key:warm-secret-0123456789", "fresh-key:fresh-secret-0123456789"
	seed := func() {
		t.Helper()
		user := n.mustAdmin(t, "POST", "/users", map[string]any{"username": "dora", "firstname": "Dora", "lastname": "D"})
		for _, k := range []string{warm, fresh} {
			id, sec, _ := strings.Cut(k, ":")
			n.mustAdmin(t, "POST", "/credentials", map[string]any{"consumerId": user["id"], "type": "key-auth",
				"credential": map[string]any{"keyId": id, "keySecret": sec}})
		}
	}
	seed()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "outage-client", "exp": time.Now().Add(time.Hour).Unix()})
	jwtToken, err := tok.SignedString([]byte(outageJWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 3 * time.Second}
	do := func(path, auth string) (int, string, time.Duration) {
		req, _ := http.NewRequest("GET", n.base+path, nil)
		req.Header.Set("Authorization", auth)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v after %v", path, err, time.Since(start))
		}
		_ = readBody(t, resp)
		return resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)
	}
	if code, _, _ := do("/key/x", "apiKey "+warm); code != 200 {
		t.Fatalf("warm key before the outage: %d", code)
	}

	rs.kill()
	killed := time.Now()
	t.Log("redis-server killed")
	var freshMax, warmMax time.Duration
	for probes := 0; time.Since(killed) < 3*time.Second && probes < 1000; probes++ {
		code, retry, d := do("/key/x", "apiKey "+fresh)
		freshMax = max(freshMax, d)
		if code != 503 || retry == "" {
			t.Fatalf("fresh key with Redis down: %d, Retry-After %q; want 503 with Retry-After", code, retry)
		}
		if code, _, d = do("/key/x", "apiKey "+warm); code != 200 {
			t.Fatalf("cached key with Redis down: %d, want 200 (served from the node's cache)", code)
		}
		warmMax = max(warmMax, d)
		if code, _, _ = do("/free/x", "Bearer "+jwtToken); code != 200 {
			t.Fatalf("store-free route with Redis down: %d", code)
		}
		if code, m := n.adminCall(t, "GET", "/readyz", nil); code != 503 {
			t.Fatalf("/readyz with Redis down: %d %v", code, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("Redis down (refusing): fresh keys answered 503 in at most %v, the cached key 200 in at most %v", freshMax.Round(time.Millisecond), warmMax.Round(time.Millisecond))

	logBefore := strings.Count(n.logs.String(), "invalidation subscription restored")
	if err := rs.start(t); err != nil {
		t.Fatalf("restarting redis-server on port %s: %v", rs.port, err)
	}
	restarted := time.Now()
	t.Log("redis-server started again, empty")
	// The node accepts writes again (no restart of gatehouse), then the
	// data is seeded anew.
	writable := waitStatus(t, "Admin API write after Redis came back", 2*time.Second, 200, func() (int, string) {
		code, m := n.adminCall(t, "PUT", "/scopes/probe", nil)
		if code == 201 {
			code = 200
		}
		return code, fmt.Sprint(m)
	})
	t.Logf("node writes again %v after Redis came back", writable.Round(time.Millisecond))
	seed()
	for _, k := range []string{fresh, warm} {
		if code, _, _ := do("/key/x", "apiKey "+k); code != 200 {
			t.Errorf("key %s after Redis came back and the data was seeded again: %d", k, code)
		}
	}
	if e := time.Since(restarted); e > 2*time.Second {
		t.Errorf("store-backed requests back %v after Redis, want within 2s", e)
	}
	// The data is gone: the node's cache must not outlive it. It is purged
	// when the invalidation subscription comes back.
	for deadline := restarted.Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if strings.Count(n.logs.String(), "invalidation subscription restored") > logBefore {
			t.Logf("node cache purged by %v after Redis came back (invalidation subscription restored)", time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the invalidation subscription was not restored within 5s of Redis coming back")
		}
	}
}
