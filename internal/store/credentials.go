package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/secret"
)

func credKey(typ, id string) string        { return "cred:" + typ + ":" + id }
func consumerCredsSet(cid string) string   { return "consumer-creds:" + cid }
func scopeKey(name string) string          { return "scope:" + name }
func scopeCredsSet(name string) string     { return "scope-creds:" + name }
func credRef(typ, id string) string        { return typ + ":" + id }
func splitRef(ref string) (string, string) { t, id, _ := strings.Cut(ref, ":"); return t, id }

const scopesSet = "scopes"

// CredentialInput is what a caller may set when creating a credential
// (Express Gateway's POST /credentials body).
type CredentialInput struct {
	ConsumerID string // a user id or username, or an application id
	Type       string
	// Secret is the basic-auth password or the oauth2 client secret; empty
	// means generate one when AutoGeneratePassword is true (the default).
	Secret               string
	AutoGeneratePassword *bool
	KeyID, KeySecret     string // key-auth and jwt; generated when empty
	Scopes               []string
	RedirectURIs         []string // oauth2: extra exact redirect URIs
	// Client is the oauth2 credential's OpenID Connect registration
	// (client.go); checked by CheckClientMetadata.
	Client ClientMetadata
}

// ValidType reports whether t is a credential type.
func ValidType(t string) bool { return slices.Contains(CredentialTypes, t) }

func randomRev() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}

// CreateCredential adds a credential to a consumer. The plain secret it
// returns (generated or given) is never available again: only its hash is
// stored.
func (s *Store) CreateCredential(ctx context.Context, in CredentialInput) (*Credential, string, error) {
	if !ValidType(in.Type) {
		return nil, "", invalid("type", "unknown credential type %q (one of: %s)", in.Type, strings.Join(CredentialTypes, ", "))
	}
	consumer, err := s.GetConsumer(ctx, in.ConsumerID, true)
	if errors.Is(err, ErrNotFound) {
		return nil, "", &Error{Kind: ErrInvalid, Field: "consumerId", Msg: "No consumer found with id: " + in.ConsumerID}
	} else if err != nil {
		return nil, "", err
	}
	scopes, err := normalizeScopes(in.Scopes)
	if err != nil {
		return nil, "", err
	}
	for _, u := range in.RedirectURIs {
		if err := CheckRedirectURI("redirectUris", u); err != nil {
			return nil, "", err
		}
	}
	auto := in.AutoGeneratePassword == nil || *in.AutoGeneratePassword
	now := s.now().UTC()
	c := Credential{
		Type: in.Type, ConsumerID: consumer.ID(), Scopes: scopes, RedirectURIs: in.RedirectURIs,
		ClientMetadata: in.Client, IsActive: true, CreatedAt: now, UpdatedAt: now, Rev: randomRev(),
	}
	plain, err := s.credentialSecret(in, &c, auto)
	if err != nil {
		return nil, "", err
	}
	if err := CheckClientMetadata(c.Type, &c.ClientMetadata, c.Public(), c.RedirectURIs, appRedirectURI(consumer)); err != nil {
		return nil, "", err
	}
	if err := s.insertCredential(ctx, &c); err != nil {
		return nil, "", err
	}
	return &c, plain, nil
}

// credentialSecret fills c's id and secret hash from in by c's type, and
// returns the plain secret (generated or given; "" for a public client).
func (s *Store) credentialSecret(in CredentialInput, c *Credential, auto bool) (plain string, err error) {
	switch in.Type {
	case BasicAuth, OAuth2:
		c.ID = c.ConsumerID
		c.PasswordKey = "password"
		if in.Type == OAuth2 {
			c.PasswordKey = "secret"
		}
		c.AutoGeneratePassword = auto
		if in.KeyID != "" || in.KeySecret != "" {
			return "", invalid("keyId", "keyId and keySecret belong to key-auth and jwt credentials; use %s", c.PasswordKey)
		}
		switch {
		case in.Secret != "":
			return in.Secret, s.hashChosen(c, in.Secret)
		case auto:
			return s.generateSecret(c), nil
		case in.Type == OAuth2:
			// No secret and no generation: a public client (RFC 6749 §2.1),
			// which must use PKCE at the token endpoint.
			return "", nil
		default:
			return "", invalid(c.PasswordKey, "%s is required when autoGeneratePassword is false", c.PasswordKey)
		}
	case KeyAuth, JWT:
		if in.Secret != "" {
			return "", invalid("password", "%s credentials have keyId and keySecret, not a password", in.Type)
		}
		c.KeyID = in.KeyID
		if c.KeyID == "" {
			c.KeyID = secret.Generate(22)
		} else if strings.ContainsAny(c.KeyID, ": \t\r\n/") || len(c.KeyID) > 200 {
			return "", invalid("keyId", "keyId must not contain ':', '/' or spaces and must be at most 200 characters")
		}
		c.ID = c.KeyID
		if in.KeySecret != "" {
			return in.KeySecret, s.hashChosen(c, in.KeySecret)
		}
		return s.generateSecret(c), nil
	}
	return "", nil
}

