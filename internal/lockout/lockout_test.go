package lockout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var ctx = context.Background()

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func fresh(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}) }

func local() (*clock, ratelimit.Limiter) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	return c, ratelimit.NewLocal(c.now)
}

func TestAccountAndAddress(t *testing.T) {
	_, l := local()
	g := New(l, "t", SignIn)
	stranger, owner := ip("198.51.100.7"), ip("203.0.113.5")
	for range 5 {
		if v := g.Check(ctx, "alice", stranger); v.Blocked {
			t.Fatalf("blocked before 5 failures: %+v", v)
		}
		g.Fail(ctx, "alice", stranger)
	}
	v := g.Check(ctx, "alice", stranger)
	if !v.Blocked || v.Scope != ScopeAccountAndAddress || v.RetryAfter <= 0 || v.RetryAfter > 12*time.Second {
		t.Errorf("stranger after 5 failures: %+v, want blocked for alice, about 12 s", v)
	}
	if v.Seconds() < 1 || v.Seconds() > 12 {
		t.Errorf("Seconds = %d", v.Seconds())
	}
	if v := g.Check(ctx, "alice", owner); v.Blocked {
		t.Errorf("the stranger's failures block alice's own address: %+v", v)
	}
	if v := g.Check(ctx, "bob", stranger); v.Blocked {
		t.Errorf("the stranger is blocked for bob after 5 failures: %+v", v)
	}
}

func TestSpraying(t *testing.T) {
	_, l := local()
	g := New(l, "t", SignIn)
	a := ip("198.51.100.7")
	for i := range 20 {
		if v := g.Check(ctx, fmt.Sprint("user", i), a); v.Blocked {
			t.Fatalf("user %d blocked: %+v", i, v)
		}
		g.Fail(ctx, fmt.Sprint("user", i), a)
	}
	v := g.Check(ctx, "user20", a)
	if !v.Blocked || v.Scope != ScopeAddress || v.RetryAfter > 15*time.Second {
		t.Errorf("21st user from one address: %+v, want the address blocked (one more per 15 s)", v)
	}
	if v := g.Check(ctx, "user20", ip("198.51.100.8")); v.Blocked {
		t.Errorf("another address: %+v", v)
	}
}

// Past the account's limit, addresses that failed for it wait; a fresh
// address, the owner's, does not, and no count ever blocks it.
func TestAccountDelaysOnlyFailingAddresses(t *testing.T) {
	c, l := local()
	g := New(l, "t", Limits{PerAccountAndAddress: Rate{5, time.Minute}, PerAddress: Rate{20, 5 * time.Minute}, PerAccount: Rate{10, time.Hour}})
	for i := range 10 {
		g.Fail(ctx, "alice", fresh(i))
	}
	if v := g.Check(ctx, "alice", fresh(0)); !v.Blocked || v.Scope != ScopeAccount || v.RetryAfter <= 0 || v.RetryAfter > 6*time.Minute {
		t.Errorf("an address that failed, account spent: %+v, want a delay of at most one interval (6 min)", v)
	}
	if v := g.Check(ctx, "alice", ip("203.0.113.5")); v.Blocked {
		t.Errorf("a clean address is refused on the account's count: %+v", v)
	}
	if v := g.Check(ctx, "bob", fresh(0)); v.Blocked {
		t.Errorf("the address is refused for another account: %+v", v)
	}
	// Hundreds more failures from fresh addresses never lock the owner.
	for i := 10; i < 300; i++ {
		g.Fail(ctx, "alice", fresh(i))
	}
	if v := g.Check(ctx, "alice", ip("203.0.113.5")); v.Blocked {
		t.Errorf("after 300 failures from elsewhere: %+v", v)
	}
	// The delay is bounded: the account lets one more attempt through per
	// interval.
	c.add(6*time.Minute + time.Second)
	if v := g.Check(ctx, "alice", fresh(0)); v.Blocked {
		t.Errorf("after one interval: %+v", v)
	}
}

func TestIPv6CountedPer64(t *testing.T) {
	_, l := local()
	g := New(l, "t", SignIn)
	for i := range 5 {
		g.Fail(ctx, "alice", ip(fmt.Sprintf("2001:db8:1:2::%x", i+1)))
	}
	if v := g.Check(ctx, "alice", ip("2001:db8:1:2:ffff::9")); !v.Blocked {
		t.Errorf("another address of the same /64: %+v, want blocked", v)
	}
	if v := g.Check(ctx, "alice", ip("2001:db8:1:3::1")); v.Blocked {
		t.Errorf("another /64: %+v", v)
	}
	// IPv4-mapped is the IPv4 address.
	for range 5 {
		g.Fail(ctx, "bob", ip("::ffff:192.0.2.1"))
	}
	if v := g.Check(ctx, "bob", ip("192.0.2.1")); !v.Blocked {
		t.Errorf("mapped and plain IPv4 counted apart: %+v", v)
	}
}

