package authn

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/store"
)

// IdentityCache keeps the identity ConsumerIdentity built for a consumer
// and credential, so that the next request with the same key (a cached
// verification) shares it instead of building its own. An entry is valid
// while the store hands out the very records it was built from: the
// store's cache keeps one decoded record per key until a write replaces
// it, so a changed user, app or credential is a new pointer and a miss,
// never a stale identity. Without that cache every record is new and
// every request a miss (one allocation more than ConsumerIdentity).
//
// The identity is shared by concurrent requests: nothing may change it
// (the steps after the auth policy read it; the policies that add to the
// identity they build, jwt and oauth2, build their own with
// ConsumerIdentity). A small direct-mapped table, lock-free: an entry is
// never changed once stored.
type IdentityCache struct {
	seed  maphash.Seed
	slots [64]atomic.Pointer[cachedIdentity]
}

type cachedIdentity struct {
	user     *store.User
	app      *store.App
	cred     *store.Credential
	authType string
	id       *pipeline.Identity
}

// NewIdentityCache returns an empty cache.
func NewIdentityCache() *IdentityCache { return &IdentityCache{seed: maphash.MakeSeed()} }

// Identity is ConsumerIdentity(c, authType, cred), from the cache when it
// was built from the same records.
func (ic *IdentityCache) Identity(c *store.Consumer, authType string, cred *store.Credential) *pipeline.Identity {
	k := c.ID()
	if cred != nil {
		k = cred.ID
	}
	slot := &ic.slots[maphash.String(ic.seed, k)%uint64(len(ic.slots))]
	if e := slot.Load(); e != nil && e.user == c.User && e.app == c.App && e.cred == cred && e.authType == authType {
		return e.id
	}
	id := ConsumerIdentity(c, authType, cred)
	slot.Store(&cachedIdentity{user: c.User, app: c.App, cred: cred, authType: authType, id: id})
	return id
}
