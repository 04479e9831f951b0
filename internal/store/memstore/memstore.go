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
// set members): keys, sets and members are compact keys of 20 bytes (an
// id's 16 bytes and its prefix's number, keys.go) and values live in
// size-class slabs (arena.go), so that the big maps and the wheel hold no
// pointer and the garbage collector scans none of them; expiries are
// int64s, a set of one member (a token's family) is kept inline without a
// map of its own, and the wheel holds a compact key per expiring entry
// instead of a heap node and a map entry. See docs/operations.md, "What a
// live token costs", for the bytes per token.
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

// entry is where a key's value is (arena.go) and its expiry. Expiries
// are Unix nanoseconds (0: none), not time.Time: 8 bytes instead of 24,
// and no pointer for the garbage collector to follow, in every key and
// set member.
type entry struct {
	v   vref
	exp stamp
}

// stamp is an expiry in two halves: a ckey is 20 bytes, aligned on 4,
// and a map slot of a ckey and an int64 would pad the key to 24, 4 bytes
// in every slot of the big maps (a sixth of the consumer index's).
type stamp struct{ lo, hi uint32 }

func stampOf(exp int64) stamp { return stamp{uint32(exp), uint32(uint64(exp) >> 32)} }

func (s stamp) ns() int64 { return int64(uint64(s.hi)<<32 | uint64(s.lo)) }

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
	syms  symbols // what every ckey names (keys.go)
	vals  values  // the keys' values (arena.go)
	kv    map[ckey]entry
	sets  map[ckey]set
	manys []manySet // the sets of more than one member, by set.many-1
	free  []uint32  // unused slots of manys
	wheel wheel     // every key and member with an expiry
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
		syms: newSymbols(), kv: map[ckey]entry{}, sets: map[ckey]set{},
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
	defer m.mu.RUnlock()
	e, ok := m.get(key)
	if !ok || !liveAt(e.exp.ns(), m.now()) {
		return nil, false, nil
	}
	return m.vals.get(e.v), true, nil
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
			if k, ok := m.syms.lookup(w.key); ok {
				m.delKey(k)
			}
			continue
		}
		k := m.syms.acquire(w.key)
		prev, had := m.kv[k]
		if had {
			m.syms.release(k) // the entry counts its name already
			m.vals.free(prev.v)
		}
		m.kv[k] = entry{v: m.vals.put(w.val), exp: stampOf(w.exp)}
		if w.exp != 0 && !(had && sameSecond(prev.exp.ns(), w.exp)) {
			m.wheel.addKey(k, w.exp)
		}
	}
	for _, w := range tx.sets.w {
		m.apply(w)
	}
	return nil
}

// get reads a key's entry, expired or not.
func (m *Mem) get(key string) (entry, bool) {
	k, ok := m.syms.lookup(key)
	if !ok {
		return entry{}, false
	}
	e, ok := m.kv[k]
	return e, ok
}

// delKey deletes a key and lets go of its name.
func (m *Mem) delKey(k ckey) {
	if e, ok := m.kv[k]; ok {
		delete(m.kv, k)
		m.syms.release(k)
		m.vals.free(e.v)
	}
}

// apply makes one pending set change.
func (m *Mem) apply(w memberWrite) {
	p := w.p
	if !p.in {
		name, ok := m.syms.lookup(w.set)
		if !ok {
			return
		}
		mem, ok := m.syms.lookup(w.member)
		if !ok {
			return
		}
		m.remove(name, mem)
		return
	}
	name := m.syms.acquire(w.set)
	mem := m.syms.acquire(w.member)
	st, ok := m.sets[name]
	var prev int64
	had := false
	if ok {
		m.syms.release(name) // the set counts its name already
		prev, had = m.setGet(st, mem)
		if had {
			m.syms.release(mem)
		}
		st = m.setPut(st, mem, p.exp)
	} else {
		st = set{one: mem, oneExp: stampOf(p.exp)}
	}
	if !had {
		m.nMembers++
	}
	m.sets[name] = st
	if p.exp != 0 && !(had && sameSecond(prev, p.exp)) {
		m.wheel.addMember(name, mem, p.exp)
	}
}

