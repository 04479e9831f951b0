// Package memstore is the in-memory store backend: Express Gateway's
// `db.redis.emulate: true`, for tests and demos. Nothing survives a restart
// and nothing is shared between processes.
//
// Expired keys and set members are invisible at once and removed by a
// sweeper (every minute by default), in batches of sweepChunk under the
// write lock, from an expiry wheel (wheel.go): memory holds what is live
// plus at most one sweep interval of expired entries, however many tokens
// were ever issued.
//
// It is laid out for millions of live tokens (each a key and two or three
// set members): expiries are int64s, a set of one member (a token's
// family) is kept inline without a map of its own, and the wheel holds a
// string per expiring entry instead of a heap node and a map entry. See
// docs/scaling.md for the bytes per token.
package memstore

import (
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

// entry is a key's value and expiry. Expiries are Unix nanoseconds (0:
// none), not time.Time: 8 bytes instead of 24, and no pointer for the
// garbage collector to follow, in every key and set member.
type entry struct {
	val []byte
	exp int64
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
	mu    sync.RWMutex
	kv    map[string]entry
	sets  map[string]set
	wheel wheel // every key and member with an expiry
	// nMembers counts the members of all sets (CountKeys in O(1), so
	// that it can watch a busy store).
	nMembers int
	clock    func() time.Time

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
		kv: map[string]entry{}, sets: map[string]set{},
		wheel: newWheel(), clock: o.Now, stop: make(chan struct{}),
	}
	if o.SweepInterval > 0 {
		m.wg.Add(1)
		go m.sweeper(o.SweepInterval)
	}
	return m
}

// now is the clock in Unix nanoseconds.
func (m *Mem) now() int64 { return m.clock().UnixNano() }

// expiry is the expiry of what is written now for ttl (0: none). An
// expiry that falls on 0 moves a nanosecond, 0 meaning none.
func (m *Mem) expiry(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	if e := m.now() + int64(ttl); e != 0 {
		return e
	}
	return 1
}

func liveAt(exp, now int64) bool { return exp == 0 || now < exp }

// Get reads a key.
func (m *Mem) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.RLock()
	e, ok := m.kv[key]
	m.mu.RUnlock()
	if !ok || !liveAt(e.exp, m.now()) {
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
	tx := &tx{m: m}
	if err := fn(tx); err != nil {
		return err
	}
	for _, w := range tx.kv.w {
		if w.del {
			delete(m.kv, w.key)
			continue
		}
		prev, had := m.kv[w.key]
		m.kv[w.key] = w.e
		if w.e.exp != 0 && !(had && sameSecond(prev.exp, w.e.exp)) {
			m.wheel.addKey(w.key, w.e.exp)
		}
	}
	for _, w := range tx.sets.w {
		m.apply(w)
	}
	return nil
}

// apply makes one pending set change.
func (m *Mem) apply(w memberWrite) {
	name, mem, p := w.set, w.member, w.p
	st, ok := m.sets[name]
	if !p.in {
		if !ok {
			return
		}
		removed, empty := st.del(mem)
		if removed {
			m.nMembers--
		}
		if empty {
			delete(m.sets, name)
		} else {
			m.sets[name] = st
		}
		return
	}
	var prev int64
	had := false
	if ok {
		prev, had = st.get(mem)
		st.put(name, mem, p.exp)
	} else {
		st = set{one: mem, oneExp: p.exp}
	}
	if !had {
		m.nMembers++
	}
	m.sets[name] = st
	if p.exp != 0 && !(had && sameSecond(prev, p.exp)) {
		m.wheel.addMember(st.canonical(name), mem, p.exp)
	}
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

func (m *Mem) members(name string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.now()
	st, ok := m.sets[name]
	if !ok {
		return []string{}
	}
	out := make([]string, 0, st.len())
	st.each(func(k string, exp int64) {
		if liveAt(exp, now) {
			out = append(out, k)
		}
	})
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
// wheel entries it went through. It stops early when stop is closed.
func (m *Mem) sweep(stop <-chan struct{}) int {
	total := 0
	for {
		select {
		case <-stop:
			return total
		default:
		}
		n, more := m.sweepBatch()
		total += n
		if !more {
			return total
		}
	}
}

// sweepBatch goes through up to sweepChunk wheel entries under the write
// lock; more tells that due entries are left.
func (m *Mem) sweepBatch() (n int, more bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wheel.sweep(m.now(), sweepChunk, m.expireKey, m.expireMember)
}

// expireKey is the wheel's check of a key entry in the bucket of second
// sec: it deletes the key if it expired by now, and says whether the
// entry must stay (the key expires later within sec).
func (m *Mem) expireKey(key string, sec, now int64) (keep bool) {
	e, ok := m.kv[key]
	if !ok || e.exp == 0 || second(e.exp) != sec {
		return false // gone, made permanent, or moved to another bucket
	}
	if liveAt(e.exp, now) {
		return true
	}
	delete(m.kv, key)
	return false
}

// expireMember is expireKey for a set member.
func (m *Mem) expireMember(name, member string, sec, now int64) (keep bool) {
	st, ok := m.sets[name]
	if !ok {
		return false
	}
	exp, ok := st.get(member)
	if !ok || exp == 0 || second(exp) != sec {
		return false
	}
	if liveAt(exp, now) {
		return true
	}
	m.nMembers--
	if _, empty := st.del(member); empty {
		delete(m.sets, name)
	} else {
		m.sets[name] = st
	}
	return false
}

// CountKeys counts what the backend holds: keys, sets, set members and
// the entries of its expiry wheel, expired ones not swept yet included.
func (m *Mem) CountKeys(context.Context) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.kv) + len(m.sets) + m.nMembers + m.wheel.entries, nil
}

