package jwtauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// TestAttacks: the classic JWT attacks, against a static secret, a static
// RSA key and a JWKS.
func TestAttacks(t *testing.T) {
	k := keys(t)
	dir := keyDir(t)
	env := &policyenv.Env{Logger: discard(), Now: time.Now, ConfigDir: dir, HTTPClient: http.DefaultClient}
	now := time.Now()
	good := claimsAt(now, "aud", "api")

	// The attacker's own key, published at the attacker's own URL: the
	// gateway must never fetch it.
	evil, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var evilHits atomic.Int64
	evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		_, _ = w.Write(jwksOf(t, jwk(&evil.PublicKey, "k1", "RS256")))
	}))
	defer evilSrv.Close()
	idp := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))

	hsAction := "{secretOrPublicKey: '" + secret + "', checkCredentialExistence: false, audience: api}"
	rsAction := "{secretOrPublicKeyFile: rsa.pem, checkCredentialExistence: false, audience: api}"
	jwksAct := "{jwksUri: '" + idp.URL + "', checkCredentialExistence: false, audience: api}"
	pubPKIX := pkixPEM(t, &k.rsa.PublicKey)
	pubPKCS1 := pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey))
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	goodHS := mint(t, jose.HS256, []byte(secret), good, nil)
	goodParts := strings.Split(goodHS, ".")
	embedded := func() string {
		opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT").WithHeader("kid", "k1")
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: evil}, opts)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := josejwt.Signed(sig).Claims(good).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()

	tests := []struct {
		name, action, token, reason string
	}{
		// alg none, in every spelling, with and without a signature.
		{"alg none (HS config)", hsAction, unsigned(map[string]any{"alg": "none"}, good, ""), "algorithm_not_allowed"},
		{"alg None (RS config)", rsAction, unsigned(map[string]any{"alg": "None"}, good, ""), "algorithm_not_allowed"},
		{"alg NONE with a signature", hsAction, unsigned(map[string]any{"alg": "NONE"}, good, goodParts[2]), "algorithm_not_allowed"},
		{"alg nOnE (JWKS)", jwksAct, unsigned(map[string]any{"alg": "nOnE", "kid": "k1"}, good, ""), "algorithm_not_allowed"},
		{"alg none, no signature part", hsAction, strings.TrimSuffix(unsigned(map[string]any{"alg": "none"}, good, ""), "."), "malformed_token"},
		{"HS256 signature stripped", hsAction, goodParts[0] + "." + goodParts[1] + ".", "bad_signature"},
		// Algorithm confusion: the RSA public key as an HMAC secret.
		{"HS256 with the PKIX PEM as secret", rsAction, mint(t, jose.HS256, pubPKIX, good, nil), "algorithm_not_allowed"},
		{"HS256 with the PKCS#1 PEM as secret", rsAction, mint(t, jose.HS256, pubPKCS1, good, nil), "algorithm_not_allowed"},
		{"HS256 with the DER key as secret", rsAction, mint(t, jose.HS256, pubDER, good, nil), "algorithm_not_allowed"},
		{"HS256 with the PEM as secret (JWKS)", jwksAct, mint(t, jose.HS256, pubPKIX, good, map[string]any{"kid": "k1"}), "algorithm_not_allowed"},
		// kid tricks: a kid is only ever a map key.
		{"kid path traversal (JWKS)", jwksAct, mint(t, jose.RS256, k.rsa, good, map[string]any{"kid": "../../etc/passwd"}), "unknown_kid"},
		{"kid SQL injection (JWKS)", jwksAct, mint(t, jose.RS256, k.rsa, good, map[string]any{"kid": "' OR 1=1 --"}), "unknown_kid"},
		{"kid with NUL (JWKS)", jwksAct, mint(t, jose.RS256, k.rsa, good, map[string]any{"kid": "k1\x00"}), "unknown_kid"},
		{"kid of 300 bytes (JWKS)", jwksAct, mint(t, jose.RS256, k.rsa, good, map[string]any{"kid": strings.Repeat("k", 300)}), "unknown_kid"},
		{"kid path traversal, forged (static key)", rsAction, mint(t, jose.RS256, evil, good, map[string]any{"kid": "../../etc/passwd"}), "bad_signature"},
		{"kid SQL injection, forged (static secret)", hsAction, mint(t, jose.HS256, []byte(secret+"x"), good, map[string]any{"kid": "' OR 1=1 --"}), "bad_signature"},
		// Keys named by the token are never fetched or used.
		{"jku to the attacker's JWKS (JWKS)", jwksAct, mint(t, jose.RS256, evil, good, map[string]any{"kid": "k1", "jku": evilSrv.URL}), "bad_signature"},
		{"x5u to the attacker (JWKS)", jwksAct, mint(t, jose.RS256, evil, good, map[string]any{"kid": "k1", "x5u": evilSrv.URL}), "bad_signature"},
		{"jku to the attacker's JWKS (static key)", rsAction, mint(t, jose.RS256, evil, good, map[string]any{"jku": evilSrv.URL}), "bad_signature"},
		{"embedded jwk (JWKS)", jwksAct, embedded, "bad_signature"},
		{"embedded jwk (static key)", rsAction, embedded, "bad_signature"},
		// Claims.
		{"expired by 1s beyond the tolerance", hsAction, mint(t, jose.HS256, []byte(secret), claimsAt(now, "aud", "api", "exp", now.Add(-6*time.Second).Unix()), nil), "token_expired"},
		{"wrong audience", hsAction, mint(t, jose.HS256, []byte(secret), claimsAt(now, "aud", "other"), nil), "audience_mismatch"},
		{"audience as a prefix", hsAction, mint(t, jose.HS256, []byte(secret), claimsAt(now, "aud", "api2"), nil), "audience_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPolicy(t, tt.action, env)
			r := serve(p, bearer(tt.token))
			if r.status != 401 || r.reason != tt.reason {
				t.Fatalf("got %d %q, want 401 %q (%s)", r.status, r.reason, tt.reason, r.body)
			}
			checkRefusal(t, r, tt.token)
		})
	}
	if n := evilHits.Load(); n != 0 {
		t.Errorf("the attacker's key URL was fetched %d times", n)
	}
	// The legitimate tokens still pass, so the refusals above are not a
	// broken configuration.
	for _, c := range []struct{ action, token string }{
		{hsAction, goodHS},
		{rsAction, mint(t, jose.RS256, k.rsa, good, map[string]any{"kid": "../../etc/passwd"})}, // kid ignored with a static key (EG)
		{jwksAct, mint(t, jose.RS256, k.rsa, good, map[string]any{"kid": "k1", "jku": evilSrv.URL})},
	} {
		if r := serve(newPolicy(t, c.action, env), bearer(c.token)); r.status != 200 {
			t.Errorf("legitimate token refused: %d %s", r.status, r.body)
		}
	}
}

// TestHugeTokenRefusedFast: a 1 MB token is refused on its length, before
// any decoding: no allocation grows with it.
func TestHugeTokenRefusedFast(t *testing.T) {
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }}
	p := newPolicy(t, "{secretOrPublicKey: '"+secret+"', checkCredentialExistence: false}", env)
	huge := strings.Repeat("a", 1<<20/3) + "." + strings.Repeat("b", 1<<20/3) + "." + strings.Repeat("c", 1<<20/3)
	r := serve(p, bearer(huge))
	if r.status != 401 || r.reason != "token_too_large" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	v, _ := jwtauth.NewVerifier(jwtauth.Config{Key: []byte(secret)})
	ctx := context.Background()
	start := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		if _, reason, _ := v.Verify(ctx, huge); reason != jwtauth.ReasonTokenTooLarge {
			t.Fatal(reason)
		}
	})
	if allocs > 5 {
		t.Errorf("%v allocations to refuse a 1 MB token: it must be refused before parsing", allocs)
	}
	if d := time.Since(start) / 101; d > time.Millisecond {
		t.Errorf("refusing a 1 MB token took %v", d)
	}
}
