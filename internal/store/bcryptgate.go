package store

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// ErrBusy is returned instead of checking a secret when too many slow
// (bcrypt) checks are already running and none ended within the wait: the
// caller answers 503 with Retry-After, quickly, instead of queueing CPU
// work without bound.
var ErrBusy = errors.New("store: too many password checks are running")

// Defaults of the bound on slow checks (failureLimits.passwordChecks).
const DefaultPasswordCheckWait = 500 * time.Millisecond

// DefaultPasswordChecks is half the CPUs, at least one: a flood of wrong
// passwords (each ~60 ms of bcrypt at cost 10) can take at most that share
// of the machine, whatever the number of attackers or nodes they reach.
func DefaultPasswordChecks() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// gate bounds the bcrypt checks running at once. Only checks of secrets
// this node has not verified before reach it: a verified secret is
// answered from the cache (VerifyCredential), so the gate never slows the
// clients that know their password.
type gate struct {
	slots chan struct{}
	wait  time.Duration
}

func newGate(n int, wait time.Duration) *gate {
	if n <= 0 {
		n = DefaultPasswordChecks()
	}
	if wait <= 0 {
		wait = DefaultPasswordCheckWait
	}
	return &gate{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most g.wait (or until ctx ends).
func (g *gate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ErrBusy
	}
}

func (g *gate) release() { <-g.slots }

// slowHash reports whether checking hash costs bcrypt's work (HashSlow's
// "$2a$"/"$2b$" hashes; HashFast's are "sha256:").
func slowHash(hash string) bool { return strings.HasPrefix(hash, "$2") }

// checkSecret is secret.Verify under the gate when hash is slow: nil for a
// match, ErrBusy when no check could start, another error for a mismatch.
func (s *Store) checkSecret(ctx context.Context, hash, presented string) error {
	if !slowHash(hash) {
		return secret.Verify(hash, presented)
	}
	if err := s.gate.acquire(ctx); err != nil {
		return err
	}
	defer s.gate.release()
	return secret.Verify(hash, presented)
}
