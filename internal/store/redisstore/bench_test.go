package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// A credential-sized JSON record (~300 bytes).
var benchValue = []byte(`{"type":"key-auth","id":"b1Zx8kq3Tn2Lw9Rc4Vp7Ya","consumerId":"0f8e3c52-7a1d-4b6e-9c2f-5d4a3b2e1f00","keyId":"b1Zx8kq3Tn2Lw9Rc4Vp7Ya","secretHash":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","scopes":["read","write"],"isActive":true,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","rev":12345}`)

// populate writes n keys "bench:<i>" with pipelined SETs, 10,000 a batch.
func populate(b *testing.B, ns string, n int) {
	c := redis.NewClient(redistest.Server(b))
	defer c.Close()
	ctx := context.Background()
	for start := 0; start < n; start += 10_000 {
		pipe := c.Pipeline()
		for i := start; i < min(start+10_000, n); i++ {
			pipe.Set(ctx, "{"+ns+"}:k:bench:"+strconv.Itoa(i), benchValue, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet reads random existing keys from a namespace of 1,000 and of
// 1,000,000 keys (the latter skipped under -short).
func BenchmarkGet(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			if n > 1_000 && testing.Short() {
				b.Skip("1M keys: not under -short")
			}
			r := redistest.New(b) // its namespace is deleted afterwards
			populate(b, r.Namespace(), n)
			keys := make([]string, n)
			for i := range keys {
				keys[i] = "bench:" + strconv.Itoa(i)
			}
			ctx := context.Background()
			b.Run("serial", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i = (i + 7919) % n
					if _, ok, err := r.Get(ctx, keys[i]); err != nil || !ok {
						b.Fatal(ok, err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				var seed atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					i := int(seed.Add(104729)) % n
					for pb.Next() {
						i = (i + 7919) % n
						if _, ok, err := r.Get(ctx, keys[i]); err != nil || !ok {
							b.Error(ok, err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkUpdate is a read-modify-write of one record (WATCH+GET, then
// MULTI/SET/PUBLISH/EXEC), uncontended.
func BenchmarkUpdate(b *testing.B) {
	r := redistest.New(b)
	ctx := context.Background()
	type counter struct{ N int }
	for b.Loop() {
		err := r.Update(ctx, func(tx store.Tx) error {
			var c counter
			if v, ok, err := tx.Get("counter"); err != nil {
				return err
			} else if ok {
				_ = json.Unmarshal(v, &c)
			}
			c.N++
			v, _ := json.Marshal(c)
			return tx.Set("counter", v, 0)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
