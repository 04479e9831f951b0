package proxy

import (
	"hash/maphash"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/headervalue"
	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// identityHeaders are the eg-* headers rendered for one identity: what
// setIdentityHeaders would send, kept so that the next request of the
// same identity (a cached key, a repeated token) does not render them
// again. An auth policy builds a new *pipeline.Identity per request, so
// they are found by content: of is the copy they were rendered from.
type identityHeaders struct {
	of   pipeline.Identity
	keys []string
	vals []string // vals[i] is keys[i]'s only value
}

// identityCache is a small direct-mapped cache of rendered identity
// headers, by consumer (or token subject). A slot holds the last identity
// rendered there; a different one replaces it. Lock-free: an entry is
// never changed once stored.
type identityCache struct {
	seed  maphash.Seed
	slots [64]atomic.Pointer[identityHeaders]
}

func newIdentityCache() *identityCache { return &identityCache{seed: maphash.MakeSeed()} }

// set puts id's headers on h, rendered or from the cache. The value
// slices are shared between requests: nothing after the Rewrite changes a
// header value in place (Set and Add replace or copy a capped slice).
func (c *identityCache) set(h http.Header, id *pipeline.Identity) {
	k := id.ConsumerID
	if k == "" {
		k = id.TokenSubject
	}
	slot := &c.slots[maphash.String(c.seed, k)%uint64(len(c.slots))]
	e := slot.Load()
	if e == nil || !sameHeaders(&e.of, id) {
		e = renderIdentity(id)
		slot.Store(e)
	}
	for i, k := range e.keys {
		h[k] = e.vals[i : i+1 : i+1]
	}
}

// sameHeaders is whether a and b render the same headers: every field
// renderIdentity reads is compared (TestIdentityCacheFields checks it).
func sameHeaders(a, b *pipeline.Identity) bool {
	return a.ConsumerID == b.ConsumerID && a.ConsumerType == b.ConsumerType && a.ConsumerName == b.ConsumerName &&
		a.UserID == b.UserID && a.RedirectURI == b.RedirectURI && a.IsActive == b.IsActive &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.AuthType == b.AuthType && a.TokenID == b.TokenID && a.AuthenticatedUserID == b.AuthenticatedUserID &&
		a.TokenSubject == b.TokenSubject && a.TokenIssuer == b.TokenIssuer && a.TokenRedirect == b.TokenRedirect &&
		slices.Equal(a.Scopes, b.Scopes) && maps.Equal(a.Properties, b.Properties)
}

// renderIdentity renders who the request was authenticated as, with the
// names Express Gateway documents (seed 002): eg-consumer-* for the
// consumer, eg-token-* for the token or credential. Client-sent eg-*
// headers were removed when the request arrived.
func renderIdentity(id *pipeline.Identity) *identityHeaders {
	e := &identityHeaders{of: *id, keys: make([]string, 0, 18), vals: make([]string, 0, 18)}
	e.of.Scopes = slices.Clone(id.Scopes) // the copy must not change with the identity
	e.of.Properties = maps.Clone(id.Properties)
	set := func(k, v string) {
		if v != "" {
			e.keys = append(e.keys, k)
			e.vals = append(e.vals, headervalue.Sanitize(v))
		}
	}
	ms := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return strconv.FormatInt(t.UnixMilli(), 10)
	}
	set("Eg-Consumer-Id", id.ConsumerID)
	set("Eg-Consumer-Type", id.ConsumerType)
	set("Eg-Consumer-Name", id.ConsumerName)
	set("Eg-Consumer-User-Id", id.UserID)
	set("Eg-Consumer-Redirect-Uri", id.RedirectURI)
	set("Eg-Consumer-Created-At", ms(id.CreatedAt))
	set("Eg-Consumer-Updated-At", ms(id.UpdatedAt))
	if id.ConsumerType != "" {
		set("Eg-Consumer-Is-Active", strconv.FormatBool(id.IsActive))
	}
	for k, v := range id.Properties {
		if validName(k) {
			set("Eg-Consumer-"+http.CanonicalHeaderKey(k), v)
		}
	}
	set("Eg-Token-Auth-Type", id.AuthType)
	set("Eg-Token-Id", id.TokenID)
	if id.TokenID != "" {
		set("Eg-Token-Consumer-Id", id.ConsumerID)
	}
	set("Eg-Token-Authenticated-User-Id", id.AuthenticatedUserID)
	// A token not tied to a store consumer (jwt without
	// checkCredentialExistence) names its subject and issuer here, never
	// in eg-consumer-id.
	set("Eg-Token-Sub", id.TokenSubject)
	set("Eg-Token-Iss", id.TokenIssuer)
	set("Eg-Token-Redirect-Uri", id.TokenRedirect)
	set("Eg-Token-Expires-At", ms(id.ExpiresAt))
	if len(id.Scopes) > 0 {
		set("Eg-Token-Scopes", strings.Join(id.Scopes, " "))
	}
	return e
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
