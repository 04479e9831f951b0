package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
)

const tokenPrefix = "token:"

func tokenKey(id string) string           { return tokenPrefix + id }
func consumerTokensSet(cid string) string { return "consumer-tokens:" + cid }
func familySet(fid string) string         { return "token-family:" + fid }
func familyRevokedKey(fid string) string  { return "token-family-revoked:" + fid }
func codeKey(id string) string            { return "code:" + id }
func userTokensSet(uid string) string     { return "user-tokens:" + uid }

// NewToken creates an opaque token value "<id>|<secret>", the shape of
// Express Gateway's tokens. The secret is 128 random bits and only its hash
// is kept in t. The id is 48 bits of milliseconds then 80 random bits: ids
// issued together sort together, so the embedded store appends them to the
// same pages instead of dirtying one page per token (the id names the
// token, it proves nothing).
func NewToken(t *Token) string {
	t.ID = timeOrderedID(time.Now())
	plain := secret.GenerateHex(16)
	t.SecretHash = secret.HashFast(plain)
	return t.ID + "|" + plain
}

func timeOrderedID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// SaveToken stores a token until it expires (the backend's TTL removes it).
// Its entries in its consumer's, its end user's and its family's index
// sets expire with it (SAddTTL), so that no index outgrows the live
// tokens, however many were issued.
func (s *Store) SaveToken(ctx context.Context, t *Token) error {
	if t.ID == "" || t.SecretHash == "" {
		return invalid("token", "token needs an id and a secret hash (use NewToken)")
	}
	var ttl time.Duration // zero: no expiry
	if !t.ExpiresAt.IsZero() {
		if ttl = t.ExpiresAt.Sub(s.now()); ttl <= 0 {
			return invalid("expiresAt", "token is already expired")
		}
	}
	return s.update(ctx, func(tx *txn) error {
		// A token derived from an earlier one (a code, a rotated refresh
		// token) joins a family that a concurrent replay may have revoked
		// between the claim and this save: the family's tombstone, read in
		// this transaction, refuses it, so revocation wins whichever order
		// the two run in. A token that starts a family has no parent and
		// nothing can have revoked it yet.
		if t.FamilyID != "" && t.ParentID != "" {
			if _, revoked, err := tx.Get(familyRevokedKey(t.FamilyID)); err != nil {
				return err
			} else if revoked {
				return ErrGrantRevoked
			}
		}
		key := tokenKey(t.ID)
		if err := tx.putToken(t, ttl); err != nil {
			return err
		}
		// The index entries name the token with the key's own bytes: a
		// backend that keeps strings (memory) keeps one copy of the id.
		id := key[len(tokenPrefix):]
		if t.FamilyID != "" {
			if err := tx.SAddTTL(familySet(t.FamilyID), ttl, id); err != nil {
				return err
			}
		}
		if t.AuthenticatedUserID != "" && t.AuthenticatedUserID != t.ConsumerID {
			// The applications a user authorized (the account page).
			if err := tx.SAddTTL(userTokensSet(t.AuthenticatedUserID), ttl, id); err != nil {
				return err
			}
		}
		return tx.SAddTTL(consumerTokensSet(t.ConsumerID), ttl, id)
	})
}

// GetToken reads a token by id; expired tokens are not found.
func (s *Store) GetToken(ctx context.Context, id string) (*Token, error) {
	t, err := s.cachedToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if t == nil || t.Expired(s.now()) {
		return nil, notFound("Token not found: %s", id)
	}
	return t, nil
}

// Token validation failures.
var (
	ErrTokenInvalid = errors.New("token is unknown, expired or revoked")
)

// VerifyToken checks an "<id>|<secret>" value (or the id and secret apart):
// the token must exist, be unexpired, unrevoked and its secret must match
// (constant time).
func (s *Store) VerifyToken(ctx context.Context, id, plain string) (*Token, error) {
	t, err := s.cachedToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if t == nil || t.Revoked || t.Expired(s.now()) {
		return nil, ErrTokenInvalid
	}
	if secret.Verify(t.SecretHash, plain) != nil {
		return nil, ErrTokenInvalid
	}
	return t, nil
}

