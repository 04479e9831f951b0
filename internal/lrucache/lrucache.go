// Package lrucache is a least-recently-used cache bounded both in entries
// and in estimated bytes (issue #14: "caches bounded in bytes, not only
// entries"). Adding evicts the least recently used entries until both
// bounds hold. One mutex guards a cache, as hashicorp/golang-lru's does
// (the caches it is meant to replace take that lock on every lookup
// already); Get allocates nothing.
package lrucache

import (
	"sync"
	"weak"
)

// Cache maps K to V. The zero value is not usable; build one with New.
type Cache[K comparable, V any] struct {
	mu         sync.Mutex
	items      map[K]*node[K, V]
	root       node[K, V] // sentinel: root.next is the most recently used
	maxEntries int
	maxBytes   int
	bytes      int
	size       func(K, V) int
	evictions  uint64
}

type node[K comparable, V any] struct {
	prev, next *node[K, V]
	key        K
	val        V
	bytes      int
}

// EntryOverhead estimates what an entry costs besides its key's and
// value's own bytes: the list node (two pointers and the size) and its
// share of the Go map (a bucket slot with tophash, key copy and pointer,
// at the map's usual load).
const EntryOverhead = 96

// New returns a cache of at most maxEntries entries and maxBytes estimated
// bytes (either <= 0: no bound of that kind). size estimates one entry's
// bytes without EntryOverhead, which is added; nil counts the overhead
// only.
func New[K comparable, V any](maxEntries, maxBytes int, size func(K, V) int) *Cache[K, V] {
	c := &Cache[K, V]{items: map[K]*node[K, V]{}, maxEntries: maxEntries, maxBytes: maxBytes, size: size}
	c.root.next, c.root.prev = &c.root, &c.root
	return c
}

// Get returns the value of k and marks it most recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	n, ok := c.items[k]
	if !ok {
		c.mu.Unlock()
		var zero V
		return zero, false
	}
	c.unlink(n)
	c.pushFront(n)
	v := n.val
	c.mu.Unlock()
	return v, true
}

// Add stores v under k, then evicts least recently used entries until both
// bounds hold; it returns how many it evicted. An entry larger than the
// whole byte budget is not stored (it would empty the cache for itself).
func (c *Cache[K, V]) Add(k K, v V) (evicted int) {
	b := EntryOverhead
	if c.size != nil {
		b += c.size(k, v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.items[k]; ok {
		c.drop(n)
	}
	if c.maxBytes > 0 && b > c.maxBytes {
		return 0
	}
	n := &node[K, V]{key: k, val: v, bytes: b}
	c.items[k] = n
	c.pushFront(n)
	c.bytes += b
	for (c.maxEntries > 0 && len(c.items) > c.maxEntries) || (c.maxBytes > 0 && c.bytes > c.maxBytes) {
		c.drop(c.root.prev)
		evicted++
	}
	c.evictions += uint64(evicted)
	return evicted
}

// Remove drops k, if present.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	if n, ok := c.items[k]; ok {
		c.drop(n)
	}
	c.mu.Unlock()
}

// Purge drops every entry.
func (c *Cache[K, V]) Purge() {
	c.mu.Lock()
	clear(c.items)
	c.root.next, c.root.prev = &c.root, &c.root
	c.bytes = 0
	c.mu.Unlock()
}

// Stats reports the entries held, their estimated bytes and the entries
// evicted so far to keep within the bounds (for metrics).
func (c *Cache[K, V]) Stats() (entries, bytes int, evictions uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.bytes, c.evictions
}

func (c *Cache[K, V]) drop(n *node[K, V]) {
	c.unlink(n)
	delete(c.items, n.key)
	c.bytes -= n.bytes
}

func (c *Cache[K, V]) unlink(n *node[K, V]) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

func (c *Cache[K, V]) pushFront(n *node[K, V]) {
	n.prev, n.next = &c.root, c.root.next
	c.root.next.prev = n
	c.root.next = n
}

// WeakStats is Stats through a weak pointer, for a metrics registry that
// outlives the cache: a reload that drops the step owning the cache must
// not leave it alive in the registry's closure. Once the cache is
// collected it reports zeros.
func (c *Cache[K, V]) WeakStats() func() (entries, bytes int, evictions uint64) {
	p := weak.Make(c)
	return func() (int, int, uint64) {
		if c := p.Value(); c != nil {
			return c.Stats()
		}
		return 0, 0, 0
	}
}
