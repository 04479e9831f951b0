package lrucache

import "encoding/json"

// Estimated costs on a 64-bit platform, for JSONSize.
const (
	stringHeader = 16 // pointer and length
	ifaceHeader  = 16 // type word and data word
	sliceHeader  = 24 // pointer, length and capacity
	// mapHeader is a small map's fixed part (its header and first group).
	mapHeader = 48
	// mapSlot is what one more entry adds besides its key's and value's
	// own bytes: the key's string header, the value's interface header and
	// the control byte, at the map's usual load (7/8 full groups, and a
	// table that doubles when full).
	mapSlot = (stringHeader + ifaceHeader + 1) * 3 / 2
)

// JSONSize estimates the bytes held by a value as encoding/json decodes it
// into an any: map[string]any, []any, string, json.Number, float64, bool
// or nil, nested. Caches that keep decoded claims or introspection answers
// size their entries with it (issue #14). It counts the value's own
// memory, not its interface header (the caller's container counts that);
// strings shared between the value and other fields are counted once,
// here.
func JSONSize(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case json.Number:
		return len(v)
	case map[string]any:
		n := mapHeader
		for k, e := range v {
			n += mapSlot + len(k) + JSONSize(e)
		}
		return n
	case []any:
		n := sliceHeader + ifaceHeader*cap(v)
		for _, e := range v {
			n += JSONSize(e)
		}
		return n
	case []string: // decoded scopes
		n := sliceHeader + stringHeader*cap(v)
		for _, s := range v {
			n += len(s)
		}
		return n
	}
	// float64 and bool live in the interface's data word's target: 8 bytes
	// at most (nil: none).
	if v == nil {
		return 0
	}
	return 8
}
