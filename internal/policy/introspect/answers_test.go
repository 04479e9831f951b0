package introspect_test

import (
	"strings"
	"testing"
	"time"
)

// TestAnswersTrustedOnlyWhenValid: an active answer is taken only when exp
// (if any) is in the future, nbf and iat are not (beyond the leeway), and
// it is an access token; a refused answer is not cached (issue #11 §6).
func TestAnswersTrustedOnlyWhenValid(t *testing.T) {
	as := newAuthServer(t)
	now := time.Now()
	at := func(d time.Duration) float64 { return float64(now.Add(d).Unix()) }
	as.set("ok", map[string]any{"active": true, "exp": at(time.Hour), "nbf": at(-time.Minute), "iat": at(-time.Minute), "token_type": "Bearer"})
	as.set("skewed", map[string]any{"active": true, "exp": at(time.Hour), "iat": at(3 * time.Second)})
	as.set("future-nbf", map[string]any{"active": true, "exp": at(time.Hour), "nbf": at(time.Hour)})
	as.set("future-iat", map[string]any{"active": true, "exp": at(time.Hour), "iat": at(time.Hour)})
	as.set("refresh-type", map[string]any{"active": true, "exp": at(time.Hour), "token_type": "refresh_token"})
	as.set("refresh-use", map[string]any{"active": true, "exp": at(time.Hour), "token_type": "Bearer", "token_use": "refresh_token"})
	as.set("refresh-urn", map[string]any{"active": true, "token_type": "urn:ietf:params:oauth:token-type:refresh_token"})
	as.set("string-exp", map[string]any{"active": true, "exp": "tomorrow"})
	as.set("active-number", map[string]any{"active": 1})
	as.set("expired", map[string]any{"active": true, "exp": at(-time.Second)})
	p := build(t, as, "")
	for _, tt := range []struct {
		tok    string
		status int
		reason string
	}{
		{"ok", 200, ""},
		{"skewed", 200, ""}, // within the 5 s leeway
		{"future-nbf", 401, "token_not_yet_valid"},
		{"future-iat", 401, "token_not_yet_valid"},
		{"refresh-type", 401, "not_access_token"},
		{"refresh-use", 401, "not_access_token"},
		{"refresh-urn", 401, "not_access_token"},
		{"string-exp", 401, "invalid_introspection_answer"},
		{"active-number", 401, "inactive_token"},
		{"expired", 401, "inactive_token"},
	} {
		if got := do(t, p, tt.tok, nil); got.status != tt.status || got.reason != tt.reason {
			t.Errorf("%s: %d %q, want %d %q", tt.tok, got.status, got.reason, tt.status, tt.reason)
		}
	}
	// Refused answers are not cached: each presentation asks again.
	before := as.calls.Load()
	do(t, p, "future-nbf", nil)
	do(t, p, "refresh-use", nil)
	if n := as.calls.Load() - before; n != 2 {
		t.Errorf("refused answers were served from the cache (%d calls for 2 requests)", n)
	}
}

// TestTokenSizeBounded: a token over maxTokenBytes (default 8 KB) is
// refused without calling the authorization server.
func TestTokenSizeBounded(t *testing.T) {
	as := newAuthServer(t)
	big := strings.Repeat("a", 64<<10)
	as.set(big, map[string]any{"active": true})
	for _, tt := range []struct {
		extra string
		tok   string
		want  int
	}{
		{"", big, 401},
		{"", strings.Repeat("a", 8<<10), 401}, // not in the answers: inactive, but asked
		{", maxTokenBytes: 100", strings.Repeat("b", 101), 401},
	} {
		p := build(t, as, tt.extra)
		before := as.calls.Load()
		got := do(t, p, tt.tok, nil)
		calls := as.calls.Load() - before
		tooLarge := len(tt.tok) > 8<<10 || (tt.extra != "" && len(tt.tok) > 100)
		if got.status != tt.want || (tooLarge && (got.reason != "token_too_large" || calls != 0)) {
			t.Errorf("%d-byte token %q: %d %q after %d calls", len(tt.tok), tt.extra, got.status, got.reason, calls)
		}
	}
}
