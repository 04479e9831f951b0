// Package secret generates, hashes and checks secrets: passwords, client
// secrets, API key secrets and token secrets. Comparisons are constant-time.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Generate returns n random base62 characters (n=22 carries 130 bits), with
// no modulo bias.
func Generate(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			if b < 248 { // 248 = 4*62: uniform over the alphabet
				out = append(out, base62[b%62])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}

// GenerateHex returns n random bytes hex-encoded (token and code ids).
func GenerateHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const sha256Prefix = "sha256:"

// HashFast hashes a high-entropy secret that Gatehouse generated: SHA-256
// is enough when guessing is hopeless, and keeps verification cheap.
func HashFast(s string) string {
	sum := sha256.Sum256([]byte(s))
	return sha256Prefix + hex.EncodeToString(sum[:])
}

// HashSlow hashes a secret a person chose, with bcrypt at cost.
func HashSlow(s string, cost int) (string, error) {
	if len(s) > 72 {
		// bcrypt reads 72 bytes; hash longer secrets first so none of the
		// secret is ignored.
		sum := sha256.Sum256([]byte(s))
		s = hex.EncodeToString(sum[:])
	}
	h, err := bcrypt.GenerateFromPassword([]byte(s), cost)
	return string(h), err
}

// ErrMismatch is returned for a wrong secret.
var ErrMismatch = errors.New("secret does not match")

// Verify checks presented against a hash made by HashFast or HashSlow, in
// constant time for the fast kind (bcrypt compares in constant time itself).
func Verify(hash, presented string) error {
	if rest, ok := strings.CutPrefix(hash, sha256Prefix); ok {
		sum := sha256.Sum256([]byte(presented))
		want, err := hex.DecodeString(rest)
		if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
			return ErrMismatch
		}
		return nil
	}
	if hash == "" {
		return ErrMismatch
	}
	p := presented
	if len(p) > 72 {
		sum := sha256.Sum256([]byte(p))
		p = hex.EncodeToString(sum[:])
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(p)) != nil {
		return ErrMismatch
	}
	return nil
}

// CheckHMACKey applies RFC 7518 §3.2 to an HMAC key: "A key of the same
// size as the hash output (for instance, 256 bits for "HS256") or larger
// MUST be used". A shorter secret is guessable offline from any one token
// it signed. alg is HS256, HS384 or HS512.
func CheckHMACKey(alg string, key []byte) error {
	need := map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[alg]
	if len(key) < need {
		return fmt.Errorf("%s needs a key of at least %d bytes (RFC 7518 §3.2), got %d", alg, need, len(key))
	}
	return nil
}
