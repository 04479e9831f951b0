package oauth2server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestHMACSigningKeyTooShortRefused: the authorization server's own HS*
// signing secret must be at least the algorithm's hash size (RFC 7518
// §3.2); before, any 32-character secret passed, even for HS512.
func TestHMACSigningKeyTooShortRefused(t *testing.T) {
	s := newStore(newClock())
	defer s.Close()
	for _, tt := range []struct {
		alg    string
		secret string
		want   string
	}{
		{"", "elevenbytes", "accessTokens: secretOrPrivateKey: HS256 needs a key of at least 32 bytes (RFC 7518 §3.2), got 11"},
		{"HS256", strings.Repeat("k", 31), "accessTokens: secretOrPrivateKey: HS256 needs a key of at least 32 bytes (RFC 7518 §3.2), got 31"},
		{"HS384", strings.Repeat("k", 40), "accessTokens: secretOrPrivateKey: HS384 needs a key of at least 48 bytes (RFC 7518 §3.2), got 40"},
		{"HS512", strings.Repeat("k", 63), "accessTokens: secretOrPrivateKey: HS512 needs a key of at least 64 bytes (RFC 7518 §3.2), got 63"},
		{"HS256", strings.Repeat("k", 32), ""},
		{"HS384", strings.Repeat("k", 48), ""},
		{"HS512", strings.Repeat("k", 64), ""},
	} {
		at := &config.AccessTokens{TokenType: "jwt", Algorithm: tt.alg, SecretOrPrivateKey: tt.secret}
		_, err := loadKeyring(context.Background(), s, at, t.TempDir(), time.Now, time.Hour)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s with %d bytes: %v", tt.alg, len(tt.secret), err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%s with %d bytes:\n got: %v\nwant: %s", tt.alg, len(tt.secret), err, tt.want)
		}
	}
}
