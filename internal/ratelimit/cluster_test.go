package ratelimit_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// TestMain stops the redis-servers (single and cluster) the tests started.
func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// TestRedisClusterSharedLimit runs the limiter on Redis Cluster with the
// client db.redis.cluster builds, two "nodes" sharing each limit. It runs
// with the prefix the gateway uses, under the namespace's hash tag (every
// key on one master), and with a prefix without a hash tag, whose keys
// spread over the masters: the script reads and writes only KEYS[1], so
// it needs no common slot.
func TestRedisClusterSharedLimit(t *testing.T) {
	addrs := redistest.Cluster(t)
	ns := redistest.Namespace()
	for _, prefix := range []string{"{" + ns + "}:rl:", ns + ":rl:"} {
		t.Run(prefix, func(t *testing.T) {
			var nodes []*ratelimit.Redis
			for range 2 { // as the gateway does: the store backend's client
				b, err := redisstore.New(context.Background(), redisstore.Options{Cluster: addrs, Namespace: ns})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Client().Close() // after b.Close (closing it twice is harmless)
				defer b.Close()
				nodes = append(nodes, ratelimit.NewRedis(b.Client(), prefix))
			}
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
			defer c.Close()
			keys := make([]string, 12)
			for i := range keys {
				keys[i] = fmt.Sprintf("client-%d", i)
			}
			defer func() {
				for _, k := range keys {
					c.Del(context.Background(), prefix+k)
				}
			}()
			var allowed [12]atomic.Int32
			var wg sync.WaitGroup
			for i := range 12 * 8 {
				wg.Go(func() {
					k := i % len(keys)
					d, err := nodes[i%2].Allow(context.Background(), keys[k], 3, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						allowed[k].Add(1)
					}
				})
			}
			wg.Wait()
			masters := map[string]bool{}
			for k := range keys {
				if n := allowed[k].Load(); n != 3 {
					t.Errorf("%s: %d of 8 requests passed a shared limit of 3", keys[k], n)
				}
				d, err := nodes[k%2].Peek(context.Background(), keys[k], 3, time.Minute)
				if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 21*time.Second {
					t.Errorf("%s over the limit: %+v %v", keys[k], d, err)
				}
				n, err := c.MasterForKey(context.Background(), prefix+keys[k])
				if err != nil {
					t.Fatal(err)
				}
				masters[n.Options().Addr] = true
			}
			if tagged := prefix[0] == '{'; tagged != (len(masters) == 1) {
				t.Errorf("the %d keys live on %d masters", len(keys), len(masters))
			}
		})
	}
}
