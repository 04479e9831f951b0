package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
)

// errRetry makes go-redis's Watch return after a failed EXEC; Update
// retries.
var errRetry = errors.New("redisstore: retry")

// Update runs fn in an optimistic WATCH/MULTI/EXEC transaction, running it
// again from scratch when another writer changed a key it read, at most
// maxAttempts times (then store.ErrConflict). An error of fn is returned
// as it is, and nothing is written.
func (r *Redis) Update(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var fnErr error
		conflict := false
		err := r.c.Watch(ctx, func(rt *redis.Tx) error {
			t := &tx{
				r: r, ctx: ctx, rt: rt,
				kv: map[string]*pendingValue{}, sets: map[string]map[string]pendingMember{},
				reads: map[string]readValue{}, setReads: map[string][]string{},
			}
			fnErr, conflict = t.run(fn)
			if conflict {
				return errRetry
			}
			return fnErr
		}, r.anchor...)
		if conflict {
			continue
		}
		if fnErr != nil {
			return fnErr
		}
		return wrap(err)
	}
	return store.ErrConflict
}

// tx is one attempt of an Update: a sticky connection with the keys read so
// far WATCHed, and the buffered writes.
type tx struct {
	r     *Redis
	ctx   context.Context
	rt    *redis.Tx
	armed bool  // keys are WATCHed on rt's connection
	fail  error // first backend error: the attempt cannot commit

	kv    map[string]*pendingValue // buffered Set (nil: Del)
	order []string                 // keys of kv, first write first
	sets  map[string]map[string]pendingMember

	reads    map[string]readValue // values read from Redis (WATCHed)
	setReads map[string][]string  // sets read from Redis (WATCHed)
}

type pendingValue struct {
	val []byte
	exp time.Time // zero: no expiry
}

func (p *pendingValue) live() bool { return p != nil && (p.exp.IsZero() || time.Now().Before(p.exp)) }

// pendingMember is a buffered set change.
type pendingMember struct {
	in  bool      // false: SRem
	exp time.Time // zero: no expiry
}

func (p pendingMember) live() bool { return p.in && (p.exp.IsZero() || time.Now().Before(p.exp)) }

// addExpiring adds the expiring members of a transaction's sets on
// Redis's clock, as PX does for values; for each set it drops the members
// already expired, adds the new ones (and takes them out of the plain
// members), and extends the sorted set's own TTL to its furthest member
// (a TTL that only grows, to the longest ttl added), so that a set is
// trimmed on every write and goes with its last member. One call serves
// every set of the transaction (a token's consumer and family indexes):
// KEYS are each set's sorted set then plain set, ARGV for each set its
// number of members then, per member, its ttl (ms) and itself.
const addExpiring = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local a = 1
for k = 1, #KEYS, 2 do
  local z, plain, n = KEYS[k], KEYS[k + 1], tonumber(ARGV[a])
  a = a + 1
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  local longest = 0
  for i = 1, n do
    local ttl = tonumber(ARGV[a])
    redis.call('ZADD', z, string.format('%d', now + ttl), ARGV[a + 1])
    redis.call('SREM', plain, ARGV[a + 1])
    if ttl > longest then longest = ttl end
    a = a + 2
  end
  if redis.call('PTTL', z) < longest then
    redis.call('PEXPIRE', z, longest)
  end
