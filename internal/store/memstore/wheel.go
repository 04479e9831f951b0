package memstore

import "container/heap"

// wheel is the expiry index: the keys and set members that have an
// expiry, in buckets of one second of expiry each, with a min-heap of the
// buckets' seconds so that the sweeper finds the due ones first.
//
// An entry names what may expire, not its expiry: a write appends an entry
// only when what it writes expires in another second than before (a
// rewrite within the same second adds nothing), and Del, SRem and SAdd
// leave the old entry in place. The sweeper checks each entry of a due
// bucket against the key's or member's current expiry: it removes what
// expired, keeps what expires later in the same second (the bucket of the
// current second), and drops the entry otherwise (gone, or moved to
// another bucket, which has an entry of its own). So the wheel holds one
// entry per expiring key or member, plus one per change of expiry to
// another second, each until the second it named passes: a key rewritten
// with a sliding expiry of d has at most d/1s entries.
//
// An entry costs a ckey (20 bytes, no pointer: the collector does not
// scan the chunks) or two for a member (see stack for the slack), against
// a heap node, a pointer and a map entry (about 170 bytes) for the index
// it replaces; and appending to a bucket is O(1) where the heap was
// O(log n) with a cache miss per level. A ckey whose name was released
// and given to another string names that string: the sweeper's check
// then removes it only if it expired in the same second, which is right
// for it too.
type wheel struct {
	buckets map[int64]*bucket
	due     secondHeap // the buckets' seconds
	entries int        // keys and members in all buckets
}

type bucket struct {
	keys    stack[ckey]
	members stack[memberRef]
	// What a sweep in progress found expiring later in the bucket's
	// second (it goes back to keys and members when the sweep is done).
	heldKeys    stack[ckey]
	heldMembers stack[memberRef]
}

type memberRef struct{ set, member ckey }

func newWheel() wheel { return wheel{buckets: map[int64]*bucket{}} }

// second is the bucket of expiry exp (Unix nanoseconds).
func second(exp int64) int64 {
	s := exp / 1e9
	if exp < 0 && exp%1e9 != 0 {
		s-- // floor
	}
	return s
}

// sameSecond: both are expiries (not 0) in the same bucket.
func sameSecond(a, b int64) bool { return a != 0 && b != 0 && second(a) == second(b) }

func (w *wheel) bucket(exp int64) *bucket {
	sec := second(exp)
	b := w.buckets[sec]
	if b == nil {
		b = &bucket{}
		w.buckets[sec] = b
		heap.Push(&w.due, sec)
	}
	return b
}

func (w *wheel) addKey(key ckey, exp int64) {
	b := w.bucket(exp)
	b.keys.push(key)
	w.entries++
}

func (w *wheel) addMember(set, member ckey, exp int64) {
	b := w.bucket(exp)
	b.members.push(memberRef{set, member})
	w.entries++
}

// sweep goes through at most limit entries of the buckets due by now
// (Unix nanoseconds), soonest first, asking key and member whether each
// entry stays (see wheel). It reports how many it went through and
// whether due entries are left.
func (w *wheel) sweep(now int64, limit int, key func(k ckey, sec, now int64) bool,
	member func(set, m ckey, sec, now int64) bool) (n int, more bool) {
	nowSec := second(now)
	for len(w.due) > 0 && w.due[0] <= nowSec {
		sec := w.due[0]
		b := w.buckets[sec]
		for {
			if n == limit {
				return n, true
			}
			k, ok := b.keys.pop()
			if !ok {
				break
			}
			n++
			if key(k, sec, now) {
				b.heldKeys.push(k)
			} else {
				w.entries--
			}
		}
		for {
			if n == limit {
				return n, true
			}
			r, ok := b.members.pop()
			if !ok {
				break
			}
			n++
			if member(r.set, r.member, sec, now) {
				b.heldMembers.push(r)
			} else {
				w.entries--
			}
		}
		if !b.heldKeys.empty() || !b.heldMembers.empty() {
			// Only the bucket of the current second holds entries that
			// expire later, and no later bucket is due yet: the next
			// sweep checks them again.
			b.keys, b.heldKeys = b.heldKeys, stack[ckey]{}
			b.members, b.heldMembers = b.heldMembers, stack[memberRef]{}
			return n, false
		}
		delete(w.buckets, sec)
		heap.Pop(&w.due)
	}
	return n, false
}

// stack is a bucket's list of entries, in chunks that double from
// firstChunk up to maxChunk entries and are never copied: a slice grown
// by append would copy itself at every doubling (garbage the size of the
// bucket) and keep up to half of its capacity unused, where a stack
// leaves only its last chunk partly empty.
type stack[T any] struct {
	chunks [][]T
}

const (
	firstChunk = 8
	maxChunk   = 512
)

func (s *stack[T]) push(v T) {
	n := len(s.chunks)
	if n == 0 || len(s.chunks[n-1]) == cap(s.chunks[n-1]) {
		size := firstChunk
		if n > 0 {
			size = min(2*cap(s.chunks[n-1]), maxChunk)
		}
		s.chunks = append(s.chunks, make([]T, 0, size))
		n++
	}
	s.chunks[n-1] = append(s.chunks[n-1], v)
}

func (s *stack[T]) pop() (T, bool) {
	var zero T
	for n := len(s.chunks); n > 0; n = len(s.chunks) {
		c := s.chunks[n-1]
		if len(c) == 0 {
			s.chunks[n-1] = nil
			s.chunks = s.chunks[:n-1]
			continue
		}
		v := c[len(c)-1]
		c[len(c)-1] = zero
		s.chunks[n-1] = c[:len(c)-1]
		return v, true
	}
	return zero, false
}

func (s *stack[T]) empty() bool {
	for _, c := range s.chunks {
		if len(c) > 0 {
			return false
		}
	}
	return true
}

// secondHeap is a min-heap of bucket seconds (container/heap).
type secondHeap []int64

func (h secondHeap) Len() int           { return len(h) }
func (h secondHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h secondHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *secondHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *secondHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
