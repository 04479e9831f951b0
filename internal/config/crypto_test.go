package config

import (
	"slices"
	"strings"
	"testing"
)

// TestCryptoWeakSettingsRefused: a bcrypt cost or a password minimum below
// the floor is a load error at the key's line (issue #11 §3); Express
// Gateway's shipped values load.
func TestCryptoWeakSettingsRefused(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"saltRounds 1", "crypto:\n  saltRounds: 1\n", []string{
			"system.config.yml:2: crypto.saltRounds: must be at least 10 (the bcrypt cost of passwords and chosen secrets: each step down halves the work of guessing a stolen hash), got 1"}},
		{"saltRounds 9", "crypto:\n  cipherKey: sensitiveKey\n  saltRounds: 9\n", []string{
			"system.config.yml:3: crypto.saltRounds: must be at least 10 (the bcrypt cost of passwords and chosen secrets: each step down halves the work of guessing a stolen hash), got 9"}},
		{"saltRounds 0", "crypto:\n  saltRounds: 0\n", []string{
			"system.config.yml:2: crypto.saltRounds: must be at least 10 (the bcrypt cost of passwords and chosen secrets: each step down halves the work of guessing a stolen hash), got 0"}},
		{"saltRounds past bcrypt's", "crypto:\n  saltRounds: 32\n", []string{
			"system.config.yml:2: crypto.saltRounds: must be at most 31 (bcrypt's largest cost), got 32"}},
		{"saltRounds not a number", "crypto:\n  saltRounds: ten\n", []string{
			`system.config.yml:2: crypto.saltRounds: expected a whole number, got "ten"`}},
		{"minPasswordLength 4", "crypto:\n  minPasswordLength: 4\n", []string{
			"system.config.yml:2: crypto.minPasswordLength: must be at least 8 (NIST SP 800-63B §5.1.1.2), got 4"}},
		{"minPasswordLength 65", "crypto:\n  minPasswordLength: 65\n", []string{
			"system.config.yml:2: crypto.minPasswordLength: must be at most 64 (NIST SP 800-63B §5.1.1.2 asks that passwords of 64 characters be accepted), got 65"}},
		{"both", "crypto:\n  saltRounds: 4\n  minPasswordLength: 1\n", []string{
			"system.config.yml:2: crypto.saltRounds: must be at least 10 (the bcrypt cost of passwords and chosen secrets: each step down halves the work of guessing a stolen hash), got 4",
			"system.config.yml:3: crypto.minPasswordLength: must be at least 8 (NIST SP 800-63B §5.1.1.2), got 1"}},
		{"unknown key still reported", "crypto:\n  saltRounds: 12\n  minPassword: 8\n", []string{
			"system.config.yml:3: crypto.minPassword: unknown key (expected one of: cipherKey, algorithm, saltRounds, minPasswordLength)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(nil))
			if err == nil {
				t.Fatalf("loaded; want %q", tt.want)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func TestCryptoSettingsLoad(t *testing.T) {
	for _, tt := range []struct {
		name, yaml    string
		rounds, minPw int
	}{
		{"Express Gateway's shipped block", "crypto:\n  cipherKey: sensitiveKey\n  algorithm: aes256\n  saltRounds: 10\n", 10, 0},
		{"stronger", "crypto:\n  saltRounds: 12\n  minPasswordLength: 15\n", 12, 15},
		{"bounds", "crypto:\n  saltRounds: 31\n  minPasswordLength: 64\n", 31, 64},
		{"from variables", "crypto:\n  saltRounds: ${ROUNDS}\n  minPasswordLength: ${MINPW:-8}\n", 11, 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(map[string]string{"ROUNDS": "11"}))
			if err != nil {
				t.Fatal(err)
			}
			if s.Crypto.SaltRounds != tt.rounds || s.Crypto.MinPasswordLength != tt.minPw {
				t.Errorf("saltRounds %d, minPasswordLength %d; want %d, %d", s.Crypto.SaltRounds, s.Crypto.MinPasswordLength, tt.rounds, tt.minPw)
			}
		})
	}
}
