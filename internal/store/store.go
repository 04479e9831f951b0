package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/lrucache"
)

// Options tune a Store.
type Options struct {
	// Now is the clock (tests move it).
	Now func() time.Time
	// BcryptCost for passwords and chosen secrets (Express Gateway's
	// crypto.saltRounds; default 10).
	BcryptCost int
	// MinPasswordLength is the fewest characters of a basic-auth password
	// a caller chooses (crypto.minPasswordLength; default
	// DefaultMinPasswordLength).
	MinPasswordLength int
	// CacheSize bounds the decoded-object cache and the verification cache
	// (entries each; default 100,000).
	CacheSize int
	// CacheBytes bounds the decoded-object cache in estimated bytes
	// (default DefaultRecordCacheBytes); the verification cache's entries
	// are fixed-size, so it is bounded at DefaultSecretCacheBytes.
	CacheBytes int
	Logger     *slog.Logger

	// JSONTokens writes opaque-token records as JSON, the format every
	// Gatehouse version reads, instead of the compact binary record
	// (tokenrecord.go), which is about a quarter of the size but unknown
	// to versions before it. For a store that nodes of different versions
	// may share during a rolling upgrade (Redis). Both formats are read
	// either way.
	JSONTokens bool

	// FamilyTombstone is the least time a revoked grant's tombstone is
	// kept (0: 10 minutes): longer than a token request in flight, which
	// the listeners' timeouts bound. RevokeFamily keeps it longer when a
	// token of the family lives longer.
	FamilyTombstone time.Duration

	// PasswordChecks bounds the bcrypt checks running at once (default
	// DefaultPasswordChecks); a check that cannot start within
	// PasswordCheckWait (default 500ms) gets ErrBusy (bcryptgate.go).
	PasswordChecks    int
	PasswordCheckWait time.Duration
}

// Store is the identity store: Express Gateway's rules written once over a
// Backend. Hot-path reads (credentials, consumers, tokens) go through a
// per-process cache that writes and the backend's invalidations keep exact.
type Store struct {
	b          Backend
	jsonTokens bool // Options.JSONTokens
	now        func() time.Time
	bcryptCost int
	minPasswd  int
	tombstone  time.Duration // Options.FamilyTombstone
	log        *slog.Logger
	objects    *objectCache
	verified   *lrucache.Cache[[32]byte, uint64] // HMAC(presented secret) -> credential Rev
	macKey     []byte                            // per-process key for the verification cache
	macs       sync.Pool                         // *macState: HMAC states under macKey
	done       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
	// Lookups of the record cache and of the verified-secret cache.
	hits, misses, verifyHits, verifyMisses atomic.Uint64
	gate                                   *gate // bounds bcrypt checks (bcryptgate.go)
}

// Default byte budgets of the store's caches (issue #14): 16 MiB of
// decoded records (about 40,000 at the estimate of 2x the stored record
// plus the key) and 8 MiB of verified secrets (about 60,000).
const (
	DefaultRecordCacheBytes = 16 << 20
	DefaultSecretCacheBytes = 8 << 20
)

// RecordCacheSize and SecretCacheSize report the entries, estimated bytes
// and evictions of the record cache and of the verified-secret cache, for
// metrics.
func (s *Store) RecordCacheSize() (entries, bytes int, evictions uint64) {
	return s.objects.lru.Stats()
}

func (s *Store) SecretCacheSize() (entries, bytes int, evictions uint64) {
	return s.verified.Stats()
}

// CacheStats reports the lookups of the record cache and of the cache of
// verified secrets, for metrics.
func (s *Store) CacheStats() (hits, misses, verifyHits, verifyMisses uint64) {
	return s.hits.Load(), s.misses.Load(), s.verifyHits.Load(), s.verifyMisses.Load()
}

// New wraps b. Close stops the invalidation listener and closes b.
func New(b Backend, o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = 10
	}
	if o.MinPasswordLength == 0 {
		o.MinPasswordLength = DefaultMinPasswordLength
	}
	if o.CacheSize == 0 {
		o.CacheSize = 100_000
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultRecordCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// A verified secret is a 32-byte key and an 8-byte Rev.
	verified := lrucache.New(o.CacheSize, DefaultSecretCacheBytes, func([32]byte, uint64) int { return 40 })
	s := &Store{
		b: b, jsonTokens: o.JSONTokens, now: o.Now, bcryptCost: o.BcryptCost, minPasswd: o.MinPasswordLength, log: o.Logger,
		objects:  newObjectCache(o.CacheSize, o.CacheBytes),
		verified: verified,
		macKey:   make([]byte, 32),
		done:     make(chan struct{}),
		gate:     newGate(o.PasswordChecks, o.PasswordCheckWait),
	}
	_, _ = rand.Read(s.macKey)
	s.tombstone = o.FamilyTombstone
	if ch := b.Invalidations(); ch != nil {
		s.wg.Add(1)
		go s.listen(ch)
	}
	return s
}

// Backend is the underlying backend (for health checks).
func (s *Store) Backend() Backend { return s.b }

// Close stops the store and its backend; later calls do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.closeErr = s.b.Close()
		s.wg.Wait()
	})
	return s.closeErr
}

func (s *Store) listen(ch <-chan []string) {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case keys, ok := <-ch:
			if !ok {
				return
			}
			if keys == nil {
				s.objects.purge()
				continue
			}
			s.objects.invalidate(keys)
		}
	}
}

