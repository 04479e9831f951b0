package store

import (
	"context"
	"errors"
	"time"
)

// Backend is the storage primitive every backend implements: keys with
// optional expiry, sets of strings, and atomic read-modify-write
// transactions. The identity logic (uniqueness, cascades, indexes) is
// written once, in Store, on top of it; the conformance suite in storetest
// runs that logic on every backend.
type Backend interface {
	// Get reads one key outside a transaction (the hot path).
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Update runs fn atomically: either all of its writes happen or none,
	// and no other writer changed what fn read in between (the backend
	// retries fn on a conflict, so fn must not have side effects outside tx).
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Scan pages through a set's members: cursor 0 starts, a returned next
	// cursor of 0 means done.
	Scan(ctx context.Context, set string, cursor uint64, count int) (members []string, next uint64, err error)
	// Members reads a whole set outside a transaction.
	Members(ctx context.Context, set string) ([]string, error)
	// Invalidations delivers the keys written by this or another process
	// (Redis pub/sub), so that caches drop them. A nil key means "drop
	// everything" (a reconnect may have missed messages).
	Invalidations() <-chan []string
	// Ping checks the backend is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Tx is the view of the data inside Update.
type Tx interface {
	Get(key string) ([]byte, bool, error)
	// Set writes key; ttl 0 means no expiry.
	Set(key string, value []byte, ttl time.Duration) error
	Del(key string) error
	SAdd(set string, members ...string) error
	// SAddTTL adds members to set for ttl (ttl <= 0: for good, as SAdd).
	// It is for the index entries of expiring records (a consumer's
	// tokens, a token family), so that an index does not outlive what it
	// indexes: a member past its ttl leaves the set, and a set whose last
	// member left is gone. Memory and the file stop listing such a member
	// at once and remove it at their next sweep; Redis removes it at the
	// set's next write, and the whole set when its last member expires,
	// and may list it until then (a reader checks the record a member
	// names, as it must anyway). A member added again takes the new ttl
	// (or none, through SAdd); SRem removes members of either kind.
	SAddTTL(set string, ttl time.Duration, members ...string) error
	SRem(set string, members ...string) error
	SMembers(set string) ([]string, error)
}

// ErrConflict is returned by a backend whose Update kept losing races; the
// caller may retry.
var ErrConflict = errors.New("store: too many concurrent updates, try again")

// ErrUnavailable wraps backend connectivity failures (Redis down): the
// gateway answers 503 for those, never 500.
var ErrUnavailable = errors.New("store unavailable")
