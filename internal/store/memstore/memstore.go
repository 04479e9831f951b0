// Package memstore is the in-memory store backend: Express Gateway's
// `db.redis.emulate: true`, for tests and demos. Nothing survives a restart
// and nothing is shared between processes.
//
// Expired keys and set members are invisible at once and removed by a
// sweeper (every minute by default), in batches of sweepChunk under the
// write lock, from an index of everything that has an expiry: memory holds
// what is live plus at most one sweep interval of expired entries, however
// many tokens were ever issued.
package memstore

import (
	"container/heap"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// DefaultSweepInterval is how often expired entries are removed when
// Options.SweepInterval is 0.
const DefaultSweepInterval = time.Minute

// sweepChunk bounds the entries one sweeper batch removes, so that the
// sweeper never holds the write lock for long.
const sweepChunk = 1000

type entry struct {
	val []byte
	exp time.Time // zero: no expiry
}

// Options tune a Mem. The zero value is ready to use.
type Options struct {
	// Now is the clock for expiries (tests move it); nil means time.Now.
	Now func() time.Time
	// SweepInterval is how often expired keys and set members are removed
	// (they are invisible as soon as they expire). 0 means
	// DefaultSweepInterval; a negative value disables the sweeper (Sweep
	// still works).
	SweepInterval time.Duration
}

// Mem is a store.Backend in memory. Update holds the write lock for the
// whole transaction, so transactions are serializable.
type Mem struct {
	mu   sync.RWMutex
	kv   map[string]entry
	sets map[string]map[string]time.Time // member -> expiry (zero: none)
	due  dueIndex                        // every key and member with an expiry
	now  func() time.Time

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ store.Backend = (*Mem)(nil)

// New returns an empty backend with the default sweeper. now may be nil
// (time.Now).
func New(now func() time.Time) *Mem { return NewWith(Options{Now: now}) }

// NewWith returns an empty backend tuned by o. Close stops its sweeper.
func NewWith(o Options) *Mem {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	m := &Mem{
		kv: map[string]entry{}, sets: map[string]map[string]time.Time{},
		due: dueIndex{at: map[ref]*dueEntry{}}, now: o.Now, stop: make(chan struct{}),
	}
	if o.SweepInterval > 0 {
		m.wg.Add(1)
		go m.sweeper(o.SweepInterval)
	}
	return m
}

func (m *Mem) live(e entry) bool { return e.exp.IsZero() || m.now().Before(e.exp) }

func liveAt(exp, now time.Time) bool { return exp.IsZero() || now.Before(exp) }

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
	tx := &tx{m: m, kv: map[string]*entry{}, sets: map[string]map[string]pendingMember{}}
	if err := fn(tx); err != nil {
		return err
	}
	for k, e := range tx.kv {
		if e == nil {
			delete(m.kv, k)
			m.due.set(ref{key: k}, time.Time{})
		} else {
			m.kv[k] = *e
			m.due.set(ref{key: k}, e.exp)
		}
	}
	for s, members := range tx.sets {
		set := m.sets[s]
		for mem, p := range members {
			if p.in {
				if set == nil {
					set = map[string]time.Time{}
					m.sets[s] = set
				}
				set[mem] = p.exp
				m.due.set(ref{set: s, key: mem, member: true}, p.exp)
			} else if set != nil {
				delete(set, mem)
				m.due.set(ref{set: s, key: mem, member: true}, time.Time{})
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
	now := m.now()
	out := make([]string, 0, len(m.sets[set]))
	for k, exp := range m.sets[set] {
		if liveAt(exp, now) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Invalidations is nil: nobody else writes to this memory.
func (m *Mem) Invalidations() <-chan []string { return nil }

// Ping always succeeds.
func (m *Mem) Ping(context.Context) error { return nil }

// Close stops the sweeper; the data stays readable. Later calls do
// nothing.
func (m *Mem) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
	})
	return nil
}

func (m *Mem) sweeper(every time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep(m.stop)
		}
	}
}

// Sweep removes every key and set member expired by now, sweepChunk per
// hold of the write lock, without waiting for the sweeper.
func (m *Mem) Sweep(ctx context.Context) error {
	m.sweep(ctx.Done())
	return ctx.Err()
}

// sweep removes what expired by now, in batches, and reports how many
// entries it removed. It stops early when stop is closed.
func (m *Mem) sweep(stop <-chan struct{}) int {
	total := 0
	for {
		select {
		case <-stop:
			return total
		default:
		}
		n := m.sweepBatch()
		total += n
		if n < sweepChunk {
			return total
		}
	}
}

func (m *Mem) sweepBatch() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	n := 0
	for n < sweepChunk {
		r, ok := m.due.popDue(now)
		if !ok {
			break
		}
		n++
		if !r.member {
			delete(m.kv, r.key)
			continue
		}
		if set := m.sets[r.set]; set != nil {
			delete(set, r.key)
			if len(set) == 0 {
				delete(m.sets, r.set)
			}
		}
	}
	return n
}

