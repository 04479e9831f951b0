package boltstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// open opens a backend in a fresh directory, with the sweeper off unless
// opts says otherwise, closed at the end of the test.
func open(t testing.TB, opts Options) *Bolt {
	t.Helper()
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	b, err := Open(filepath.Join(t.TempDir(), "data", "gatehouse.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func set(t testing.TB, b store.Backend, key, val string, ttl time.Duration) {
	t.Helper()
	if err := b.Update(context.Background(), func(tx store.Tx) error { return tx.Set(key, []byte(val), ttl) }); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, b store.Backend, key string) (string, bool) {
	t.Helper()
	v, ok, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok && v != nil {
		t.Fatalf("Get(%q): not found but value %q", key, v)
	}
	return string(v), ok
}

// txGet reads key inside a transaction.
func txGet(t testing.TB, b store.Backend, key string) (string, bool) {
	t.Helper()
	var v []byte
	var ok bool
	err := b.Update(context.Background(), func(tx store.Tx) error {
		var err error
		v, ok, err = tx.Get(key)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(v), ok
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	type step struct {
		op    string // set, del, advance
		key   string
		val   string
		ttl   time.Duration
		after time.Duration
	}
	type want struct {
		key string
		val string
		ok  bool
	}
	tests := []struct {
		name  string
		steps []step
		want  []want
	}{
		{"missing", nil, []want{{"a", "", false}}},
		{"set", []step{{op: "set", key: "a", val: "1"}}, []want{{"a", "1", true}, {"b", "", false}}},
		{"empty value", []step{{op: "set", key: "a", val: ""}}, []want{{"a", "", true}}},
		{"overwrite", []step{{op: "set", key: "a", val: "1"}, {op: "set", key: "a", val: "2"}}, []want{{"a", "2", true}}},
		{"delete", []step{{op: "set", key: "a", val: "1"}, {op: "del", key: "a"}}, []want{{"a", "", false}}},
		{"delete missing", []step{{op: "del", key: "a"}}, []want{{"a", "", false}}},
		{"ttl not yet", []step{{op: "set", key: "a", val: "1", ttl: time.Minute}, {op: "advance", after: 59 * time.Second}}, []want{{"a", "1", true}}},
		{"ttl reached", []step{{op: "set", key: "a", val: "1", ttl: time.Minute}, {op: "advance", after: time.Minute}}, []want{{"a", "", false}}},
		{"huge ttl saturates", []step{{op: "set", key: "a", val: "1", ttl: time.Duration(math.MaxInt64)}, {op: "advance", after: 100 * 365 * 24 * time.Hour}}, []want{{"a", "1", true}}},
		{"negative ttl never expires", []step{{op: "set", key: "a", val: "1", ttl: -time.Second}, {op: "advance", after: 1000 * time.Hour}}, []want{{"a", "1", true}}},
		{"overwrite drops ttl", []step{
			{op: "set", key: "a", val: "1", ttl: time.Minute},
			{op: "set", key: "a", val: "2"},
			{op: "advance", after: time.Hour},
		}, []want{{"a", "2", true}}},
		{"overwrite extends ttl", []step{
			{op: "set", key: "a", val: "1", ttl: time.Minute},
			{op: "advance", after: 30 * time.Second},
			{op: "set", key: "a", val: "2", ttl: time.Minute},
			{op: "advance", after: 45 * time.Second},
		}, []want{{"a", "2", true}}},
		{"set after expiry", []step{
			{op: "set", key: "a", val: "1", ttl: time.Second},
			{op: "advance", after: time.Minute},
			{op: "set", key: "a", val: "2"},
		}, []want{{"a", "2", true}}},
		{"keys apart", []step{
			{op: "set", key: "a", val: "1", ttl: time.Second},
			{op: "set", key: "ab", val: "2"},
			{op: "set", key: "a\x00b", val: "3"},
			{op: "advance", after: time.Minute},
		}, []want{{"a", "", false}, {"ab", "2", true}, {"a\x00b", "3", true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			b := open(t, Options{Now: clk.Now})
			for _, s := range tc.steps {
				switch s.op {
				case "set":
					set(t, b, s.key, s.val, s.ttl)
				case "del":
					if err := b.Update(ctx, func(tx store.Tx) error { return tx.Del(s.key) }); err != nil {
						t.Fatal(err)
					}
				case "advance":
					clk.Add(s.after)
				}
			}
			for _, w := range tc.want {
				if v, ok := get(t, b, w.key); v != w.val || ok != w.ok {
					t.Errorf("Get(%q) = %q, %v; want %q, %v", w.key, v, ok, w.val, w.ok)
				}
				if v, ok := txGet(t, b, w.key); v != w.val || ok != w.ok {
					t.Errorf("Tx.Get(%q) = %q, %v; want %q, %v", w.key, v, ok, w.val, w.ok)
				}
			}
			// Reading an expired key in a transaction removes it; sweeping
			// removes the rest: nothing expired stays in the file.
			if _, err := b.sweep(nil); err != nil {
				t.Fatal(err)
			}
			checkIndex(t, b)
		})
	}
}

// checkIndex verifies the exp index matches the records exactly and that
// no expired record is left after a sweep.
func checkIndex(t *testing.T, b *Bolt) {
	t.Helper()
	now := uint64(b.now().UnixNano())
	err := b.db.View(func(tx *bolt.Tx) error {
		want := map[string]bool{}
		_ = tx.Bucket(bucketKV).ForEach(func(k, v []byte) error {
			e := beUint64(v)
			if e != 0 {
				if e <= now {
					t.Errorf("expired key %q still stored", k)
				}
				want[string(expKey(e, k))] = true
			}
			return nil
		})
		got := map[string]bool{}
		_ = tx.Bucket(bucketExp).ForEach(func(k, _ []byte) error {
			got[string(k)] = true
			return nil
		})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("exp index = %v; want %v", got, want)
		}
		// The same for set members with an expiry and their index.
		wantMembers := map[string]bool{}
		_ = tx.Bucket(bucketSets).ForEach(func(k, v []byte) error {
			if len(v) >= 8 {
				e := beUint64(v)
				if e <= now {
					t.Errorf("expired set member %q still stored", k)
				}
				wantMembers[string(expKey(e, k))] = true
			}
			return nil
		})
		gotMembers := map[string]bool{}
		_ = tx.Bucket(bucketSExp).ForEach(func(k, _ []byte) error {
			gotMembers[string(k)] = true
			return nil
		})
		if !reflect.DeepEqual(gotMembers, wantMembers) {
			t.Errorf("setexp index = %v; want %v", gotMembers, wantMembers)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func beUint64(v []byte) uint64 {
	var e uint64
	for _, c := range v[:8] {
		e = e<<8 | uint64(c)
	}
	return e
}

func TestSweep(t *testing.T) {
	clk := newClock()
	b := open(t, Options{Now: clk.Now})
	ctx := context.Background()
	const short, long = 2*sweepChunk + 17, 10
	err := b.Update(ctx, func(tx store.Tx) error {
		for i := range short {
			if err := tx.Set(fmt.Sprintf("short:%d", i), []byte("x"), time.Duration(i%7+1)*time.Second); err != nil {
				return err
			}
		}
		for i := range long {
			if err := tx.Set(fmt.Sprintf("long:%d", i), []byte("y"), time.Hour); err != nil {
				return err
			}
		}
		return tx.Set("forever", []byte("z"), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.sweep(nil); err != nil || n != 0 {
		t.Fatalf("sweep before expiry = %d, %v; want 0", n, err)
	}
	clk.Add(time.Minute)
	if n, err := b.sweep(nil); err != nil || n != short {
		t.Fatalf("sweep = %d, %v; want %d", n, err, short)
	}
	checkIndex(t, b)
	if _, ok := get(t, b, "long:3"); !ok {
		t.Error("long:3 swept too early")
	}
	if _, ok := get(t, b, "forever"); !ok {
		t.Error("forever swept")
	}
	clk.Add(time.Hour)
	if n, err := b.sweep(nil); err != nil || n != long {
		t.Fatalf("second sweep = %d, %v; want %d", n, err, long)
	}
	checkIndex(t, b)
}

// TestSweepMembers: set members added with a TTL are invisible once it
// passed and swept in batches, and their index follows every change.
func TestSweepMembers(t *testing.T) {
	clk := newClock()
	b := open(t, Options{Now: clk.Now})
	ctx := context.Background()
	const short = 2*sweepChunk + 17
	err := b.Update(ctx, func(tx store.Tx) error {
		for i := range short {
			if err := tx.SAddTTL(fmt.Sprintf("idx:%d", i%3), time.Duration(i%7+1)*time.Second, fmt.Sprint("dead", i)); err != nil {
				return err
			}
			// A key expiring too, so that a sweep's batches mix both.
			if err := tx.Set(fmt.Sprint("key", i), []byte("x"), time.Second); err != nil {
				return err
			}
		}
		if err := tx.SAddTTL("idx:0", time.Hour, "live"); err != nil {
			return err
		}
		return tx.SAdd("idx:0", "plain")
	})
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, b)
	if n, _ := b.CountKeys(ctx); n != 4*short+3 { // keys, their index, members, their index; live and its index, plain
		t.Fatalf("CountKeys = %d, want %d", n, 4*short+3)
	}
	clk.Add(time.Minute)
	if m, _ := b.Members(ctx, "idx:0"); !reflect.DeepEqual(m, []string{"live", "plain"}) {
		t.Fatalf("Members before the sweep = %q; expired members must be invisible at once", m)
	}
	if n, err := b.sweep(nil); err != nil || n != 2*short {
		t.Fatalf("sweep = %d, %v; want %d", n, err, 2*short)
	}
	checkIndex(t, b)
	if n, _ := b.CountKeys(ctx); n != 3 { // live and its index entry, plain
		t.Fatalf("CountKeys after the sweep = %d, want 3", n)
	}
	// Re-adding moves a member's expiry; SAdd makes it permanent; SRem
	// takes it out of the index.
	err = b.Update(ctx, func(tx store.Tx) error {
		if err := tx.SAddTTL("idx:0", time.Second, "live"); err != nil {
			return err
		}
		if err := tx.SAddTTL("idx:0", time.Second, "plain"); err != nil {
			return err
		}
		if err := tx.SAdd("idx:0", "plain"); err != nil {
			return err
		}
		if err := tx.SAddTTL("idx:1", time.Second, "gone"); err != nil {
			return err
		}
		return tx.SRem("idx:1", "gone")
	})
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, b)
	clk.Add(2 * time.Second)
	if n, err := b.sweep(nil); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1 (live)", n, err)
	}
	if m, _ := b.Members(ctx, "idx:0"); !reflect.DeepEqual(m, []string{"plain"}) {
		t.Fatalf("Members = %q; want plain", m)
	}
	checkIndex(t, b)
}

func TestSweeperRuns(t *testing.T) {
	clk := newClock()
	b := open(t, Options{Now: clk.Now, SweepInterval: 5 * time.Millisecond})
	set(t, b, "a", "1", time.Second)
	if err := b.Update(context.Background(), func(tx store.Tx) error { return tx.SAddTTL("s", time.Second, "m") }); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, err := b.CountKeys(context.Background()); err != nil {
			t.Fatal(err)
		} else if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not remove the expired key and set member")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.Close(); err != nil { // stops the sweeper
		t.Fatal(err)
	}
}

func TestSets(t *testing.T) {
	ctx := context.Background()
	type op struct {
		add     bool
		set     string
		members []string
	}
	tests := []struct {
		name string
		ops  []op
		want map[string][]string
	}{
		{"empty", nil, map[string][]string{"s": {}}},
		{"add sorted", []op{{true, "s", []string{"c", "a", "b"}}}, map[string][]string{"s": {"a", "b", "c"}}},
		{"add twice", []op{{true, "s", []string{"a"}}, {true, "s", []string{"a", "b"}}}, map[string][]string{"s": {"a", "b"}}},
		{"remove", []op{{true, "s", []string{"a", "b", "c"}}, {false, "s", []string{"b", "x"}}}, map[string][]string{"s": {"a", "c"}}},
		{"remove all", []op{{true, "s", []string{"a"}}, {false, "s", []string{"a"}}}, map[string][]string{"s": {}}},
		{"no members", []op{{true, "s", nil}, {false, "s", nil}}, map[string][]string{"s": {}}},
		{"empty member", []op{{true, "s", []string{"", "a"}}}, map[string][]string{"s": {"", "a"}}},
		{"byte order", []op{{true, "s", []string{"b", "B", "a:1", "a", "é", "a\x00"}}}, map[string][]string{"s": {"B", "a", "a\x00", "a:1", "b", "é"}}},
		{"names apart", []op{
			{true, "a", []string{"1"}},
			{true, "ab", []string{"2"}},
			{true, "a\x00", []string{"3"}},
			{true, "a\x00b", []string{"4"}},
			{true, "", []string{"5"}},
			{true, strings.Repeat("n", 300), []string{"6"}},
		}, map[string][]string{"a": {"1"}, "ab": {"2"}, "a\x00": {"3"}, "a\x00b": {"4"}, "": {"5"}, strings.Repeat("n", 300): {"6"}, "b": {}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t, Options{})
			for _, o := range tc.ops {
				err := b.Update(ctx, func(tx store.Tx) error {
					if o.add {
						return tx.SAdd(o.set, o.members...)
					}
					return tx.SRem(o.set, o.members...)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			for s, want := range tc.want {
				got, err := b.Members(ctx, s)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("Members(%q) = %q, %v; want %q", s, got, err, want)
				}
				_ = b.Update(ctx, func(tx store.Tx) error {
					got, err := tx.SMembers(s)
					if err != nil || !reflect.DeepEqual(got, want) {
						t.Errorf("SMembers(%q) = %q, %v; want %q", s, got, err, want)
					}
					return nil
				})
			}
		})
	}
}

// TestScan pages sets of several sizes and compares every page with
// memstore, the reference.
func TestScan(t *testing.T) {
	ctx := context.Background()
	b := open(t, Options{})
	m := memstore.New(nil)
	sizes := []int{0, 1, 2, 5, 10, 23}
	for _, n := range sizes {
		name := fmt.Sprintf("set%d", n)
		var members []string
		for i := range n {
			members = append(members, fmt.Sprintf("m%03d", (i*7)%n)) // unsorted order
		}
		for _, be := range []store.Backend{b, m} {
			if err := be.Update(ctx, func(tx store.Tx) error { return tx.SAdd(name, members...) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range sizes {
		for _, count := range []int{-1, 0, 1, 2, 3, 5, 10, 22, 23, 24, 100} {
			for _, cursor := range []uint64{0, 1, 4, 5, 22, 23, 24, 1000} {
				set := fmt.Sprintf("set%d", n)
				got, gotNext, err := b.Scan(ctx, set, cursor, count)
				if err != nil {
					t.Fatal(err)
				}
				want, wantNext, _ := m.Scan(ctx, set, cursor, count)
				if !reflect.DeepEqual(got, want) || gotNext != wantNext {
					t.Errorf("Scan(%s, %d, %d) = %q, %d; want %q, %d", set, cursor, count, got, gotNext, want, wantNext)
				}
			}
		}
		// A full walk sees every member once, in order.
		set := fmt.Sprintf("set%d", n)
		var all []string
		cursor := uint64(0)
		for pages := 0; ; pages++ {
			page, next, err := b.Scan(ctx, set, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == 0 {
				break
			}
			if pages > n {
				t.Fatalf("Scan(%s) does not end", set)
			}
			cursor = next
		}
		want, _ := m.Members(ctx, set)
		if len(all) != len(want) || (len(all) > 0 && !reflect.DeepEqual(all, want)) {
			t.Errorf("walk of %s = %q; want %q", set, all, want)
		}
	}
}

type codedError struct{ code int }

func (e *codedError) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestRollback(t *testing.T) {
	ctx := context.Background()
	sentinel := errors.New("boom")
	tests := []struct {
		name string
		err  error
	}{
		{"sentinel", sentinel},
		{"typed", &codedError{409}},
		{"store error", store.ErrConflict},
		{"context error", context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t, Options{})
			set(t, b, "kept", "old", 0)
			set(t, b, "gone", "x", time.Hour)
			err := b.Update(ctx, func(tx store.Tx) error {
				for _, f := range []func() error{
					func() error { return tx.Set("kept", []byte("new"), 0) },
					func() error { return tx.Set("added", []byte("1"), time.Minute) },
					func() error { return tx.Del("gone") },
					func() error { return tx.SAdd("s", "a") },
				} {
					if err := f(); err != nil {
						return err
					}
				}
				return tc.err
			})
			if err != tc.err { //nolint:errorlint // the very same error
				t.Fatalf("Update = %v (%T); want %v as is", err, err, tc.err)
			}
			if v, _ := get(t, b, "kept"); v != "old" {
				t.Errorf("kept = %q; want old", v)
			}
			if _, ok := get(t, b, "added"); ok {
				t.Error("added survived the rollback")
			}
			if _, ok := get(t, b, "gone"); !ok {
				t.Error("gone was deleted by a rolled-back transaction")
			}
			if ms, _ := b.Members(ctx, "s"); len(ms) != 0 {
				t.Errorf("set s = %q after rollback", ms)
			}
			checkIndex(t, b)
		})
	}
}

func TestReadYourWrites(t *testing.T) {
	ctx := context.Background()
	b := open(t, Options{})
	set(t, b, "a", "1", 0)
	err := b.Update(ctx, func(tx store.Tx) error {
		steps := []struct {
			do   func() error
			key  string
			val  string
			ok   bool
			set  string
			want []string
		}{
			{do: func() error { return tx.Set("a", []byte("2"), 0) }, key: "a", val: "2", ok: true},
			{do: func() error { return tx.Set("b", []byte("3"), time.Minute) }, key: "b", val: "3", ok: true},
			{do: func() error { return tx.Del("a") }, key: "a", ok: false},
			{do: func() error { return tx.Set("a", []byte("4"), 0) }, key: "a", val: "4", ok: true},
			{do: func() error { return tx.SAdd("s", "y", "x") }, set: "s", want: []string{"x", "y"}},
			{do: func() error { return tx.SRem("s", "y") }, set: "s", want: []string{"x"}},
		}
		for i, s := range steps {
			if err := s.do(); err != nil {
				return err
			}
			if s.set != "" {
				got, err := tx.SMembers(s.set)
				if err != nil || !reflect.DeepEqual(got, s.want) {
					t.Errorf("step %d: SMembers = %q, %v; want %q", i, got, err, s.want)
				}
				continue
			}
			v, ok, err := tx.Get(s.key)
			if err != nil || string(v) != s.val || ok != s.ok {
				t.Errorf("step %d: Get(%s) = %q, %v, %v; want %q, %v", i, s.key, v, ok, err, s.val, s.ok)
			}
		}
		// Another reader does not see the uncommitted writes.
		if v, _ := get(t, b, "a"); v != "1" {
			t.Errorf("outside reader sees %q before commit; want 1", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, b, "a"); v != "4" {
		t.Errorf("after commit a = %q; want 4", v)
	}
}

// TestValuesAreCopies checks values returned stay valid and private after
// the transaction and later writes.
func TestValuesAreCopies(t *testing.T) {
	ctx := context.Background()
	b := open(t, Options{})
	set(t, b, "a", "hello", 0)
	v1, _, _ := b.Get(ctx, "a")
	var v2 []byte
	_ = b.Update(ctx, func(tx store.Tx) error { v2, _, _ = tx.Get("a"); return nil })
	in := []byte("world")
	_ = b.Update(ctx, func(tx store.Tx) error { return tx.Set("a", in, 0) })
	in[0] = 'W'
	for i := range 200 { // move pages around
		set(t, b, fmt.Sprintf("k%d", i), strings.Repeat("z", 500), 0)
	}
	v1[0] = 'H'
	if string(v1) != "Hello" || string(v2) != "hello" {
		t.Errorf("values changed under the caller: %q %q", v1, v2)
	}
	if v, _ := get(t, b, "a"); v != "world" {
		t.Errorf("a = %q; want world (the store must copy the caller's value)", v)
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "nested", "dir", "gatehouse.db")
	b, err := Open(path, Options{Now: clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(ctx, func(tx store.Tx) error {
		if err := tx.Set("k", []byte("v"), 0); err != nil {
			return err
		}
		if err := tx.Set("ttl", []byte("t"), time.Hour); err != nil {
			return err
		}
		return tx.SAdd("s", "b", "a")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(path), 0o700}, {path, 0o600}} {
		fi, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != p.mode {
			t.Errorf("%s mode %v; want %v", p.path, fi.Mode().Perm(), p.mode)
		}
	}

	b, err = Open(path, Options{Now: clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, ok := get(t, b, "k"); v != "v" || !ok {
		t.Errorf("k = %q, %v after reopen", v, ok)
	}
	if v, ok := get(t, b, "ttl"); v != "t" || !ok {
		t.Errorf("ttl = %q, %v after reopen", v, ok)
	}
	if ms, _ := b.Members(ctx, "s"); !reflect.DeepEqual(ms, []string{"a", "b"}) {
		t.Errorf("s = %q after reopen", ms)
	}
	clk.Add(time.Hour) // the expiry survived the restart too
	if _, ok := get(t, b, "ttl"); ok {
		t.Error("ttl key did not expire after reopen")
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	b, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	b2, err := Open(path, Options{OpenTimeout: 100 * time.Millisecond})
	if err == nil {
		b2.Close()
		t.Fatal("second Open of the same file succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}
	want := "data file " + path + " is in use by another gatehouse process"
	if err.Error() != want || !errors.Is(err, ErrInUse) {
		t.Errorf("second Open: %q; want %q wrapping ErrInUse", err, want)
	}
	// Once the first holder closes, the file opens.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err = Open(path, Options{OpenTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	b2.Close()
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(notDir, "sub", "g.db"), garbage} {
		b, err := Open(path, Options{})
		if err == nil {
			b.Close()
			t.Errorf("Open(%s) succeeded", path)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) error %q does not name the file", path, err)
		}
	}
}

// TestKeyLimits: bbolt refuses empty keys and keys over 32 KiB; the
// backend reports that as an error (the transaction rolls back), never a
// panic, and reads of such keys find nothing.
func TestKeyLimits(t *testing.T) {
	ctx := context.Background()
	b := open(t, Options{})
	huge := strings.Repeat("k", bolt.MaxKeySize+1)
	for _, key := range []string{"", huge} {
		err := b.Update(ctx, func(tx store.Tx) error {
			if err := tx.Set("ok", []byte("1"), 0); err != nil {
				return err
			}
			return tx.Set(key, []byte("v"), 0)
		})
		if err == nil {
			t.Errorf("Set of a %d-byte key succeeded", len(key))
		}
		if _, ok := get(t, b, key); ok {
			t.Errorf("Get of a %d-byte key found something", len(key))
		}
		if _, ok := txGet(t, b, key); ok {
			t.Errorf("Tx.Get of a %d-byte key found something", len(key))
		}
		if err := b.Update(ctx, func(tx store.Tx) error { return tx.Del(key) }); err != nil && key != "" {
			t.Errorf("Del of a %d-byte key: %v", len(key), err)
		}
	}
	if _, ok := get(t, b, "ok"); ok {
		t.Error("a failed transaction kept its first write")
	}
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.SAdd("s", huge) }); err == nil {
		t.Error("SAdd of a huge member succeeded")
	}
}

func TestConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	b := open(t, Options{})
	const workers, each = 20, 50
	var calls atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := b.Update(ctx, func(tx store.Tx) error {
					calls.Add(1)
					v, _, err := tx.Get("counter")
					if err != nil {
						return err
					}
					n := 0
					if len(v) > 0 {
						fmt.Sscan(string(v), &n)
					}
					if err := tx.SAdd("writers", fmt.Sprintf("w%02d-%03d", w, i)); err != nil {
						return err
					}
					return tx.Set("counter", []byte(fmt.Sprint(n+1)), 0)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _ := get(t, b, "counter"); v != fmt.Sprint(workers*each) {
		t.Errorf("counter = %s; want %d (lost updates)", v, workers*each)
	}
	if ms, _ := b.Members(ctx, "writers"); len(ms) != workers*each {
		t.Errorf("%d writers recorded; want %d", len(ms), workers*each)
	}
	t.Logf("%d fn calls for %d updates", calls.Load(), workers*each)
}

// TestConcurrentErrors mixes failing and succeeding concurrent Updates: a
// failure inside a shared batch must neither leak into the others nor lose
// its own error.
func TestConcurrentErrors(t *testing.T) {
	ctx := context.Background()
	b := open(t, Options{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				fail := (w+i)%3 == 0
				want := &codedError{w*100 + i}
				err := b.Update(ctx, func(tx store.Tx) error {
					key := fmt.Sprintf("k%d-%d", w, i)
					if err := tx.Set(key, []byte("x"), 0); err != nil {
						return err
					}
					if fail {
						return want
					}
					return nil
				})
				if fail {
					if err != want { //nolint:errorlint // the very same error
						t.Errorf("Update = %v; want %v", err, want)
					}
					failed.Add(1)
				} else if err != nil {
					t.Errorf("Update = %v", err)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	_ = b.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketKV).Stats().KeyN; return nil })
	if want := 400 - int(failed.Load()); n != want {
		t.Errorf("%d keys stored; want %d", n, want)
	}
}

func TestContext(t *testing.T) {
	b := open(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err := b.Update(ctx, func(store.Tx) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("Update with a cancelled context = %v (fn called: %v)", err, called)
	}
	if _, _, err := b.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v", err)
	}
	if _, _, err := b.Scan(ctx, "s", 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan = %v", err)
	}
	if _, err := b.Members(ctx, "s"); !errors.Is(err, context.Canceled) {
		t.Errorf("Members = %v", err)
	}
}

func TestPingAndClose(t *testing.T) {
	ctx := context.Background()
	b := open(t, Options{SweepInterval: time.Millisecond})
	if err := b.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Invalidations() != nil {
		t.Error("Invalidations is not nil")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping after Close = %v; want ErrUnavailable", err)
	}
	if _, _, err := b.Get(ctx, "a"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get after Close = %v; want ErrUnavailable", err)
	}
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Set("a", nil, 0) }); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Update after Close = %v; want ErrUnavailable", err)
	}
	if _, err := b.Members(ctx, "s"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Members after Close = %v; want ErrUnavailable", err)
	}
}

// TestAgainstMemstore applies the same random operations to both
// backends and compares everything they can be asked.
func TestAgainstMemstore(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	b := open(t, Options{Now: clk.Now})
	m := memstore.New(clk.Now)
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d", "e"}
	sets := []string{"s", "t"}
	errAbort := errors.New("abort")
	for round := range 300 {
		type op struct {
			kind int
			key  string
			set  string
			val  string
			ttl  time.Duration
		}
		var ops []op
		for range 1 + r.IntN(4) {
			ops = append(ops, op{kind: r.IntN(6), key: keys[r.IntN(len(keys))], set: sets[r.IntN(len(sets))], val: fmt.Sprint(r.IntN(100)), ttl: time.Duration(r.IntN(3)) * 10 * time.Second})
		}
		abort := r.IntN(5) == 0
		var outs [2][]string
		for i, be := range []store.Backend{b, m} {
			err := be.Update(ctx, func(tx store.Tx) error {
				outs[i] = nil
				for _, o := range ops {
					var err error
					switch o.kind {
					case 0:
						err = tx.Set(o.key, []byte(o.val), o.ttl)
					case 1:
						err = tx.Del(o.key)
					case 2:
						err = tx.SAdd(o.set, o.key)
					case 3:
						err = tx.SRem(o.set, o.key)
					case 4:
						v, ok, e := tx.Get(o.key)
						outs[i] = append(outs[i], fmt.Sprintf("%s=%q,%v", o.key, v, ok))
						err = e
					case 5:
						err = tx.SAddTTL(o.set, o.ttl, o.key)
					}
					if err != nil {
						return err
					}
				}
				for _, s := range sets {
					ms, err := tx.SMembers(s)
					if err != nil {
						return err
					}
					outs[i] = append(outs[i], fmt.Sprintf("%s=%q", s, ms))
				}
				if abort {
					return errAbort
				}
				return nil
			})
			if err != nil && err != errAbort { //nolint:errorlint
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(outs[0], outs[1]) {
			t.Fatalf("round %d: inside the transaction bolt saw %q, memstore %q", round, outs[0], outs[1])
		}
		clk.Add(time.Duration(r.IntN(8)) * time.Second)
		if r.IntN(10) == 0 {
			if _, err := b.sweep(nil); err != nil {
				t.Fatal(err)
			}
			if err := m.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range keys {
			bv, bok, _ := b.Get(ctx, k)
			mv, mok, _ := m.Get(ctx, k)
			if string(bv) != string(mv) || bok != mok {
				t.Fatalf("round %d: Get(%s) bolt %q,%v memstore %q,%v", round, k, bv, bok, mv, mok)
			}
		}
		for _, s := range sets {
			bm, _ := b.Members(ctx, s)
			mm, _ := m.Members(ctx, s)
			if !reflect.DeepEqual(bm, mm) {
				t.Fatalf("round %d: Members(%s) bolt %q memstore %q", round, s, bm, mm)
			}
		}
	}
	if _, err := b.sweep(nil); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, b)
}

// TestConformance runs the identity Store on the file backend, with a busy
// sweeper running alongside.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		return open(t, Options{SweepInterval: 20 * time.Millisecond})
	})
}

func TestConformancePersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	storetest.Persistence(t, func(t *testing.T) store.Backend {
		b, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// populate writes n keys "key:%08d" in transactions of 10,000.
func populate(tb testing.TB, b *Bolt, n int) []string {
	tb.Helper()
	keys := make([]string, n)
	val := []byte(strings.Repeat("v", 200))
	for start := 0; start < n; start += 10_000 {
		end := min(start+10_000, n)
		err := b.Update(context.Background(), func(tx store.Tx) error {
			for i := start; i < end; i++ {
				keys[i] = fmt.Sprintf("key:%08d", i)
				if err := tx.Set(keys[i], val, 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return keys
}

func BenchmarkGet(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			if n > 10_000 && testing.Short() {
				b.Skip("1M keys: skipped in -short mode")
			}
			be := open(b, Options{})
			keys := populate(b, be, n)
			// Random order, so the 1M case cannot ride a warm page.
			order := rand.New(rand.NewPCG(3, 4)).Perm(n)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok, err := be.Get(ctx, keys[order[i%n]]); !ok || err != nil {
					b.Fatal("missing key", err)
				}
				i++
			}
		})
	}
}

func BenchmarkGetParallel(b *testing.B) {
	be := open(b, Options{})
	keys := populate(b, be, 10_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			if _, ok, err := be.Get(ctx, keys[r.IntN(len(keys))]); !ok || err != nil {
				b.Error("missing key", err)
				return
			}
		}
	})
}

// BenchmarkUpdate measures one small write transaction (with its fsync),
// alone and with concurrent writers sharing commits.
func BenchmarkUpdate(b *testing.B) {
	val := []byte(strings.Repeat("v", 200))
	b.Run("serial", func(b *testing.B) {
		be := open(b, Options{})
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if err := be.Update(ctx, func(tx store.Tx) error { return tx.Set(fmt.Sprint("k", i%1000), val, 0) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		be := open(b, Options{})
		ctx := context.Background()
		var n atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if err := be.Update(ctx, func(tx store.Tx) error { return tx.Set(fmt.Sprint("k", i%1000), val, 0) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
