package lrucache

import (
	"encoding/json"
	"runtime"
	"strconv"
	"testing"
)

func strSize(k, v string) int { return len(k) + len(v) }

// TestByteBound: a cache past its byte budget evicts the least recently
// used entries, however many entries it may hold.
func TestByteBound(t *testing.T) {
	const per = EntryOverhead + 2 + 100 // key "kN" (N < 10) and a 100-byte value
	c := New[string, string](1000, 3*per, strSize)
	val := string(make([]byte, 100))
	for i := range 5 {
		c.Add("k"+strconv.Itoa(i), val)
	}
	n, b, ev := c.Stats()
	if n != 3 || b != 3*per || ev != 2 {
		t.Fatalf("entries %d bytes %d evictions %d, want 3, %d, 2", n, b, ev, 3*per)
	}
	if _, ok := c.Get("k0"); ok {
		t.Fatal("k0, the least recently used, was not evicted")
	}
	c.Get("k2") // k3 becomes the oldest
	c.Add("k5", val)
	if _, ok := c.Get("k3"); ok {
		t.Fatal("k3 should have gone before k2, used more recently")
	}
	if _, ok := c.Get("k2"); !ok {
		t.Fatal("k2 was evicted though used recently")
	}
}

func TestEntryBound(t *testing.T) {
	c := New[int, int](2, 0, nil)
	c.Add(1, 1)
	c.Add(2, 2)
	c.Add(3, 3)
	if n, _, ev := c.Stats(); n != 2 || ev != 1 {
		t.Fatalf("entries %d evictions %d", n, ev)
	}
	if _, ok := c.Get(1); ok {
		t.Fatal("1 not evicted")
	}
}

func TestTooLargeAndReplace(t *testing.T) {
	c := New[string, string](0, EntryOverhead+10, strSize)
	c.Add("a", "1")
	c.Add("b", string(make([]byte, 100)))
	if _, ok := c.Get("b"); ok {
		t.Fatal("an entry over the whole budget was stored")
	}
	if v, ok := c.Get("a"); !ok || v != "1" {
		t.Fatal("a lost to an entry that did not fit")
	}
	c.Add("a", "22")
	if n, b, _ := c.Stats(); n != 1 || b != EntryOverhead+3 {
		t.Fatalf("replace: entries %d bytes %d", n, b)
	}
	c.Remove("a")
	c.Add("x", "y")
	c.Purge()
	if n, b, _ := c.Stats(); n != 0 || b != 0 {
		t.Fatalf("purge: entries %d bytes %d", n, b)
	}
}

func TestGetAllocs(t *testing.T) {
	c := New[[32]byte, *int](10, 0, nil)
	var k [32]byte
	c.Add(k, new(int))
	if a := testing.AllocsPerRun(100, func() { c.Get(k) }); a != 0 {
		t.Fatalf("Get allocates %v times", a)
	}
}

// TestJSONSize: decoded JSON is sized by what it holds, nested values
// included, so a bigger payload never costs less.
func TestJSONSize(t *testing.T) {
	small := map[string]any{"sub": "u"}
	for _, tc := range []struct {
		name string
		v    any
		want int
	}{
		{"nil", nil, 0},
		{"string", "abcd", 4},
		{"number", json.Number("12345"), 5},
		{"bool", true, 8},
		{"flat map", small, mapHeader + mapSlot + 4},
		{"nested", map[string]any{"a": small, "l": []any{"x", "y"}}, 2*mapHeader + 3*mapSlot + sliceHeader + 2*ifaceHeader + 8},
		{"strings", []string{"read", "write"}, sliceHeader + 2*stringHeader + 9},
	} {
		if got := JSONSize(tc.v); got != tc.want {
			t.Errorf("%s: JSONSize = %d, want %d", tc.name, got, tc.want)
		}
	}
	big := map[string]any{"sub": "u", "roles": []any{string(make([]byte, 1000))}}
	if JSONSize(big) < JSONSize(small)+1000 {
		t.Errorf("a 1000-byte nested claim adds %d bytes", JSONSize(big)-JSONSize(small))
	}
}

// TestWeakStats: the stats function reads the live cache, and does not
// keep it alive.
func TestWeakStats(t *testing.T) {
	c := New[int, int](10, 0, nil)
	c.Add(1, 1)
	stats := c.WeakStats()
	if n, b, _ := stats(); n != 1 || b != EntryOverhead {
		t.Fatalf("live cache: entries %d bytes %d", n, b)
	}
	collected := make(chan struct{})
	runtime.AddCleanup(c, func(ch chan struct{}) { close(ch) }, collected)
	c = nil
	for range 20 {
		runtime.GC()
		select {
		case <-collected:
			if n, b, e := stats(); n != 0 || b != 0 || e != 0 {
				t.Fatalf("collected cache reports %d %d %d", n, b, e)
			}
			return
		default:
		}
	}
	t.Fatal("the cache was kept alive by its WeakStats function")
}
