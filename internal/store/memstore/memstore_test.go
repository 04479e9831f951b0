package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Backend { return memstore.New(nil) })
}

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

func update(t *testing.T, m *memstore.Mem, fn func(store.Tx) error) {
	t.Helper()
	if err := m.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, m *memstore.Mem) int {
	t.Helper()
	n, err := m.CountKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSweep: expired keys and set members are invisible at once and gone
// after a sweep, however many (the sweep takes them in batches); the
// expiry wheel holds one entry per expiring key or member, whatever
// rewrote it within a second, and an entry made stale by a removal only
// until the second it named.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := memstore.NewWith(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer m.Close()
	const n = 2500 // more than two batches
	update(t, m, func(tx store.Tx) error {
		for i := range n {
			_ = tx.Set(fmt.Sprint("token:", i), []byte("x"), time.Second)
			_ = tx.SAddTTL("consumer-tokens:c", time.Second, fmt.Sprint(i))
		}
		_ = tx.Set("user:1", []byte("u"), 0)
		_ = tx.SAddTTL("consumer-tokens:c", time.Hour, "live")
		return tx.SAdd("users", "1")
	})
	// Rewrites move an entry's expiry; they do not add index entries.
	for range 3 {
		update(t, m, func(tx store.Tx) error {
			_ = tx.Set("token:0", []byte("y"), time.Second)
			return tx.SAddTTL("consumer-tokens:c", time.Second, "0")
		})
	}
	// kv n+1, their index n; sets 2 with n+1 and 1 members, index n+1.
	if got, want := count(t, m), (n+1)+n+2+(n+1)+1+(n+1); got != want {
		t.Fatalf("CountKeys = %d, want %d", got, want)
	}
	clk.Add(time.Minute)
	if got, _ := m.Members(ctx, "consumer-tokens:c"); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("Members before the sweep = %d members; expired ones must be invisible at once", len(got))
	}
	if _, ok, _ := m.Get(ctx, "token:0"); ok {
		t.Fatal("expired key readable")
	}
	if err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	// user:1; users {1}; consumer-tokens {live} and its index entry.
	if got := count(t, m); got != 1+2+2+1 {
		t.Fatalf("CountKeys after the sweep = %d, want 6", got)
	}
	// SAdd makes a member permanent, SRem and Del drop index entries.
	update(t, m, func(tx store.Tx) error {
		_ = tx.SAdd("consumer-tokens:c", "live")
		_ = tx.Set("k", []byte("v"), time.Second)
		_ = tx.Del("k")
		_ = tx.SAddTTL("s", time.Second, "m")
		return tx.SRem("s", "m")
	})
	// The wheel keeps live's entry (now stale) until the second it named
	// passes; k and s/m never reached the backend.
	if got := count(t, m); got != 1+2+2+1 {
		t.Fatalf("CountKeys = %d, want 6 (live's stale wheel entry)", got)
	}
	clk.Add(time.Hour)
	if err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, m); got != 1+2+2 {
		t.Fatalf("CountKeys = %d, want 5 (no index entries left)", got)
	}
	if got, _ := m.Members(ctx, "consumer-tokens:c"); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("Members = %v: the sweep removed a member made permanent", got)
	}
	// Removing what is not there counts nothing; adding a member twice
	// counts it once; the last member's removal drops the set.
	update(t, m, func(tx store.Tx) error {
		_ = tx.SRem("consumer-tokens:c", "nobody")
		_ = tx.SRem("no-such-set", "x")
		return tx.SAdd("users", "1", "2")
	})
	update(t, m, func(tx store.Tx) error { return tx.SAdd("users", "2") })
	if got := count(t, m); got != 1+3+2 {
		t.Fatalf("CountKeys = %d, want 6", got)
	}
	update(t, m, func(tx store.Tx) error { return tx.SRem("users", "1", "2") })
	if got := count(t, m); got != 1+2 {
		t.Fatalf("CountKeys = %d, want 3 (users gone with its members)", got)
	}
}

