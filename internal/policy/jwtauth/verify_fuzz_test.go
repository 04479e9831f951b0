package jwtauth_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
)

var reasons = []authn.Reason{
	jwtauth.ReasonMissingToken, jwtauth.ReasonMalformedToken, jwtauth.ReasonTokenTooLarge, jwtauth.ReasonBadSignature,
	jwtauth.ReasonUnknownKID, jwtauth.ReasonAlgorithmNotAllowed, jwtauth.ReasonTokenExpired, jwtauth.ReasonTokenNotYetValid,
	jwtauth.ReasonTokenTooOld, jwtauth.ReasonAudienceMismatch, jwtauth.ReasonIssuerMismatch, jwtauth.ReasonMissingClaim,
	jwtauth.ReasonTokenTypeMismatch,
}

// FuzzVerify: the parsing path never panics, every refusal has a known
// reason and a message that fits in an RFC 6750 challenge without the
// token, and nothing but the exact tokens that were signed ever verifies
// (strict base64: no malleable encodings).
func FuzzVerify(f *testing.F) {
	k := keys(f)
	now := func() time.Time { return t0 }
	hsV, err := jwtauth.NewVerifier(jwtauth.Config{Key: []byte(secret), Now: now, Audiences: []string{"api"}, MaxAge: time.Hour, ClockTolerance: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	rsV, err := jwtauth.NewVerifier(jwtauth.Config{Key: &k.rsa.PublicKey, Now: now, Issuers: []string{"a", "b"}, RequiredClaims: []string{"sub"}, CacheSize: -1})
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{}
	add := func(tok string) {
		signed[tok] = true
		f.Add(tok)
	}
	add(mint(f, jose.HS256, []byte(secret), claimsAt(t0, "aud", "api", "scope", "a b"), nil))
	add(mint(f, jose.HS512, []byte(secret), claimsAt(t0, "aud", []string{"x", "api"}, "nbf", t0.Unix()), map[string]any{"kid": "k"}))
	add(mint(f, jose.RS256, k.rsa, claimsAt(t0, "iss", "a", "scp", []string{"r"}), nil))
	add(mint(f, jose.PS256, k.rsa, claimsAt(t0, "iss", "b"), nil))
	for _, s := range []string{
		"", "a.b.c", "..", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		unsigned(map[string]any{"alg": "HS256", "crit": []string{"x"}}, claimsAt(t0), "AAAA"),
		unsigned(map[string]any{"alg": "RS256", "kid": 5}, claimsAt(t0, "exp", "x"), "AAAA"),
		unsigned(map[string]any{"alg": "HS256"}, map[string]any{"aud": 1, "iat": []int{1}}, "AAAA"),
	} {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		for _, v := range []*jwtauth.Verifier{hsV, rsV} {
			c, reason, err := v.Verify(ctx, tok)
			if err == nil {
				if c == nil || reason != "" {
					t.Fatalf("success without claims: %v %q", c, reason)
				}
				if !signed[tok] {
					t.Fatalf("a token nobody signed verified: %q", tok)
				}
				continue
			}
			if !slices.Contains(reasons, reason) {
				t.Fatalf("unknown reason %q (%v)", reason, err)
			}
			msg := err.Error()
			if len(tok) >= 12 && strings.Contains(msg, tok) {
				t.Fatalf("the message holds the token: %q", msg)
			}
			rej := jwtauth.Rejection(err, "Bearer")
			if rej.Status != 401 || rej.Code != string(reason) {
				t.Fatalf("rejection %+v for %q", rej, reason)
			}
			if reason == jwtauth.ReasonMissingToken {
				continue
			}
			desc, ok := strings.CutPrefix(rej.Challenge, `Bearer realm="gatehouse", error="invalid_token", error_description="`)
			if !ok || !strings.HasSuffix(desc, `"`) || strings.ContainsAny(strings.TrimSuffix(desc, `"`), "\\\"\x00\r\n") {
				t.Fatalf("challenge is not a well-formed RFC 6750 header: %q", rej.Challenge)
			}
		}
	})
}