// RevokeToken marks a token revoked; it stays (revoked) until it would have
// expired, so that reuse can be detected. It returns the token as it was
// before: Revoked tells that it had been revoked already (so callers count
// each revocation once).
func (s *Store) RevokeToken(ctx context.Context, id string) (*Token, error) {
	var out Token
	err := s.update(ctx, func(tx *txn) error {
		t, ok, err := tx.getToken(id)
		if err != nil {
			return err
		} else if !ok || t.Expired(s.now()) {
			return notFound("Token not found: %s", id)
		}
		out = *t
		if t.Revoked {
			return nil
		}
		t.Revoked, t.Withdrawn = true, true
		return tx.putToken(t, remaining(t, s.now()))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func remaining(t *Token, now time.Time) time.Duration {
	if t.ExpiresAt.IsZero() {
		return 0
	}
	d := t.ExpiresAt.Sub(now)
	if d <= 0 {
		d = time.Millisecond
	}
	return d
}

// ErrGrantRevoked is returned by SaveToken for a token whose family was
// revoked (a replayed code or refresh token) while it was being issued.
var ErrGrantRevoked = errors.New("the grant was revoked while its tokens were being issued")

// defaultFamilyTombstone is the least time a revoked family refuses new
// tokens (Options.FamilyTombstone). It has to outlast a token request in
// flight (claim, then save), which the listeners' timeouts bound well
// below this.
const defaultFamilyTombstone = 10 * time.Minute

// RevokeFamily revokes every token of a grant's family (RFC 9700 §4.14:
// reuse of a rotated refresh token revokes the whole family; RFC 6749
// §4.1.2: so does a replayed authorization code) and leaves a tombstone so
// that a token of the family still being issued is refused (SaveToken).
//
// The tombstone lives as long as the longest-lived token of the family,
// and at least Options.FamilyTombstone (for a request in flight), then
// goes: it never outlives the grant it guards by more than that, so
// revocations do not pile up. A token without expiry does not extend it:
// revoked, it can no longer be claimed, so no token can join the family
// through it.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) (int, error) {
	least := s.tombstone
	if least <= 0 {
		least = defaultFamilyTombstone
	}
	n := 0
	err := s.update(ctx, func(tx *txn) error {
		var furthest time.Duration
		var err error
		if n, furthest, err = s.revokeSetTx(tx, familySet(familyID)); err != nil {
			return err
		}
		return tx.Set(familyRevokedKey(familyID), []byte("1"), max(least, furthest))
	})
	return n, err
}

// revokeSet revokes every live token listed in an index set, atomically.
func (s *Store) revokeSet(ctx context.Context, set string) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *txn) error {
		var err error
		n, _, err = s.revokeSetTx(tx, set)
		return err
	})
	return n, err
}

// revokeSetTx revokes the live tokens of an index set inside tx, and
// reports how many it revoked and the longest time an unexpired token of
// the set (revoked or not) has left: 0 for none, or for only tokens without
// expiry.
func (s *Store) revokeSetTx(tx *txn, set string) (n int, furthest time.Duration, err error) {
	ids, err := tx.SMembers(set)
	if err != nil {
		return 0, 0, err
	}
	now := s.now()
	for _, id := range ids {
		t, ok, err := tx.getToken(id)
		if err != nil {
			return 0, 0, err
		} else if !ok || t.Expired(now) {
			continue
		}
		if !t.ExpiresAt.IsZero() {
			furthest = max(furthest, t.ExpiresAt.Sub(now))
		}
		if t.Revoked {
			continue
		}
		t.Revoked, t.Withdrawn = true, true
		n++
		if err := tx.putToken(t, remaining(t, now)); err != nil {
			return 0, 0, err
		}
	}
	return n, furthest, nil
}

// ListTokens lists a consumer's live tokens (revoked ones included).
func (s *Store) ListTokens(ctx context.Context, consumerID string) ([]*Token, error) {
	ids, err := s.b.Members(ctx, consumerTokensSet(consumerID))
	if err != nil {
		return nil, err
	}
	var out []*Token
	var gone []string
	for _, id := range ids {
		t, err := s.cachedToken(ctx, id)
		if err != nil {
			return nil, err
		}
		if t == nil || t.Expired(s.now()) {
			gone = append(gone, id)
			continue
		}
		out = append(out, t)
	}
	if len(gone) > 0 { // prune the index of tokens the TTL removed
		_ = s.update(ctx, func(tx *txn) error { return tx.SRem(consumerTokensSet(consumerID), gone...) })
	}
	return out, nil
}

// UserTokens lists the live, unrevoked tokens issued to applications on a
// user's behalf (AuthenticatedUserID), which tell the applications the
// user authorized. Tokens saved before this index existed are not listed.
func (s *Store) UserTokens(ctx context.Context, userID string) ([]*Token, error) {
	ids, err := s.b.Members(ctx, userTokensSet(userID))
	if err != nil {
		return nil, err
	}
	var out []*Token
	var gone []string
	now := s.now()
	for _, id := range ids {
		t, err := s.cachedToken(ctx, id)
		if err != nil {
			return nil, err
		}
		if t == nil || t.Expired(now) {
			gone = append(gone, id)
			continue
		}
		if !t.Revoked && t.AuthenticatedUserID == userID {
			out = append(out, t)
		}
	}
	if len(gone) > 0 { // prune the index of tokens the TTL removed
		_ = s.update(ctx, func(tx *txn) error { return tx.SRem(userTokensSet(userID), gone...) })
	}
	return out, nil
}

