package authn_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The cache answers the identity built from the same records, and builds
// a new one when any record is another (a write replaced it in the
// store's cache) or the policy differs.
func TestIdentityCache(t *testing.T) {
	u := &store.User{ID: "u1", Username: "alice", IsActive: true, CreatedAt: time.Unix(1, 0)}
	cred := &store.Credential{ID: "k1", ConsumerID: "u1", Scopes: []string{"read"}}
	alice := &store.Consumer{Type: store.TypeUser, User: u}
	ic := authn.NewIdentityCache()
	first := ic.Identity(alice, store.KeyAuth, cred)
	if first.ConsumerID != "u1" || first.ConsumerName != "alice" || first.CredentialID != "k1" || first.AuthType != store.KeyAuth {
		t.Fatalf("identity %+v", first)
	}
	// GetConsumer returns a new Consumer around the same cached records.
	if got := ic.Identity(&store.Consumer{Type: store.TypeUser, User: u}, store.KeyAuth, cred); got != first {
		t.Error("same records: a new identity, want the cached one")
	}
	renamed := *u
	renamed.UpdatedAt = time.Unix(2, 0)
	credCopy := *cred
	credCopy.Scopes = []string{"read", "write"}
	for _, tc := range []struct {
		name     string
		c        *store.Consumer
		authType string
		cred     *store.Credential
	}{
		{"user replaced", &store.Consumer{Type: store.TypeUser, User: &renamed}, store.KeyAuth, cred},
		{"credential replaced", alice, store.KeyAuth, &credCopy},
		{"another policy", alice, store.BasicAuth, cred},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ic.Identity(tc.c, tc.authType, tc.cred)
			want := authn.ConsumerIdentity(tc.c, tc.authType, tc.cred)
			if got == first {
				t.Fatal("the cached identity, built from other records")
			}
			if got.UpdatedAt != want.UpdatedAt || got.AuthType != want.AuthType || len(got.Scopes) != len(want.Scopes) {
				t.Errorf("identity %+v, want %+v", got, want)
			}
		})
	}
}
