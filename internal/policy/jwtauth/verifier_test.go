package jwtauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
)

// countingKeys is a jwkset storage that counts key lookups, i.e. signature
// checks.
type countingKeys struct {
	*jwkset.MemoryJWKSet
	reads atomic.Int64
}

func (c *countingKeys) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	c.reads.Add(1)
	return c.MemoryJWKSet.KeyRead(ctx, kid)
}

func newCountingKeys(t testing.TB, pub any, kid string) *countingKeys {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	c := &countingKeys{MemoryJWKSet: jwkset.NewMemoryStorage()}
	if err := c.KeyWrite(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewVerifierErrors(t *testing.T) {
	k := keys(t)
	ks := newCountingKeys(t, &k.rsa.PublicKey, "k1")
	for _, c := range []struct {
		name string
		cfg  jwtauth.Config
		want string
	}{
		{"no key", jwtauth.Config{}, "exactly one of Key and KeySet"},
		{"both", jwtauth.Config{Key: []byte(secret), KeySet: ks}, "exactly one of Key and KeySet"},
		{"unsupported key", jwtauth.Config{Key: "a string"}, "unsupported key type string"},
		{"none", jwtauth.Config{Key: []byte(secret), Algorithms: []string{"none"}}, `"none" is never allowed`},
		{"HS with a key set", jwtauth.Config{KeySet: ks, Algorithms: []string{"HS256"}}, "HS256 cannot be verified with a JWKS"},
		{"negative", jwtauth.Config{Key: []byte(secret), ClockTolerance: -1}, "negative"},
	} {
		if _, err := jwtauth.NewVerifier(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	v, err := jwtauth.NewVerifier(jwtauth.Config{Key: &k.ec384.PublicKey})
	if err != nil || strings.Join(v.Algorithms(), ",") != "ES384" {
		t.Errorf("P-384 family: %v %v", v.Algorithms(), err)
	}
}

// TestVerifierCache: a repeated token costs no signature check; the cache
// never answers for a token past its exp (or maxAge).
func TestVerifierCache(t *testing.T) {
	k := keys(t)
	ks := newCountingKeys(t, &k.rsa.PublicKey, "k1")
	clk := newClock(t0)
	v, err := jwtauth.NewVerifier(jwtauth.Config{KeySet: ks, Now: clk.now, ClockTolerance: 5 * time.Second, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := mint(t, jose.RS256, k.rsa, claimsAt(t0, "exp", t0.Add(10*time.Second).Unix()), map[string]any{"kid": "k1"})
	for range 5 {
		if _, reason, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("%s: %v", reason, err)
		}
	}
	if n := ks.reads.Load(); n != 1 {
		t.Errorf("%d signature checks for 5 verifications of one token, want 1", n)
	}
	clk.add(14 * time.Second) // exp + 4s: within the tolerance
	if _, reason, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("within tolerance: %s", reason)
	}
	clk.add(2 * time.Second) // exp + 6s
	if _, reason, _ := v.Verify(ctx, tok); reason != jwtauth.ReasonTokenExpired {
		t.Errorf("a cached token past exp: reason %q, want token_expired", reason)
	}

	// maxAge bounds cached entries too.
	clk.set(t0)
	old := mint(t, jose.RS256, k.rsa, claimsAt(t0, "exp", t0.Add(3*time.Hour).Unix()), map[string]any{"kid": "k1"})
	if _, reason, err := v.Verify(ctx, old); err != nil {
		t.Fatal(reason)
	}
	clk.add(time.Hour + 6*time.Second)
	if _, reason, _ := v.Verify(ctx, old); reason != jwtauth.ReasonTokenTooOld {
		t.Errorf("a cached token past maxAge: reason %q, want token_too_old", reason)
	}

	// A disabled cache verifies every time.
	nocache, _ := jwtauth.NewVerifier(jwtauth.Config{KeySet: ks, Now: clk.now, CacheSize: -1})
	clk.set(t0)
	before := ks.reads.Load()
	for range 3 {
		if _, reason, err := nocache.Verify(ctx, tok); err != nil {
			t.Fatal(reason)
		}
	}
	if n := ks.reads.Load() - before; n != 3 {
		t.Errorf("%d checks without a cache, want 3", n)
	}
	// Refusals are not cached.
	before = ks.reads.Load()
	bad := tamper(tok)
	for range 2 {
		if _, reason, _ := v.Verify(ctx, bad); reason != jwtauth.ReasonBadSignature {
			t.Fatal(reason)
		}
	}
	if n := ks.reads.Load() - before; n != 2 {
		t.Errorf("%d checks for a bad token twice, want 2", n)
	}
}

// TestCachedTokenStillChecksIdentityAndScopes: the cache skips the
// signature, never the controlled-mode store checks or the scope check.
func TestCachedTokenStillChecksIdentityAndScopes(t *testing.T) {
	f := setupStore(t)
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }, Identity: f.s}
	p := newPolicy(t, "{secretOrPublicKey: '"+secret+"'}", env)
	tok := mint(t, jose.HS256, []byte(secret), claimsAt(t0, "sub", f.keyID), nil)
	ctx := context.Background()
	step := func(name string, scopes []string, status int, reason string) {
		t.Helper()
		if r := serve(p, bearer(tok), scopes...); r.status != status || r.reason != reason {
			t.Fatalf("%s: %d %q, want %d %q", name, r.status, r.reason, status, reason)
		}
	}
	step("first use", nil, 200, "")
	step("cached, endpoint scope held", []string{"read"}, 200, "")
	step("cached, endpoint scope not held", []string{"write"}, 403, "insufficient_scope")
	if _, err := f.s.SetCredentialActive(ctx, store.JWT, f.keyID, false); err != nil {
		t.Fatal(err)
	}
	step("credential deactivated", nil, 401, "inactive_credentials")
	if _, err := f.s.SetCredentialActive(ctx, store.JWT, f.keyID, true); err != nil {
		t.Fatal(err)
	}
	step("credential reactivated", nil, 200, "")
	if _, err := f.s.SetUserActive(ctx, f.user.ID, false); err != nil {
		t.Fatal(err)
	}
	step("consumer deactivated", nil, 401, "inactive_consumer")
}

// TestTypes: RFC 9068 §4 access tokens are checked by typ (the oauth2
// policy's use of Verifier).
func TestTypes(t *testing.T) {
	v, err := jwtauth.NewVerifier(jwtauth.Config{Key: []byte(secret), Types: []string{"at+jwt"}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]authn.Reason{"at+jwt": "", "application/at+JWT": "", "JWT": jwtauth.ReasonTokenTypeMismatch} {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, opts)
		obj, _ := sig.Sign([]byte(`{"sub":"a","exp":` + strconv.FormatInt(t0.Add(time.Hour).Unix(), 10) + `}`))
		tok, _ := obj.CompactSerialize()
		if _, reason, _ := v.Verify(context.Background(), tok); reason != want {
			t.Errorf("typ %s: reason %q, want %q", typ, reason, want)
		}
	}
}

// TestRejection: how Verify failures become responses.
func TestRejection(t *testing.T) {
	v, _ := jwtauth.NewVerifier(jwtauth.Config{Key: []byte(secret), Now: func() time.Time { return t0 }})
	_, _, err := v.Verify(context.Background(), "")
	rej := jwtauth.Rejection(err, "Bearer")
	if rej.Status != 401 || rej.Code != "missing_token" || rej.Challenge != `Bearer realm="gatehouse"` {
		t.Errorf("missing: %+v", rej)
	}
	_, _, err = v.Verify(context.Background(), "a.b.c")
	rej = jwtauth.Rejection(err, "Bearer")
	if rej.Status != 401 || rej.Code != "malformed_token" ||
		!strings.HasPrefix(rej.Challenge, `Bearer realm="gatehouse", error="invalid_token", error_description="the token is not a well-formed JWT`) {
		t.Errorf("malformed: %+v", rej)
	}
	var e *jwtauth.Error
	if !errors.As(err, &e) || e.Reason != "malformed_token" {
		t.Errorf("error type: %T %v", err, err)
	}
	rej = jwtauth.Rejection(&jwtauth.Error{Reason: jwtauth.ReasonJWKSUnavailable, Message: "m", Cause: errors.New("dial")}, "Bearer")
	if rej.Status != http.StatusServiceUnavailable || rej.Header.Get("Retry-After") == "" || rej.Challenge != "" || rej.Err == nil {
		t.Errorf("jwks unavailable: %+v", rej)
	}
}

// TestVerifierCacheBounds: the verified-token cache keeps within both its
// entry and its byte bound (issue #14), the byte bound counting the
// tokens' claims, so big tokens hold fewer entries in the same budget; the
// least recently used token goes first; the size figures are handed to
// CacheSizes once, on the first stored token.
func TestVerifierCacheBounds(t *testing.T) {
	roles := make([]any, 40)
	for i := range roles {
		roles[i] = fmt.Sprintf("https://api.example.com/roles/role-%02d", i)
	}
	small := func(i int) map[string]any { return claimsAt(t0, "jti", fmt.Sprint(i)) }
	big := func(i int) map[string]any { return claimsAt(t0, "jti", fmt.Sprint(i), "roles", roles) }
	const tokens = 20
	for _, tc := range []struct {
		name        string
		size, bytes int
		claims      func(int) map[string]any
		// wantMin and wantMax bound the entries kept after tokens
		// distinct tokens.
		wantMin, wantMax int
	}{
		{"entry bound wins", 5, 1 << 20, small, 5, 5},
		{"byte bound, small tokens", 1000, 8 << 10, small, 10, 16},
		{"byte bound, big tokens", 1000, 8 << 10, big, 2, 4},
		{"both roomy", 1000, 1 << 20, big, tokens, tokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var registered int
			var stats metrics.CacheStats
			v, err := jwtauth.NewVerifier(jwtauth.Config{Key: []byte(secret), Now: func() time.Time { return t0 },
				CacheSize: tc.size, CacheBytes: tc.bytes,
				CacheSizes: func(s metrics.CacheStats) { registered++; stats = s }})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			toks := make([]string, tokens)
			for i := range toks {
				toks[i] = mint(t, jose.HS256, []byte(secret), tc.claims(i), nil)
				if _, reason, err := v.Verify(ctx, toks[i]); err != nil {
					t.Fatalf("token %d: %s %v", i, reason, err)
				}
			}
			n, b, ev := v.CacheStats()
			if n < tc.wantMin || n > tc.wantMax {
				t.Errorf("%d entries kept (%d bytes), want %d to %d", n, b, tc.wantMin, tc.wantMax)
			}
			if b > tc.bytes || n > tc.size {
				t.Errorf("%d entries, %d bytes: past the bounds %d, %d", n, b, tc.size, tc.bytes)
			}
			if int(ev) != tokens-n {
				t.Errorf("%d evictions for %d tokens and %d kept", ev, tokens, n)
			}
			if registered != 1 {
				t.Fatalf("CacheSizes called %d times, want once", registered)
			}
			if sn, sb, sev := stats(); sn != n || sb != b || sev != ev {
				t.Errorf("registered stats %d %d %d, want %d %d %d", sn, sb, sev, n, b, ev)
			}
			if n < tokens {
				// The oldest token was evicted: verifying it again is a
				// miss that stores it again and evicts one more.
				v.Verify(ctx, toks[0])
				if _, _, ev2 := v.CacheStats(); ev2 != ev+1 {
					t.Errorf("re-verifying the evicted oldest token: evictions %d, want %d", ev2, ev+1)
				}
			}
		})
	}
}

// TestVerifierCacheEntrySize: a typical provider access token (Auth0's
// claims, 516 bytes) costs what DefaultCacheBytes's comment says, about
// 1.3 KB cached, so the default byte bound holds some 6,000 of them.
func TestVerifierCacheEntrySize(t *testing.T) {
	v, err := jwtauth.NewVerifier(jwtauth.Config{Key: []byte(secret), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, jose.HS256, []byte(secret), claimsAt(t0,
		"iss", "https://tenant.eu.auth0.com/", "sub", "auth0|5f7c8ec7c33c6c004bbafe82",
		"aud", []string{"https://api.example.com", "https://tenant.eu.auth0.com/userinfo"},
		"azp", "Qb8cM6Tgb7WzpwVZJfh2j5vnhXvnfx3H", "scope", "openid profile email read:orders write:orders",
		"permissions", []string{"read:orders", "write:orders"}), nil)
	if _, reason, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(reason)
	}
	_, b, _ := v.CacheStats()
	t.Logf("token of %d bytes: %d bytes cached", len(tok), b)
	if b < 1000 || b > 1600 {
		t.Errorf("a %d-byte token costs %d cached bytes; the docs say about 1.3 KB", len(tok), b)
	}
}