// remove takes mem out of set name, and the set out when it empties.
func (m *Mem) remove(name, mem ckey) {
	st, ok := m.sets[name]
	if !ok {
		return
	}
	removed, empty := m.setDel(&st, mem)
	if !removed {
		return
	}
	m.nMembers--
	m.syms.release(mem)
	if empty {
		delete(m.sets, name)
		m.syms.release(name)
	} else {
		m.sets[name] = st
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
	k, ok := m.syms.lookup(name)
	if !ok {
		return []string{}
	}
	st, ok := m.sets[k]
	if !ok {
		return []string{}
	}
	out := make([]string, 0, m.setLen(st))
	m.setEach(st, func(k ckey, exp int64) {
		if liveAt(exp, now) {
			out = append(out, m.syms.str(k))
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
func (m *Mem) expireKey(key ckey, sec, now int64) (keep bool) {
	e, ok := m.kv[key]
	exp := e.exp.ns()
	if !ok || exp == 0 || second(exp) != sec {
		return false // gone, made permanent, or moved to another bucket
	}
	if liveAt(exp, now) {
		return true
	}
	m.delKey(key)
	return false
}

// expireMember is expireKey for a set member.
func (m *Mem) expireMember(name, member ckey, sec, now int64) (keep bool) {
	st, ok := m.sets[name]
	if !ok {
		return false
	}
	exp, ok := m.setGet(st, member)
	if !ok || exp == 0 || second(exp) != sec {
		return false
	}
	if liveAt(exp, now) {
		return true
	}
	m.remove(name, member)
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
	if w, pending := t.kv.find(key); pending {
		if w.del || !liveAt(w.exp, t.m.now()) {
			return nil, false, nil
		}
		return w.val, true, nil
	}
	e, ok := t.m.get(key)
	if !ok || !liveAt(e.exp.ns(), t.m.now()) {
		return nil, false, nil
	}
	return t.m.vals.get(e.v), true, nil
}

func (t *tx) Set(key string, val []byte, ttl time.Duration) error {
	t.kv.put(kvWrite{key: key, val: append([]byte(nil), val...), exp: t.m.expiry(ttl)})
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
	if k, ok := t.m.syms.lookup(name); ok {
		if st, ok := t.m.sets[k]; ok {
			t.m.setEach(st, func(k ckey, exp int64) { cur[t.m.syms.str(k)] = liveAt(exp, now) })
		}
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
// A set is never empty: the last member's removal deletes it. It holds
// no pointer (many is an index into Mem.manys), so neither does the map
// of sets.
type set struct {
	one    ckey
	oneExp stamp
	many   uint32 // 0: the set is {one}; else Mem.manys[many-1]
}

// manySet is a set of more than one member.
type manySet struct {
	members map[ckey]stamp
}

func (m *Mem) setLen(s set) int {
	if s.many == 0 {
		return 1
	}
	return len(m.manys[s.many-1].members)
}

func (m *Mem) setGet(s set, k ckey) (int64, bool) {
	if s.many == 0 {
		return s.oneExp.ns(), k == s.one
	}
	exp, ok := m.manys[s.many-1].members[k]
	return exp.ns(), ok
}

// setPut adds or updates k in s and returns the set.
func (m *Mem) setPut(s set, k ckey, exp int64) set {
	switch {
	case s.many != 0:
		m.manys[s.many-1].members[k] = stampOf(exp)
	case k == s.one:
		s.oneExp = stampOf(exp)
	default:
		ms := manySet{members: map[ckey]stamp{s.one: s.oneExp, k: stampOf(exp)}}
		if n := len(m.free); n > 0 {
			s.many = m.free[n-1]
			m.free = m.free[:n-1]
			m.manys[s.many-1] = ms
		} else {
			m.manys = append(m.manys, ms)
			s.many = uint32(len(m.manys))
		}
		s.one, s.oneExp = ckey{}, stamp{}
	}
	return s
}

// setDel removes k from s and reports whether it was there and whether
// the set is now empty (its slot of manys is then free).
func (m *Mem) setDel(s *set, k ckey) (removed, empty bool) {
	if s.many == 0 {
		return k == s.one, k == s.one
	}
	ms := m.manys[s.many-1].members
	_, removed = ms[k]
	delete(ms, k)
	if len(ms) == 0 {
		m.manys[s.many-1] = manySet{}
		m.free = append(m.free, s.many)
		return removed, true
	}
	return removed, false
}

func (m *Mem) setEach(s set, fn func(k ckey, exp int64)) {
	if s.many == 0 {
		fn(s.one, s.oneExp.ns())
		return
	}
	for k, exp := range m.manys[s.many-1].members {
		fn(k, exp.ns())
	}
}
