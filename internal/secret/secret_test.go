package secret

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range []int{1, 22, 63, 64, 65, 200} {
		s := Generate(n)
		if len(s) != n || strings.Trim(s, base62) != "" {
			t.Errorf("Generate(%d) = %q: want %d base62 characters", n, s, n)
		}
		if seen[s] && n >= 22 {
			t.Errorf("Generate(%d) repeated %q", n, s)
		}
		seen[s] = true
	}
	if h := GenerateHex(16); len(h) != 32 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Errorf("GenerateHex(16) = %q", h)
	}
}

func TestVerify(t *testing.T) {
	long := strings.Repeat("p", 72) + "-the-part-bcrypt-alone-would-ignore"
	slow, err := HashSlow("chosen password", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	slowLong, err := HashSlow(long, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, hash, presented string
		ok                    bool
	}{
		{"fast, right", HashFast("generated"), "generated", true},
		{"fast, wrong", HashFast("generated"), "generatee", false},
		{"fast, broken hex", "sha256:zz", "generated", false},
		{"slow, right", slow, "chosen password", true},
		{"slow, wrong", slow, "chosen passworD", false},
		{"slow, past 72 bytes, right", slowLong, long, true},
		// Without the pre-hash, bcrypt would accept any suffix.
		{"slow, past 72 bytes, other suffix", slowLong, strings.Repeat("p", 72) + "-another-suffix", false},
		{"no hash", "", "", false},
	} {
		err := Verify(c.hash, c.presented)
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestCheckHMACKey(t *testing.T) {
	for _, c := range []struct {
		alg string
		n   int
		ok  bool
	}{
		{"HS256", 31, false}, {"HS256", 32, true},
		{"HS384", 47, false}, {"HS384", 48, true},
		{"HS512", 63, false}, {"HS512", 64, true},
	} {
		if err := CheckHMACKey(c.alg, make([]byte, c.n)); (err == nil) != c.ok {
			t.Errorf("%s with %d bytes: %v", c.alg, c.n, err)
		}
	}
}
