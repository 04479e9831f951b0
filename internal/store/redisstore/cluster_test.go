package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// The Redis Cluster tests run on redistest.Cluster: REDIS_CLUSTER_ADDRS, or
// three redis-server processes in cluster mode started by the test binary.

// clusterBackend opens a backend on the cluster at addrs, namespace ns,
// through FromConfig (db.redis.cluster). It is closed, its cluster client
// too, and its keys deleted when t ends.
func clusterBackend(t *testing.T, addrs []string, ns string) *redisstore.Redis {
	t.Helper()
	return openFromConfig(t, &config.Redis{Cluster: addrs, Namespace: ns})
}

func openFromConfig(t *testing.T, rc *config.Redis) *redisstore.Redis {
	t.Helper()
	o, err := redisstore.FromConfig(rc, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "" {
		t.Fatalf("FromConfig with cluster: Addr %q, want none", o.Addr)
	}
	r, err := redisstore.New(context.Background(), o)
	if err != nil {
		if o.Client != nil {
			_ = o.Client.Close()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Close()
		_ = r.Client().Close() // FromConfig's caller owns the cluster client (closing it twice is harmless)
		if err := redistest.PurgeCluster(rc.Cluster, r.Namespace()); err != nil {
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

// TestClusterSystemConfig goes from system.config.yml's db.redis.cluster,
// as a list and as one ${VAR} string, to a working backend, and checks
// that a namespace's keys all live on the one master of its hash tag.
func TestClusterSystemConfig(t *testing.T) {
	addrs := redistest.Cluster(t)
	c := clusterClient(t, addrs)
	for _, form := range []string{"list", "variable"} {
		t.Run(form, func(t *testing.T) {
			ns := redistest.Namespace()
			yaml := fmt.Sprintf("db:\n  redis:\n    cluster: [%s]\n    namespace: %s\n", strings.Join(addrs, ", "), ns)
			vars := map[string]string{}
			if form == "variable" {
				yaml = fmt.Sprintf("db:\n  redis:\n    cluster: ${NODES}\n    namespace: %s\n", ns)
				vars["NODES"] = strings.Join(addrs, ",")
			}
			sys, err := config.ParseSystem("system.config.yml", []byte(yaml), func(k string) (string, bool) {
				v, ok := vars[k]
				return v, ok
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sys.DB.Redis.Cluster, addrs) {
				t.Fatalf("cluster = %q, want %q", sys.DB.Redis.Cluster, addrs)
			}
			r := openFromConfig(t, sys.DB.Redis)
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
			err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
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
		})
	}
}

func TestClusterFromConfig(t *testing.T) {
	for _, rc := range []*config.Redis{
		{Cluster: []string{"a:7000"}, Host: "h"},
		{Cluster: []string{"a:7000"}, Port: 6379},
		{Cluster: []string{"a:7000"}, DB: 1},
		{Cluster: []string{"a"}},
		{Cluster: []string{"a:0"}},
		{Cluster: []string{"a:7000"}, TLS: &config.RedisTLS{CAFile: "missing.pem"}},
	} {
		if o, err := redisstore.FromConfig(rc, t.TempDir()); err == nil {
			if o.Client != nil {
				_ = o.Client.Close()
			}
			t.Errorf("FromConfig(%+v): no error", rc)
		}
	}
	// TLS: no fixed server name, so that each node is checked against its
	// own address.
	o, err := redisstore.FromConfig(&config.Redis{Cluster: []string{"10.0.0.1:7000"}, TLS: &config.RedisTLS{}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if o.Client != nil {
		_ = o.Client.Close()
	}
	if o.TLS == nil || o.TLS.ServerName != "" || o.Namespace != redisstore.DefaultNamespace {
		t.Errorf("cluster options: TLS %+v, namespace %q", o.TLS, o.Namespace)
	}

	// The cluster client has the single-node client's settings.
	addrs := redistest.Cluster(t)
	r := openFromConfig(t, &config.Redis{Cluster: addrs, Username: "default", Password: "", Namespace: redistest.Namespace()})
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
