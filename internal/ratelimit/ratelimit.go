// Package ratelimit counts requests with GCRA (the generic cell rate
// algorithm): max requests per window, spread evenly, with a burst of max.
// Local keeps the state in this process (the embedded and memory stores);
// Redis keeps it in Redis with one atomic script, so that every node shares
// one limit.
package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Decision is the outcome for one request.
type Decision struct {
	Allowed    bool
	Remaining  int
	RetryAfter time.Duration // when refused: wait this long
	ResetAfter time.Duration // until the bucket is full again
}

// Limiter decides whether a request under key may pass: limit requests per
// window.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
	// Peek answers what Allow would, without counting a request (used to
	// refuse early once failures, counted with Allow, ran out).
	Peek(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
}

// gcra computes the decision from the theoretical arrival time (tat).
func gcra(now, tat time.Time, limit int, window time.Duration) (Decision, time.Time) {
	interval := window / time.Duration(limit)
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	allowAt := next.Add(-window)
	if now.Before(allowAt) {
		return Decision{RetryAfter: allowAt.Sub(now), ResetAfter: tat.Sub(now)}, tat
	}
	left := window - next.Sub(now)
	return Decision{Allowed: true, Remaining: int(left / interval), ResetAfter: next.Sub(now)}, next
}

// Local is an in-process limiter, sharded to keep lock contention low.
type Local struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [64]shard
}

type shard struct {
	mu  sync.Mutex
	tat map[string]time.Time
	n   int
}

// NewLocal returns a limiter; now may be nil (time.Now).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	l := &Local{now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].tat = map[string]time.Time{}
	}
	return l
}

// Allow decides for key.
func (l *Local) Allow(_ context.Context, key string, limit int, window time.Duration) (Decision, error) {
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, tat := gcra(now, s.tat[key], limit, window)
	s.tat[key] = tat
	if s.n++; s.n%4096 == 0 { // drop keys whose bucket is full again
		for k, t := range s.tat {
			if !t.After(now) {
				delete(s.tat, k)
			}
		}
	}
	return d, nil
}

// Peek decides for key without counting.
func (l *Local) Peek(_ context.Context, key string, limit int, window time.Duration) (Decision, error) {
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	tat := s.tat[key]
	s.mu.Unlock()
	d, _ := gcra(l.now(), tat, limit, window)
	return d, nil
}

// Redis shares limits through Redis. The script takes the time from the
// Redis server, so nodes with skewed clocks still agree.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis limits with c, keys under prefix (e.g. "{EG}:rl:").
func NewRedis(c redis.UniversalClient, prefix string) *Redis { return &Redis{c: c, prefix: prefix} }

// script counts a request when ARGV[3] is "1", and only answers otherwise.
var script = redis.NewScript(`
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - period
if now < allow_at then
  return {0, 0, math.floor(allow_at - now), math.floor(tat - now)}
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000))
end
return {1, math.floor((period - (nxt - now)) / interval), 0, math.floor(nxt - now)}
`)

// Allow decides for key with one round trip.
func (r *Redis) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	return r.run(ctx, key, limit, window, "1")
}

// Peek decides for key without counting.
func (r *Redis) Peek(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	return r.run(ctx, key, limit, window, "0")
}

func (r *Redis) run(ctx context.Context, key string, limit int, window time.Duration, count string) (Decision, error) {
	res, err := script.Run(ctx, r.c, []string{r.prefix + key}, window.Microseconds(), limit, count).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Decision{Allowed: res[0] == 1, Remaining: int(res[1]), RetryAfter: us(res[2]), ResetAfter: us(res[3])}, nil
}
