package jwtauth_test

import (
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// An OpenID Connect ID token presented as an access token is refused by
// default, whichever ID-token claim gives it away and with every other
// check passing; acceptIdTokens: true lets it through. An access token
// with claims of similar names is not caught.
func TestIDTokensRefusedAsAccessTokens(t *testing.T) {
	const secret = "an-hs256-secret-of-32-bytes-or-more!"
	now := time.Now()
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return now }}
	strict := newPolicy(t, "{secretOrPublicKey: '"+secret+"', checkCredentialExistence: false, audience: api}", env)
	lax := newPolicy(t, "{secretOrPublicKey: '"+secret+"', checkCredentialExistence: false, audience: api, acceptIdTokens: true}", env)
	for _, tc := range []struct {
		name   string
		claims map[string]any
		lax    bool
		ok     bool
	}{
		{"access token", claimsAt(now, "aud", "api", "scope", "read"), false, true},
		{"ID token: nonce", claimsAt(now, "aud", "api", "nonce", "n-0S6_WzA2Mj"), false, false},
		{"ID token: at_hash", claimsAt(now, "aud", "api", "at_hash", "77QmUPtjPfzWtF2AnpK9RQ"), false, false},
		{"ID token: c_hash", claimsAt(now, "aud", "api", "c_hash", "LDktKdoQak3Pk0cnXxCltA"), false, false},
		{"ID token: s_hash", claimsAt(now, "aud", "api", "s_hash", "x"), false, false},
		{"ID token: empty nonce", claimsAt(now, "aud", "api", "nonce", ""), false, false},
		{"ID token: at_hash as a number", claimsAt(now, "aud", "api", "at_hash", 7), false, false},
		{"ID token, acceptIdTokens: true", claimsAt(now, "aud", "api", "nonce", "n", "at_hash", "h"), true, true},
		{"lookalike claim names", claimsAt(now, "aud", "api", "nonces", "x", "hash", "y", "AT_HASH", "z"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := strict
			if tc.lax {
				p = lax
			}
			res := serve(p, bearer(mint(t, jose.HS256, []byte(secret), tc.claims, nil)))
			if tc.ok != res.called {
				t.Fatalf("called = %v (status %d, %s), want %v", res.called, res.status, res.body, tc.ok)
			}
			if !tc.ok && (res.status != 401 || res.reason != string(jwtauth.ReasonTokenTypeMismatch)) {
				t.Fatalf("refusal = %d %q, want 401 %q", res.status, res.reason, jwtauth.ReasonTokenTypeMismatch)
			}
		})
	}
}
