package memstore

// A transaction's pending writes are kept in slices, looked up linearly
// while they are few (a token's issue writes a key and two members) and
// through a map once there are more than linearMax: per-transaction maps
// were most of the garbage each token left (several hundred bytes each),
// and so of the collector's work while issuing.
const linearMax = 16

type kvWrite struct {
	key string
	val []byte
	exp int64
	del bool
}

// keyed is a pending write that knows the key it replaces.
type keyed[K comparable] interface{ pendingKey() K }

// pending is a transaction's writes in order, one per key: a later write
// of a key replaces the earlier one in place.
type pending[K comparable, W keyed[K]] struct {
	w   []W
	idx map[K]int // key -> position in w, once w is long
}

func (p *pending[K, W]) find(key K) (*W, bool) {
	if p.idx != nil {
		i, ok := p.idx[key]
		if !ok {
			return nil, false
		}
		return &p.w[i], true
	}
	for i := range p.w {
		if p.w[i].pendingKey() == key {
			return &p.w[i], true
		}
	}
	return nil, false
}

func (p *pending[K, W]) put(w W) {
	key := w.pendingKey()
	if cur, ok := p.find(key); ok {
		*cur = w
		return
	}
	p.w = append(p.w, w)
	switch {
	case p.idx != nil:
		p.idx[key] = len(p.w) - 1
	case len(p.w) > linearMax:
		p.idx = make(map[K]int, 2*len(p.w))
		for i := range p.w {
			p.idx[p.w[i].pendingKey()] = i
		}
	}
}

func (w kvWrite) pendingKey() string { return w.key }

type memberKey struct{ set, member string }

type memberWrite struct {
	memberKey
	p pendingMember
}

func (w memberWrite) pendingKey() memberKey { return w.memberKey }

// pendingKV and pendingSets are a transaction's key writes and set-member
// changes.
type (
	pendingKV   = pending[string, kvWrite]
	pendingSets = pending[memberKey, memberWrite]
)
