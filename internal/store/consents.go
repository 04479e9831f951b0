package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Remembered consent (OpenID Connect Core 1.0 §3.1.2.4: the authorization
// server may skip the consent page for what the user already allowed, per
// user, client and scopes). One record per (user, client) holds the union
// of the scopes the user allowed; three sets index it, by user, by client
// and overall, so the Admin API can list and the cascades find them.
func consentKey(uid, cid string) string   { return "consent:" + uid + ":" + cid }
func userConsentsSet(uid string) string   { return "user-consents:" + uid }
func clientConsentsSet(cid string) string { return "client-consents:" + cid }
func consentRef(uid, cid string) string   { return uid + " " + cid }

const consentsSet = "consents"

// Consent is what a user allowed a client: the scopes, and when.
type Consent struct {
	UserID    string    `json:"userId"`
	ClientID  string    `json:"clientId"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Covers reports whether the consent includes every scope in want, so
// that an authorization request for them needs no consent page.
func (c *Consent) Covers(want []string) bool { return c != nil && hasAll(c.Scopes, want) }

// ConsentFilter selects consents; an empty field matches every value.
type ConsentFilter struct {
	UserID, ClientID string
}

// ConsentStore is the role the authorization server (remembering and
// checking consent), the sign-in UI's consent page and the Admin API need.
// *Store has it.
type ConsentStore interface {
	GrantConsent(ctx context.Context, userID, clientID string, scopes []string) error
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	ListConsents(ctx context.Context, f ConsentFilter) ([]*Consent, error)
	RevokeConsent(ctx context.Context, userID, clientID string) (revokedRefreshTokens int, err error)
}

var _ ConsentStore = (*Store)(nil)

// GrantConsent remembers that the user allowed the client scopes, added to
// what the user allowed it before. The user and the client (a consumer
// with the client's id) must exist, checked in the same transaction as
// the write, so a consent never outlives a deletion running beside it.
func (s *Store) GrantConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	if userID == "" || clientID == "" {
		return invalid("userId", "a consent needs a user id and a client id")
	}
	add, err := normalizeScopes(scopes)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.update(ctx, func(tx *txn) error {
		if _, ok, err := tx.Get(userKey(userID)); err != nil {
			return err
		} else if !ok {
			return invalid("userId", "No user found with id: %s", userID)
		}
		if err := consumerExistsTx(tx, clientID); err != nil {
			return invalid("clientId", "No client found with id: %s", clientID)
		}
		var c Consent
		found, err := tx.getJSON(consentKey(userID, clientID), &c)
		if err != nil {
			return err
		}
		if !found {
			c = Consent{UserID: userID, ClientID: clientID, Scopes: []string{}, CreatedAt: now}
		}
		if found && hasAll(c.Scopes, add) {
			return nil // nothing new: no write
		}
		for _, sc := range add {
			if !slices.Contains(c.Scopes, sc) {
				c.Scopes = append(c.Scopes, sc)
			}
		}
		slices.Sort(c.Scopes)
		c.UpdatedAt = now
		if err := tx.putJSON(consentKey(userID, clientID), &c, 0); err != nil {
			return err
		}
		if err := tx.SAdd(userConsentsSet(userID), clientID); err != nil {
			return err
		}
		if err := tx.SAdd(clientConsentsSet(clientID), userID); err != nil {
			return err
		}
		return tx.SAdd(consentsSet, consentRef(userID, clientID))
	})
}

// GetConsent reads what the user allowed the client; ErrNotFound when
// nothing. It reads through the per-process cache, as every authorization
// request asks.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*Consent, error) {
	c, err := cached[Consent](ctx, s, consentKey(userID, clientID))
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, notFound("No consent of user %s for client %s", userID, clientID)
	}
	return c, nil
}

// ListConsents lists the consents f selects, by user then client.
func (s *Store) ListConsents(ctx context.Context, f ConsentFilter) ([]*Consent, error) {
	var pairs [][2]string
	switch {
	case f.UserID != "" && f.ClientID != "":
		pairs = [][2]string{{f.UserID, f.ClientID}}
	case f.UserID != "":
		cids, err := s.b.Members(ctx, userConsentsSet(f.UserID))
		if err != nil {
			return nil, err
		}
		for _, cid := range cids {
			pairs = append(pairs, [2]string{f.UserID, cid})
		}
	case f.ClientID != "":
		uids, err := s.b.Members(ctx, clientConsentsSet(f.ClientID))
		if err != nil {
			return nil, err
		}
		for _, uid := range uids {
			pairs = append(pairs, [2]string{uid, f.ClientID})
		}
	default:
		refs, err := s.b.Members(ctx, consentsSet)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			uid, cid, _ := strings.Cut(ref, " ")
			pairs = append(pairs, [2]string{uid, cid})
		}
	}
	out := []*Consent{}
	for _, p := range pairs {
		c, err := cached[Consent](ctx, s, consentKey(p[0], p[1]))
		if err != nil {
			return nil, err
		}
		if c != nil {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y *Consent) int {
		return cmp.Or(cmp.Compare(x.UserID, y.UserID), cmp.Compare(x.ClientID, y.ClientID))
	})
	return out, nil
}

// RevokeConsent forgets what the user allowed the client and, in the same
// transaction, revokes the client's live tokens for that user, refresh and
// access (the rule: revoking consent revokes the refresh tokens;
// an access token outliving the consent would be a grant the user took
// back). The families of those tokens are tombstoned as RevokeFamily does,
// so a refresh in flight cannot mint a new token. It reports the refresh
// tokens revoked. ErrNotFound when there was neither a consent nor a token
// to revoke.
func (s *Store) RevokeConsent(ctx context.Context, userID, clientID string) (int, error) {
	least := s.tombstone
	if least <= 0 {
		least = defaultFamilyTombstone
	}
	refresh := 0
	err := s.update(ctx, func(tx *txn) error {
		refresh = 0
		found, err := deleteConsentTx(tx, userID, clientID)
		if err != nil {
			return err
		}
		ids, err := tx.SMembers(userTokensSet(userID))
		if err != nil {
			return err
		}
		now := s.now()
		revoked := 0
		families := map[string]time.Duration{}
		for _, id := range ids {
			t, ok, err := tx.getToken(id)
			if err != nil {
				return err
			}
			if !ok || t.ConsumerID != clientID || t.Expired(now) {
				continue
			}
			if t.FamilyID != "" && !t.ExpiresAt.IsZero() {
				families[t.FamilyID] = max(families[t.FamilyID], t.ExpiresAt.Sub(now))
			} else if t.FamilyID != "" {
				families[t.FamilyID] = max(families[t.FamilyID], 0)
			}
			if t.Revoked {
				continue
			}
			t.Revoked, t.Withdrawn = true, true
			revoked++
			if t.Kind == RefreshToken {
				refresh++
			}
			if err := tx.putToken(t, remaining(t, now)); err != nil {
				return err
			}
		}
		for fid, furthest := range families {
			if err := tx.Set(familyRevokedKey(fid), []byte("1"), max(least, furthest)); err != nil {
				return err
			}
		}
		if !found && revoked == 0 {
			return notFound("No consent of user %s for client %s", userID, clientID)
		}
		return nil
	})
	return refresh, err
}

// deleteConsentTx removes one consent and its index entries; false when
// there was none.
func deleteConsentTx(tx *txn, uid, cid string) (bool, error) {
	_, found, err := tx.Get(consentKey(uid, cid))
	if err != nil || !found {
		return false, err
	}
	if err := tx.Del(consentKey(uid, cid)); err != nil {
		return false, err
	}
	if err := tx.SRem(userConsentsSet(uid), cid); err != nil {
		return false, err
	}
	if err := tx.SRem(clientConsentsSet(cid), uid); err != nil {
		return false, err
	}
	return true, tx.SRem(consentsSet, consentRef(uid, cid))
}

// deleteConsentsTx removes every consent a consumer is part of, as the
// user who gave it or as the client it was given to: deleting a user or an
// application takes its consents with it.
func deleteConsentsTx(tx *txn, consumerID string) error {
	cids, err := tx.SMembers(userConsentsSet(consumerID))
	if err != nil {
		return err
	}
	for _, cid := range cids {
		if _, err := deleteConsentTx(tx, consumerID, cid); err != nil {
			return err
		}
	}
	uids, err := tx.SMembers(clientConsentsSet(consumerID))
	if err != nil {
		return err
	}
	for _, uid := range uids {
		if _, err := deleteConsentTx(tx, uid, consumerID); err != nil {
			return err
		}
	}
	return nil
}
