package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLocalGCRA(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := ratelimit.NewLocal(c.now)
	ctx := context.Background()
	// A burst of max passes, the next is refused with the right wait.
	for i := 0; i < 5; i++ {
		d, _ := l.Allow(ctx, "k", 5, 10*time.Second)
		if !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, d, 4-i)
		}
	}
	d, _ := l.Allow(ctx, "k", 5, 10*time.Second)
	if d.Allowed || d.RetryAfter != 2*time.Second {
		t.Fatalf("6th: %+v, want refused, retry after 2s", d)
	}
	// Other keys are independent.
	if d, _ := l.Allow(ctx, "other", 5, 10*time.Second); !d.Allowed {
		t.Error("another key was limited")
	}
	// After one interval one more passes.
	c.t = c.t.Add(2 * time.Second)
	if d, _ := l.Allow(ctx, "k", 5, 10*time.Second); !d.Allowed {
		t.Errorf("after 2s: %+v", d)
	}
	if d, _ := l.Allow(ctx, "k", 5, 10*time.Second); d.Allowed {
		t.Errorf("only one should pass after one interval: %+v", d)
	}
	// After the whole window the burst is back.
	c.t = c.t.Add(10 * time.Second)
	if d, _ := l.Allow(ctx, "k", 5, 10*time.Second); !d.Allowed || d.Remaining != 4 {
		t.Errorf("after the window: %+v", d)
	}
}

func TestRedisSharedLimit(t *testing.T) {
	opts := redistest.Server(t)
	c := redis.NewClient(opts)
	defer c.Close()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "{rltest-" + hex.EncodeToString(b) + "}:rl:"
	defer func() {
		keys, _ := c.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	}()
	// Two limiters (two nodes) on one Redis share the limit.
	nodes := []*ratelimit.Redis{ratelimit.NewRedis(c, prefix), ratelimit.NewRedis(redis.NewClient(opts), prefix)}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := nodes[i%2].Allow(context.Background(), "client-1", 10, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Errorf("%d of 40 requests passed a shared limit of 10", allowed.Load())
	}
	d, err := nodes[0].Allow(context.Background(), "client-1", 10, time.Minute)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 6*time.Second+time.Second {
		t.Errorf("over the limit: %+v %v", d, err)
	}
}
