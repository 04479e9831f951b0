package store

import (
	"context"
	"errors"
	"sync"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// Refusals that take as long as each other (issue #11 §2). A wrong password
// costs a bcrypt check (tens of milliseconds at cost 10); an unknown user,
// key id or client would cost a map lookup, so the answer's timing alone
// would tell an attacker which names exist. Every refusal of a presented
// secret therefore costs exactly one bcrypt check at the store's cost:
//
//   - the real one, when the credential exists and its hash is bcrypt;
//   - a decoy check against a hash of the same cost otherwise: unknown id,
//     a generated secret (SHA-256, microseconds) that does not match, a
//     deactivated credential or consumer whose answer is the same as a
//     wrong secret's, and the callers' own refusals before any credential
//     is read (VerifyDecoy).
//
// The decoy checks go through the bound on bcrypt checks (bcryptgate.go)
// as the real ones do, so under a flood an unknown name gets the same
// ErrBusy as a known one. A success is not padded: it says nothing an
// attacker can use, and the
// hot path of generated API keys stays at microseconds. A hash made at
// another cost than today's (crypto.saltRounds changed since) still takes
// its own time: rotating the secret re-hashes it at the configured cost.

// decoys holds one decoy hash per bcrypt cost, made on first need and kept
// for the life of the process: the hash of a random secret nobody knows.
var decoys struct {
	mu     sync.Mutex
	byCost map[int]string
}

func decoyHash(cost int) string {
	decoys.mu.Lock()
	defer decoys.mu.Unlock()
	if h, ok := decoys.byCost[cost]; ok {
		return h
	}
	h, err := secret.HashSlow(secret.Generate(32), cost)
	if err != nil {
		// Only an out-of-range cost fails, and New's callers check it; a
		// hash that is not bcrypt still makes Verify refuse.
		h = "$2a$10$invalid"
	}
	if decoys.byCost == nil {
		decoys.byCost = map[int]string{}
	}
	decoys.byCost[cost] = h
	return h
}

// VerifyDecoy does the work of checking presented against a bcrypt hash at
// the store's cost, and refuses it whatever it is. Callers that refuse a
// presented secret before any credential is checked (no such user or
// client, a deactivated consumer) run it, so that the refusal takes as long
// as a wrong secret's. Its only error is ErrBusy, when the check could not
// start (bcryptgate.go): the caller answers as it would for a real check
// that could not, so an overloaded node does not tell names apart either.
func (s *Store) VerifyDecoy(ctx context.Context, presented string) error {
	return s.decoyCheck(ctx, decoyHash(s.bcryptCost), presented)
}

// fastDecoy is a HashFast hash nobody's secret matches.
var fastDecoy = secret.HashFast(secret.Generate(32))

// verifyUnknown is VerifyCredential's refusal of an id no credential has:
// the cheap steps a known credential's check takes (the verification
// cache's key and lookup, a SHA-256 check) and then the decoy, so that not
// even microseconds tell an unknown id from a generated secret's mismatch.
func (s *Store) verifyUnknown(ctx context.Context, typ, id, presented string) error {
	_, _ = s.verified.Get(s.mac(typ, id, presented))
	_ = secret.Verify(fastDecoy, presented)
	return s.VerifyDecoy(ctx, presented)
}

// padRefusal follows a failed check of presented against hash: when that
// check was fast (a generated secret's SHA-256, or no hash), it adds the
// decoy check, so the refusal costs what a bcrypt refusal costs. Its only
// error is ErrBusy.
func (s *Store) padRefusal(ctx context.Context, hash, presented string) error {
	if slowHash(hash) {
		return nil
	}
	return s.VerifyDecoy(ctx, presented)
}

// decoyCheck is the check itself, bounded as the real ones are; only
// ErrBusy is returned.
func (s *Store) decoyCheck(ctx context.Context, hash, presented string) error {
	if err := s.checkSecret(ctx, hash, presented); errors.Is(err, ErrBusy) {
		return err
	}
	return nil
}
