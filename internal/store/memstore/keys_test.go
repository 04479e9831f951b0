package memstore

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gatehouse/gatehouse/internal/store"
)

const hexID = "0123456789abcdef0123456789abcdef"

// TestKeyShapes: every string is a key, a set and a member, and reads back
// as written, whether it is an id behind a prefix (compact), an id with
// uppercase digits, a bare id, a prefix alone, the empty string, or an id
// behind a prefix past maxPrefixes (names).
func TestKeyShapes(t *testing.T) {
	ctx := context.Background()
	m := NewWith(Options{SweepInterval: -1})
	defer m.Close()
	keys := []string{
		"token:" + hexID, "token:" + strings.ToUpper(hexID), hexID, "token:", "",
		"token:" + hexID[1:], "token:g" + hexID[1:], "x:" + hexID + hexID,
	}
	for i := range maxPrefixes + 5 {
		keys = append(keys, fmt.Sprintf("p%d:%s", i, hexID))
	}
	if err := m.Update(ctx, func(tx store.Tx) error {
		for i, k := range keys {
			_ = tx.Set(k, []byte(fmt.Sprint(i)), 0)
			_ = tx.SAdd("s:"+hexID, k)
			_ = tx.SAddTTL(k, time.Hour, k, "token:"+hexID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(m.syms.prefixes); n != maxPrefixes {
		t.Errorf("%d prefixes kept, want the limit %d", n, maxPrefixes)
	}
	for i, k := range keys {
		v, ok, _ := m.Get(ctx, k)
		if !ok || string(v) != fmt.Sprint(i) {
			t.Errorf("Get(%q) = %q, %v; want %d", k, v, ok, i)
		}
		got, _ := m.Members(ctx, k)
		want := []string{k, "token:" + hexID}
		slices.Sort(want)
		want = slices.Compact(want)
		if !slices.Equal(got, want) {
			t.Errorf("Members(%q) = %q, want %q", k, got, want)
		}
	}
	all, _ := m.Members(ctx, "s:"+hexID)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("members of s: %d, want %d: %q", len(all), len(want), all[:min(len(all), 8)])
	}
	// Removing everything lets go of every name.
	if err := m.Update(ctx, func(tx store.Tx) error {
		for _, k := range keys {
			_ = tx.Del(k)
			_ = tx.SRem("s:"+hexID, k)
			_ = tx.SRem(k, k, "token:"+hexID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(m.syms.names) != 0 || len(m.kv) != 0 || len(m.sets) != 0 || m.nMembers != 0 {
		t.Errorf("after removing all: %d names, %d keys, %d sets, %d members", len(m.syms.names), len(m.kv), len(m.sets), m.nMembers)
	}
	if len(m.free) != len(m.manys) {
		t.Errorf("%d of %d many-member sets free after removing all", len(m.free), len(m.manys))
	}
}

// TestNameReuse: a released name's symbol goes to the next name, and the
// old name is not found through it.
func TestNameReuse(t *testing.T) {
	ctx := context.Background()
	m := NewWith(Options{SweepInterval: -1})
	defer m.Close()
	set := func(k string) { _ = m.Update(ctx, func(tx store.Tx) error { return tx.Set(k, []byte(k), 0) }) }
	set("user:1")
	_ = m.Update(ctx, func(tx store.Tx) error { return tx.Del("user:1") })
	set("user:2")
	if len(m.syms.tab) != 1 {
		t.Fatalf("%d symbols, want user:2 in user:1's", len(m.syms.tab))
	}
	if _, ok, _ := m.Get(ctx, "user:1"); ok {
		t.Error("user:1 found after its deletion")
	}
	if v, ok, _ := m.Get(ctx, "user:2"); !ok || string(v) != "user:2" {
		t.Errorf("user:2 = %q, %v", v, ok)
	}
}

// TestValues: values of every size class, empty and past maxSlot read
// back; a freed slot is reused; a value read is a copy, unchanged when its
// slot takes another value.
func TestValues(t *testing.T) {
	var v values
	var refs []vref
	var want [][]byte
	for _, n := range []int{0, 1, 15, 16, 17, 95, 96, 1000, maxSlot, maxSlot + 1, 5000} {
		for i := range slabBytes/max(n, 16) + 3 { // past one slab
			b := bytes.Repeat([]byte{byte(n + i)}, n)
			refs = append(refs, v.put(b))
			want = append(want, b)
			if n > 96 && i > 2 {
				break
			}
		}
	}
	for i, r := range refs {
		if got := v.get(r); !bytes.Equal(got, want[i]) {
			t.Fatalf("value %d (%d bytes) = %d bytes %x…", i, len(want[i]), len(got), got[:min(len(got), 4)])
		}
	}
	r := v.put([]byte("first value"))
	got := v.get(r)
	v.free(r)
	r2 := v.put([]byte("other value"))
	if r2 != r {
		t.Errorf("freed slot %v not reused: %v", r, r2)
	}
	if string(got) != "first value" {
		t.Errorf("a read value changed with its slot: %q", got)
	}
	if got := v.get(v.put(nil)); got != nil {
		t.Errorf("empty value = %q, want nil", got)
	}
}

// TestPointerFree: what the big maps, the wheel and the slabs hold has no
// pointer, so that the garbage collector never scans them (keys.go).
func TestPointerFree(t *testing.T) {
	var hasPointer func(reflect.Type) bool
	hasPointer = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Array:
			return hasPointer(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if hasPointer(ty.Field(i).Type) {
					return true
				}
			}
			return false
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.String, reflect.Interface,
			reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		}
		return false
	}
	for _, v := range []any{ckey{}, entry{}, set{}, stamp{}, memberRef{}} {
		if ty := reflect.TypeOf(v); hasPointer(ty) {
			t.Errorf("%v holds a pointer", ty)
		}
	}
	// The big maps' slots are not padded: a ckey and what it maps to are
	// all aligned on 4 (docs/operations.md gives these sizes).
	for name, size := range map[string]uintptr{
		"key map slot": unsafe.Sizeof(struct {
			k ckey
			e entry
		}{}),
		"set map slot": unsafe.Sizeof(struct {
			k ckey
			s set
		}{}),
		"member slot": unsafe.Sizeof(struct {
			k ckey
			v stamp
		}{}),
	} {
		want := map[string]uintptr{"key map slot": 36, "set map slot": 52, "member slot": 28}[name]
		if size != want {
			t.Errorf("%s: %d bytes, want %d", name, size, want)
		}
	}
}
