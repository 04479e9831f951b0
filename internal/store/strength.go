package store

import (
	"unicode/utf8"
)

// Minimum lengths of secrets a caller chooses. Generated secrets (32
// random base62 characters, about 190 bits) pass every rule.
const (
	// DefaultMinPasswordLength is the shortest basic-auth password a person
	// may choose unless system.config.yml crypto.minPasswordLength says
	// more (NIST SP 800-63B §5.1.1.2: at least 8 characters).
	DefaultMinPasswordLength = 8
	// MinClientSecretLength is the shortest oauth2 client secret a caller
	// may choose: a client secret is a machine's key, not something a
	// person types, so it must be as long as a generated one.
	MinClientSecretLength = 32
	// MinKeySecretLength is the shortest key-auth (and jwt) keySecret a
	// caller may choose: the length of the keySecrets Express Gateway
	// generated (uuid62, 22 base62 characters, 128 bits), so migrated API
	// keys keep working unchanged.
	MinKeySecretLength = 22
)

// checkChosenSecret refuses a secret a caller chose for a credential of
// type typ when it is too short for that type. Lengths count characters
// (Unicode code points, NIST SP 800-63B §5.1.1.2), not bytes. There is no
// maximum below the Admin API's body limit: bcrypt reads only 72 bytes, so
// secret.HashSlow hashes longer ones with SHA-256 first rather than
// ignoring their end.
func checkChosenSecret(typ, plain string, minPassword int) error {
	n := utf8.RuneCountInString(plain)
	switch typ {
	case BasicAuth:
		if n < minPassword {
			return invalid("password", "a basic-auth password must be at least %d characters (got %d): NIST SP 800-63B §5.1.1.2; the minimum is crypto.minPasswordLength in system.config.yml", minPassword, n)
		}
	case OAuth2:
		if n < MinClientSecretLength {
			return invalid("secret", "an oauth2 client secret must be at least %d characters (got %d); leave it out to have a random one generated", MinClientSecretLength, n)
		}
	case KeyAuth, JWT:
		if n < MinKeySecretLength {
			return invalid("keySecret", "a %s keySecret must be at least %d characters (got %d); leave it out to have a random one generated", typ, MinKeySecretLength, n)
		}
	}
	return nil
}
