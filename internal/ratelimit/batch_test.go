package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// A batch decides each key as Allow and Peek alone do, on both limiters,
// with and without a hash tag in the Redis prefix.
func TestBatchMatchesSingle(t *testing.T) {
	opts := redistest.Server(t)
	c := redis.NewClient(opts)
	defer c.Close()
	b := make([]byte, 6)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	limiters := map[string]ratelimit.Limiter{
		"local":        ratelimit.NewLocal(nil),
		"redis":        ratelimit.NewRedis(c, "{rlbatch-"+tag+"}:rl:"),
		"redis-no-tag": ratelimit.NewRedis(c, "rlbatch-"+tag+":rl:"),
	}
	defer func() {
		keys, _ := c.Keys(context.Background(), "*rlbatch-"+tag+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	}()
	ctx := context.Background()
	for name, l := range limiters {
		t.Run(name, func(t *testing.T) {
			qs := []ratelimit.Query{{Key: "a", Limit: 3, Window: time.Minute}, {Key: "b", Limit: 1, Window: time.Hour}}
			out := make([]ratelimit.Decision, len(qs))
			for i := 0; i < 3; i++ {
				if err := ratelimit.Batch(ctx, l, true, qs, out); err != nil {
					t.Fatal(err)
				}
				if !out[0].Allowed || out[0].Remaining != 2-i {
					t.Fatalf("round %d: a = %+v", i, out[0])
				}
				if out[1].Allowed != (i == 0) {
					t.Fatalf("round %d: b = %+v", i, out[1])
				}
			}
			if err := ratelimit.Batch(ctx, l, false, qs, out); err != nil {
				t.Fatal(err)
			}
			if out[0].Allowed || out[0].RetryAfter <= 0 || out[0].RetryAfter > 20*time.Second+time.Second {
				t.Errorf("peek a after 3 of 3: %+v", out[0])
			}
			if out[1].Allowed || out[1].RetryAfter < 59*time.Minute {
				t.Errorf("peek b after 1 of 1 per hour: %+v", out[1])
			}
			single, err := l.Peek(ctx, "a", 3, time.Minute)
			if err != nil || single.Allowed != out[0].Allowed {
				t.Errorf("Peek a = %+v %v, batch said %+v", single, err, out[0])
			}
		})
	}
}
