package memstore

// The store names tokens and their families by 32 hex digits (16 random
// or time-ordered bytes) behind a short prefix ("token:", "token-family:")
// and indexes them by the bare id. Kept as strings, each id costs a
// 48-byte allocation per copy and a string header per map slot and wheel
// entry, and every map holding strings is scanned by the garbage
// collector at each cycle, which at a million tokens is most of what a
// cycle does. So the backend names every key, set and member by a ckey:
// 20 bytes and no pointer, so that its maps' buckets and the wheel's
// chunks are memory the collector never scans.
//
// A string that ends in 32 lowercase hex digits is its prefix's symbol
// and the 16 bytes the digits spell, and reads back exactly (uppercase
// digits would not: such a string is a name, below). Prefixes are few
// and kept for the backend's life, at most maxPrefixes of them; any
// other string (a consumer id, "user:1", a key whose prefix comes past
// the limit) is a name: a symbol of its own, counted by the map entries
// that name it and reused once none does. The backend is generic: any
// string is a key, and only the size differs.

// ckey is a compact key: a symbol, and the id when the symbol is a prefix.
type ckey struct {
	sym uint32
	id  [16]byte
}

// maxPrefixes bounds the prefixes kept for the backend's life, so that
// keys with ids behind unbounded prefixes ("a:<id>:<id>") cannot grow the
// table: past it they are names, freed with their entries.
const maxPrefixes = 1024

type symbol struct {
	s      string
	prefix bool
	refs   int32 // a name's map entries (keys, sets, set members)
}

// symbols is a Mem's table of symbols. lookup runs under the read lock,
// acquire and release under the write lock.
type symbols struct {
	tab      []symbol
	prefixes map[string]uint32
	names    map[string]uint32
	free     []uint32 // released names' slots
}

func newSymbols() symbols {
	return symbols{prefixes: map[string]uint32{}, names: map[string]uint32{}}
}

// splitID splits s into a prefix and the 16 bytes its last 32 lowercase
// hex digits spell.
func splitID(s string) (prefix string, id [16]byte, ok bool) {
	if len(s) < 32 {
		return "", id, false
	}
	h := s[len(s)-32:]
	for i := range 16 {
		hi, ok1 := unhex(h[2*i])
		lo, ok2 := unhex(h[2*i+1])
		if !ok1 || !ok2 {
			return "", id, false
		}
		id[i] = hi<<4 | lo
	}
	return s[:len(s)-32], id, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// lookup is s's key if the table spells it; a string it does not spell
// names nothing the backend holds.
func (t *symbols) lookup(s string) (ckey, bool) {
	if p, id, ok := splitID(s); ok {
		if sym, ok := t.prefixes[p]; ok {
			return ckey{sym: sym, id: id}, true
		}
		if len(t.prefixes) < maxPrefixes {
			return ckey{}, false // acquire would add the prefix
		}
	}
	sym, ok := t.names[s]
	return ckey{sym: sym}, ok
}

// acquire is s's key, counted once more if it is a name: a new map entry
// that names s calls it, and release when the entry goes.
func (t *symbols) acquire(s string) ckey {
	if p, id, ok := splitID(s); ok {
		sym, ok := t.prefixes[p]
		if !ok && len(t.prefixes) < maxPrefixes {
			sym = t.add(symbol{s: p, prefix: true})
			t.prefixes[p] = sym
			ok = true
		}
		if ok {
			return ckey{sym: sym, id: id}
		}
	}
	sym, ok := t.names[s]
	if !ok {
		sym = t.add(symbol{s: s})
		t.names[s] = sym
	}
	t.tab[sym].refs++
	return ckey{sym: sym}
}

func (t *symbols) add(s symbol) uint32 {
	if n := len(t.free); n > 0 && !s.prefix {
		sym := t.free[n-1]
		t.free = t.free[:n-1]
		t.tab[sym] = s
		return sym
	}
	t.tab = append(t.tab, s)
	return uint32(len(t.tab) - 1)
}

// release undoes an acquire of k.
func (t *symbols) release(k ckey) {
	s := &t.tab[k.sym]
	if s.prefix {
		return
	}
	if s.refs--; s.refs == 0 {
		delete(t.names, s.s)
		*s = symbol{}
		t.free = append(t.free, k.sym)
	}
}

// str is the string k names.
func (t *symbols) str(k ckey) string {
	s := t.tab[k.sym]
	if !s.prefix {
		return s.s
	}
	const digits = "0123456789abcdef"
	b := make([]byte, len(s.s)+32)
	n := copy(b, s.s)
	for i, c := range k.id {
		b[n+2*i], b[n+2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b)
}
