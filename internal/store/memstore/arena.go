package memstore

// values keeps the keys' values outside the Go heap's small objects, so
// that an entry holds no pointer (see keys.go for why): a value of up to
// maxSlot bytes is a slot of its size class (multiples of 16 bytes) in
// slabs of slabBytes that the collector does not scan (they hold no
// pointers), found by its class and slot number; a freed slot is reused
// by the next value of its class. Tokens' records are all about the same
// size, so issuing and expiring them reuses the same slots: what a class
// holds is its peak of live values, as the Go heap's size classes would.
// Larger values (rare: credentials, records) are plain allocations.
type values struct {
	classes [maxSlot / 16]class
	big     [][]byte // by slot number, for values past maxSlot
	bigFree []uint32
}

const (
	maxSlot   = 1024
	slabBytes = 64 << 10
)

type class struct {
	slabs [][]byte
	next  uint32   // slots handed out so far
	free  []uint32 // freed slots
}

// vref is where a value is: its length tells its class.
type vref struct {
	slot uint32
	n    uint32
}

func (v *values) put(b []byte) vref {
	n := len(b)
	if n > maxSlot {
		r := vref{n: uint32(n)}
		c := append([]byte(nil), b...)
		if k := len(v.bigFree); k > 0 {
			r.slot = v.bigFree[k-1]
			v.bigFree = v.bigFree[:k-1]
			v.big[r.slot] = c
		} else {
			r.slot = uint32(len(v.big))
			v.big = append(v.big, c)
		}
		return r
	}
	r := vref{n: uint32(n)}
	if n == 0 {
		return r
	}
	c, size := v.class(n)
	if k := len(c.free); k > 0 {
		r.slot = c.free[k-1]
		c.free = c.free[:k-1]
	} else {
		r.slot = c.next
		c.next++
		if per := uint32(slabBytes / size); r.slot/per == uint32(len(c.slabs)) {
			c.slabs = append(c.slabs, make([]byte, per*uint32(size)))
		}
	}
	copy(v.at(c, size, r), b)
	return r
}

func (v *values) class(n int) (*class, int) {
	i := (n - 1) / 16
	return &v.classes[i], (i + 1) * 16
}

func (v *values) at(c *class, size int, r vref) []byte {
	per := uint32(slabBytes / size)
	off := int(r.slot%per) * size
	return c.slabs[r.slot/per][off : off+int(r.n) : off+int(r.n)]
}

// get is a copy of the value: its slot may hold another value once the
// caller's lock is gone.
func (v *values) get(r vref) []byte {
	if r.n > maxSlot {
		return append([]byte(nil), v.big[r.slot]...)
	}
	if r.n == 0 {
		return nil // as Set stored an empty value before the arena
	}
	c, size := v.class(int(r.n))
	return append([]byte(nil), v.at(c, size, r)...)
}

func (v *values) free(r vref) {
	switch {
	case r.n > maxSlot:
		v.big[r.slot] = nil
		v.bigFree = append(v.bigFree, r.slot)
	case r.n > 0:
		c, _ := v.class(int(r.n))
		c.free = append(c.free, r.slot)
	}
}
