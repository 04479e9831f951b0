package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// node is the client of the Redis node holding r's namespace (one slot on
// a cluster), to SCAN it.
func node(t *testing.T, r *redisstore.Redis) redis.Cmdable {
	t.Helper()
	if cc, ok := r.Client().(*redis.ClusterClient); ok {
		n, err := cc.MasterForKey(context.Background(), "{"+r.Namespace()+"}:k:x")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return r.Client()
}

// tokenKeys is what a namespace holds for tokens, by kind of key.
type tokenKeys struct {
	families, familiesWithoutTTL int // token-family:<id> index sets
	tombstones                   int // token-family-revoked:<id>
	consumerIDs                  int // ids listed in consumer-tokens:<client>, dead or alive
}

func (k tokenKeys) String() string {
	return fmt.Sprintf("%d token-family sets (%d without TTL), %d tombstones, %d ids in consumer-tokens",
		k.families, k.familiesWithoutTTL, k.tombstones, k.consumerIDs)
}

func countTokenKeys(t *testing.T, r *redisstore.Redis) tokenKeys {
	t.Helper()
	c := node(t, r)
	var out tokenKeys
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "{"+r.Namespace()+"}:*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			_, name, _ := strings.Cut(strings.TrimPrefix(k, "{"+r.Namespace()+"}:"), ":") // k:, s: or z:
			switch {
			case strings.HasPrefix(name, "token-family:"):
				out.families++
				if pttl, err := c.PTTL(ctx, k).Result(); err != nil {
					t.Fatal(err)
				} else if pttl < 0 { // -1: no expiry (-2: gone meanwhile)
					if pttl == -1 {
						out.familiesWithoutTTL++
					}
				}
			case strings.HasPrefix(name, "token-family-revoked:"):
				out.tombstones++
			case strings.HasPrefix(name, "consumer-tokens:"):
				typ, _ := c.Type(ctx, k).Result()
				var n int64
				if typ == "zset" {
					n, err = c.ZCard(ctx, k).Result()
				} else {
					n, err = c.SCard(ctx, k).Result()
				}
				if err != nil {
					t.Fatal(err)
				}
				out.consumerIDs += int(n)
			}
		}
		if cursor = next; cursor == 0 {
			return out
		}
	}
}

// TestExpiredGrantsLeaveNoKeys is issue #11 §7 at a tenth of its scale:
// 10,000 grants with 2 s lifetimes used to leave 10,000 token-family sets
// without TTL and 12,000 dead ids in consumer-tokens:<client>. Here 1,000
// grants for one client (every 5th with a refresh token: 1,200 token ids,
// every 50th replayed: a revoked family) expire; then every family set has
// had a TTL all along, and the client's index holds its live token only,
// once a new grant wrote it.
func TestExpiredGrantsLeaveNoKeys(t *testing.T) {
	t.Run("single", func(t *testing.T) { expiredGrantsLeaveNoKeys(t, redistest.New(t)) })
	t.Run("cluster", func(t *testing.T) {
		addrs := redistest.Cluster(t)
		expiredGrantsLeaveNoKeys(t, clusterBackend(t, addrs, redistest.Namespace()))
	})
}

