package redisstore

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The go-redis options of the clients New builds. They live here, apart
// from the config: the backend takes its own Options, and the app turns
// system.config.yml's db.redis block into them (internal/app).

// nodeOptions are the go-redis options of New's single-node client.
func nodeOptions(o Options) *redis.Options {
	addr := o.Addr
	if addr == "" {
		addr = "localhost:6379"
	}
	return &redis.Options{
		Addr:                  addr,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		TLSConfig:             o.TLS,
		DialTimeout:           DialTimeout,
		ReadTimeout:           ReadTimeout,
		WriteTimeout:          WriteTimeout,
		PoolTimeout:           PoolTimeout,
		ContextTimeoutEnabled: true,
		// One dial per attempt and one retry (a pooled connection may
		// have died with a Redis restart), all within CommandTimeout:
		// go-redis's defaults (5 dials per attempt, 3 retries) would
		// take ~40s on a blackholed address.
		DialerRetries: 1,
		MaxRetries:    1,
	}
}

// clusterOptions are the go-redis options of a cluster client with New's
// single-node settings: the same timeouts, pool wait, TLS and credentials,
// one dial per attempt, and ContextTimeoutEnabled. Retries are go-redis's
// cluster ones: up to MaxRedirects (3) further attempts, which follow
// MOVED and ASK redirections (a resharding, a failed-over master that came
// back as a replica) and retry a network error.
//
// The slot map is reloaded when it is more than a second old (go-redis's
// default is a minute). go-redis reloads it at once on a MOVED reply, but
// not when a master stops answering: after a failover it would keep
// sending the namespace's commands to the dead master until the reload,
// the cluster's new master unused.
func clusterOptions(addrs []string, o Options) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:                 addrs,
		Username:              o.Username,
		Password:              o.Password,
		TLSConfig:             o.TLS,
		DialTimeout:           DialTimeout,
		ReadTimeout:           ReadTimeout,
		WriteTimeout:          WriteTimeout,
		PoolTimeout:           PoolTimeout,
		ContextTimeoutEnabled: true,
		DialerRetries:         1,
		// Checked on use, reloaded in the background: one CLUSTER SLOTS a
		// second at most, only while commands are sent.
		ClusterStateReloadInterval: time.Second,
	}
}

// ownClient builds the client New owns when none is injected: a cluster
// client on o.Cluster, a single-node client of o.Addr otherwise, each with
// the breaker hooked in (fail fast while Redis is away, breaker.go).
func (r *Redis) ownClient(o Options) error {
	r.brk = &breaker{r: r}
	if len(o.Cluster) > 0 {
		if o.DB != 0 {
			return fmt.Errorf("redisstore: db %d: Redis Cluster has only db 0", o.DB)
		}
		c := redis.NewClusterClient(clusterOptions(o.Cluster, o))
		// The cluster-level hook bounds a command with its redirections and
		// retries; transactions (Watch) and pipelines run on the node
		// clients, which get the hook too.
		c.AddHook(r.brk)
		c.OnNewNode(func(n *redis.Client) { n.AddHook(r.brk) })
		r.c = c
	} else {
		c := redis.NewClient(nodeOptions(o))
		c.AddHook(r.brk)
		r.c = c
	}
	r.ownsClient = true
	return nil
}