// hashChosen checks a secret the caller chose and stores its slow
// (bcrypt) hash: it may be weak, unlike a generated one.
func (s *Store) hashChosen(c *Credential, plain string) error {
	if err := checkChosenSecret(c.Type, plain, s.minPasswd); err != nil {
		return err
	}
	h, err := secret.HashSlow(plain, s.bcryptCost)
	if err != nil {
		return err
	}
	c.SecretHash = h
	return nil
}

// generateSecret makes c a random secret with a fast hash (its 32
// random characters need no key stretching) and returns it.
func (s *Store) generateSecret(c *Credential) string {
	plain := secret.Generate(32)
	c.SecretHash = secret.HashFast(plain)
	return plain
}

// insertCredential writes the new credential c and its set memberships,
// replacing an inactive basic-auth/oauth2 credential of the consumer.
func (s *Store) insertCredential(ctx context.Context, c *Credential) error {
	return s.update(ctx, func(tx *txn) error {
		if err := consumerExistsTx(tx, c.ConsumerID); err != nil {
			return err
		}
		for _, sc := range c.Scopes {
			if _, ok, err := tx.Get(scopeKey(sc)); err != nil {
				return err
			} else if !ok {
				return invalid("scopes", "scope %q does not exist: create it first", sc)
			}
		}
		var old Credential
		found, err := tx.getJSON(credKey(c.Type, c.ID), &old)
		if err != nil {
			return err
		}
		if found {
			// One basic-auth/oauth2 credential per consumer: an inactive one
			// is replaced (Express Gateway); a keyId is never taken over
			// from another consumer (Express Gateway lets it be, B-24).
			if c.Type == KeyAuth || c.Type == JWT {
				return exists("keyId", "a %s credential with keyId %q already exists", c.Type, c.KeyID)
			}
			if old.IsActive {
				return exists("type", "Credential already exists and is active")
			}
			for _, sc := range old.Scopes {
				if err := tx.SRem(scopeCredsSet(sc), credRef(c.Type, c.ID)); err != nil {
					return err
				}
			}
		}
		if err := tx.putJSON(credKey(c.Type, c.ID), c, 0); err != nil {
			return err
		}
		for _, sc := range c.Scopes {
			if err := tx.SAdd(scopeCredsSet(sc), credRef(c.Type, c.ID)); err != nil {
				return err
			}
		}
		return tx.SAdd(consumerCredsSet(c.ConsumerID), credRef(c.Type, c.ID))
	})
}

func appRedirectURI(c *Consumer) string {
	if c.App != nil {
		return c.App.RedirectURI
	}
	return ""
}

// SetClientMetadata replaces an oauth2 credential's OpenID Connect
// registration (every field: an empty one goes back to the default),
// checked as on creation.
func (s *Store) SetClientMetadata(ctx context.Context, id string, m ClientMetadata) (*Credential, error) {
	consumer, err := s.GetConsumer(ctx, id, true)
	if err != nil {
		return nil, err
	}
	c, _, err := s.updateCredential(ctx, OAuth2, id, func(_ *txn, c *Credential) (bool, error) {
		next := m
		if err := CheckClientMetadata(c.Type, &next, c.Public(), c.RedirectURIs, appRedirectURI(consumer)); err != nil {
			return false, err
		}
		c.ClientMetadata = next
		return true, nil
	})
	return c, err
}

