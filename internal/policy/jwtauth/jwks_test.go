package jwtauth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/policyenv"
	jose "github.com/go-jose/go-jose/v4"
)

func jwksEnv() *policyenv.Env {
	return &policyenv.Env{Logger: discard(), HTTPClient: &http.Client{Timeout: 5 * time.Second}}
}

func jwksAction(uri string, extra string) string {
	return "{jwksUri: '" + uri + "', checkCredentialExistence: false" + extra + "}"
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSVerifies(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256"), jwk(&k.ec256.PublicKey, "k2", "ES256"), jwk(k.ed.Public(), "k3", "EdDSA")))
	p := newPolicy(t, jwksAction(i.URL, ""), jwksEnv())
	now := time.Now()
	for _, c := range []struct {
		name   string
		tok    string
		status int
		reason string
	}{
		{"RS256 by kid", mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": "k1"}), 200, ""},
		{"ES256 by kid", mint(t, jose.ES256, k.ec256, claimsAt(now), map[string]any{"kid": "k2"}), 200, ""},
		{"EdDSA by kid", mint(t, jose.EdDSA, k.ed, claimsAt(now), map[string]any{"kid": "k3"}), 200, ""},
		{"no kid: every key is tried", mint(t, jose.ES256, k.ec256, claimsAt(now), nil), 200, ""},
		{"no kid, unknown key", mint(t, jose.RS256, k.rsa2, claimsAt(now), nil), 401, "bad_signature"},
		{"right kid, wrong key", mint(t, jose.RS256, k.rsa2, claimsAt(now), map[string]any{"kid": "k1"}), 401, "bad_signature"},
		{"the JWK's alg differs from the token's", mint(t, jose.PS256, k.rsa, claimsAt(now), map[string]any{"kid": "k1"}), 401, "algorithm_not_allowed"},
		{"kid of another key type", mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": "k2"}), 401, "algorithm_not_allowed"},
		{"kid that is not a string", mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": 7}), 401, "malformed_token"},
		{"HS256 is never allowed with a JWKS", mint(t, jose.HS256, []byte(secret), claimsAt(now), map[string]any{"kid": "k1"}), 401, "algorithm_not_allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := serve(p, bearer(c.tok))
			if r.status != c.status || r.reason != c.reason {
				t.Fatalf("got %d %q, want %d %q (%s)", r.status, r.reason, c.status, c.reason, r.body)
			}
			checkRefusal(t, r, c.tok)
		})
	}
	if n := i.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want once (keys are cached)", n)
	}
}

// TestJWKSRotation: a token with a new kid makes the gateway refetch the
// set at once (no restart, no TTL wait).
func TestJWKSRotation(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "old", "RS256")))
	p := newPolicy(t, jwksAction(i.URL, ", jwksCooldown: 1ms"), jwksEnv())
	now := time.Now()
	oldTok := mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": "old"})
	newTok := mint(t, jose.RS256, k.rsa2, claimsAt(now), map[string]any{"kid": "new"})
	if r := serve(p, bearer(oldTok)); r.status != 200 {
		t.Fatalf("old token: %d %s", r.status, r.body)
	}
	if r := serve(p, bearer(newTok)); r.status != 401 || r.reason != "unknown_kid" {
		t.Fatalf("new token before rotation: %d %s", r.status, r.body)
	}
	time.Sleep(2 * time.Millisecond)
	i.set(jwksOf(t, jwk(&k.rsa.PublicKey, "old", "RS256"), jwk(&k.rsa2.PublicKey, "new", "RS256")))
	// Concurrent first uses of the new kid share one fetch.
	before := i.fetches.Load()
	var wg sync.WaitGroup
	var fails atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := serve(p, bearer(newTok)); r.status != 200 {
				fails.Add(1)
			}
		}()
	}
	wg.Wait()
	if fails.Load() != 0 {
		t.Errorf("%d requests with the new kid failed", fails.Load())
	}
	if n := i.fetches.Load() - before; n != 1 {
		t.Errorf("%d fetches for 20 concurrent requests, want 1 (single-flight)", n)
	}
	if r := serve(p, bearer(oldTok)); r.status != 200 {
		t.Errorf("old token during the overlap: %d %s", r.status, r.body)
	}
}

