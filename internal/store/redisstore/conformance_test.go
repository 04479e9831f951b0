package redisstore_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

// TestConformance runs the identity Store on Redis, each backend on a
// fresh namespace.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return redistest.New(t) })
}

// TestPersistence reopens the same namespace.
func TestPersistence(t *testing.T) {
	opts, _ := redistest.Open(t)
	storetest.Persistence(t, func(t *testing.T) store.Backend {
		r, err := redisstore.New(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	})
}

// TestStoreCacheAcrossProcesses: two Stores (two gateway processes) on one
// namespace; a change made through one reaches the other's cache.
func TestStoreCacheAcrossProcesses(t *testing.T) {
	opts, _ := redistest.Open(t)
	open := func() (*store.Store, *redisstore.Redis) {
		r, err := redisstore.New(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		subscribed(t, r) // before the Store takes the channel over
		s := store.New(r, store.Options{BcryptCost: 4})
		t.Cleanup(func() { _ = s.Close() })
		return s, r
	}
	a, _ := open()
	b, _ := open()
	ctx := t.Context()
	u, err := a.CreateUser(ctx, store.User{Username: "cached", Firstname: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetUser(ctx, "cached"); err != nil || got.Firstname != "Old" {
		t.Fatalf("b.GetUser: %+v %v", got, err)
	}
	if _, err := a.UpdateUser(ctx, u.ID, func(u *store.User) error { u.Firstname = "New"; return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		got, err := b.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Firstname == "New" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b still serves the old user from its cache after 1s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
