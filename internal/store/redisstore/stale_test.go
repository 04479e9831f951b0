package redisstore_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// killClients kills the server side of every connection named name but the
// pub/sub one.
func killClients(t *testing.T, name string) int {
	t.Helper()
	c := raw(t)
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || strings.Contains(line, "sub=1") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if _, err := strconv.Atoi(id); err == nil {
					_ = c.ClientKillByFilter(ctx, "ID", id).Err()
					n++
				}
			}
		}
	}
	return n
}

// TestStaleConnections: connections dropped by the server (a Redis restart,
// a proxy's idle timeout) cost no failed request.
func TestStaleConnections(t *testing.T) {
	opts, _ := redistest.Open(t)
	copts := *redistest.Server(t)
	copts.ClientName = opts.Namespace
	copts.MaxRetries = 1
	client := redis.NewClient(&copts)
	defer client.Close()
	r, err := redisstore.New(ctx, redisstore.Options{Client: client, Namespace: opts.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rmw := func() error {
		return r.Update(ctx, func(tx store.Tx) error {
			v, _, err := tx.Get("x")
			if err != nil {
				return err
			}
			return tx.Set("x", append(v, 'x'), 0)
		})
	}
	for round := range 5 {
		if err := rmw(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if _, _, err := r.Get(ctx, "x"); err != nil {
			t.Fatalf("round %d: Get: %v", round, err)
		}
		if n := killClients(t, opts.Namespace); n == 0 {
			t.Fatal("no connection killed")
		}
	}
}
