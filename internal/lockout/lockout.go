// Package lockout limits failed authentications so that guessers are
// slowed down and strangers cannot lock anyone out. A Guard counts each
// failure under three keys, on the gateway's rate limiter (shared by every
// node on Redis):
//
//   - the account and the client address: past PerAccountAndAddress, that
//     address waits for that account (the person typing, or the guesser);
//   - the address alone: past PerAddress, the address waits for every
//     account (one address spraying one password over many accounts);
//   - the account alone: past PerAccount, only addresses that failed for
//     the account in the last PerAccount.Window wait. An address with no
//     failure for it is never refused on the account's count, so
//     failures sent from elsewhere cannot lock the real owner out: the
//     account limit delays guessers spread over many addresses, who get
//     one try per fresh address, and never blocks the right secret from
//     a clean address.
//
// Counts decay (GCRA): after N failures one more is let through every
// window/N. Nothing is reset on success: a success proves the secret, not
// that the earlier failures were the same person's. A limiter outage
// blocks nobody (the failures it misses are bounded by the bcrypt gate).
//
// IPv6 clients are counted per /64, the smallest block a network is
// usually given, so that one host cannot dodge the limits by walking its
// own prefix.
package lockout

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
)

// Rate is a number of failures per window; Failures <= 0 turns it off.
type Rate struct {
	Failures int
	Window   time.Duration
}

func (r Rate) on() bool { return r.Failures > 0 && r.Window > 0 }

// Limits are one guard's three limits.
type Limits struct {
	PerAccountAndAddress, PerAddress, PerAccount Rate
}

// Defaults of each guard (system.config.yml's failureLimits).
var (
	// SignIn guards user passwords (the sign-in page, the password
	// grant): 5 per minute per user and address, as before; 20 per 5
	// minutes per address, so spraying 30 users is refused; 100 per hour
	// per user.
	SignIn = Limits{Rate{5, time.Minute}, Rate{20, 5 * time.Minute}, Rate{100, time.Hour}}
	// ClientAuth guards client secrets at the token endpoint: 20 per
	// minute per client and address, as before.
	ClientAuth = Limits{Rate{20, time.Minute}, Rate{60, 5 * time.Minute}, Rate{200, time.Hour}}
	// BasicAuth and KeyAuth guard the policies.
	BasicAuth = Limits{Rate{10, time.Minute}, Rate{30, 5 * time.Minute}, Rate{100, time.Hour}}
	KeyAuth   = Limits{Rate{10, time.Minute}, Rate{30, 5 * time.Minute}, Rate{100, time.Hour}}
)

// FromConfig applies a failureLimits entry over def.
func FromConfig(c *config.FailureGuard, def Limits) Limits {
	if c == nil {
		return def
	}
	apply := func(r *Rate, c *config.FailureRate) {
		if c == nil {
			return
		}
		switch {
		case c.Failures < 0:
			r.Failures = 0
		case c.Failures > 0:
			r.Failures = c.Failures
		}
		if c.Window > 0 {
			r.Window = time.Duration(c.Window)
		}
	}
	apply(&def.PerAccountAndAddress, c.PerAccountAndAddress)
	apply(&def.PerAddress, c.PerAddress)
	apply(&def.PerAccount, c.PerAccount)
	return def
}

// Scope says which limit refused an attempt.
type Scope string

// The scopes, also the reason codes' suffixes.
const (
	ScopeAddress           Scope = "address"
	ScopeAccountAndAddress Scope = "account_address"
	ScopeAccount           Scope = "account"
)

// Verdict is Check's answer.
type Verdict struct {
	Blocked    bool
	Scope      Scope
	RetryAfter time.Duration
}