func TestFromConfigAndOff(t *testing.T) {
	got := FromConfig(&config.FailureGuard{
		PerAccountAndAddress: &config.FailureRate{Failures: 3},
		PerAddress:           &config.FailureRate{Failures: -1},
		PerAccount:           &config.FailureRate{Window: config.Duration(2 * time.Hour)},
	}, SignIn)
	want := Limits{Rate{3, time.Minute}, Rate{0, 5 * time.Minute}, Rate{100, 2 * time.Hour}}
	if got != want {
		t.Errorf("FromConfig = %+v, want %+v", got, want)
	}
	if FromConfig(nil, KeyAuth) != KeyAuth {
		t.Error("nil config changes the defaults")
	}
	_, l := local()
	g := New(l, "t", Limits{})
	for range 100 {
		g.Fail(ctx, "alice", ip("192.0.2.1"))
	}
	if v := g.Check(ctx, "alice", ip("192.0.2.1")); v.Blocked {
		t.Errorf("limits off: %+v", v)
	}
}

type down struct{}

func (down) Allow(context.Context, string, int, time.Duration) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("down")
}
func (down) Peek(context.Context, string, int, time.Duration) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("down")
}

func TestOutageBlocksNobody(t *testing.T) {
	g := New(down{}, "t", SignIn)
	g.Fail(ctx, "alice", ip("192.0.2.1"))
	if v := g.Check(ctx, "alice", ip("192.0.2.1")); v.Blocked {
		t.Errorf("outage: %+v", v)
	}
}

// On Redis the counts are shared: failures counted by one node block on
// another, and the keys expire.
func TestRedisShared(t *testing.T) {
	opts := redistest.Server(t)
	c := redis.NewClient(opts)
	defer c.Close()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "{lockout-" + hex.EncodeToString(b) + "}:rl:"
	defer func() {
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	}()
	n1 := New(ratelimit.NewRedis(c, prefix), "basic-auth", BasicAuth)
	n2 := New(ratelimit.NewRedis(redis.NewClient(opts), prefix), "basic-auth", BasicAuth)
	a := ip("198.51.100.7")
	for range 10 {
		n1.Fail(ctx, "alice", a)
	}
	if v := n2.Check(ctx, "alice", a); !v.Blocked || v.Scope != ScopeAccountAndAddress {
		t.Errorf("node 2 after 10 failures on node 1: %+v", v)
	}
	if v := n2.Check(ctx, "alice", ip("203.0.113.5")); v.Blocked {
		t.Errorf("node 2, clean address: %+v", v)
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 4 {
		t.Fatalf("keys %q %v, want 4 (address, pair, mark, account)", keys, err)
	}
	for _, k := range keys {
		if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s: TTL %v, want it to expire within the hour", k, ttl)
		}
	}
}

// wrapped hides the *ratelimit.Local under it, so that Check takes the
// path of any other limiter (Check calls the in-process one as itself).
type wrapped struct{ ratelimit.Limiter }

// Check's two paths, the in-process limiter's and any other's, give the
// same verdicts.
func TestCheckThroughAnyLimiter(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(ratelimit.Limiter) ratelimit.Limiter
	}{
		{"local", func(l ratelimit.Limiter) ratelimit.Limiter { return l }},
		{"other", func(l ratelimit.Limiter) ratelimit.Limiter { return wrapped{l} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, l := local()
			g := New(tc.wrap(l), "t", KeyAuth)
			a := ip("198.51.100.7")
			for range 10 {
				g.Fail(ctx, "key", a)
			}
			if v := g.Check(ctx, "key", a); !v.Blocked || v.Scope != ScopeAccountAndAddress {
				t.Errorf("after 10 failures: %+v, want blocked for the key and address", v)
			}
			if v := g.Check(ctx, "key", ip("203.0.113.5")); v.Blocked {
				t.Errorf("clean address: %+v", v)
			}
		})
	}
}

// Check runs on every request an auth policy lets through: with the
// in-process limiter it does not allocate (keys, queries and answers on
// its stack), after failures were counted under the keys as before.
func TestCheckAllocations(t *testing.T) {
	_, l := local()
	g := New(l, "t", KeyAuth)
	a := ip("198.51.100.7")
	g.Fail(ctx, "key", a)
	if n := testing.AllocsPerRun(100, func() { g.Check(ctx, "key", a) }); n != 0 {
		t.Errorf("Check allocates %v times, want none", n)
	}
	if v := g.Check(ctx, "key", a); v.Blocked {
		t.Errorf("blocked after one failure: %+v", v)
	}
}

// Fail hands the limiter keys of their own, in one string (the limiter
// keeps them), equal to the keys Check reads.
func TestDetachedKeys(t *testing.T) {
	_, l := local()
	g := New(l, "t", KeyAuth)
	var buf keyBuf
	view := g.queries(&buf, "key", ip("2001:db8::1"))
	qs := view.detached()
	if qs.n != 4 || qs.n != view.n || qs.addr != view.addr || qs.pair != view.pair || qs.mark != view.mark || qs.acct != view.acct {
		t.Fatalf("detached %+v, view %+v", qs, view)
	}
	for i := range qs.n {
		if qs.q[i] != view.q[i] {
			t.Errorf("query %d: %+v, want %+v", i, qs.q[i], view.q[i])
		}
	}
	clear(buf[:]) // the view's bytes go; the detached keys must not
	if !strings.HasPrefix(qs.q[0].Key, "lockout:t:") || !strings.HasPrefix(qs.q[3].Key, "lockout:t:c:") {
		t.Errorf("detached keys changed with the buffer: %+v", qs.q)
	}
	if n := testing.AllocsPerRun(10, func() { view.detached() }); n != 1 {
		t.Errorf("detached allocates %v times, want 1 (one string)", n)
	}
}
