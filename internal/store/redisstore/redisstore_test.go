package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var ctx = context.Background()

// raw is a plain client on the backend's Redis, to look at the key layout
// and to write behind the backend's back.
func raw(t testing.TB) *redis.Client {
	c := redis.NewClient(redistest.Server(t))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func set(t testing.TB, b store.Backend, key, val string, ttl time.Duration) {
	t.Helper()
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Set(key, []byte(val), ttl) }); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, b store.Backend, key string) (string, bool) {
	t.Helper()
	v, ok, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(v), ok
}

func TestPrimitives(t *testing.T) {
	r := redistest.New(t)
	c := raw(t)
	ns := r.Namespace()

	if _, ok := get(t, r, "user:1"); ok {
		t.Fatal("fresh namespace has user:1")
	}
	set(t, r, "user:1", `{"id":"1"}`, 0)
	if v, ok := get(t, r, "user:1"); !ok || v != `{"id":"1"}` {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	set(t, r, "empty", "", 0)
	if v, ok := get(t, r, "empty"); !ok || v != "" {
		t.Fatalf("empty value: Get = %q, %v", v, ok)
	}
	// Key layout.
	if n, err := c.Exists(ctx, "{"+ns+"}:k:user:1").Result(); err != nil || n != 1 {
		t.Fatalf("raw key {%s}:k:user:1: exists=%d err=%v", ns, n, err)
	}

	if err := r.Update(ctx, func(tx store.Tx) error { return tx.Del("user:1") }); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, r, "user:1"); ok {
		t.Fatal("user:1 survived Del")
	}

	// Expiry, for real. Redis keeps time while the test process may not: a
	// stall of the test longer than the TTL between the Set and the reads
	// (a loaded CI machine) lets the key expire first, so such a round
	// proves nothing and is redone.
	const ttl = 50 * time.Millisecond
	for round := 1; ; round++ {
		setAt := time.Now()
		set(t, r, "token:t", "x", ttl)
		_, ok := get(t, r, "token:t")
		pttl, err := c.PTTL(ctx, "{"+ns+"}:k:token:t").Result()
		if time.Since(setAt) >= ttl && round < 5 {
			continue
		}
		if !ok {
			t.Fatal("token gone at once")
		}
		if err != nil || pttl <= 0 || pttl > ttl {
			t.Fatalf("PTTL = %v, %v", pttl, err)
		}
		break
	}
	time.Sleep(120 * time.Millisecond)
	if _, ok := get(t, r, "token:t"); ok {
		t.Fatal("token outlived its TTL")
	}
	// A Set without TTL clears an earlier TTL.
	set(t, r, "k", "1", time.Second)
	set(t, r, "k", "2", 0)
	if pttl, _ := c.PTTL(ctx, "{"+ns+"}:k:k").Result(); pttl != -1 {
		t.Fatalf("PTTL after Set without ttl = %v, want -1 (none)", pttl)
	}

	// Sets.
	err := r.Update(ctx, func(tx store.Tx) error {
		if err := tx.SAdd("users", "c", "a", "b"); err != nil {
			return err
		}
		return tx.SAdd("empty-add") // no members: a no-op
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := r.Members(ctx, "users"); err != nil || !slices.Equal(m, []string{"a", "b", "c"}) {
		t.Fatalf("Members = %v, %v", m, err)
	}
	if typ, _ := c.Type(ctx, "{"+ns+"}:s:users").Result(); typ != "set" {
		t.Fatalf("raw {%s}:s:users has type %q", ns, typ)
	}
	if err := r.Update(ctx, func(tx store.Tx) error { return tx.SRem("users", "b", "zz") }); err != nil {
		t.Fatal(err)
	}
	if m, _ := r.Members(ctx, "users"); !slices.Equal(m, []string{"a", "c"}) {
		t.Fatalf("after SRem: %v", m)
	}
	if m, err := r.Members(ctx, "nothing"); err != nil || len(m) != 0 {
		t.Fatalf("Members(missing) = %v, %v", m, err)
	}
	// A value and a set of the same name do not collide.
	set(t, r, "users", "a value", 0)
	if m, _ := r.Members(ctx, "users"); !slices.Equal(m, []string{"a", "c"}) {
		t.Fatalf("set clobbered by a value of the same name: %v", m)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestScan(t *testing.T) {
	r := redistest.New(t)
	var want []string
	for i := range 250 {
		want = append(want, fmt.Sprintf("m%03d", i))
	}
	if err := r.Update(ctx, func(tx store.Tx) error { return tx.SAdd("big", want...) }); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var cursor uint64
	pages := 0
	for {
		page, next, err := r.Scan(ctx, "big", cursor, 20)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(page) {
			t.Fatalf("page not sorted: %v", page)
		}
		for _, m := range page {
			seen[m] = true
		}
		pages++
		if cursor = next; cursor == 0 {
			break
		}
		if pages > 1000 {
			t.Fatal("Scan does not end")
		}
	}
	if len(seen) != 250 || pages < 2 {
		t.Fatalf("Scan saw %d members in %d pages, want 250 in several", len(seen), pages)
	}
	all, next, err := r.Scan(ctx, "big", 0, 0)
	if err != nil || next != 0 || !slices.Equal(all, want) {
		t.Fatalf("Scan(count 0) = %d members, next %d, %v", len(all), next, err)
	}
	if m, next, err := r.Scan(ctx, "none", 0, 10); err != nil || next != 0 || len(m) != 0 {
		t.Fatalf("Scan(missing) = %v, %d, %v", m, next, err)
	}
}

func TestRollback(t *testing.T) {
	r := redistest.New(t)
	set(t, r, "kept", "old", 0)
	boom := errors.New("boom")
	err := r.Update(ctx, func(tx store.Tx) error {
		_ = tx.Set("new", []byte("x"), 0)
		_ = tx.Set("kept", []byte("new"), 0)
		_ = tx.SAdd("s", "a")
		if v, ok, err := tx.Get("kept"); err != nil || !ok || string(v) != "new" {
			t.Errorf("read-your-write in a failing fn: %q %v %v", v, ok, err)
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want fn's error as is", err)
	}
	if _, ok := get(t, r, "new"); ok {
		t.Fatal("write of a failed fn applied")
	}
	if v, _ := get(t, r, "kept"); v != "old" {
		t.Fatalf("kept = %q", v)
	}
	if m, _ := r.Members(ctx, "s"); len(m) != 0 {
		t.Fatalf("set of a failed fn: %v", m)
	}
}

func TestReadYourWrites(t *testing.T) {
	r := redistest.New(t)
	set(t, r, "a", "1", 0)
	if err := r.Update(ctx, func(tx store.Tx) error { return tx.SAdd("s", "x", "y") }); err != nil {
		t.Fatal(err)
	}
	err := r.Update(ctx, func(tx store.Tx) error {
		if v, ok, _ := tx.Get("a"); !ok || string(v) != "1" {
			return fmt.Errorf("a = %q %v", v, ok)
		}
		_ = tx.Set("a", []byte("2"), 0)
		if v, _, _ := tx.Get("a"); string(v) != "2" {
			return fmt.Errorf("a after Set = %q", v)
		}
		_ = tx.Del("a")
		if _, ok, _ := tx.Get("a"); ok {
			return errors.New("a visible after Del")
		}
		_ = tx.Set("b", []byte("ttl"), time.Minute)
		if v, ok, _ := tx.Get("b"); !ok || string(v) != "ttl" {
			return fmt.Errorf("b = %q %v", v, ok)
		}
		m, _ := tx.SMembers("s")
		if !slices.Equal(m, []string{"x", "y"}) {
			return fmt.Errorf("s = %v", m)
		}
		_ = tx.SRem("s", "x")
		_ = tx.SAdd("s", "z", "a")
		_ = tx.SAdd("t", "1")
		if m, _ := tx.SMembers("s"); !slices.Equal(m, []string{"a", "y", "z"}) {
			return fmt.Errorf("s after changes = %v", m)
		}
		if m, _ := tx.SMembers("t"); !slices.Equal(m, []string{"1"}) {
			return fmt.Errorf("t = %v", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, r, "a"); ok {
		t.Fatal("a not deleted")
	}
	if v, _ := get(t, r, "b"); v != "ttl" {
		t.Fatalf("b = %q", v)
	}
	if m, _ := r.Members(ctx, "s"); !slices.Equal(m, []string{"a", "y", "z"}) {
		t.Fatalf("s = %v", m)
	}
}

func TestConcurrentCounter(t *testing.T) {
	r := redistest.New(t)
	const workers, each = 20, 10
	type counter struct{ N int }
	var wg sync.WaitGroup
	var attempts atomic.Int64
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := r.Update(ctx, func(tx store.Tx) error {
					attempts.Add(1)
					var c counter
					if v, ok, err := tx.Get("counter"); err != nil {
						return err
					} else if ok {
						if err := json.Unmarshal(v, &c); err != nil {
							return err
						}
					}
					c.N++
					b, _ := json.Marshal(c)
					return tx.Set("counter", b, 0)
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v, _ := get(t, r, "counter")
	var c counter
	_ = json.Unmarshal([]byte(v), &c)
	if c.N != workers*each {
		t.Fatalf("counter = %d, want %d", c.N, workers*each)
	}
	t.Logf("%d increments took %d attempts", workers*each, attempts.Load())
}

func TestConflictRetries(t *testing.T) {
	r := redistest.New(t)
	c := raw(t)
	key := "{" + r.Namespace() + "}:k:x"
	set(t, r, "x", "1", 0)

	// Another writer changes x after fn read it: fn runs again.
	runs := 0
	err := r.Update(ctx, func(tx store.Tx) error {
		runs++
		v, _, err := tx.Get("x")
		if err != nil {
			return err
		}
		if runs == 1 {
			c.Set(ctx, key, "other", 0)
		}
		return tx.Set("x", append(v, '+'), 0)
	})
	if err != nil || runs != 2 {
		t.Fatalf("Update: %v after %d runs, want success after 2", err, runs)
	}
	if v, _ := get(t, r, "x"); v != "other+" {
		t.Fatalf("x = %q, want other+", v)
	}

	// A set read counts too.
	runs = 0
	err = r.Update(ctx, func(tx store.Tx) error {
		runs++
		m, err := tx.SMembers("s")
		if err != nil {
			return err
		}
		if runs == 1 {
			c.SAdd(ctx, "{"+r.Namespace()+"}:s:s", "intruder")
		}
		return tx.Set("count", []byte(strconv.Itoa(len(m))), 0)
	})
	if v, _ := get(t, r, "count"); err != nil || runs != 2 || v != "1" {
		t.Fatalf("set conflict: err %v, runs %d, count %q", err, runs, v)
	}

	// An error decided on reads that changed meanwhile is not trusted: fn
	// runs again and sees the new state.
	runs = 0
	err = r.Update(ctx, func(tx store.Tx) error {
		runs++
		v, _, err := tx.Get("x")
		if err != nil {
			return err
		}
		if runs == 1 {
			c.Set(ctx, key, "fine", 0)
			return errors.New("x is not fine")
		}
		if string(v) != "fine" {
			return errors.New("x is still not fine")
		}
		return nil
	})
	if err != nil || runs != 2 {
		t.Fatalf("error on stale reads: %v after %d runs", err, runs)
	}

	// A read-only fn is validated as well.
	runs = 0
	err = r.Update(ctx, func(tx store.Tx) error {
		runs++
		_, _, err := tx.Get("x")
		if runs == 1 {
			c.Set(ctx, key, "changed", 0)
		}
		return err
	})
	if err != nil || runs != 2 {
		t.Fatalf("read-only: %v after %d runs", err, runs)
	}

	// Losing every time ends in ErrConflict.
	runs = 0
	start := time.Now()
	err = r.Update(ctx, func(tx store.Tx) error {
		runs++
		if _, _, err := tx.Get("x"); err != nil {
			return err
		}
		c.Set(ctx, key, strconv.Itoa(runs), 0)
		return tx.Set("x", []byte("mine"), 0)
	})
	if !errors.Is(err, store.ErrConflict) || runs != 50 {
		t.Fatalf("always losing: %v after %d runs, want ErrConflict after 50", err, runs)
	}
	if v, _ := get(t, r, "x"); v != "50" {
		t.Fatalf("x = %q after a failed Update", v)
	}
	t.Logf("50 lost attempts took %v", time.Since(start))

	// Blind writes need no retry.
	runs = 0
	err = r.Update(ctx, func(tx store.Tx) error {
		runs++
		c.Set(ctx, key, "other", 0)
		return tx.Set("x", []byte("blind"), 0)
	})
	if v, _ := get(t, r, "x"); err != nil || runs != 1 || v != "blind" {
		t.Fatalf("blind write: %v, %d runs, x=%q", err, runs, v)
	}
}

// recv waits for the next invalidation.
func recv(t *testing.T, ch <-chan []string, within time.Duration) ([]string, bool) {
	t.Helper()
	select {
	case keys, ok := <-ch:
		if !ok {
			t.Fatal("invalidation channel closed")
		}
		return keys, true
	case <-time.After(within):
		return nil, false
	}
}

// subscribed waits for the nil that confirms the subscription.
func subscribed(t *testing.T, r *redisstore.Redis) {
	t.Helper()
	keys, ok := recv(t, r.Invalidations(), 3*time.Second)
	if !ok || keys != nil {
		t.Fatalf("no subscription confirmation (nil) on Invalidations: %v %v", keys, ok)
	}
}

func TestInvalidation(t *testing.T) {
	opts, _ := redistest.Open(t)
	a, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	subscribed(t, a)
	subscribed(t, b)

	err = a.Update(ctx, func(tx store.Tx) error {
		_ = tx.Set("user:1", []byte("{}"), 0)
		_ = tx.Del("username:bob")
		_ = tx.Set("user:1", []byte(`{"v":2}`), 0)
		return tx.SAdd("users", "1")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user:1", "username:bob"}
	for name, r := range map[string]*redisstore.Redis{"other backend": b, "writer": a} {
		keys, ok := recv(t, r.Invalidations(), time.Second)
		if !ok || !slices.Equal(keys, want) {
			t.Fatalf("%s received %q (%v), want %q within 1s", name, keys, ok, want)
		}
	}

	// Nothing is published for failed, read-only or set-only transactions.
	_ = a.Update(ctx, func(tx store.Tx) error { _ = tx.Set("x", nil, 0); return errors.New("no") })
	_ = a.Update(ctx, func(tx store.Tx) error { _, _, err := tx.Get("x"); return err })
	_ = a.Update(ctx, func(tx store.Tx) error { return tx.SAdd("users", "2") })
	set(t, a, "marker", "", 0)
	if keys, ok := recv(t, b.Invalidations(), time.Second); !ok || !slices.Equal(keys, []string{"marker"}) {
		t.Fatalf("got %q (%v), want only the marker", keys, ok)
	}

	// Another namespace is not heard.
	other := redistest.New(t)
	subscribed(t, other)
	set(t, a, "y", "", 0)
	if keys, ok := recv(t, other.Invalidations(), 200*time.Millisecond); ok {
		t.Fatalf("other namespace received %q", keys)
	}
}

func TestInvalidationAfterReconnect(t *testing.T) {
	opts, _ := redistest.Open(t)
	// An injected client with a name, to find the subscription connection.
	copts := *redistest.Server(t)
	copts.ClientName = opts.Namespace
	client := redis.NewClient(&copts)
	defer client.Close()
	b, err := redisstore.New(ctx, redisstore.Options{Client: client, Namespace: opts.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	subscribed(t, b)

	list, err := raw(t).ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+opts.Namespace+" ") && strings.Contains(line, "sub=1") {
			for _, f := range strings.Fields(line) {
				if id, ok := strings.CutPrefix(f, "id="); ok {
					n, _ := strconv.ParseInt(id, 10, 64)
					if err := raw(t).ClientKillByFilter(ctx, "ID", strconv.FormatInt(n, 10)).Err(); err != nil {
						t.Fatal(err)
					}
					killed++
				}
			}
		}
	}
	if killed != 1 {
		t.Fatalf("found %d subscription connections to kill in:\n%s", killed, list)
	}
	// The resubscription is announced with a nil (purge everything) ...
	subscribed(t, b)
	// ... and messages flow again.
	set(t, a, "after", "", 0)
	if keys, ok := recv(t, b.Invalidations(), time.Second); !ok || !slices.Equal(keys, []string{"after"}) {
		t.Fatalf("after reconnect: %q %v", keys, ok)
	}
}

func TestInvalidationOverflow(t *testing.T) {
	opts, _ := redistest.Open(t)
	a, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	subscribed(t, a)
	subscribed(t, b)
	// Nobody reads b's channel: it fills, and the subscriber must go on.
	const writes = 1500
	for i := range writes {
		set(t, a, "k"+strconv.Itoa(i), "", 0)
	}
	set(t, a, "last", "", 0)
	var got [][]string
	for {
		keys, ok := recv(t, b.Invalidations(), 500*time.Millisecond)
		if !ok {
			break
		}
		got = append(got, keys)
	}
	if len(got) < 1000 || len(got) > writes {
		t.Fatalf("received %d messages for %d writes", len(got), writes+1)
	}
	// Messages arrive in order; each dropped one must be followed by a nil
	// somewhere after the message received just before it.
	lastNil, dropped, prev := -1, 0, -1 // prev: position of the last message received before a gap
	pos := map[string]int{}
	for i, keys := range got {
		if keys == nil {
			lastNil = i
		} else {
			pos[keys[0]] = i
		}
	}
	for i := range writes {
		p, ok := pos["k"+strconv.Itoa(i)]
		if ok {
			prev = p
			continue
		}
		dropped++
		if lastNil < prev {
			t.Fatalf("k%d dropped after message %d, but the last nil is at %d", i, prev, lastNil)
		}
	}
	if dropped == 0 || lastNil < 0 {
		t.Fatalf("nothing dropped (%d) or no nil (%d): the test did not overflow the channel", dropped, lastNil)
	}
	t.Logf("%d messages received, %d dropped, last nil at %d", len(got), dropped, lastNil)
	// And it still works afterwards.
	set(t, a, "again", "", 0)
	if keys, ok := recv(t, b.Invalidations(), time.Second); !ok || !slices.Equal(keys, []string{"again"}) {
		t.Fatalf("after overflow: %q %v", keys, ok)
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestUnavailable(t *testing.T) {
	start := time.Now()
	r, err := redisstore.New(ctx, redisstore.Options{Addr: closedPort(t), Namespace: redistest.Namespace()})
	if err != nil {
		t.Fatalf("New must not fail on an unreachable Redis: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("New took %v", d)
	}
	check := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		err := f()
		d := time.Since(start)
		t.Logf("%s: %v after %v", what, err, d)
		if d > 2500*time.Millisecond {
			t.Errorf("%s took %v", what, d)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", what, err)
		}
	}
	check("Get", func() error { _, _, err := r.Get(ctx, "x"); return err })
	check("Members", func() error { _, err := r.Members(ctx, "x"); return err })
	check("Scan", func() error { _, _, err := r.Scan(ctx, "x", 0, 10); return err })
	check("Ping", func() error { return r.Ping(ctx) })
	check("Update", func() error {
		return r.Update(ctx, func(tx store.Tx) error {
			if _, _, err := tx.Get("x"); err != nil {
				return err
			}
			return tx.Set("x", nil, 0)
		})
	})
	check("blind Update", func() error {
		return r.Update(ctx, func(tx store.Tx) error { return tx.Set("x", nil, 0) })
	})
	start = time.Now()
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, ok := <-r.Invalidations(); ok {
		t.Error("Invalidations not closed by Close")
	}
	check("Get after Close", func() error { _, _, err := r.Get(ctx, "x"); return err })
}

// A blackholed address (nothing answers, nothing refuses) fails within the
// dial timeout too.
func TestUnavailableTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	// A listener that never accepts: connections hang in the backlog... on
	// Linux they complete, so the client waits for a reply that never comes.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	r, err := redisstore.New(ctx, redisstore.Options{Addr: l.Addr().String(), Namespace: redistest.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New: %v", time.Since(start))
	start = time.Now()
	_, _, err = r.Get(ctx, "x")
	if d := time.Since(start); !errors.Is(err, store.ErrUnavailable) || d > 4500*time.Millisecond {
		t.Fatalf("Get on a silent server: %v after %v", err, d)
	}
	t.Logf("Get: %v after %v", err, time.Since(start))
	start = time.Now()
	_ = r.Close()
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("Close took %v", d)
	}
	t.Logf("Close: %v", time.Since(start))
}

func TestLogicErrorsAreNotUnavailable(t *testing.T) {
	r := redistest.New(t)
	c := raw(t)
	c.HSet(ctx, "{"+r.Namespace()+"}:k:hash", "f", "v")
	_, _, err := r.Get(ctx, "hash")
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("WRONGTYPE: %v", err)
	}
	err = r.Update(ctx, func(tx store.Tx) error { _, _, err := tx.Get("hash"); return err })
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("WRONGTYPE in Update: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.Get(cctx, "x"); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("canceled context: %v", err)
	}
}

func TestNamespace(t *testing.T) {
	if _, err := redisstore.New(ctx, redisstore.Options{Addr: closedPort(t), Namespace: "a{b}"}); err == nil {
		t.Fatal("namespace with braces accepted")
	}
	r, err := redisstore.New(ctx, redisstore.Options{Addr: closedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Namespace() != "EG" {
		t.Fatalf("default namespace %q", r.Namespace())
	}
}