// Seconds is RetryAfter in whole seconds, rounded up, at least 1: the
// Retry-After value.
func (v Verdict) Seconds() int {
	s := int((v.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Guard counts one kind of failure (sign-in, client authentication,
// basic-auth, key-auth). It is safe for concurrent use.
type Guard struct {
	l      ratelimit.Limiter
	prefix string
	lim    Limits
}

// New returns a guard whose keys are named after name on l.
func New(l ratelimit.Limiter, name string, lim Limits) *Guard {
	return &Guard{l: l, prefix: "lockout:" + name + ":", lim: lim}
}

// Limits are the guard's limits.
func (g *Guard) Limits() Limits { return g.lim }

// timeout bounds a limiter call: an attempt is never held up longer by a
// slow Redis.
const timeout = time.Second

// queries are a guard's keys for one attempt, in the order Check reads.
type queries struct {
	q [4]ratelimit.Query
	n int
	// indexes in q, -1 when the limit is off
	addr, pair, mark, acct int
}

// detached is v with keys of their own, in one string: a limiter keeps
// the keys it counts under (Allow), and would keep all of keyBuf through
// a view. Built field by field, so that nothing of v's keys flows into it
// (and v's buffer can stay on the stack).
func (v *queries) detached() queries {
	qs := queries{n: v.n, addr: v.addr, pair: v.pair, mark: v.mark, acct: v.acct}
	size := 0
	for i := range v.n {
		size += len(v.q[i].Key)
	}
	var sb strings.Builder
	sb.Grow(size)
	for i := range v.n {
		sb.WriteString(v.q[i].Key)
	}
	all, at := sb.String(), 0
	for i := range v.n {
		k := len(v.q[i].Key)
		qs.q[i] = ratelimit.Query{Key: all[at : at+k], Limit: v.q[i].Limit, Window: v.q[i].Window}
		at += k
	}
	return qs
}

// keyBuf is where queries writes the keys; the caller's, so that it can
// stay on the caller's stack.
type keyBuf [320]byte

// queries builds the keys of account and addr into buf, and makes them
// strings without copying: views of bytes that nothing writes once the
// views exist, as a string(b) is. Where a key may outlive the call (a
// limiter that keeps its keys: Allow, any limiter through its interface),
// the compiler puts buf on the heap, one allocation for every key. The
// queries are returned, not written through a pointer: the compiler takes
// a store through a pointer parameter for one to the heap.
func (g *Guard) queries(buf *keyBuf, account string, addr netip.Addr) queries {
	qs := queries{addr: -1, pair: -1, mark: -1, acct: -1}
	b := buf[:0]
	var ends [4][2]int // start and end of each key in b
	var rates [4]Rate
	key := func(idx *int, kind string, withAcct, withAddr bool, r Rate) {
		start := len(b)
		b = append(b, g.prefix...)
		b = append(b, kind...)
		if withAcct {
			b = appendAccount(b, account)
		}
		if withAcct && withAddr {
			b = append(b, ':')
		}
		if withAddr {
			b = appendAddr(b, addr)
		}
		*idx = qs.n
		ends[qs.n] = [2]int{start, len(b)}
		rates[qs.n] = r
		qs.n++
	}
	if r := g.lim.PerAddress; r.on() {
		key(&qs.addr, "a:", false, true, r)
	}
	if r := g.lim.PerAccountAndAddress; r.on() {
		key(&qs.pair, "p:", true, true, r)
	}
	if r := g.lim.PerAccount; r.on() {
		// mark: this address failed for this account within the window.
		key(&qs.mark, "m:", true, true, Rate{1, r.Window})
		key(&qs.acct, "c:", true, false, r)
	}
	all := unsafe.String(unsafe.SliceData(b), len(b)) // b is not written again
	for i := 0; i < qs.n; i++ {
		qs.q[i] = ratelimit.Query{Key: all[ends[i][0]:ends[i][1]], Limit: rates[i].Failures, Window: rates[i].Window}
	}
	return qs
}

// limiterContext bounds a call to a remote limiter, and keeps counting
// when the client goes away (a failure is a failure); the in-process
// limiter needs neither.
func (g *Guard) limiterContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := g.l.(*ratelimit.Local); ok {
		return ctx, nop
	}
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}

func nop() {}

// Check tells whether an attempt for account from addr must wait. It
// counts nothing.
func (g *Guard) Check(ctx context.Context, account string, addr netip.Addr) Verdict {
	var buf keyBuf
	qs := g.queries(&buf, account, addr)
	if qs.n == 0 {
		return Verdict{}
	}
	ctx, cancel := g.limiterContext(ctx)
	defer cancel()
	var out [4]ratelimit.Decision
	if err := g.peek(ctx, qs.q[:qs.n], out[:qs.n]); err != nil {
		return Verdict{} // an outage blocks nobody
	}
	refused := func(i int) bool { return i >= 0 && !out[i].Allowed }
	switch {
	case refused(qs.addr):
		return Verdict{Blocked: true, Scope: ScopeAddress, RetryAfter: out[qs.addr].RetryAfter}
	case refused(qs.pair):
		return Verdict{Blocked: true, Scope: ScopeAccountAndAddress, RetryAfter: out[qs.pair].RetryAfter}
	case refused(qs.acct) && refused(qs.mark):
		// Wait for the account's next attempt, or until this address's
		// failure is older than the window, whichever comes first.
		return Verdict{Blocked: true, Scope: ScopeAccount, RetryAfter: min(out[qs.acct].RetryAfter, out[qs.mark].RetryAfter)}
	}
	return Verdict{}
}

// peek answers qs into out without counting. Check runs on every
// authenticated request: the in-process limiter is called as itself, so
// that qs and out stay on Check's stack; through the Limiter interface
// the compiler must assume they escape (two allocations per request).
// Any other limiter (Redis: a round trip anyway) gets copies of its own,
// keys included, which keeps the keys' buffer on Check's stack too
// (Local.Peek keeps no key).
func (g *Guard) peek(ctx context.Context, qs []ratelimit.Query, out []ratelimit.Decision) error {
	if l, ok := g.l.(*ratelimit.Local); ok {
		return l.PeekAll(ctx, qs, out)
	}
	heap := make([]ratelimit.Decision, len(out))
	own := make([]ratelimit.Query, len(qs))
	for i, q := range qs {
		own[i] = ratelimit.Query{Key: strings.Clone(q.Key), Limit: q.Limit, Window: q.Window}
	}
	err := ratelimit.Batch(ctx, g.l, false, own, heap)
	copy(out, heap)
	return err
}

// Fail counts a failed attempt for account from addr.
func (g *Guard) Fail(ctx context.Context, account string, addr netip.Addr) {
	var buf keyBuf
	view := g.queries(&buf, account, addr)
	qs := view.detached()
	if qs.n == 0 {
		return
	}
	ctx, cancel := g.limiterContext(ctx)
	defer cancel()
	var out [4]ratelimit.Decision
	_ = ratelimit.Batch(ctx, g.l, true, qs.q[:qs.n], out[:qs.n])
}

// appendAddr appends the address a client is counted under: IPv4 whole,
// IPv6 by its /64.
func appendAddr(b []byte, a netip.Addr) []byte {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.AppendTo(b)
	}
	return a.AppendTo(b)
}

// appendAccount appends an account's name in keys: a hash, since account
// names come from requests and their length and characters are the
// sender's to choose.
func appendAccount(b []byte, account string) []byte {
	sum := sha256.Sum256([]byte(account))
	return base64.RawURLEncoding.AppendEncode(b, sum[:18])
}

// Set is the gateway's guards, one per kind of secret.
type Set struct {
	SignIn, ClientAuth, BasicAuth, KeyAuth *Guard
}

// NewSet builds the guards from system.config.yml's failureLimits (nil:
// the defaults), counting on l.
func NewSet(l ratelimit.Limiter, c *config.FailureLimits) *Set {
	if c == nil {
		c = &config.FailureLimits{}
	}
	return &Set{
		SignIn:     New(l, "sign-in", FromConfig(c.SignIn, SignIn)),
		ClientAuth: New(l, "client", FromConfig(c.ClientAuth, ClientAuth)),
		BasicAuth:  New(l, "basic-auth", FromConfig(c.BasicAuth, BasicAuth)),
		KeyAuth:    New(l, "key-auth", FromConfig(c.KeyAuth, KeyAuth)),
	}
}