end
return 0
`

// remaining is what is left of a buffered expiry at commit time, in whole
// milliseconds rounded as SET PX takes them; ok is false once it passed.
func remaining(exp time.Time) (time.Duration, bool) {
	ttl := time.Until(exp)
	switch {
	case ttl <= 0:
		return 0, false
	case ttl < time.Millisecond:
		return time.Millisecond, true
	default:
		return ttl.Round(time.Millisecond), true
	}
}

type readValue struct {
	val []byte
	ok  bool
}

// run runs fn and commits its writes. It reports fn's error (or a backend
// one), or conflict when the attempt must be retried.
func (t *tx) run(fn func(store.Tx) error) (err error, conflict bool) {
	defer func() {
		if t.armed { // not EXECuted: do not leave WATCHes on a pooled connection
			ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), WriteTimeout)
			_ = t.rt.Unwatch(ctx).Err()
			cancel()
		}
	}()
	if err := fn(t); err != nil {
		if t.fail == nil && t.armed {
			// fn's verdict counts only if what it read still holds.
			if ok, verr := t.commit(false); verr == nil && !ok {
				return nil, true
			}
		}
		return err, false
	}
	if t.fail != nil { // fn ignored a backend error: do not commit on what it missed
		return t.fail, false
	}
	writes := len(t.order) > 0 || len(t.sets) > 0
	if !writes && !t.armed {
		return nil, false
	}
	ok, err := t.commit(writes)
	if err != nil {
		return err, false
	}
	return nil, !ok
}

// commit EXECs the buffered writes (or only checks the WATCHes when writes
// is false). ok is false when a watched key changed.
func (t *tx) commit(writes bool) (ok bool, err error) {
	ctx := t.ctx
	_, err = t.rt.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if writes {
			t.queueValues(p)
			t.queueSets(p)
			if len(t.order) > 0 {
				msg, err := json.Marshal(t.order)
				if err != nil {
					return err
				}
				p.Publish(ctx, t.r.channel, msg)
			}
		}
		if p.Len() == 0 {
			p.Ping(ctx) // EXEC of nothing still checks the WATCHes
		}
		return nil
	})
	switch {
	case err == nil:
		t.armed = false
		return true, nil
	case errors.Is(err, redis.TxFailedErr):
		t.armed = false
		return false, nil
	default:
		if redis.IsExecAbortError(err) {
			t.armed = false
		}
		t.fail = wrap(err)
		return false, t.fail
	}
}

// queueValues adds the buffered value writes to the transaction, in the
// order they were first written.
func (t *tx) queueValues(p redis.Pipeliner) {
	for _, k := range t.order {
		e := t.kv[k]
		var ttl time.Duration
		if e != nil && !e.exp.IsZero() {
			var ok bool
			if ttl, ok = remaining(e.exp); !ok {
				e = nil // expired before the commit
			}
		}
		if e == nil {
			p.Del(t.ctx, t.r.key(k))
		} else {
			p.Set(t.ctx, t.r.key(k), e.val, ttl)
		}
	}
}

// queueSets adds the buffered set changes to the transaction: plain
// members to the set, expiring ones through one addExpiring script for
// all the sets, removals from both.
func (t *tx) queueSets(p redis.Pipeliner) {
	var zkeys []string // addExpiring's KEYS and ARGV
	var zargs []any
	for set, members := range t.sets {
		var add, expiring, rem []any
		for m, pm := range members {
			switch {
			case !pm.in:
				rem = append(rem, m)
			case pm.exp.IsZero():
				add = append(add, m)
			default:
				ttl, ok := remaining(pm.exp)
				if !ok { // expired before the commit
					rem = append(rem, m)
					continue
				}
				expiring = append(expiring, ttl.Milliseconds(), m)
			}
		}
		plain, zset := t.r.set(set), t.r.zset(set)
		if len(add) > 0 {
			p.SAdd(t.ctx, plain, add...)
			p.ZRem(t.ctx, zset, add...)
		}
		if len(expiring) > 0 {
			zkeys = append(zkeys, zset, plain)
			zargs = append(append(zargs, len(expiring)/2), expiring...)
		}
		if len(rem) > 0 {
			p.SRem(t.ctx, plain, rem...)
			p.ZRem(t.ctx, zset, rem...)
		}
	}
	if len(zkeys) > 0 {
		p.Eval(t.ctx, addExpiring, zkeys, zargs...)
	}
}

// watchRead WATCHes keys and runs reads right after, in one round trip.
func (t *tx) watchRead(keys []string, reads ...redis.Cmder) error {
	if t.fail != nil {
		return t.fail
	}
	args := make([]any, 0, 1+len(keys))
	args = append(args, "watch")
	for _, k := range keys {
		args = append(args, k)
	}
	watch := redis.NewStatusCmd(t.ctx, args...)
	_, err := t.rt.Pipelined(t.ctx, func(p redis.Pipeliner) error {
		_ = p.Process(t.ctx, watch)
		for _, read := range reads {
			if err := p.Process(t.ctx, read); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || err == redis.Nil {
		err = watch.Err()
	}
	if err != nil {
		t.fail = wrap(err)
		return t.fail
	}
	t.armed = true
	return nil
}

func (t *tx) Get(key string) ([]byte, bool, error) {
	if e, ok := t.kv[key]; ok {
		if !e.live() {
			return nil, false, nil
		}
		return e.val, true, nil
	}
	if v, ok := t.reads[key]; ok {
		return v.val, v.ok, nil
	}
	get := redis.NewStringCmd(t.ctx, "get", t.r.key(key))
	if err := t.watchRead([]string{t.r.key(key)}, get); err != nil {
		return nil, false, err
	}
	b, err := get.Bytes()
	if err == redis.Nil {
		t.reads[key] = readValue{}
		return nil, false, nil
	}
	if err != nil {
		t.fail = wrap(err)
		return nil, false, t.fail
	}
	t.reads[key] = readValue{val: b, ok: true}
	return b, true, nil
}

func (t *tx) Set(key string, value []byte, ttl time.Duration) error {
	e := &pendingValue{val: append([]byte{}, value...)}
	if ttl > 0 {
		e.exp = time.Now().Add(ttl)
	}
	t.write(key, e)
	return nil
}

func (t *tx) Del(key string) error {
	t.write(key, nil)
	return nil
}

func (t *tx) write(key string, e *pendingValue) {
	if _, seen := t.kv[key]; !seen {
		t.order = append(t.order, key)
	}
	t.kv[key] = e
}

func (t *tx) change(set string, pm pendingMember, members []string) {
	if len(members) == 0 {
		return
	}
	p := t.sets[set]
	if p == nil {
		p = map[string]pendingMember{}
		t.sets[set] = p
	}
	for _, m := range members {
		p[m] = pm
	}
}

func (t *tx) SAdd(set string, members ...string) error {
	t.change(set, pendingMember{in: true}, members)
	return nil
}

func (t *tx) SAddTTL(set string, ttl time.Duration, members ...string) error {
	pm := pendingMember{in: true}
	if ttl > 0 {
		pm.exp = time.Now().Add(ttl)
	}
	t.change(set, pm, members)
	return nil
}

func (t *tx) SRem(set string, members ...string) error {
	t.change(set, pendingMember{}, members)
	return nil
}

func (t *tx) SMembers(set string) ([]string, error) {
	base, ok := t.setReads[set]
	if !ok {
		plain := redis.NewStringSliceCmd(t.ctx, "smembers", t.r.set(set))
		expiring := redis.NewStringSliceCmd(t.ctx, "zrange", t.r.zset(set), 0, -1)
		if err := t.watchRead([]string{t.r.set(set), t.r.zset(set)}, plain, expiring); err != nil {
			return nil, err
		}
		for _, cmd := range []*redis.StringSliceCmd{plain, expiring} {
			if err := cmd.Err(); err != nil {
				t.fail = wrap(err)
				return nil, t.fail
			}
		}
		base = append(plain.Val(), expiring.Val()...)
		t.setReads[set] = base
	}
	pending := t.sets[set]
	if len(pending) == 0 {
		return dedupSorted(slices.Clone(base)), nil
	}
	cur := make(map[string]bool, len(base)+len(pending))
	for _, m := range base {
		cur[m] = true
	}
	for m, pm := range pending {
		cur[m] = pm.live()
	}
	out := make([]string, 0, len(cur))
	for m, in := range cur {
		if in {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}
