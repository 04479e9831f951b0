package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// The Redis Cluster tests run on redistest.Cluster: REDIS_CLUSTER_ADDRS, or
// three redis-server processes in cluster mode started by the test binary.

// clusterBackend opens a backend on the cluster at addrs, namespace ns,
// with the options db.redis.cluster gives (internal/app turns the config
// into them). It is closed, its cluster client too, and its keys deleted
// when t ends.
func clusterBackend(t *testing.T, addrs []string, ns string) *redisstore.Redis {
	t.Helper()
	return openCluster(t, redisstore.Options{Cluster: addrs, Namespace: ns})
}

func openCluster(t *testing.T, o redisstore.Options) *redisstore.Redis {
	t.Helper()
	r, err := redisstore.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Close()
		_ = r.Client().Close() // closing it twice is harmless
		if err := redistest.PurgeCluster(o.Cluster, r.Namespace()); err != nil {
			t.Logf("deleting namespace %s: %v", r.Namespace(), err)
		}
	})
	if _, ok := r.Client().(*redis.ClusterClient); !ok {
		t.Fatalf("client is a %T, want a *redis.ClusterClient", r.Client())
	}
	return r
}

// clusterClient is a cluster client of the test's own, closed when t ends.
func clusterClient(t *testing.T, addrs []string) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestClusterConformance(t *testing.T) {
	addrs := redistest.Cluster(t)
	storetest.Run(t, func(t *testing.T) store.Backend { return clusterBackend(t, addrs, redistest.Namespace()) })
}

// masterOf is the address of the master serving key.
func masterOf(t *testing.T, c *redis.ClusterClient, key string) string {
	t.Helper()
	n, err := c.MasterForKey(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return n.Options().Addr
}

func TestClusterInvalidation(t *testing.T) {
	addrs := redistest.Cluster(t)
	c := clusterClient(t, addrs)
	// A namespace whose keys and channel live on different masters: the
	// PUBLISH, sent inside the transaction to the keys' master, reaches a
	// subscription on another node because the cluster broadcasts it.
	var ns string
	for {
		ns = redistest.Namespace()
		if masterOf(t, c, "{"+ns+"}:k:x") != masterOf(t, c, ns+":invalidate") {
			break
		}
	}
	a, b := clusterBackend(t, addrs, ns), clusterBackend(t, addrs, ns)
	subscribed(t, a)
	subscribed(t, b)
	set(t, a, "user:1", "{}", 0)
	for _, r := range []*redisstore.Redis{a, b} {
		if keys, ok := recv(t, r.Invalidations(), time.Second); !ok || !slices.Equal(keys, []string{"user:1"}) {
			t.Fatalf("cluster invalidation: %q %v", keys, ok)
		}
	}
}

// TestClusterNamespaceSlot checks that a namespace's keys all live on the
// one master of its hash tag (the app's tests check that
// db.redis.cluster, as a list or one ${VAR} string, gives these options).
func TestClusterNamespaceSlot(t *testing.T) {
	addrs := redistest.Cluster(t)
	c := clusterClient(t, addrs)
	ns := redistest.Namespace()
	r := clusterBackend(t, addrs, ns)
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		set(t, r, fmt.Sprintf("user:%d", i), "{}", 0)
	}
	if err := r.Update(ctx, func(tx store.Tx) error { return tx.SAdd("users", "0", "1", "2") }); err != nil {
		t.Fatal(err)
	}
	if v, ok := get(t, r, "user:7"); !ok || v != "{}" {
		t.Fatalf("user:7 = %q %v", v, ok)
	}
	if m, err := r.Members(ctx, "users"); err != nil || !slices.Equal(m, []string{"0", "1", "2"}) {
		t.Fatalf("users = %q %v", m, err)
	}
	// Every key is on the master of {ns}, none elsewhere.
	home := masterOf(t, c, "{"+ns+"}")
	var mu sync.Mutex
	counts := map[string]int{}
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		keys, err := n.Keys(ctx, "{"+ns+"}:*").Result()
		mu.Lock()
		counts[n.Options().Addr] += len(keys)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for addr, n := range counts {
		if want := map[bool]int{true: 21, false: 0}[addr == home]; n != want {
			t.Errorf("master %s holds %d keys of the namespace, want %d (its keys live on %s)", addr, n, want, home)
		}
	}
}

// TestClusterClientOptions: the cluster client has the single-node
// client's settings, and a db other than 0 is refused.
func TestClusterClientOptions(t *testing.T) {
	if _, err := redisstore.New(ctx, redisstore.Options{Cluster: []string{"127.0.0.1:1"}, DB: 1}); err == nil {
		t.Error("cluster with db 1 accepted")
	}
	addrs := redistest.Cluster(t)
	r := openCluster(t, redisstore.Options{Cluster: addrs, Username: "default", Password: "", Namespace: redistest.Namespace()})
	co := r.Client().(*redis.ClusterClient).Options()
	if !slices.Equal(co.Addrs, addrs) || co.Username != "default" || co.TLSConfig != nil {
		t.Errorf("cluster options: %+v", co)
	}
	if co.DialTimeout != redisstore.DialTimeout || co.ReadTimeout != redisstore.ReadTimeout ||
		co.WriteTimeout != redisstore.WriteTimeout || co.PoolTimeout != redisstore.PoolTimeout || !co.ContextTimeoutEnabled {
		t.Errorf("cluster timeouts differ from the single-node client's: %+v", co)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestClusterBreaker stalls the master of the namespace's slot (CLIENT
// PAUSE): the first command fails within CommandTimeout, the next ones at
// once, and the store is back soon after the master answers again.
func TestClusterBreaker(t *testing.T) {
	addrs := redistest.Cluster(t)
	ns := redistest.Namespace()
	r := clusterBackend(t, addrs, ns)
	set(t, r, "a", "1", 0)
	home, err := clusterClient(t, addrs).MasterForKey(ctx, "{"+ns+"}")
	if err != nil {
		t.Fatal(err)
	}
	const pause = 1500 * time.Millisecond
	if err := home.Do(ctx, "client", "pause", pause.Milliseconds(), "all").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	if _, _, err := r.Get(ctx, "a"); !errors.Is(err, store.ErrUnavailable) || time.Since(paused) > redisstore.CommandTimeout+300*time.Millisecond {
		t.Fatalf("first Get on a stalled master: %v after %v", err, time.Since(paused))
	}
	for name, op := range map[string]func() error{
		"Get":    func() error { _, _, err := r.Get(ctx, "a"); return err },
		"Update": func() error { return r.Update(ctx, func(tx store.Tx) error { return tx.Set("b", []byte("2"), 0) }) },
		"Ping":   func() error { return r.Ping(ctx) },
	} {
		start := time.Now()
		if err := op(); !errors.Is(err, store.ErrUnavailable) || time.Since(start) > 50*time.Millisecond {
			t.Errorf("%s while the breaker is open: %v after %v, want ErrUnavailable at once", name, err, time.Since(start))
		}
	}
	deadline := paused.Add(pause + 3*time.Second)
	for {
		if v, ok, err := r.Get(ctx, "a"); err == nil {
			if !ok || string(v) != "1" {
				t.Fatalf("a = %q %v", v, ok)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store did not come back after the pause")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if since := time.Since(paused); since < pause {
		t.Errorf("answered after %v, before the pause ended", since)
	}
}
