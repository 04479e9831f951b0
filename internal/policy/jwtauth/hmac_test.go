package jwtauth_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// TestHMACKeyTooShortRefused: an HMAC secret shorter than the algorithm's
// hash is a load error naming the rule (RFC 7518 §3.2), where it used to
// load with a warning (issue #11 §3).
func TestHMACKeyTooShortRefused(t *testing.T) {
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }}
	k40 := strings.Repeat("k", 40)
	for _, tt := range []struct {
		name, action, want string
	}{
		{"11 bytes", "{secretOrPublicKey: 'elevenbytes', checkCredentialExistence: false}",
			"gateway.config.yml:1: action.secretOrPublicKey: HS256 needs a key of at least 32 bytes (RFC 7518 §3.2), got 11"},
		{"31 bytes", "{secretOrPublicKey: '" + strings.Repeat("k", 31) + "', checkCredentialExistence: false}",
			"gateway.config.yml:1: action.secretOrPublicKey: HS256 needs a key of at least 32 bytes (RFC 7518 §3.2), got 31"},
		{"40 bytes for HS384", "{secretOrPublicKey: '" + k40 + "', algorithms: [HS384], checkCredentialExistence: false}",
			"gateway.config.yml:1: action.algorithms: HS384 needs a key of at least 48 bytes (RFC 7518 §3.2), got 40"},
		{"40 bytes for HS512", "{secretOrPublicKey: '" + k40 + "', algorithms: [HS256, HS512], checkCredentialExistence: false}",
			"gateway.config.yml:1: action.algorithms: HS512 needs a key of at least 64 bytes (RFC 7518 §3.2), got 40"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := jwtauth.New(node(t, tt.action), env)
			if err == nil {
				closeLater(t, p)
				t.Fatalf("loaded; want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
	for _, ok := range []string{
		"{secretOrPublicKey: '" + strings.Repeat("k", 32) + "', checkCredentialExistence: false}",
		"{secretOrPublicKey: '" + strings.Repeat("k", 48) + "', algorithms: [HS384], checkCredentialExistence: false}",
		"{secretOrPublicKey: '" + strings.Repeat("k", 64) + "', algorithms: [HS256, HS384, HS512], checkCredentialExistence: false}",
	} {
		newPolicy(t, ok, env)
	}
	if _, err := jwtauth.NewVerifier(jwtauth.Config{Key: []byte("elevenbytes")}); err == nil || !strings.Contains(err.Error(), "HS256 needs a key of at least 32 bytes (RFC 7518 §3.2), got 11") {
		t.Errorf("NewVerifier with an 11-byte secret: %v", err)
	}
}

// TestHMACKeyVerifiesOnlyWhatItIsLongEnoughFor: without an algorithms
// list, a secret verifies only the HMAC algorithms whose hash it is at
// least as long as; a token of a longer hash is refused.
func TestHMACKeyVerifiesOnlyWhatItIsLongEnoughFor(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want []string
	}{
		{32, []string{"HS256"}},
		{47, []string{"HS256"}},
		{48, []string{"HS256", "HS384"}},
		{64, []string{"HS256", "HS384", "HS512"}},
	} {
		v, err := jwtauth.NewVerifier(jwtauth.Config{Key: []byte(strings.Repeat("k", tt.n)), Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Algorithms(); !slices.Equal(got, tt.want) {
			t.Errorf("%d-byte secret verifies %v, want %v", tt.n, got, tt.want)
		}
	}
	key := []byte(strings.Repeat("k", 40))
	v, err := jwtauth.NewVerifier(jwtauth.Config{Key: key, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "user-1", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}
	for alg, want := range map[*jwt.SigningMethodHMAC]authn.Reason{jwt.SigningMethodHS256: "", jwt.SigningMethodHS384: jwtauth.ReasonAlgorithmNotAllowed} {
		// golang-jwt signs with any key length; go-jose would refuse to.
		tok, err := jwt.NewWithClaims(alg, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		if _, reason, _ := v.Verify(context.Background(), tok); reason != want {
			t.Errorf("%s token with a 40-byte secret: reason %q, want %q", alg.Alg(), reason, want)
		}
	}
}
