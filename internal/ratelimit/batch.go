package ratelimit

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Query is one key of a batch, with its limit.
type Query struct {
	Key    string
	Limit  int
	Window time.Duration
}

// Batcher decides several keys in one step: one round trip on Redis, where
// the failure limits (internal/lockout) look at up to four keys per
// attempt. Each key is decided as by Allow or Peek alone.
type Batcher interface {
	// AllowAll counts a request under every key (each as Allow does) and
	// writes the decisions to out (len(out) == len(qs)).
	AllowAll(ctx context.Context, qs []Query, out []Decision) error
	// PeekAll answers what Peek would for every key.
	PeekAll(ctx context.Context, qs []Query, out []Decision) error
}

// Batch decides qs with l, in one step when l is a Batcher.
func Batch(ctx context.Context, l Limiter, count bool, qs []Query, out []Decision) error {
	if b, ok := l.(Batcher); ok {
		if count {
			return b.AllowAll(ctx, qs, out)
		}
		return b.PeekAll(ctx, qs, out)
	}
	for i, q := range qs {
		var err error
		if count {
			out[i], err = l.Allow(ctx, q.Key, q.Limit, q.Window)
		} else {
			out[i], err = l.Peek(ctx, q.Key, q.Limit, q.Window)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// AllowAll counts under every key.
func (l *Local) AllowAll(ctx context.Context, qs []Query, out []Decision) error {
	for i, q := range qs {
		out[i], _ = l.Allow(ctx, q.Key, q.Limit, q.Window)
	}
	return nil
}

// PeekAll answers for every key without counting.
func (l *Local) PeekAll(ctx context.Context, qs []Query, out []Decision) error {
	for i, q := range qs {
		out[i], _ = l.Peek(ctx, q.Key, q.Limit, q.Window)
	}
	return nil
}

// batchScript is script over KEYS[1..n] with ARGV = count, then period and
// limit per key. The keys share the limiter's prefix, whose hash tag
// ("{EG}:rl:") puts them in one Redis Cluster slot.
var batchScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[2 * i])
  local limit = tonumber(ARGV[2 * i + 1])
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local nxt = tat + interval
  local allow_at = nxt - period
  if now < allow_at then
    table.insert(out, 0); table.insert(out, 0)
    table.insert(out, math.floor(allow_at - now)); table.insert(out, math.floor(tat - now))
  else
    if ARGV[1] == '1' then
      redis.call('SET', key, string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000))
    end
    table.insert(out, 1); table.insert(out, math.floor((period - (nxt - now)) / interval))
    table.insert(out, 0); table.insert(out, math.floor(nxt - now))
  end
end
return out
`)

// AllowAll counts under every key in one round trip.
func (r *Redis) AllowAll(ctx context.Context, qs []Query, out []Decision) error {
	return r.batch(ctx, qs, out, "1")
}

// PeekAll answers for every key in one round trip.
func (r *Redis) PeekAll(ctx context.Context, qs []Query, out []Decision) error {
	return r.batch(ctx, qs, out, "0")
}

func (r *Redis) batch(ctx context.Context, qs []Query, out []Decision, count string) error {
	if len(qs) == 0 {
		return nil
	}
	if !hashTagged(r.prefix) {
		// Without a hash tag the keys may live on different Redis Cluster
		// masters, which one script cannot reach: one call per key.
		for i, q := range qs {
			var err error
			if out[i], err = r.run(ctx, q.Key, q.Limit, q.Window, count); err != nil {
				return err
			}
		}
		return nil
	}
	keys := make([]string, len(qs))
	args := make([]any, 1, 1+2*len(qs))
	args[0] = count
	for i, q := range qs {
		keys[i] = r.prefix + q.Key
		args = append(args, q.Window.Microseconds(), q.Limit)
	}
	res, err := batchScript.Run(ctx, r.c, keys, args...).Int64Slice()
	if err != nil {
		return err
	}
	if len(res) != 4*len(qs) {
		return errors.New("ratelimit: unexpected answer from the batch script")
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	for i := range qs {
		v := res[4*i : 4*i+4]
		out[i] = Decision{Allowed: v[0] == 1, Remaining: int(v[1]), RetryAfter: us(v[2]), ResetAfter: us(v[3])}
	}
	return nil
}

// hashTagged reports whether every key under prefix hashes to one Redis
// Cluster slot: the prefix holds a non-empty {tag}.
func hashTagged(prefix string) bool {
	i := strings.IndexByte(prefix, '{')
	if i < 0 {
		return false
	}
	j := strings.IndexByte(prefix[i+1:], '}')
	return j > 0
}
