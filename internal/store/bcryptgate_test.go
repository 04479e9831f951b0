package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// While every slot of the bcrypt bound is taken, a check that needs bcrypt
// is refused with ErrBusy within the wait, not queued; a secret verified
// before is still answered (from the cache), and generated secrets, whose
// hash is fast, never wait. A freed slot lets checks run again.
func TestPasswordChecksBounded(t *testing.T) {
	ctx := context.Background()
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4, PasswordChecks: 1, PasswordCheckWait: 20 * time.Millisecond})
	defer s.Close()
	u, err := s.CreateUser(ctx, store.User{Username: "alice", Firstname: "A", Lastname: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	key, keySecret, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "alice-password"); err != nil {
		t.Fatal(err)
	}

	release := store.HoldPasswordChecks(s)
	start := time.Now()
	_, err = s.VerifyCredential(ctx, store.BasicAuth, u.ID, "wrong-password")
	if !errors.Is(err, store.ErrBusy) {
		t.Errorf("a wrong password while the checks are taken: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
		t.Errorf("refused after %v, want after the 20ms wait", d)
	}
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "alice-password"); err != nil {
		t.Errorf("the verified password while the checks are taken: %v", err)
	}
	if _, err := s.VerifyCredential(ctx, store.KeyAuth, key.KeyID, keySecret); err != nil {
		t.Errorf("a generated key while the checks are taken: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.VerifyCredential(cctx, store.BasicAuth, u.ID, "other-password"); !errors.Is(err, store.ErrBusy) {
		t.Errorf("with the caller gone: %v, want ErrBusy", err)
	}
	release()
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "wrong-password"); !errors.Is(err, store.ErrBadSecret) {
		t.Errorf("after release: %v, want ErrBadSecret", err)
	}
}

func TestDefaultPasswordChecks(t *testing.T) {
	if n := store.DefaultPasswordChecks(); n < 1 {
		t.Errorf("DefaultPasswordChecks = %d", n)
	}
}
