package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// The decoy is a bcrypt hash at the store's own cost, whatever it is, so
// that a refusal without a real check costs what one with it does (issue
// #11 §2; the timing itself is measured end to end in e2e/leaks_test.go).
func TestDecoyHasTheStoreCost(t *testing.T) {
	for _, cost := range []int{4, 5, 10} {
		if got, err := store.DecoyCost(cost); err != nil || got != cost {
			t.Errorf("decoy for cost %d: cost %d, %v", cost, got, err)
		}
	}
}

// Every refusal goes through the bound on bcrypt checks like a wrong
// password does: while the checks are taken, an unknown id, a generated
// secret that does not match, a deactivated credential and VerifyDecoy
// all get ErrBusy, as a wrong bcrypt password does, so an overloaded node
// does not tell them apart by answering one 503 and the other 401. Free
// slots give each its usual verdict.
func TestRefusalsShareTheBound(t *testing.T) {
	ctx := context.Background()
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4, PasswordChecks: 1, PasswordCheckWait: 10 * time.Millisecond})
	defer s.Close()
	u, err := s.CreateUser(ctx, store.User{Username: "alice", Firstname: "A", Lastname: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	key, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
	if err != nil {
		t.Fatal(err)
	}
	off, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCredentialActive(ctx, store.KeyAuth, off.KeyID, false); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		run  func() error
		free error // the verdict with a free slot
	}{
		{"wrong bcrypt password", func() error {
			_, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "wrong-password")
			return err
		}, store.ErrBadSecret},
		{"unknown id", func() error {
			_, err := s.VerifyCredential(ctx, store.BasicAuth, "nobody", "wrong-password")
			return err
		}, store.ErrNoSuchCreds},
		{"generated secret, wrong", func() error {
			_, err := s.VerifyCredential(ctx, store.KeyAuth, key.KeyID, "wrong-secret")
			return err
		}, store.ErrBadSecret},
		{"deactivated credential, wrong", func() error {
			_, err := s.VerifyCredential(ctx, store.KeyAuth, off.KeyID, "wrong-secret")
			return err
		}, store.ErrBadSecret},
		{"VerifyDecoy", func() error { return s.VerifyDecoy(ctx, "anything") }, nil},
	}
	release := store.HoldPasswordChecks(s)
	for _, c := range checks {
		if err := c.run(); !errors.Is(err, store.ErrBusy) {
			t.Errorf("%s while the checks are taken: %v, want ErrBusy", c.name, err)
		}
	}
	release()
	for _, c := range checks {
		if err := c.run(); !errors.Is(err, c.free) && err != c.free {
			t.Errorf("%s: %v, want %v", c.name, err, c.free)
		}
	}
}