func expiredGrantsLeaveNoKeys(t *testing.T, r *redisstore.Redis) {
	s := store.New(r, store.Options{BcryptCost: 4, FamilyTombstone: 100 * time.Millisecond})
	t.Cleanup(func() { _ = s.Close() })
	const client, grants, life = "client-1", 1000, time.Second
	save := func(kind, family string, exp time.Time) (*store.Token, error) {
		tok := &store.Token{Kind: kind, ConsumerID: client, FamilyID: family, CreatedAt: time.Now(), ExpiresAt: exp}
		store.NewToken(tok)
		return tok, s.SaveToken(ctx, tok)
	}
	// The client keeps one long-lived grant throughout.
	keep, err := save(store.RefreshToken, "keep", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu   sync.Mutex
		last time.Time
		errs []error
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				exp := time.Now().Add(life)
				fam := fmt.Sprintf("grant-%d", i)
				_, err := save(store.AccessToken, fam, exp)
				if err == nil && i%5 == 0 {
					_, err = save(store.RefreshToken, fam, exp)
				}
				if err == nil && i%50 == 0 {
					_, err = s.RevokeFamily(ctx, fam)
				}
				mu.Lock()
				if exp.After(last) {
					last = exp
				}
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range grants {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	issued := countTokenKeys(t, r)
	t.Logf("after %d grants: %v", grants, issued)
	if issued.familiesWithoutTTL != 0 {
		t.Errorf("%d of %d token-family sets have no TTL: they outlive their tokens forever", issued.familiesWithoutTTL, issued.families)
	}

	time.Sleep(time.Until(last) + 100*time.Millisecond)
	expired := countTokenKeys(t, r)
	t.Logf("once they expired: %v", expired)
	if expired.families != 1 || expired.tombstones != 0 {
		t.Errorf("after expiry: %d token-family sets, %d tombstones; want only the lasting grant's family, no tombstone", expired.families, expired.tombstones)
	}
	// The client's index may still list the dead ids until it is written
	// (Redis trims it then): the next grant does.
	if _, err := save(store.AccessToken, "next", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	next := countTokenKeys(t, r)
	t.Logf("after one more grant: %v", next)
	if next.consumerIDs != 2 {
		t.Errorf("consumer-tokens:%s lists %d ids after one more grant, want 2 (the two live tokens): the dead ones stay", client, next.consumerIDs)
	}
	if list, err := s.ListTokens(ctx, client); err != nil || len(list) != 2 {
		t.Errorf("ListTokens = %d tokens, %v; want 2", len(list), err)
	}
	// The long-lived family still has its TTL, as long as its token.
	pttl, err := node(t, r).PTTL(ctx, "{"+r.Namespace()+"}:z:token-family:keep").Result()
	if err != nil || pttl < 59*time.Minute || pttl > time.Hour {
		t.Errorf("TTL of the lasting family = %v, %v; want its token's hour", pttl, err)
	}
	if _, err := s.GetToken(ctx, keep.ID); err != nil {
		t.Errorf("lasting token: %v", err)
	}
}

// TestExpiringMembers: SAddTTL members live in a sorted set beside the
// plain set, which is trimmed on every write and expires with its furthest
// member; reads, SRem, SAdd and Scan see both parts.
func TestExpiringMembers(t *testing.T) {
	r := redistest.New(t)
	c := node(t, r)
	ns := r.Namespace()
	z, plain := "{"+ns+"}:z:idx", "{"+ns+"}:s:idx"
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := r.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	members := func() []string {
		t.Helper()
		m, err := r.Members(ctx, "idx")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	update(func(tx store.Tx) error {
		if err := tx.SAdd("idx", "p1", "moves"); err != nil {
			return err
		}
		if err := tx.SAddTTL("idx", 50*time.Millisecond, "short"); err != nil {
			return err
		}
		if err := tx.SAddTTL("idx", time.Hour, "long", "moves"); err != nil {
			return err
		}
		// A transaction reads its own expiring members.
		m, err := tx.SMembers("idx")
		if err != nil || !slices.Equal(m, []string{"long", "moves", "p1", "short"}) {
			t.Errorf("SMembers in the writing transaction = %q, %v", m, err)
		}
		return nil
	})
	if typ, _ := c.Type(ctx, z).Result(); typ != "zset" {
		t.Fatalf("%s has type %q, want zset", z, typ)
	}
	if pttl, err := c.PTTL(ctx, z).Result(); err != nil || pttl < 59*time.Minute || pttl > time.Hour {
		t.Fatalf("PTTL of the expiring members = %v, %v; want their furthest expiry (1 h)", pttl, err)
	}
	if m, _ := c.SMembers(ctx, plain).Result(); !slices.Equal(m, []string{"p1"}) {
		t.Fatalf("plain members = %q; a member added with a TTL leaves the plain set", m)
	}
	if m := members(); !slices.Equal(m, []string{"long", "moves", "p1", "short"}) {
		t.Fatalf("Members = %q", m)
	}
	// Scan walks the plain part, then the expiring one.
	var scanned []string
	for cursor, pages := uint64(0), 0; ; pages++ {
		page, next, err := r.Scan(ctx, "idx", cursor, 1)
		if err != nil || pages > 20 {
			t.Fatalf("Scan: %v after %d pages", err, pages)
		}
		scanned = append(scanned, page...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	slices.Sort(scanned)
	if !slices.Equal(scanned, []string{"long", "moves", "p1", "short"}) {
		t.Fatalf("Scan walked %q", scanned)
	}
	// A write after "short" expired trims it (on Redis's clock).
	time.Sleep(100 * time.Millisecond)
	update(func(tx store.Tx) error { return tx.SAddTTL("idx", time.Minute, "new") })
	if n, _ := c.ZCard(ctx, z).Result(); n != 3 {
		t.Fatalf("ZCARD after a write = %d, want 3 (long, moves, new): the expired member stays", n)
	}
	// The TTL never shrinks below the furthest member.
	if pttl, _ := c.PTTL(ctx, z).Result(); pttl < 59*time.Minute {
		t.Fatalf("PTTL after adding a nearer member = %v, want still 1 h", pttl)
	}
	// SAdd makes a member permanent, SRem removes either kind.
	update(func(tx store.Tx) error {
		if err := tx.SAdd("idx", "moves"); err != nil {
			return err
		}
		return tx.SRem("idx", "long", "p1")
	})
	if m := members(); !slices.Equal(m, []string{"moves", "new"}) {
		t.Fatalf("Members = %q, want moves, new", m)
	}
	if m, _ := c.ZRange(ctx, z, 0, -1).Result(); !slices.Equal(m, []string{"new"}) {
		t.Fatalf("expiring members = %q, want new", m)
	}
	// With its last member, the sorted set goes (its TTL only grows, to
	// the longest ttl it was given: exactly its furthest member for the
	// Store, which adds each token id once).
	update(func(tx store.Tx) error {
		if err := tx.SAddTTL("idx2", 100*time.Millisecond, "a"); err != nil {
			return err
		}
		return tx.SAddTTL("idx2", time.Second, "b")
	})
	if pttl, _ := c.PTTL(ctx, "{"+ns+"}:z:idx2").Result(); pttl <= 500*time.Millisecond || pttl > time.Second {
		t.Fatalf("PTTL = %v, want its furthest member's (1 s)", pttl)
	}
	time.Sleep(1100 * time.Millisecond)
	if n, _ := c.Exists(ctx, "{"+ns+"}:z:idx2").Result(); n != 0 {
		t.Fatal("the sorted set outlived its last member")
	}
	if m, _ := r.Members(ctx, "idx2"); len(m) != 0 {
		t.Fatalf("Members = %q, want none", m)
	}
}