func consumerExistsTx(tx *txn, id string) error {
	for _, k := range []string{appKey(id), userKey(id)} {
		if _, ok, err := tx.Get(k); err != nil || ok {
			return err
		}
	}
	return &Error{Kind: ErrInvalid, Field: "consumerId", Msg: "No consumer found with id: " + id}
}

func normalizeScopes(in []string) ([]string, error) {
	out := []string{}
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if err := checkScopeName(s); err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

// checkScopeName keeps scope names to RFC 6749 §3.3 scope-tokens.
func checkScopeName(s string) error {
	if s == "" || len(s) > 200 {
		return invalid("scopes", "a scope name must have 1 to 200 characters")
	}
	for _, c := range []byte(s) {
		if c <= 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return invalid("scopes", "scope %q has a character RFC 6749 does not allow in scopes (space, quote, backslash or non-ASCII)", s)
		}
	}
	return nil
}

// GetCredential reads a credential by type and id (the consumer id for
// basic-auth and oauth2, the keyId for key-auth and jwt).
func (s *Store) GetCredential(ctx context.Context, typ, id string) (*Credential, error) {
	if !ValidType(typ) {
		return nil, invalid("type", "unknown credential type %q", typ)
	}
	c, err := cached[Credential](ctx, s, credKey(typ, id))
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, notFound("No credential found with id: %s", id)
	}
	return c, nil
}

// Authentication failures of VerifyCredential.
var (
	ErrInactive    = errors.New("credential is inactive")
	ErrBadSecret   = errors.New("secret does not match")
	ErrNoSuchCreds = errors.New("no such credential")
)

// VerifyCredential checks a presented secret. Every refusal costs one
// bcrypt check at the store's cost, whether the id is unknown, the hash is
// a fast one or the credential is deactivated (decoy.go), so its timing
// does not tell which. A success is remembered (keyed
// by an HMAC of the secret and bound to the credential's revision), so a
// repeated check costs no hash: this is what keeps basic-auth off bcrypt on
// the hot path. Any change of the credential invalidates it.
func (s *Store) VerifyCredential(ctx context.Context, typ, id, presented string) (*Credential, error) {
	c, err := cached[Credential](ctx, s, credKey(typ, id))
	if err != nil {
		return nil, err
	}
	if c == nil {
		// As long as a wrong secret (decoy.go).
		if err := s.verifyUnknown(ctx, typ, id, presented); err != nil {
			return nil, err
		}
		return nil, ErrNoSuchCreds
	}
	if !c.IsActive {
		// Whoever lacks the secret learns nothing, not even that the
		// credential exists but is deactivated.
		if err := s.checkSecret(ctx, c.SecretHash, presented); err != nil {
			if errors.Is(err, ErrBusy) {
				return nil, err
			}
			if err := s.padRefusal(ctx, c.SecretHash, presented); err != nil {
				return nil, err
			}
			return c, ErrBadSecret
		}
		return c, ErrInactive
	}
	k := s.mac(typ, id, presented)
	if rev, ok := s.verified.Get(k); ok && rev == c.Rev {
		s.verifyHits.Add(1)
		return c, nil
	}
	s.verifyMisses.Add(1)
	if err := s.checkSecret(ctx, c.SecretHash, presented); err != nil {
		if errors.Is(err, ErrBusy) {
			return nil, err // not a verdict on the secret
		}
		if err := s.padRefusal(ctx, c.SecretHash, presented); err != nil {
			return nil, err
		}
		return c, ErrBadSecret
	}
	s.verified.Add(k, c.Rev)
	return c, nil
}