// CountKeys counts what the backend holds: keys, sets, set members and
// the entries of its expiry index, expired ones not swept yet included.
func (m *Mem) CountKeys(context.Context) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := len(m.kv) + len(m.due.h)
	for _, s := range m.sets {
		n += 1 + len(s)
	}
	return n, nil
}

type pendingMember struct {
	in  bool      // false: removed
	exp time.Time // zero: no expiry
}

type tx struct {
	m    *Mem
	kv   map[string]*entry                   // pending writes; nil = deleted
	sets map[string]map[string]pendingMember // pending set changes
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

func (t *tx) change(set string, p pendingMember, members []string) {
	ps := t.sets[set]
	if ps == nil {
		ps = map[string]pendingMember{}
		t.sets[set] = ps
	}
	for _, m := range members {
		ps[m] = p
	}
}

func (t *tx) SAdd(set string, members ...string) error {
	t.change(set, pendingMember{in: true}, members)
	return nil
}

func (t *tx) SAddTTL(set string, ttl time.Duration, members ...string) error {
	p := pendingMember{in: true}
	if ttl > 0 {
		p.exp = t.m.now().Add(ttl)
	}
	t.change(set, p, members)
	return nil
}

func (t *tx) SRem(set string, members ...string) error {
	t.change(set, pendingMember{}, members)
	return nil
}

func (t *tx) SMembers(set string) ([]string, error) {
	now := t.m.now()
	cur := map[string]bool{}
	for k, exp := range t.m.sets[set] {
		cur[k] = liveAt(exp, now)
	}
	for k, p := range t.sets[set] {
		cur[k] = p.in && liveAt(p.exp, now)
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

// ref names a key, or a member of a set, that has an expiry.
type ref struct {
	set    string
	key    string // the key, or the member
	member bool
}

type dueEntry struct {
	exp time.Time
	ref ref
	i   int // position in the heap
}

// dueIndex is a min-heap of expiries with one entry per key or member,
// moved in place when its expiry changes, so that it holds exactly what
// may expire and the sweeper pops only what is due.
type dueIndex struct {
	h  []*dueEntry
	at map[ref]*dueEntry
}

// set records r's expiry (zero: r has none, or is gone).
func (d *dueIndex) set(r ref, exp time.Time) {
	e, ok := d.at[r]
	switch {
	case exp.IsZero() && ok:
		heap.Remove(d, e.i)
		delete(d.at, r)
	case exp.IsZero():
	case ok:
		e.exp = exp
		heap.Fix(d, e.i)
	default:
		e = &dueEntry{exp: exp, ref: r}
		d.at[r] = e
		heap.Push(d, e)
	}
}

// popDue removes and returns the soonest entry if it expired by now.
func (d *dueIndex) popDue(now time.Time) (ref, bool) {
	if len(d.h) == 0 || now.Before(d.h[0].exp) {
		return ref{}, false
	}
	e := heap.Pop(d).(*dueEntry)
	delete(d.at, e.ref)
	return e.ref, true
}

func (d *dueIndex) Len() int           { return len(d.h) }
func (d *dueIndex) Less(i, j int) bool { return d.h[i].exp.Before(d.h[j].exp) }
func (d *dueIndex) Swap(i, j int) {
	d.h[i], d.h[j] = d.h[j], d.h[i]
	d.h[i].i, d.h[j].i = i, j
}
func (d *dueIndex) Push(x any) {
	e := x.(*dueEntry)
	e.i = len(d.h)
	d.h = append(d.h, e)
}
func (d *dueIndex) Pop() any {
	n := len(d.h) - 1
	e := d.h[n]
	d.h[n] = nil
	d.h = d.h[:n]
	return e
}
