// Package memstore is the in-memory store backend: Express Gateway's
// `db.redis.emulate: true`, for tests and demos. Nothing survives a restart
// and nothing is shared between processes.
package memstore

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

type entry struct {
	val []byte
	exp time.Time // zero: no expiry
}

// Mem is a store.Backend in memory. Update holds the write lock for the
// whole transaction, so transactions are serializable.
type Mem struct {
	mu   sync.RWMutex
	kv   map[string]entry
	sets map[string]map[string]struct{}
	now  func() time.Time
	// updates counts transactions; every sweepEvery of them, expired keys
	// are dropped so that tokens and codes do not pile up.
	updates int
}

const sweepEvery = 1024

// New returns an empty backend. now may be nil (time.Now).
func New(now func() time.Time) *Mem {
	if now == nil {
		now = time.Now
	}
	return &Mem{kv: map[string]entry{}, sets: map[string]map[string]struct{}{}, now: now}
}

func (m *Mem) live(e entry) bool { return e.exp.IsZero() || m.now().Before(e.exp) }

// Get reads a key.
func (m *Mem) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.RLock()
	e, ok := m.kv[key]
	m.mu.RUnlock()
	if !ok || !m.live(e) {
		return nil, false, nil
	}
	return e.val, true, nil
}

// Update runs fn under the write lock; its writes apply only if it succeeds.
func (m *Mem) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.updates++; m.updates%sweepEvery == 0 {
		for k, e := range m.kv {
			if !m.live(e) {
				delete(m.kv, k)
			}
		}
	}
	tx := &tx{m: m, kv: map[string]*entry{}, sets: map[string]map[string]bool{}}
	if err := fn(tx); err != nil {
		return err
	}
	for k, e := range tx.kv {
		if e == nil {
			delete(m.kv, k)
		} else {
			m.kv[k] = *e
		}
	}
	for s, members := range tx.sets {
		set := m.sets[s]
		for mem, add := range members {
			if add {
				if set == nil {
					set = map[string]struct{}{}
					m.sets[s] = set
				}
				set[mem] = struct{}{}
			} else if set != nil {
				delete(set, mem)
			}
		}
		if set != nil && len(set) == 0 {
			delete(m.sets, s)
		}
	}
	return nil
}

// Scan pages through a set in sorted order; the cursor is an offset.
func (m *Mem) Scan(_ context.Context, set string, cursor uint64, count int) ([]string, uint64, error) {
	all := m.members(set)
	if cursor >= uint64(len(all)) {
		return nil, 0, nil
	}
	end := cursor + uint64(count)
	if count <= 0 || end >= uint64(len(all)) {
		return all[cursor:], 0, nil
	}
	return all[cursor:end], end, nil
}

// Members reads a set.
func (m *Mem) Members(_ context.Context, set string) ([]string, error) { return m.members(set), nil }

func (m *Mem) members(set string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.sets[set]))
	for k := range m.sets[set] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Invalidations is nil: nobody else writes to this memory.
func (m *Mem) Invalidations() <-chan []string { return nil }

// Ping always succeeds.
func (m *Mem) Ping(context.Context) error { return nil }

// Close does nothing.
func (m *Mem) Close() error { return nil }

type tx struct {
	m    *Mem
	kv   map[string]*entry          // pending writes; nil = deleted
	sets map[string]map[string]bool // pending set changes; false = removed
}

func (t *tx) Get(key string) ([]byte, bool, error) {
	if e, ok := t.kv[key]; ok {
		if e == nil || !t.m.live(*e) {
			return nil, false, nil
		}
		return e.val, true, nil
	}
	e, ok := t.m.kv[key]
	if !ok || !t.m.live(e) {
		return nil, false, nil
	}
	return e.val, true, nil
}

func (t *tx) Set(key string, val []byte, ttl time.Duration) error {
	e := &entry{val: append([]byte(nil), val...)}
	if ttl > 0 {
		e.exp = t.m.now().Add(ttl)
	}
	t.kv[key] = e
	return nil
}

func (t *tx) Del(key string) error {
	t.kv[key] = nil
	return nil
}

func (t *tx) change(set string, add bool, members []string) {
	p := t.sets[set]
	if p == nil {
		p = map[string]bool{}
		t.sets[set] = p
	}
	for _, m := range members {
		p[m] = add
	}
}

func (t *tx) SAdd(set string, members ...string) error { t.change(set, true, members); return nil }
func (t *tx) SRem(set string, members ...string) error { t.change(set, false, members); return nil }

func (t *tx) SMembers(set string) ([]string, error) {
	cur := map[string]bool{}
	for k := range t.m.sets[set] {
		cur[k] = true
	}
	for k, add := range t.sets[set] {
		cur[k] = add
	}
	out := make([]string, 0, len(cur))
	for k, in := range cur {
		if in {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}
