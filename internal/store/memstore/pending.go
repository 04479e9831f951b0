package memstore

// A transaction's pending writes are kept in slices, looked up linearly
// while they are few (a token's issue writes a key and two members) and
// through a map once there are more than linearMax: per-transaction maps
// were most of the garbage each token left (several hundred bytes each),
// and so of the collector's work while issuing.
const linearMax = 16

type kvWrite struct {
	key string
	e   entry
	del bool
}

type pendingKV struct {
	w   []kvWrite
	idx map[string]int // key -> position in w, once w is long
}

func (p *pendingKV) find(key string) (*kvWrite, bool) {
	if p.idx != nil {
		i, ok := p.idx[key]
		if !ok {
			return nil, false
		}
		return &p.w[i], true
	}
	for i := range p.w {
		if p.w[i].key == key {
			return &p.w[i], true
		}
	}
	return nil, false
}

func (p *pendingKV) put(w kvWrite) {
	if cur, ok := p.find(w.key); ok {
		*cur = w
		return
	}
	p.w = append(p.w, w)
	switch {
	case p.idx != nil:
		p.idx[w.key] = len(p.w) - 1
	case len(p.w) > linearMax:
		p.idx = make(map[string]int, 2*len(p.w))
		for i := range p.w {
			p.idx[p.w[i].key] = i
		}
	}
}

type memberKey struct{ set, member string }

type memberWrite struct {
	memberKey
	p pendingMember
}

type pendingSets struct {
	w   []memberWrite
	idx map[memberKey]int
}

func (p *pendingSets) put(w memberWrite) {
	if p.idx != nil {
		if i, ok := p.idx[w.memberKey]; ok {
			p.w[i] = w
			return
		}
	} else {
		for i := range p.w {
			if p.w[i].memberKey == w.memberKey {
				p.w[i] = w
				return
			}
		}
	}
	p.w = append(p.w, w)
	switch {
	case p.idx != nil:
		p.idx[w.memberKey] = len(p.w) - 1
	case len(p.w) > linearMax:
		p.idx = make(map[memberKey]int, 2*len(p.w))
		for i := range p.w {
			p.idx[p.w[i].memberKey] = i
		}
	}
}