type pendingMember struct {
	in  bool  // false: removed
	exp int64 // 0: no expiry
}

type tx struct {
	m    *Mem
	kv   pendingKV   // pending writes
	sets pendingSets // pending set changes
}

func (t *tx) Get(key string) ([]byte, bool, error) {
	var e entry
	if w, pending := t.kv.find(key); pending {
		if w.del {
			return nil, false, nil
		}
		e = w.e
	} else {
		cur, ok := t.m.kv[key]
		if !ok {
			return nil, false, nil
		}
		e = cur
	}
	if !liveAt(e.exp, t.m.now()) {
		return nil, false, nil
	}
	return e.val, true, nil
}

func (t *tx) Set(key string, val []byte, ttl time.Duration) error {
	t.kv.put(kvWrite{key: key, e: entry{val: append([]byte(nil), val...), exp: t.m.expiry(ttl)}})
	return nil
}

func (t *tx) Del(key string) error {
	t.kv.put(kvWrite{key: key, del: true})
	return nil
}

func (t *tx) change(set string, p pendingMember, members []string) {
	for _, m := range members {
		t.sets.put(memberWrite{memberKey{set, m}, p})
	}
}

func (t *tx) SAdd(set string, members ...string) error {
	t.change(set, pendingMember{in: true}, members)
	return nil
}

func (t *tx) SAddTTL(set string, ttl time.Duration, members ...string) error {
	t.change(set, pendingMember{in: true, exp: t.m.expiry(ttl)}, members)
	return nil
}

func (t *tx) SRem(set string, members ...string) error {
	t.change(set, pendingMember{}, members)
	return nil
}

func (t *tx) SMembers(name string) ([]string, error) {
	now := t.m.now()
	cur := map[string]bool{}
	if st, ok := t.m.sets[name]; ok {
		st.each(func(k string, exp int64) { cur[k] = liveAt(exp, now) })
	}
	for _, w := range t.sets.w {
		if w.set == name {
			cur[w.member] = w.p.in && liveAt(w.p.exp, now)
		}
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

// set holds a set's members and their expiries (0: none). Most sets of a
// busy store have one member (a token family without a refresh token), so
// that one is kept inline: a map of one entry costs a few hundred bytes.
// A set is never empty: the last member's removal deletes it.
type set struct {
	one    string
	oneExp int64
	many   *manySet // nil: the set is {one}
}

// manySet is a set of more than one member. It keeps the set's name, so
// that the wheel's entries for its members share one copy of it instead
// of each holding the name its transaction spelled (a consumer with a
// million tokens would hold a million copies).
type manySet struct {
	name    string
	members map[string]int64
}

// canonical is the set's own copy of its name, when it keeps one.
func (s *set) canonical(name string) string {
	if s.many != nil {
		return s.many.name
	}
	return name
}

func (s *set) len() int {
	if s.many == nil {
		return 1
	}
	return len(s.many.members)
}

func (s *set) get(m string) (int64, bool) {
	if s.many == nil {
		return s.oneExp, m == s.one
	}
	exp, ok := s.many.members[m]
	return exp, ok
}

func (s *set) put(name, m string, exp int64) {
	switch {
	case s.many != nil:
		s.many.members[m] = exp
	case m == s.one:
		s.oneExp = exp
	default:
		s.many = &manySet{name: name, members: map[string]int64{s.one: s.oneExp, m: exp}}
		s.one, s.oneExp = "", 0
	}
}

// del removes m and reports whether it was there and whether the set is
// now empty.
func (s *set) del(m string) (removed, empty bool) {
	if s.many == nil {
		return m == s.one, m == s.one
	}
	_, removed = s.many.members[m]
	delete(s.many.members, m)
	return removed, len(s.many.members) == 0
}

func (s *set) each(fn func(m string, exp int64)) {
	if s.many == nil {
		fn(s.one, s.oneExp)
		return
	}
	for k, exp := range s.many.members {
		fn(k, exp)
	}
}