// RevokeConsumerTokens revokes every live token of a consumer.
func (s *Store) RevokeConsumerTokens(ctx context.Context, consumerID string) (int, error) {
	return s.revokeSet(ctx, consumerTokensSet(consumerID))
}

func deleteConsumerTokensTx(tx *txn, consumerID string) error {
	ids, err := tx.SMembers(consumerTokensSet(consumerID))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Del(tokenKey(id)); err != nil {
			return err
		}
	}
	if len(ids) > 0 {
		return tx.SRem(consumerTokensSet(consumerID), ids...)
	}
	return nil
}

// SaveCode stores an authorization code until it expires.
func (s *Store) SaveCode(ctx context.Context, c *Code) error {
	if c.ID == "" {
		return invalid("code", "code needs an id")
	}
	ttl := c.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return invalid("expiresAt", "code is already expired")
	}
	return s.update(ctx, func(tx *txn) error { return tx.putJSON(codeKey(c.ID), c, ttl) })
}

// ErrCodeUsed is returned by ConsumeCode for a code redeemed before (RFC
// 6749 §4.1.2: the server should revoke the tokens issued from it).
var ErrCodeUsed = errors.New("authorization code was already used")

// ConsumeCode redeems a code exactly once, atomically. A second call
// returns the code with ErrCodeUsed.
func (s *Store) ConsumeCode(ctx context.Context, id string) (*Code, error) {
	var out Code
	var used bool
	err := s.update(ctx, func(tx *txn) error {
		var c Code
		if ok, err := tx.getJSON(codeKey(id), &c); err != nil {
			return err
		} else if !ok || !s.now().Before(c.ExpiresAt) {
			return notFound("authorization code not found or expired")
		}
		out, used = c, c.Used
		if c.Used {
			return nil
		}
		c.Used = true
		return tx.putJSON(codeKey(id), &c, c.ExpiresAt.Sub(s.now()))
	})
	if err != nil {
		return nil, err
	}
	if used {
		return &out, ErrCodeUsed
	}
	return &out, nil
}

// ErrTokenReused is returned by ClaimToken for a token that was already
// claimed (a rotated refresh token presented again).
var ErrTokenReused = errors.New("token was already used")

// ErrTokenRevoked is returned by ClaimToken for a token that was revoked
// (Token.Withdrawn), not claimed: no sign of a replay.
var ErrTokenRevoked = errors.New("token was revoked")

// ClaimToken revokes a live token atomically and returns it as it was: of
// two concurrent claims of one refresh token exactly one succeeds, the other
// gets ErrTokenReused (with the token, so its family can be revoked). A
// token revoked by a revocation gets ErrTokenRevoked.
func (s *Store) ClaimToken(ctx context.Context, id string) (*Token, error) {
	var out Token
	err := s.update(ctx, func(tx *txn) error {
		t, ok, err := tx.getToken(id)
		if err != nil {
			return err
		} else if !ok || t.Expired(s.now()) {
			return notFound("Token not found: %s", id)
		}
		out = *t
		if t.Revoked {
			return nil
		}
		t.Revoked = true
		return tx.putToken(t, remaining(t, s.now()))
	})
	switch {
	case err != nil:
		return nil, err
	case out.Revoked && out.Withdrawn:
		return &out, ErrTokenRevoked
	case out.Revoked:
		return &out, ErrTokenReused
	}
	return &out, nil
}

// cachedToken reads token id through the object cache.
func (s *Store) cachedToken(ctx context.Context, id string) (*Token, error) {
	key := tokenKey(id)
	return cachedWith(ctx, s, key, func(b []byte) (*Token, error) {
		t, err := decodeToken(id, b)
		if err != nil {
			return nil, corruptToken(key, err)
		}
		return t, nil
	})
}

// getToken reads token id inside a transaction.
func (t *txn) getToken(id string) (*Token, bool, error) {
	key := tokenKey(id)
	b, ok, err := t.Get(key)
	if err != nil || !ok {
		return nil, false, err
	}
	tok, err := decodeToken(id, b)
	if err != nil {
		return nil, false, corruptToken(key, err)
	}
	return tok, true, nil
}

// putToken writes tok's record inside a transaction.
func (t *txn) putToken(tok *Token, ttl time.Duration) error {
	if t.jsonTokens {
		return t.putJSON(tokenKey(tok.ID), tok, ttl)
	}
	return t.Set(tokenKey(tok.ID), TokenRecord(tok), ttl)
}