// TestJWKSCooldown: a flood of tokens with made-up kids cannot make the
// gateway hammer the identity provider.
func TestJWKSCooldown(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	p := newPolicy(t, jwksAction(i.URL, ""), jwksEnv()) // default cooldown 10s
	now := time.Now()
	eventually(t, "first fetch", func() bool {
		return serve(p, bearer(mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": "k1"}))).status == 200
	})
	toks := make([]string, 200)
	for n := range toks {
		toks[n] = mint(t, jose.RS256, k.rsa, claimsAt(now, "n", n), map[string]any{"kid": fmt.Sprintf("made-up-%d", n)})
	}
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := serve(p, bearer(tok)); r.reason != "unknown_kid" {
				t.Errorf("made-up kid: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if n := i.fetches.Load(); n > 2 {
		t.Errorf("the IdP was fetched %d times for 200 unknown kids; want at most 2 (initial + one refetch)", n)
	}
}

func TestJWKSKeepsLastGoodSet(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	p := newPolicy(t, jwksAction(i.URL, ", jwksRefreshInterval: 10ms, jwksCooldown: 1ms"), jwksEnv())
	tok := mint(t, jose.RS256, k.rsa, claimsAt(time.Now()), map[string]any{"kid": "k1"})
	if r := serve(p, bearer(tok)); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, broken := range []func(){
		func() { i.status.Store(http.StatusInternalServerError) },
		func() { i.status.Store(http.StatusOK); i.set([]byte("<html>maintenance</html>")) },
		func() { i.set([]byte(`{"keys":[]}`)) },
		func() { i.set([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1"}]}`)) },
	} {
		broken()
		n := i.fetches.Load()
		eventually(t, "refresh attempts", func() bool { return i.fetches.Load() > n+1 })
		if r := serve(p, bearer(tok)); r.status != 200 {
			t.Fatalf("with the IdP broken: %d %s", r.status, r.body)
		}
		// An unknown kid while the IdP is broken is still a 401, not a 503:
		// a key set is known.
		if r := serve(p, bearer(mint(t, jose.RS256, k.rsa, claimsAt(time.Now()), map[string]any{"kid": "zz"}))); r.reason != "unknown_kid" {
			t.Fatalf("unknown kid with the IdP broken: %d %s", r.status, r.body)
		}
	}
}

func TestJWKSUnavailable(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	i.status.Store(http.StatusServiceUnavailable)
	p := newPolicy(t, jwksAction(i.URL, ", jwksCooldown: 20ms"), jwksEnv())
	tok := mint(t, jose.RS256, k.rsa, claimsAt(time.Now()), map[string]any{"kid": "k1"})
	r := serve(p, bearer(tok))
	if r.status != 503 || r.reason != "jwks_unavailable" {
		t.Fatalf("never fetched: %d %s, want 503 jwks_unavailable", r.status, r.body)
	}
	// passThrough never hides an outage: it is not a verdict.
	pt := newPolicy(t, jwksAction(i.URL, ", jwksCooldown: 20ms, passThrough: true"), jwksEnv())
	if r := serve(pt, bearer(tok)); r.status != 503 {
		t.Errorf("passThrough with no key set: %d, want 503", r.status)
	}
	i.status.Store(http.StatusOK)
	eventually(t, "recovery", func() bool { return serve(p, bearer(tok)).status == 200 })
}

func TestJWKSRefusesOversizedDocument(t *testing.T) {
	k := keys(t)
	big := []byte(`{"keys":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`)
	i := newIDP(t, big)
	p := newPolicy(t, jwksAction(i.URL, ""), jwksEnv())
	r := serve(p, bearer(mint(t, jose.RS256, k.rsa, claimsAt(time.Now()), map[string]any{"kid": "k1"})))
	if r.status != 503 {
		t.Errorf("%d %s, want 503", r.status, r.body)
	}
}

// TestJWKSDropsUnsafeKeys: a key set may publish symmetric keys,
// encryption keys or weak RSA keys; none of them ever verifies a token.
func TestJWKSDropsUnsafeKeys(t *testing.T) {
	k := keys(t)
	enc, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	oct := jose.JSONWebKey{Key: []byte(secret), KeyID: "hmac", Algorithm: "HS256", Use: "sig"}
	encKey := jose.JSONWebKey{Key: &enc.PublicKey, KeyID: "enc", Algorithm: "RSA-OAEP", Use: "enc"}
	weak := jwk(&k.rsaWeak.PublicKey, "weak", "RS256")
	i := newIDP(t, jwksOf(t, oct, encKey, weak, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	p := newPolicy(t, jwksAction(i.URL, ""), jwksEnv())
	now := time.Now()
	for _, c := range []struct {
		name, tok, reason string
	}{
		{"HS256 with the published oct key", mint(t, jose.HS256, []byte(secret), claimsAt(now), map[string]any{"kid": "hmac"}), "algorithm_not_allowed"},
		{"RS256 with the encryption key", mint(t, jose.RS256, enc, claimsAt(now), map[string]any{"kid": "enc"}), "unknown_kid"},
		{"RS256 with the weak key", mint(t, jose.RS256, k.rsaWeak, claimsAt(now), map[string]any{"kid": "weak"}), "unknown_kid"},
	} {
		if r := serve(p, bearer(c.tok)); r.reason != c.reason {
			t.Errorf("%s: %d %s, want %s", c.name, r.status, r.body, c.reason)
		}
	}
	if r := serve(p, bearer(mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": "k1"}))); r.status != 200 {
		t.Errorf("the good key: %d %s", r.status, r.body)
	}
}

// TestJWKSRemovedKeyVoidsCachedTokens: when the IdP withdraws a key, tokens
// it signed stop working even if they were verified (and cached) before.
func TestJWKSRemovedKeyVoidsCachedTokens(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256"), jwk(&k.rsa2.PublicKey, "k2", "RS256")))
	p := newPolicy(t, jwksAction(i.URL, ", jwksRefreshInterval: 10ms"), jwksEnv())
	tok := mint(t, jose.RS256, k.rsa, claimsAt(time.Now()), map[string]any{"kid": "k1"})
	if r := serve(p, bearer(tok)); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	i.set(jwksOf(t, jwk(&k.rsa2.PublicKey, "k2", "RS256")))
	eventually(t, "the withdrawn key to stop working", func() bool { return serve(p, bearer(tok)).reason == "unknown_kid" })
}

// countingTransport counts the requests a key set starts, on the client
// side: a fetch cancelled by Close may still reach the server after Close
// returns, but its RoundTrip call began before.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestJWKSCloseStopsRefreshing: once Close returns the key set starts no
// fetch. Deterministic: Close waits for the fetches it cancels, so the
// client-side count is final when it returns; and a second key set on the
// same refresh interval, left running, proves by refreshing three times
// that a refresher not stopped would have fetched meanwhile.
func TestJWKSCloseStopsRefreshing(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	envOf := func(c *countingTransport) *policyenv.Env {
		e := jwksEnv()
		e.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: c}
		return e
	}
	var closed, running countingTransport
	p := newPolicy(t, jwksAction(i.URL, ", jwksRefreshInterval: 5ms"), envOf(&closed))
	eventually(t, "refreshes", func() bool { return closed.n.Load() > 2 })
	p.(closer).Close()
	n := closed.n.Load()
	newPolicy(t, jwksAction(i.URL, ", jwksRefreshInterval: 5ms"), envOf(&running))
	eventually(t, "the running key set to refresh", func() bool { return running.n.Load() > 3 })
	if m := closed.n.Load(); m != n {
		t.Errorf("%d fetches after Close", m-n)
	}
}

// TestJWKSRotationDuringFlood: made-up kids have just used the refetch; a
// real new kid arriving during the cooldown is refused, and the refetch
// scheduled for the end of the cooldown picks it up (one fetch, however
// many requests asked).
func TestJWKSRotationDuringFlood(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	p := newPolicy(t, jwksAction(i.URL, ", jwksCooldown: 300ms"), jwksEnv())
	now := time.Now()
	if r := serve(p, bearer(mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": "k1"}))); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := serve(p, bearer(mint(t, jose.RS256, k.rsa, claimsAt(now), map[string]any{"kid": "made-up"}))); r.reason != "unknown_kid" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := i.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (initial + refetch for the made-up kid)", n)
	}
	i.set(jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256"), jwk(&k.rsa2.PublicKey, "k2", "RS256")))
	tok := mint(t, jose.RS256, k.rsa2, claimsAt(now), map[string]any{"kid": "k2"})
	if r := serve(p, bearer(tok)); r.reason != "unknown_kid" {
		t.Fatalf("during the cooldown: %d %s, want unknown_kid at once", r.status, r.body)
	}
	start := time.Now()
	eventually(t, "the scheduled refetch", func() bool { return serve(p, bearer(tok)).status == 200 })
	if d := time.Since(start); d > time.Second {
		t.Errorf("the new key took %v to be picked up, want about the 300ms cooldown", d)
	}
	if n := i.fetches.Load(); n != 3 {
		t.Errorf("%d fetches, want 3 (one scheduled refetch for all the requests during the cooldown)", n)
	}
}
