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
// expiry index holds one entry per expiring key or member, whatever
// rewrote it.
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
	if got := count(t, m); got != 1+2+2 {
		t.Fatalf("CountKeys = %d, want 5 (no index entries left)", got)
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
