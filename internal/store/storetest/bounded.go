package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// KeyCounter is a backend that can count what it holds, for the suite's
// check that expired grants leave nothing behind. Backends that do not
// implement it skip that check.
type KeyCounter interface {
	// CountKeys counts every entry the backend holds: keys, sets and their
	// members, and its own expiry indexes, expired ones it has not removed
	// yet included.
	CountKeys(ctx context.Context) (int, error)
}

// Sweeper is a backend that removes expired entries in the background:
// the suite has it run a round now instead of waiting for the next one.
type Sweeper interface {
	Sweep(ctx context.Context) error
}

func countKeys(t *testing.T, kc KeyCounter) int {
	t.Helper()
	n, err := kc.CountKeys(context.Background())
	if err != nil {
		t.Fatalf("CountKeys: %v", err)
	}
	return n
}

// BoundedGrants is how many grants testBoundedState issues.
const BoundedGrants = 2000

// boundedLife is the lifetime of everything testBoundedState issues.
const boundedLife = 1500 * time.Millisecond

// testBoundedState: many grants expire and the backend goes back to what
// it held before them (issue #11 §7): no token, index entry, family set,
// revocation tombstone, code or record outlives its expiry by more than a
// sweep. Lifetimes are real time, as the backends' TTLs are.
func testBoundedState(t *testing.T, nb NewBackend) {
	b := nb(t)
	kc, ok := b.(KeyCounter)
	if !ok {
		_ = b.Close()
		t.Skipf("%T cannot count its keys", b)
	}
	s := store.New(b, store.Options{BcryptCost: 4, FamilyTombstone: 50 * time.Millisecond})
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()

	// What lasts: a user with two applications, one of which holds a
	// long-lived refresh token that the expired ones share an index with.
	g := &grants{s: s, u: newUser(t, s, "owner")}
	var err error
	g.busy, err = s.CreateApp(ctx, store.App{UserID: g.u.ID, Name: "busy"})
	must(t, err)
	g.burst, err = s.CreateApp(ctx, store.App{UserID: g.u.ID, Name: "burst"})
	must(t, err)
	var keep store.Token
	keepPlain := store.NewToken(&keep)
	keep.Kind, keep.ConsumerID, keep.FamilyID = store.RefreshToken, g.busy.ID, "keep"
	keep.CreatedAt, keep.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
	must(t, s.SaveToken(ctx, &keep))
	base := countKeys(t, kc)

	issued := g.issueAll(t)
	peak := countKeys(t, kc)
	// Each grant stored a token at least; some may have expired (and been
	// swept) already if issuing was slow.
	if peak < base+BoundedGrants/10 {
		t.Fatalf("after %d grants the backend holds %d entries, %d before: the grants were not stored", BoundedGrants, peak, base)
	}

	time.Sleep(time.Until(g.last) + 50*time.Millisecond)
	// Reads stay right: the expired tokens are absent, the lasting one is
	// listed and still verifies.
	if sw, ok := b.(Sweeper); ok {
		must(t, sw.Sweep(ctx))
	}
	list, err := s.ListTokens(ctx, g.busy.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != keep.ID {
		t.Errorf("tokens of busy after the others expired: %d, want only the lasting one", len(list))
	}
	id, sec, _ := cut(keepPlain)
	if _, err := s.VerifyToken(ctx, id, sec); err != nil {
		t.Errorf("the lasting token no longer verifies: %v", err)
	}
	// The backend is back where it started. Redis drops expired keys by
	// itself (lazily and in its background cycle; SCAN skips them), so
	// allow it a moment.
	end := countKeys(t, kc)
	for deadline := time.Now().Add(5 * time.Second); end != base && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		end = countKeys(t, kc)
	}
	t.Logf("%T: %d entries before, %d after %d grants (issued in %v), %d once they expired",
		b, base, peak, BoundedGrants, issued.Round(time.Millisecond), end)
	if end != base {
		t.Errorf("%d grants expired %v ago, yet the backend holds %d entries, %d before them: the store grows with every grant",
			BoundedGrants, time.Since(g.last).Round(time.Millisecond), end, base)
	}
}

// grants issues testBoundedState's short-lived grants to a user's two
// applications.
type grants struct {
	s           *store.Store
	u           *store.User
	busy, burst *store.App

	mu   sync.Mutex
	last time.Time // the furthest expiry issued
}

// issueAll issues BoundedGrants grants from 8 goroutines, as token
// requests come concurrently (and bbolt shares their commits), and says
// how long it took.
func (g *grants) issueAll(t *testing.T) time.Duration {
	t.Helper()
	var errs []error
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				start := time.Now()
				// A grant that stalled past its own lifetime (a loaded
				// machine) may fail on its expired tokens; it still
				// counts: whatever it stored must go too.
				if err := g.issue(i); err != nil && time.Since(start) < boundedLife {
					g.mu.Lock()
					errs = append(errs, fmt.Errorf("grant %d: %w", i, err))
					g.mu.Unlock()
				}
			}
		}()
	}
	issueStart := time.Now()
	for i := range BoundedGrants {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return time.Since(issueStart)
}

// issue is grant i: an access token in its own family; every 5th a
// refresh token too, every 10th refreshed once (rotation, tokens with a
// parent), every 20th replayed (the family revoked, a tombstone); every
// 10th an authorization code redeemed, every 10th a session record.
func (g *grants) issue(i int) error {
	ctx := context.Background()
	start := time.Now()
	exp := start.Add(boundedLife)
	g.mu.Lock()
	if exp.After(g.last) {
		g.last = exp
	}
	g.mu.Unlock()
	consumer := g.busy.ID
	if i%2 == 1 {
		consumer = g.burst.ID
	}
	fam := fmt.Sprintf("grant-%d", i)
	tok := func(kind, parent string) (*store.Token, error) {
		t := &store.Token{Kind: kind, ConsumerID: consumer, AuthenticatedUserID: g.u.ID, FamilyID: fam, ParentID: parent,
			CreatedAt: start, ExpiresAt: exp}
		store.NewToken(t)
		return t, g.s.SaveToken(ctx, t)
	}
	if _, err := tok(store.AccessToken, ""); err != nil {
		return err
	}
	if i%5 == 0 {
		r, err := tok(store.RefreshToken, "")
		if err != nil {
			return err
		}
		if i%10 == 0 {
			if _, err := g.s.ClaimToken(ctx, r.ID); err != nil {
				return err
			}
			if _, err := tok(store.AccessToken, r.ID); err != nil {
				return err
			}
			if _, err := tok(store.RefreshToken, r.ID); err != nil {
				return err
			}
		}
		if i%20 == 0 {
			if _, err := g.s.RevokeFamily(ctx, fam); err != nil {
				return err
			}
		}
	}
	switch i % 10 {
	case 3:
		id := fmt.Sprintf("code-%d", i)
		if err := g.s.SaveCode(ctx, &store.Code{ID: id, ConsumerID: consumer, UserID: g.u.ID, ExpiresAt: exp}); err != nil {
			return err
		}
		if _, err := g.s.ConsumeCode(ctx, id); err != nil {
			return err
		}
	case 7:
		if err := g.s.PutRecord(ctx, "session", fam, map[string]string{"u": g.u.ID}, boundedLife); err != nil {
			return err
		}
	}
	return nil
}