// TestSweeperRuns: the sweeper removes expired entries by itself, and
// Close stops it.
func TestSweeperRuns(t *testing.T) {
	clk := newClock()
	m := memstore.NewWith(memstore.Options{Now: clk.Now, SweepInterval: 5 * time.Millisecond})
	update(t, m, func(tx store.Tx) error {
		_ = tx.Set("a", []byte("1"), time.Second)
		return tx.SAddTTL("s", time.Second, "m")
	})
	clk.Add(time.Minute)
	for deadline := time.Now().Add(5 * time.Second); count(t, m) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not remove the expired key and member")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFamilyTombstone: a revoked family's tombstone refuses its tokens as
// long as any of them lives (and at least ten minutes), then goes.
func TestFamilyTombstone(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := memstore.NewWith(memstore.Options{Now: clk.Now, SweepInterval: -1})
	s := store.New(m, store.Options{Now: clk.Now, BcryptCost: 4})
	defer s.Close()
	base := count(t, m)
	save := func(fam, parent string, life time.Duration) (*store.Token, error) {
		tok := &store.Token{Kind: store.RefreshToken, ConsumerID: "app", FamilyID: fam, ParentID: parent,
			CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(life)}
		store.NewToken(tok)
		return tok, s.SaveToken(ctx, tok)
	}
	long, err := save("long", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	short, err := save("short", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{"long", "short"} {
		if n, err := s.RevokeFamily(ctx, fam); err != nil || n != 1 {
			t.Fatalf("RevokeFamily(%s) = %d, %v", fam, n, err)
		}
	}
	// 30 minutes on, the hour-long family still refuses a child (a request
	// that claimed its token before the revocation); the one-minute family
	// is past its ten-minute floor.
	clk.Add(30 * time.Minute)
	if _, err := save("long", long.ID, time.Hour); !errors.Is(err, store.ErrGrantRevoked) {
		t.Errorf("save into a family revoked 30 min ago whose token lives 1 h: %v, want ErrGrantRevoked", err)
	}
	if _, err := save("short", short.ID, time.Minute); err != nil {
		t.Errorf("the one-minute family's tombstone outlived its ten-minute floor: %v", err)
	}
	// Once the last token of the family expired, its tombstone goes with
	// it: nothing is left of either grant.
	clk.Add(31 * time.Minute)
	if err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, m); got != base {
		t.Errorf("CountKeys = %d after both grants expired, %d before them", got, base)
	}
}

// TestSweepWithinSecond: a sweep in the middle of a second removes what
// expired in it and keeps what expires later in it, however many entries
// the second holds (more than a batch), and ends.
func TestSweepWithinSecond(t *testing.T) {
	ctx := context.Background()
	clk := newClock() // on a whole second
	m := memstore.NewWith(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer m.Close()
	const n = 2500 // more than two batches each
	update(t, m, func(tx store.Tx) error {
		for i := range n {
			_ = tx.Set(fmt.Sprint("early:", i), []byte("x"), 100*time.Millisecond)
			_ = tx.Set(fmt.Sprint("late:", i), []byte("x"), 900*time.Millisecond)
			_ = tx.SAddTTL("s", 900*time.Millisecond, fmt.Sprint(i))
		}
		return nil
	})
	clk.Add(500 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- m.Sweep(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sweep does not end when the current second holds more live entries than a batch")
	}
	// late:* n keys and n wheel entries; s with n members and n entries.
	if got, want := count(t, m), n+n+1+n+n; got != want {
		t.Fatalf("CountKeys = %d, want %d (the early keys gone, the late ones kept)", got, want)
	}
	if _, ok, _ := m.Get(ctx, "late:7"); !ok {
		t.Fatal("a key expiring later in the swept second was removed")
	}
	clk.Add(time.Second)
	if err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, m); got != 0 {
		t.Fatalf("CountKeys = %d after everything expired, want 0", got)
	}
}

// TestSweepMovedExpiry: an entry left in the wheel by an earlier expiry
// does not remove a key or member whose expiry moved later (a sliding
// expiry), nor one made permanent; the wheel holds one entry per second
// the expiry went through, and none once those seconds passed.
func TestSweepMovedExpiry(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := memstore.NewWith(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer m.Close()
	for range 5 { // five seconds, each rewriting with a 10 s expiry
		for range 10 {
			update(t, m, func(tx store.Tx) error {
				_ = tx.Set("session", []byte("x"), 10*time.Second)
				_ = tx.Set("kept", []byte("x"), 10*time.Second)
				return tx.SAddTTL("s", 10*time.Second, "m")
			})
			clk.Add(100 * time.Millisecond)
		}
	}
	update(t, m, func(tx store.Tx) error { return tx.Set("kept", []byte("y"), 0) })
	// 3 keys and members, s; 5 entries for each of session, kept and m.
	if got, want := count(t, m), 2+2+15; got != want {
		t.Fatalf("CountKeys = %d, want %d", got, want)
	}
	clk.Add(9 * time.Second) // past the first four expiries, not the last
	if err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get(ctx, "session"); !ok {
		t.Fatal("a stale wheel entry removed a key whose expiry moved later")
	}
	if got, _ := m.Members(ctx, "s"); !slices.Equal(got, []string{"m"}) {
		t.Fatalf("Members = %v: a stale wheel entry removed a member whose expiry moved later", got)
	}
	if got, want := count(t, m), 2+2+2; got != want {
		t.Fatalf("CountKeys = %d, want %d (session's and m's last entries)", got, want)
	}
	clk.Add(time.Minute)
	if err := m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get(ctx, "kept"); !ok {
		t.Fatal("the sweep removed a key made permanent")
	}
	if got := count(t, m); got != 1 {
		t.Fatalf("CountKeys = %d, want 1 (kept)", got)
	}
}