// ListCredentials returns every credential of a consumer (id, username or
// application id), active or not.
func (s *Store) ListCredentials(ctx context.Context, consumerID string) ([]*Credential, error) {
	consumer, err := s.GetConsumer(ctx, consumerID, true)
	if err != nil {
		return nil, err
	}
	refs, err := s.b.Members(ctx, consumerCredsSet(consumer.ID()))
	if err != nil {
		return nil, err
	}
	out := make([]*Credential, 0, len(refs))
	for _, ref := range refs {
		typ, id := splitRef(ref)
		c, err := cached[Credential](ctx, s, credKey(typ, id))
		if err != nil {
			return nil, err
		}
		if c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// updateCredential applies change atomically and bumps the revision.
func (s *Store) updateCredential(ctx context.Context, typ, id string, change func(tx *txn, c *Credential) (bool, error)) (*Credential, bool, error) {
	if !ValidType(typ) {
		return nil, false, invalid("type", "unknown credential type %q", typ)
	}
	var out Credential
	changed := false
	err := s.update(ctx, func(tx *txn) error {
		var c Credential
		if ok, err := tx.getJSON(credKey(typ, id), &c); err != nil {
			return err
		} else if !ok {
			return notFound("No credential found with id: %s", id)
		}
		oldScopes := c.Scopes
		ch, err := change(tx, &c)
		if err != nil {
			return err
		}
		changed = ch
		out = c
		if !ch {
			return nil
		}
		c.Rev++
		c.UpdatedAt = s.now().UTC()
		out = c
		for _, sc := range oldScopes {
			if !slices.Contains(c.Scopes, sc) {
				if err := tx.SRem(scopeCredsSet(sc), credRef(typ, id)); err != nil {
					return err
				}
			}
		}
		for _, sc := range c.Scopes {
			if !slices.Contains(oldScopes, sc) {
				if err := tx.SAdd(scopeCredsSet(sc), credRef(typ, id)); err != nil {
					return err
				}
			}
		}
		return tx.putJSON(credKey(typ, id), &c, 0)
	})
	if err != nil {
		return nil, false, err
	}
	return &out, changed, nil
}

// SetCredentialActive activates or deactivates a credential; it reports
// whether anything changed.
func (s *Store) SetCredentialActive(ctx context.Context, typ, id string, active bool) (bool, error) {
	_, changed, err := s.updateCredential(ctx, typ, id, func(_ *txn, c *Credential) (bool, error) {
		if c.IsActive == active {
			return false, nil
		}
		c.IsActive = active
		return true, nil
	})
	return changed, err
}

// AddScopes grants existing scopes to a credential.
func (s *Store) AddScopes(ctx context.Context, typ, id string, scopes ...string) (*Credential, error) {
	add, err := normalizeScopes(scopes)
	if err != nil {
		return nil, err
	}
	c, _, err := s.updateCredential(ctx, typ, id, func(tx *txn, c *Credential) (bool, error) {
		changed := false
		for _, sc := range add {
			if _, ok, err := tx.Get(scopeKey(sc)); err != nil {
				return false, err
			} else if !ok {
				return false, invalid("scopes", "scope %q does not exist: create it first", sc)
			}
			if !slices.Contains(c.Scopes, sc) {
				c.Scopes = append(c.Scopes, sc)
				changed = true
			}
		}
		sort.Strings(c.Scopes)
		return changed, nil
	})
	return c, err
}

// RemoveScopes takes scopes away from a credential.
func (s *Store) RemoveScopes(ctx context.Context, typ, id string, scopes ...string) (*Credential, error) {
	c, _, err := s.updateCredential(ctx, typ, id, func(_ *txn, c *Credential) (bool, error) {
		before := len(c.Scopes)
		c.Scopes = slices.DeleteFunc(c.Scopes, func(s string) bool { return slices.Contains(scopes, s) })
		return len(c.Scopes) != before, nil
	})
	return c, err
}

// SetScopes replaces a credential's scopes (each must exist).
func (s *Store) SetScopes(ctx context.Context, typ, id string, scopes []string) (*Credential, error) {
	set, err := normalizeScopes(scopes)
	if err != nil {
		return nil, err
	}
	c, _, err := s.updateCredential(ctx, typ, id, func(tx *txn, c *Credential) (bool, error) {
		for _, sc := range set {
			if _, ok, err := tx.Get(scopeKey(sc)); err != nil {
				return false, err
			} else if !ok {
				return false, invalid("scopes", "scope %q does not exist: create it first", sc)
			}
		}
		c.Scopes = set
		return true, nil
	})
	return c, err
}

// RotateSecret replaces a credential's password, secret or key secret (an
// empty value generates one) and returns the new plain value once.
func (s *Store) RotateSecret(ctx context.Context, typ, id, value string) (*Credential, string, error) {
	if _, err := s.GetCredential(ctx, typ, id); err != nil {
		return nil, "", err
	}
	plain, hash := value, ""
	var err error
	if plain == "" {
		plain = secret.Generate(32)
		hash = secret.HashFast(plain)
	} else if err = checkChosenSecret(typ, plain, s.minPasswd); err != nil {
		return nil, "", err
	} else if hash, err = secret.HashSlow(plain, s.bcryptCost); err != nil {
		return nil, "", err
	}
	c, _, err := s.updateCredential(ctx, typ, id, func(_ *txn, c *Credential) (bool, error) {
		if c.TokenEndpointAuthMethod == AuthNone {
			// A secret would make the client confidential, which its
			// registration says it is not (client.go).
			return false, invalid("token_endpoint_auth_method", "this client is registered as public (token_endpoint_auth_method none): change its registration before giving it a secret")
		}
		c.SecretHash = hash
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	return c, plain, nil
}

// DeleteCredential removes a credential (Express Gateway cannot: #383).
func (s *Store) DeleteCredential(ctx context.Context, typ, id string) error {
	if !ValidType(typ) {
		return invalid("type", "unknown credential type %q", typ)
	}
	return s.update(ctx, func(tx *txn) error {
		var c Credential
		if ok, err := tx.getJSON(credKey(typ, id), &c); err != nil {
			return err
		} else if !ok {
			return notFound("No credential found with id: %s", id)
		}
		return deleteCredentialTx(tx, &c)
	})
}

func deleteCredentialTx(tx *txn, c *Credential) error {
	for _, sc := range c.Scopes {
		if err := tx.SRem(scopeCredsSet(sc), credRef(c.Type, c.ID)); err != nil {
			return err
		}
	}
	if err := tx.SRem(consumerCredsSet(c.ConsumerID), credRef(c.Type, c.ID)); err != nil {
		return err
	}
	return tx.Del(credKey(c.Type, c.ID))
}

// deleteConsumerData removes a consumer's credentials, tokens and
// consents (given by it as a user, or to it as a client).
func deleteConsumerData(tx *txn, consumerID string) error {
	refs, err := tx.SMembers(consumerCredsSet(consumerID))
	if err != nil {
		return err
	}
	for _, ref := range refs {
		typ, id := splitRef(ref)
		var c Credential
		if ok, err := tx.getJSON(credKey(typ, id), &c); err != nil {
			return err
		} else if ok {
			if err := deleteCredentialTx(tx, &c); err != nil {
				return err
			}
		}
	}
	if err := deleteConsentsTx(tx, consumerID); err != nil {
		return err
	}
	return deleteConsumerTokensTx(tx, consumerID)
}

// CreateScopes adds scopes without descriptions to the registry
// (RegisterScopes).
func (s *Store) CreateScopes(ctx context.Context, scopes ...string) error {
	list := make([]Scope, len(scopes))
	for i, name := range scopes {
		list[i].Name = name
	}
	return s.RegisterScopes(ctx, list...)
}

// ScopeExists reports whether a scope is registered.
func (s *Store) ScopeExists(ctx context.Context, name string) (bool, error) {
	_, ok, err := s.b.Get(ctx, scopeKey(name))
	return ok, err
}

// ListScopes lists the registered scopes, sorted.
func (s *Store) ListScopes(ctx context.Context) ([]string, error) {
	return s.b.Members(ctx, scopesSet)
}

// DeleteScope removes a scope from the registry and from every credential.
func (s *Store) DeleteScope(ctx context.Context, name string) error {
	return s.update(ctx, func(tx *txn) error {
		if _, ok, err := tx.Get(scopeKey(name)); err != nil {
			return err
		} else if !ok {
			return notFound("scope not found: %s", name)
		}
		refs, err := tx.SMembers(scopeCredsSet(name))
		if err != nil {
			return err
		}
		for _, ref := range refs {
			typ, id := splitRef(ref)
			var c Credential
			if ok, err := tx.getJSON(credKey(typ, id), &c); err != nil {
				return err
			} else if ok {
				c.Scopes = slices.DeleteFunc(c.Scopes, func(s string) bool { return s == name })
				c.Rev++
				if err := tx.putJSON(credKey(typ, id), &c, 0); err != nil {
					return err
				}
			}
			if err := tx.SRem(scopeCredsSet(name), ref); err != nil {
				return err
			}
		}
		if err := tx.Del(scopeKey(name)); err != nil {
			return err
		}
		return tx.SRem(scopesSet, name)
	})
}