// update runs fn in a backend transaction and drops every key it wrote from
// this process's cache.
func (s *Store) update(ctx context.Context, fn func(tx *txn) error) error {
	var written []string
	err := s.b.Update(ctx, func(btx Tx) error {
		t := &txn{Tx: btx, jsonTokens: s.jsonTokens}
		err := fn(t)
		written = t.written
		return err
	})
	if err == nil && len(written) > 0 {
		s.objects.invalidate(written)
	}
	return err
}

// txn records the keys written, and reads and writes JSON.
type txn struct {
	Tx
	written    []string
	jsonTokens bool // Options.JSONTokens
}

func (t *txn) Set(key string, v []byte, ttl time.Duration) error {
	t.written = append(t.written, key)
	return t.Tx.Set(key, v, ttl)
}

func (t *txn) Del(key string) error {
	t.written = append(t.written, key)
	return t.Tx.Del(key)
}

func (t *txn) getJSON(key string, v any) (bool, error) {
	b, ok, err := t.Get(key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("store: corrupt record %s: %w", key, err)
	}
	return true, nil
}

func (t *txn) putJSON(key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.Set(key, b, ttl)
}

// cached reads key through the object cache, decoding it with decode. A
// missing key is cached too (as nil), so floods of unknown ids stay off the
// backend; any write of the key invalidates it.
func cached[T any](ctx context.Context, s *Store, key string) (*T, error) {
	return cachedWith(ctx, s, key, func(b []byte) (*T, error) {
		out := new(T)
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("store: corrupt record %s: %w", key, err)
		}
		return out, nil
	})
}

// cachedWith is cached with its own decoding of the record.
func cachedWith[T any](ctx context.Context, s *Store, key string, decode func([]byte) (*T, error)) (*T, error) {
	if v, ok := s.objects.get(key); ok {
		s.hits.Add(1)
		t, _ := v.(*T)
		return t, nil
	}
	s.misses.Add(1)
	epoch := s.objects.begin(key)
	b, ok, err := s.b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	var out *T
	if ok {
		if out, err = decode(b); err != nil {
			return nil, err
		}
	}
	s.objects.put(key, out, len(key)+2*len(b), epoch)
	return out, nil
}

// objectCache holds decoded records. Each shard has an epoch that guards
// against a reader caching a value it read before a concurrent write
// invalidated the key; sharding keeps a stream of unrelated writes (token
// issuance on other nodes) from defeating every fill in progress.
type objectCache struct {
	lru    *lrucache.Cache[string, sized]
	seed   maphash.Seed
	shards [64]struct {
		mu    sync.Mutex
		epoch uint64
	}
}

// sized is a decoded record with its estimated bytes: the key plus twice
// the stored record (a decoded struct's strings hold the record's text,
// plus headers and pointers of about as much again).
type sized struct {
	v     any
	bytes int
}

func newObjectCache(size, bytes int) *objectCache {
	c := lrucache.New(size, bytes, func(_ string, s sized) int { return s.bytes })
	return &objectCache{lru: c, seed: maphash.MakeSeed()}
}

func (c *objectCache) shard(key string) int {
	return int(maphash.String(c.seed, key) % uint64(len(c.shards)))
}

func (c *objectCache) get(key string) (any, bool) {
	s, ok := c.lru.Get(key)
	return s.v, ok
}

// begin returns the key's shard epoch, to pass to put after the read.
func (c *objectCache) begin(key string) uint64 {
	sh := &c.shards[c.shard(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.epoch
}

func (c *objectCache) put(key string, v any, bytes int, epoch uint64) {
	sh := &c.shards[c.shard(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.epoch == epoch {
		c.lru.Add(key, sized{v, bytes})
	}
}

func (c *objectCache) invalidate(keys []string) {
	for _, k := range keys {
		sh := &c.shards[c.shard(k)]
		sh.mu.Lock()
		sh.epoch++
		c.lru.Remove(k)
		sh.mu.Unlock()
	}
}

func (c *objectCache) purge() {
	for i := range c.shards {
		c.shards[i].mu.Lock()
		c.shards[i].epoch++
	}
	c.lru.Purge()
	for i := range c.shards {
		c.shards[i].mu.Unlock()
	}
}

// newID returns a random UUIDv4 (RFC 9562 §5.4), the id shape Express
// Gateway gives users and applications.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// mac keys the verification cache: an HMAC under a per-process key, so the
// cache never holds a presented secret or a fast-to-attack hash of it. The
// HMAC states are pooled: this runs on every authenticated request.
func (s *Store) mac(parts ...string) [32]byte {
	m, _ := s.macs.Get().(*macState)
	if m == nil {
		m = &macState{h: hmac.New(sha256.New, s.macKey)}
	}
	m.h.Reset()
	// The parts go through one reused buffer: writing each string to the
	// hash.Hash interface would copy it to the heap (two allocations per
	// part, on every authenticated request).
	m.buf = m.buf[:0]
	for _, p := range parts {
		m.buf = append(m.buf, p...)
		m.buf = append(m.buf, 0)
	}
	m.h.Write(m.buf)
	var out [32]byte
	m.h.Sum(out[:0])
	if cap(m.buf) <= 4096 { // a huge presented secret is not kept
		s.macs.Put(m)
	}
	return out
}

// macState is one pooled HMAC state with its scratch buffer.
type macState struct {
	h   hash.Hash
	buf []byte
}
