package redisstore_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// clusterBackend opens a backend on Redis Cluster (REDIS_CLUSTER_ADDRS,
// comma-separated seed nodes) on a fresh namespace, or skips t.
func clusterBackend(t *testing.T, ns string) *redisstore.Redis {
	addrs := os.Getenv("REDIS_CLUSTER_ADDRS")
	if addrs == "" {
		t.Skip("set REDIS_CLUSTER_ADDRS=host:port,... to run the Redis Cluster tests")
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:       strings.Split(addrs, ","),
		DialTimeout: redisstore.DialTimeout, ReadTimeout: redisstore.ReadTimeout, WriteTimeout: redisstore.WriteTimeout,
	})
	r, err := redisstore.New(context.Background(), redisstore.Options{Client: c, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Close()
		ctx := context.Background()
		_ = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			iter := n.Scan(ctx, 0, "{"+ns+"}:*", 1000).Iterator()
			for iter.Next(ctx) {
				n.Unlink(ctx, iter.Val())
			}
			return iter.Err()
		})
		_ = c.Close()
	})
	return r
}

func TestClusterConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return clusterBackend(t, redistest.Namespace()) })
}

func TestClusterInvalidation(t *testing.T) {
	ns := redistest.Namespace()
	a, b := clusterBackend(t, ns), clusterBackend(t, ns)
	subscribed(t, a)
	subscribed(t, b)
	set(t, a, "user:1", "{}", 0)
	if keys, ok := recv(t, b.Invalidations(), time.Second); !ok || !slices.Equal(keys, []string{"user:1"}) {
		t.Fatalf("cluster invalidation: %q %v", keys, ok)
	}
}
