// Package storetest is the conformance suite every store backend passes:
// it runs the identity Store (users, apps, credentials, scopes, tokens,
// codes) on the backend and checks Express Gateway's rules and Gatehouse's
// fixes, the same way for memory, the embedded file and Redis.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// NewBackend returns a fresh, empty backend; the suite closes it (through
// Store.Close).
type NewBackend func(t *testing.T) store.Backend

// clock is a settable time source for the Store (token and code expiry are
// checked against it as well as enforced by backend TTLs).
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func open(t *testing.T, nb NewBackend) (*store.Store, *clock) {
	t.Helper()
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	s := store.New(nb(t), store.Options{Now: c.now, BcryptCost: 4})
	t.Cleanup(func() { s.Close() })
	return s, c
}

// Run runs the whole suite on backends made by nb.
func Run(t *testing.T, nb NewBackend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, nb NewBackend)
	}{
		{"Users", testUsers},
		{"UserUniqueness", testUserUniqueness},
		{"Apps", testApps},
		{"Consumers", testConsumers},
		{"Scopes", testScopes},
		{"ScopeDescriptions", testScopeDescriptions},
		{"UserStatusApps", testUserStatusApps},
		{"UserTokens", testUserTokens},
		{"CredentialsBasicAuth", testBasicAuth},
		{"CredentialsKeyAuth", testKeyAuth},
		{"CredentialsOAuth2", testOAuth2},
		{"CredentialScopes", testCredentialScopes},
		{"VerificationCache", testVerificationCache},
		{"Cascades", testCascades},
		{"Tokens", testTokens},
		{"TokenExpiryTTL", testTokenTTL},
		{"Codes", testCodes},
		{"Pagination", testPagination},
		{"ConcurrentWriters", testConcurrency},
		{"NothingHalfWritten", testNothingHalfWritten},
		{"Records", testRecords},
		{"Consents", testConsents},
		{"ClientMetadata", testClientMetadata},
		{"BoundedState", testBoundedState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, nb) })
	}
}

// Persistence checks data survives closing and reopening the backend:
// open must return a backend on the same storage each time it is called.
func Persistence(t *testing.T, open func(t *testing.T) store.Backend) {
	ctx := context.Background()
	s1 := store.New(open(t), store.Options{BcryptCost: 4})
	u, err := s1.CreateUser(ctx, store.User{Username: "persist", Firstname: "P", Lastname: "Q"})
	must(t, err)
	must(t, s1.CreateScopes(ctx, "read"))
	c, plain, err := s1.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, Scopes: []string{"read"}})
	must(t, err)
	var tok store.Token
	tokPlain := store.NewToken(&tok)
	tok.ConsumerID, tok.Kind, tok.ExpiresAt = u.ID, store.AccessToken, time.Now().Add(time.Hour)
	must(t, s1.SaveToken(ctx, &tok))
	must(t, s1.Close())

	s2 := store.New(open(t), store.Options{BcryptCost: 4})
	defer s2.Close()
	got, err := s2.GetUser(ctx, "persist")
	must(t, err)
	if got.ID != u.ID {
		t.Errorf("user after restart: %+v", got)
	}
	if _, err := s2.VerifyCredential(ctx, store.KeyAuth, c.KeyID, plain); err != nil {
		t.Errorf("credential after restart: %v", err)
	}
	id, sec, _ := cut(tokPlain)
	if _, err := s2.VerifyToken(ctx, id, sec); err != nil {
		t.Errorf("token after restart: %v", err)
	}
	if scopes, _ := s2.ListScopes(ctx); !slices.Equal(scopes, []string{"read"}) {
		t.Errorf("scopes after restart: %v", scopes)
	}
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantKind(t *testing.T, err, kind error, what string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want %v", what, err, kind)
	}
}

func newUser(t *testing.T, s *store.Store, name string) *store.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), store.User{Username: name, Firstname: "F", Lastname: "L"})
	must(t, err)
	return u
}

func testUsers(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, store.User{Username: "alice", Firstname: "Alice", Lastname: "A", Email: "a@example.com", Extra: map[string]any{"tier": "gold"}})
	must(t, err)
	if u.ID == "" || !u.IsActive || u.CreatedAt.IsZero() || !u.CreatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("created user: %+v", u)
	}
	for _, key := range []string{u.ID, "alice"} {
		got, err := s.GetUser(ctx, key)
		must(t, err)
		if got.ID != u.ID || got.Email != "a@example.com" || got.Extra["tier"] != "gold" {
			t.Errorf("GetUser(%s) = %+v", key, got)
		}
	}
	_, err = s.GetUser(ctx, "nobody")
	wantKind(t, err, store.ErrNotFound, "unknown user")

	up, err := s.UpdateUser(ctx, "alice", func(u *store.User) error {
		u.Firstname = "Alicia"
		u.Username = "hijack" // ignored: usernames do not change
		u.IsActive = false    // ignored: activity has its own call
		return nil
	})
	must(t, err)
	if up.Firstname != "Alicia" || up.Username != "alice" || !up.IsActive {
		t.Errorf("update kept the wrong fields: %+v", up)
	}
	got, _ := s.GetUser(ctx, u.ID)
	if got.Firstname != "Alicia" {
		t.Errorf("update not visible (cache not invalidated?): %+v", got)
	}

	changed, err := s.SetUserActive(ctx, u.ID, false)
	must(t, err)
	if !changed {
		t.Error("deactivation reported no change")
	}
	if changed, _ = s.SetUserActive(ctx, u.ID, false); changed {
		t.Error("second deactivation reported a change")
	}
	if got, _ := s.GetUser(ctx, u.ID); got.IsActive {
		t.Error("user still active after deactivation")
	}

	must(t, s.DeleteUser(ctx, "alice"))
	_, err = s.GetUser(ctx, u.ID)
	wantKind(t, err, store.ErrNotFound, "deleted user")
	wantKind(t, s.DeleteUser(ctx, u.ID), store.ErrNotFound, "delete twice")
	// The username is free again.
	newUser(t, s, "alice")

	_, err = s.CreateUser(ctx, store.User{Username: "  "})
	wantKind(t, err, store.ErrInvalid, "empty username")
}

func testUserUniqueness(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	newUser(t, s, "bob")
	_, err := s.CreateUser(context.Background(), store.User{Username: "bob", Firstname: "B", Lastname: "B"})
	wantKind(t, err, store.ErrExists, "duplicate username")
	var se *store.Error
	if !errors.As(err, &se) || se.Msg != "username already exists" {
		t.Errorf("duplicate message: %v", err)
	}
}

func testApps(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "owner")
	a, err := s.CreateApp(ctx, store.App{UserID: "owner", Name: "web", RedirectURI: "https://app.example/cb"})
	must(t, err)
	if a.UserID != u.ID || !a.IsActive || a.ID == "" {
		t.Fatalf("created app: %+v", a)
	}
	_, err = s.CreateApp(ctx, store.App{UserID: u.ID, Name: "web"})
	wantKind(t, err, store.ErrExists, "same app name for the same user")
	other := newUser(t, s, "other")
	if _, err := s.CreateApp(ctx, store.App{UserID: other.ID, Name: "web"}); err != nil {
		t.Errorf("the same name under another user must be allowed: %v", err)
	}
	_, err = s.CreateApp(ctx, store.App{UserID: "ghost", Name: "x"})
	wantKind(t, err, store.ErrInvalid, "app for an unknown user")

	up, err := s.UpdateApp(ctx, a.ID, func(a *store.App) error { a.Name = "web2"; a.UserID = other.ID; return nil })
	must(t, err)
	if up.Name != "web2" || up.UserID != u.ID {
		t.Errorf("update app: %+v", up)
	}
	// The old name is free, the new one taken.
	if _, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "web"}); err != nil {
		t.Errorf("old name not released: %v", err)
	}
	_, err = s.UpdateApp(ctx, a.ID, func(a *store.App) error { a.Name = "web"; return nil })
	wantKind(t, err, store.ErrExists, "rename onto a taken name")

	changed, err := s.SetAppActive(ctx, a.ID, false)
	must(t, err)
	if !changed {
		t.Error("app deactivation reported no change")
	}
	apps, err := s.UserApps(ctx, u.ID)
	must(t, err)
	if len(apps) != 2 {
		t.Errorf("user apps = %d, want 2", len(apps))
	}
	must(t, s.DeleteApp(ctx, a.ID))
	_, err = s.GetApp(ctx, a.ID)
	wantKind(t, err, store.ErrNotFound, "deleted app")
	_, err = s.UpdateApp(ctx, "nope", func(*store.App) error { return nil })
	wantKind(t, err, store.ErrNotFound, "update unknown app")
}

func testConsumers(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "carol")
	a, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "client"})
	must(t, err)
	c, err := s.GetConsumer(ctx, a.ID, false)
	must(t, err)
	if c.Type != store.TypeApplication || c.ID() != a.ID || c.Name() != "client" {
		t.Errorf("app consumer: %+v", c)
	}
	c, err = s.GetConsumer(ctx, u.ID, false)
	must(t, err)
	if c.Type != store.TypeUser || c.ID() != u.ID {
		t.Errorf("user consumer: %+v", c)
	}
	_, err = s.GetConsumer(ctx, "carol", false)
	wantKind(t, err, store.ErrNotFound, "username without withUsername")
	if c, err = s.GetConsumer(ctx, "carol", true); err != nil || c.ID() != u.ID {
		t.Errorf("username lookup: %v %+v", err, c)
	}
}

func testScopes(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	must(t, s.CreateScopes(ctx, "read", "write"))
	wantKind(t, s.CreateScopes(ctx, "admin", "read"), store.ErrExists, "existing scope")
	if ok, _ := s.ScopeExists(ctx, "admin"); ok {
		t.Error("a failed CreateScopes wrote part of its scopes")
	}
	wantKind(t, s.CreateScopes(ctx, "bad scope"), store.ErrInvalid, "scope with a space")
	list, err := s.ListScopes(ctx)
	must(t, err)
	if !slices.Equal(list, []string{"read", "write"}) {
		t.Errorf("scopes = %v", list)
	}
	must(t, s.DeleteScope(ctx, "read"))
	wantKind(t, s.DeleteScope(ctx, "read"), store.ErrNotFound, "delete unknown scope")
}

func testBasicAuth(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "dave")
	c, plain, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: "dave", Type: store.BasicAuth, Secret: "s3cret-pw"})
	must(t, err)
	if c.ID != u.ID || c.ConsumerID != u.ID || plain != "s3cret-pw" || c.PasswordKey != "password" {
		t.Errorf("basic-auth credential: %+v plain %q", c, plain)
	}
	if c.SecretHash == "" || c.SecretHash == "s3cret-pw" {
		t.Errorf("password stored unhashed: %q", c.SecretHash)
	}
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "s3cret-pw"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "wrong"); !errors.Is(err, store.ErrBadSecret) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, "ghost", "x"); !errors.Is(err, store.ErrNoSuchCreds) {
		t.Errorf("unknown credential: %v", err)
	}
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "x-password"})
	wantKind(t, err, store.ErrExists, "second active basic-auth")
	// An inactive one may be replaced (Express Gateway).
	_, err = s.SetCredentialActive(ctx, store.BasicAuth, u.ID, false)
	must(t, err)
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "s3cret-pw"); !errors.Is(err, store.ErrInactive) {
		t.Errorf("inactive credential verified: %v", err)
	}
	_, plain2, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth})
	must(t, err)
	if len(plain2) < 20 {
		t.Errorf("generated password %q too short", plain2)
	}
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, plain2); err != nil {
		t.Errorf("generated password does not verify: %v", err)
	}
	no := false
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: newUser(t, s, "erin").ID, Type: store.BasicAuth, AutoGeneratePassword: &no})
	wantKind(t, err, store.ErrInvalid, "no password and no generation")
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: "ghost", Type: store.BasicAuth})
	wantKind(t, err, store.ErrInvalid, "credential for unknown consumer")
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: "saml"})
	wantKind(t, err, store.ErrInvalid, "unknown type")

	// Rotation: the old password stops working at once.
	_, newPlain, err := s.RotateSecret(ctx, store.BasicAuth, u.ID, "")
	must(t, err)
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, plain2); !errors.Is(err, store.ErrBadSecret) {
		t.Errorf("old password after rotation: %v", err)
	}
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, newPlain); err != nil {
		t.Errorf("new password after rotation: %v", err)
	}
}

func testKeyAuth(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "frank")
	c1, sec1, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
	must(t, err)
	c2, sec2, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: "my-key", KeySecret: "chosen-key-secret-0123456789"})
	must(t, err)
	if c1.KeyID == "" || c1.ID != c1.KeyID || c2.ID != "my-key" || sec2 != "chosen-key-secret-0123456789" {
		t.Errorf("key-auth credentials: %+v %+v", c1, c2)
	}
	for _, c := range []struct{ id, secret string }{{c1.KeyID, sec1}, {"my-key", "chosen-key-secret-0123456789"}} {
		got, err := s.VerifyCredential(ctx, store.KeyAuth, c.id, c.secret)
		if err != nil || got.ConsumerID != u.ID {
			t.Errorf("verify %s: %v", c.id, err)
		}
	}
	// Another consumer cannot take over an existing keyId (Express Gateway B-24).
	other := newUser(t, s, "mallory")
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: other.ID, Type: store.KeyAuth, KeyID: "my-key", KeySecret: "mine-key-secret-0123456789"})
	wantKind(t, err, store.ErrExists, "keyId takeover")
	if _, err := s.VerifyCredential(ctx, store.KeyAuth, "my-key", "chosen-key-secret-0123456789"); err != nil {
		t.Errorf("original key broken by the takeover attempt: %v", err)
	}
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: "a:b"})
	wantKind(t, err, store.ErrInvalid, "keyId with ':'")
	list, err := s.ListCredentials(ctx, "frank")
	must(t, err)
	if len(list) != 2 {
		t.Errorf("credentials of frank = %d, want 2", len(list))
	}
	must(t, s.DeleteCredential(ctx, store.KeyAuth, "my-key"))
	if _, err := s.VerifyCredential(ctx, store.KeyAuth, "my-key", "chosen-key-secret-0123456789"); !errors.Is(err, store.ErrNoSuchCreds) {
		t.Errorf("deleted key still verifies: %v", err)
	}
	list, _ = s.ListCredentials(ctx, u.ID)
	if len(list) != 1 {
		t.Errorf("after delete, credentials = %d, want 1", len(list))
	}
	// jwt credentials share the key-auth rules.
	j, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.JWT, KeyID: "issuer-1"})
	must(t, err)
	if got, err := s.GetCredential(ctx, store.JWT, "issuer-1"); err != nil || got.ConsumerID != u.ID || got.Type != store.JWT {
		t.Errorf("jwt credential: %v %+v (%+v)", err, got, j)
	}
}

func testOAuth2(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "gina")
	a, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "client", RedirectURI: "https://c.example/cb"})
	must(t, err)
	must(t, s.CreateScopes(ctx, "read"))
	c, plain, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: a.ID, Type: store.OAuth2, Scopes: []string{"read"}, RedirectURIs: []string{"https://c.example/alt"}})
	must(t, err)
	if c.ID != a.ID || c.PasswordKey != "secret" || plain == "" || !slices.Equal(c.RedirectURIs, []string{"https://c.example/alt"}) {
		t.Errorf("oauth2 credential: %+v", c)
	}
	if _, err := s.VerifyCredential(ctx, store.OAuth2, a.ID, plain); err != nil {
		t.Errorf("client secret: %v", err)
	}
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: a.ID, Type: store.OAuth2})
	wantKind(t, err, store.ErrExists, "second oauth2 credential")
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.OAuth2, Scopes: []string{"nope"}})
	wantKind(t, err, store.ErrInvalid, "unknown scope")
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.OAuth2, RedirectURIs: []string{"https://x/#frag"}})
	wantKind(t, err, store.ErrInvalid, "redirect URI with fragment")
}

func testCredentialScopes(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "hank")
	must(t, s.CreateScopes(ctx, "a", "b", "c"))
	c, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, Scopes: []string{"b", "a", "a"}})
	must(t, err)
	if !slices.Equal(c.Scopes, []string{"a", "b"}) {
		t.Errorf("scopes normalised = %v, want [a b]", c.Scopes)
	}
	if !c.HasScopes([]string{"a"}) || c.HasScopes([]string{"c"}) {
		t.Error("HasScopes wrong")
	}
	c2, err := s.AddScopes(ctx, store.KeyAuth, c.ID, "c")
	must(t, err)
	if !slices.Equal(c2.Scopes, []string{"a", "b", "c"}) {
		t.Errorf("after add: %v", c2.Scopes)
	}
	_, err = s.AddScopes(ctx, store.KeyAuth, c.ID, "zzz")
	wantKind(t, err, store.ErrInvalid, "add unknown scope")
	c3, err := s.RemoveScopes(ctx, store.KeyAuth, c.ID, "a")
	must(t, err)
	if !slices.Equal(c3.Scopes, []string{"b", "c"}) {
		t.Errorf("after remove: %v", c3.Scopes)
	}
	c4, err := s.SetScopes(ctx, store.KeyAuth, c.ID, []string{"a"})
	must(t, err)
	if !slices.Equal(c4.Scopes, []string{"a"}) {
		t.Errorf("after set: %v", c4.Scopes)
	}
	// Deleting a scope removes it from every credential.
	must(t, s.DeleteScope(ctx, "a"))
	got, err := s.GetCredential(ctx, store.KeyAuth, c.ID)
	must(t, err)
	if len(got.Scopes) != 0 {
		t.Errorf("deleted scope still on the credential: %v", got.Scopes)
	}
	_, err = s.AddScopes(ctx, store.KeyAuth, "ghost", "b")
	wantKind(t, err, store.ErrNotFound, "scopes of unknown credential")
}

func testVerificationCache(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "ivan")
	_, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "password-1"})
	must(t, err)
	for i := 0; i < 3; i++ { // repeated successes come from the cache
		if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "password-1"); err != nil {
			t.Fatal(err)
		}
	}
	// Deactivation must defeat the cache at once.
	_, err = s.SetCredentialActive(ctx, store.BasicAuth, u.ID, false)
	must(t, err)
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "password-1"); !errors.Is(err, store.ErrInactive) {
		t.Errorf("deactivated credential verified from cache: %v", err)
	}
	_, err = s.SetCredentialActive(ctx, store.BasicAuth, u.ID, true)
	must(t, err)
	// A changed secret must defeat it too.
	_, _, err = s.RotateSecret(ctx, store.BasicAuth, u.ID, "password-2")
	must(t, err)
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "password-1"); !errors.Is(err, store.ErrBadSecret) {
		t.Errorf("old secret verified from cache after rotation: %v", err)
	}
	// Delete and recreate with the same id and another password.
	must(t, s.DeleteCredential(ctx, store.BasicAuth, u.ID))
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "password-1"})
	must(t, err)
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "password-2"); !errors.Is(err, store.ErrBadSecret) {
		t.Errorf("secret of a deleted credential verified: %v", err)
	}
}

func testCascades(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "judy")
	a, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "app"})
	must(t, err)
	must(t, s.CreateScopes(ctx, "read"))
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "x-password"})
	must(t, err)
	k, ksec, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, Scopes: []string{"read"}})
	must(t, err)
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: a.ID, Type: store.OAuth2})
	must(t, err)
	var tok store.Token
	store.NewToken(&tok)
	tok.ConsumerID, tok.Kind, tok.ExpiresAt = a.ID, store.AccessToken, time.Now().Add(time.Hour)
	must(t, s.SaveToken(ctx, &tok))

	// Deactivating the user deactivates its apps (Express Gateway).
	_, err = s.SetUserActive(ctx, u.ID, false)
	must(t, err)
	if got, _ := s.GetApp(ctx, a.ID); got.IsActive {
		t.Error("deactivating a user left its app active")
	}
	// Warm the caches, then delete: nothing may survive.
	if _, err := s.VerifyCredential(ctx, store.KeyAuth, k.KeyID, ksec); err != nil {
		t.Fatal(err)
	}
	must(t, s.DeleteUser(ctx, u.ID))
	if _, err := s.GetApp(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("app survived its user: %v", err)
	}
	for _, c := range []struct{ typ, id string }{{store.BasicAuth, u.ID}, {store.KeyAuth, k.KeyID}, {store.OAuth2, a.ID}} {
		if _, err := s.GetCredential(ctx, c.typ, c.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s credential survived: %v", c.typ, err)
		}
	}
	if _, err := s.VerifyCredential(ctx, store.KeyAuth, k.KeyID, ksec); !errors.Is(err, store.ErrNoSuchCreds) {
		t.Errorf("deleted key verified from cache: %v", err)
	}
	if _, err := s.GetToken(ctx, tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of a deleted app survived: %v", err)
	}
	// The scope index no longer points at the deleted credential.
	must(t, s.DeleteScope(ctx, "read"))
}

func testTokens(t *testing.T, nb NewBackend) {
	s, clk := open(t, nb)
	u := newUser(t, s, "kim")
	refresh := testTokenRevocation(t, s, clk, u)
	testFamilyRevocation(t, s, clk, u, refresh)
	testTokenExpiry(t, s, clk, u)
}

// testTokenRevocation saves, verifies, lists and revokes u's access token
// of family "fam1", and returns the live refresh token saved beside it.
func testTokenRevocation(t *testing.T, s *store.Store, clk *clock, u *store.User) *store.Token {
	ctx := context.Background()
	var tok store.Token
	plain := store.NewToken(&tok)
	tok.Kind, tok.ConsumerID, tok.Scopes = store.AccessToken, u.ID, []string{"read"}
	tok.CreatedAt, tok.ExpiresAt = clk.now(), clk.now().Add(time.Hour)
	tok.FamilyID = "fam1"
	must(t, s.SaveToken(ctx, &tok))
	id, sec, ok := cut(plain)
	if !ok || id != tok.ID || len(sec) < 32 {
		t.Fatalf("token value %q", plain)
	}
	if got, err := s.VerifyToken(ctx, id, sec); err != nil || got.ConsumerID != u.ID {
		t.Fatalf("verify: %v", err)
	}
	if _, err := s.VerifyToken(ctx, id, "wrong"+sec[5:]); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("wrong secret half: %v", err)
	}
	var t2 store.Token
	store.NewToken(&t2)
	t2.Kind, t2.ConsumerID, t2.ExpiresAt, t2.FamilyID = store.RefreshToken, u.ID, clk.now().Add(time.Hour), "fam1"
	must(t, s.SaveToken(ctx, &t2))
	list, err := s.ListTokens(ctx, u.ID)
	must(t, err)
	if len(list) != 2 {
		t.Errorf("tokens of kim = %d, want 2", len(list))
	}
	was, err := s.RevokeToken(ctx, tok.ID)
	must(t, err)
	if was.Revoked {
		t.Errorf("RevokeToken of a live token reported it revoked before")
	}
	if was, err = s.RevokeToken(ctx, tok.ID); err != nil || !was.Revoked {
		t.Errorf("second RevokeToken: %v, revoked before = %v, want true", err, was != nil && was.Revoked)
	}
	if _, err := s.VerifyToken(ctx, id, sec); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("revoked token verified: %v", err)
	}
	if got, err := s.GetToken(ctx, tok.ID); err != nil || !got.Revoked {
		t.Errorf("revoked token must stay readable as revoked: %v %+v", err, got)
	}
	return &t2
}

// testFamilyRevocation revokes family "fam1", whose refresh token t2 is
// still live, and saves tokens derived from it.
func testFamilyRevocation(t *testing.T, s *store.Store, clk *clock, u *store.User, t2 *store.Token) {
	ctx := context.Background()
	n, err := s.RevokeFamily(ctx, "fam1")
	must(t, err)
	if n != 1 {
		t.Errorf("family revocation revoked %d, want 1 (the other was revoked already)", n)
	}
	// A token derived from the family (a refresh or code exchange that ran
	// concurrently with the replay) is refused once the family is revoked;
	// a token that starts a family of its own is not affected.
	var child store.Token
	store.NewToken(&child)
	child.Kind, child.ConsumerID, child.ExpiresAt = store.AccessToken, u.ID, clk.now().Add(time.Hour)
	child.FamilyID, child.ParentID = "fam1", t2.ID
	if err := s.SaveToken(ctx, &child); !errors.Is(err, store.ErrGrantRevoked) {
		t.Errorf("save into a revoked family: %v, want ErrGrantRevoked", err)
	}
	if _, err := s.GetToken(ctx, child.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused token was stored: %v", err)
	}
	child.ParentID, child.FamilyID = "", "fam2"
	child.ExpiresAt = clk.now().Add(time.Minute) // gone by the end of the test
	must(t, s.SaveToken(ctx, &child))
}

// testTokenExpiry: tokens expire by the store's clock.
func testTokenExpiry(t *testing.T, s *store.Store, clk *clock, u *store.User) {
	ctx := context.Background()
	var t3 store.Token
	p3 := store.NewToken(&t3)
	t3.Kind, t3.ConsumerID, t3.ExpiresAt = store.AccessToken, u.ID, clk.now().Add(time.Minute)
	must(t, s.SaveToken(ctx, &t3))
	clk.advance(2 * time.Minute)
	id3, sec3, _ := cut(p3)
	if _, err := s.VerifyToken(ctx, id3, sec3); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("expired token verified: %v", err)
	}
	_, err := s.RevokeToken(ctx, "nope")
	wantKind(t, err, store.ErrNotFound, "revoke unknown token")
	var t4 store.Token
	store.NewToken(&t4)
	t4.ConsumerID, t4.ExpiresAt = u.ID, clk.now().Add(-time.Second)
	wantKind(t, s.SaveToken(ctx, &t4), store.ErrInvalid, "save an expired token")
	// Every token of u is revoked or expired by now (testFamilyRevocation's
	// fam2 token too).
	n, err := s.RevokeConsumerTokens(ctx, u.ID)
	must(t, err)
	if n != 0 {
		t.Errorf("RevokeConsumerTokens revoked %d live tokens, want 0", n)
	}
}

// testTokenTTL checks the backend itself drops expired tokens (real time).
func testTokenTTL(t *testing.T, nb NewBackend) {
	s := store.New(nb(t), store.Options{BcryptCost: 4})
	defer s.Close()
	ctx := context.Background()
	// A stall of the test longer than the TTL between choosing ExpiresAt
	// and reading the token back (a loaded CI machine) lets it expire
	// first, so such a round proves nothing and is redone.
	const ttl = 300 * time.Millisecond
	var tok store.Token
	for round := 1; ; round++ {
		tok = store.Token{}
		store.NewToken(&tok)
		start := time.Now()
		tok.ConsumerID, tok.ExpiresAt = "c", start.Add(ttl)
		saveErr := s.SaveToken(ctx, &tok)
		_, ok, err := s.Backend().Get(ctx, "token:"+tok.ID)
		if time.Since(start) >= ttl && round < 5 {
			continue
		}
		must(t, saveErr)
		if err != nil || !ok {
			t.Fatalf("token not stored: %v", err)
		}
		break
	}
	time.Sleep(2 * ttl)
	if _, ok, err := s.Backend().Get(ctx, "token:"+tok.ID); err != nil || ok {
		t.Errorf("backend still has the token after its TTL: ok=%v err=%v", ok, err)
	}
}

func testCodes(t *testing.T, nb NewBackend) {
	s, clk := open(t, nb)
	ctx := context.Background()
	authTime := clk.now().Add(-time.Minute).Truncate(time.Second)
	c := &store.Code{ID: "code1", ConsumerID: "app", UserID: "u", Scopes: []string{"openid", "read"}, ExpiresAt: clk.now().Add(time.Minute),
		Nonce: "n-0S6_WzA2Mj", AuthTime: authTime, SID: "sid1", ACR: "1", AMR: []string{"pwd"}}
	must(t, s.SaveCode(ctx, c))
	got, err := s.ConsumeCode(ctx, "code1")
	must(t, err)
	if got.ConsumerID != "app" || got.UserID != "u" {
		t.Errorf("code: %+v", got)
	}
	// The OpenID Connect fields round-trip: the ID token of the code
	// echoes them (OpenID Connect Core 1.0 §3.1.3.6).
	if got.Nonce != c.Nonce || !got.AuthTime.Equal(authTime) || got.SID != "sid1" || got.ACR != "1" || !slices.Equal(got.AMR, []string{"pwd"}) {
		t.Errorf("code's OpenID Connect fields: %+v, want %+v", got, c)
	}
	if _, err := s.ConsumeCode(ctx, "code1"); !errors.Is(err, store.ErrCodeUsed) {
		t.Errorf("second use: %v, want ErrCodeUsed", err)
	}
	must(t, s.SaveCode(ctx, &store.Code{ID: "code2", ExpiresAt: clk.now().Add(time.Minute)}))
	clk.advance(2 * time.Minute)
	_, err = s.ConsumeCode(ctx, "code2")
	wantKind(t, err, store.ErrNotFound, "expired code")

	// Exactly one of many concurrent redemptions wins.
	must(t, s.SaveCode(ctx, &store.Code{ID: "code3", ExpiresAt: clk.now().Add(time.Minute)}))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ConsumeCode(ctx, "code3"); err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent redemptions of one code succeeded, want 1", wins.Load())
	}
}

func testPagination(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 25; i++ {
		u := newUser(t, s, fmt.Sprintf("user%02d", i))
		want[u.ID] = true
	}
	seen := map[string]bool{}
	cursor := uint64(0)
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		users, next, err := s.ListUsers(ctx, cursor, 10)
		must(t, err)
		for _, u := range users {
			seen[u.ID] = true
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	if len(seen) != len(want) {
		t.Errorf("paged through %d users, want %d", len(seen), len(want))
	}
	u := newUser(t, s, "appowner")
	for i := 0; i < 3; i++ {
		_, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: fmt.Sprint("app", i)})
		must(t, err)
	}
	apps, next, err := s.ListApps(ctx, 0, 100)
	must(t, err)
	if len(apps) != 3 || next != 0 {
		t.Errorf("apps = %d next %d", len(apps), next)
	}
}

func testConcurrency(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "busy")
	const n = 20
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprint("s", i))
	}
	must(t, s.CreateScopes(ctx, names...))
	c, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth})
	must(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.AddScopes(ctx, store.KeyAuth, c.ID, name); err != nil {
				errs <- err
			}
		}()
	}
	// Parallel writers racing for one username: exactly one wins.
	var created atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateUser(ctx, store.User{Username: "race", Firstname: "R", Lastname: "R"})
			if err == nil {
				created.Add(1)
			} else if !errors.Is(err, store.ErrExists) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write failed: %v", err)
	}
	got, err := s.GetCredential(ctx, store.KeyAuth, c.ID)
	must(t, err)
	if len(got.Scopes) != n {
		t.Errorf("after %d parallel AddScopes the credential has %d scopes: lost updates", n, len(got.Scopes))
	}
	if created.Load() != 1 {
		t.Errorf("%d users named race were created, want exactly 1", created.Load())
	}
}

// testNothingHalfWritten: an operation that fails leaves no trace.
func testNothingHalfWritten(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "half")
	must(t, s.CreateScopes(ctx, "ok"))
	// The second scope does not exist: the credential must not exist at all.
	_, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: "halfkey", Scopes: []string{"ok", "missing"}})
	wantKind(t, err, store.ErrInvalid, "unknown scope")
	if _, err := s.GetCredential(ctx, store.KeyAuth, "halfkey"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed create left the credential behind: %v", err)
	}
	if list, _ := s.ListCredentials(ctx, u.ID); len(list) != 0 {
		t.Errorf("a failed create left %d credentials in the consumer index", len(list))
	}
	// A failing change function writes nothing.
	_, err = s.UpdateUser(ctx, u.ID, func(u *store.User) error { u.Firstname = "changed"; return errors.New("refused") })
	if err == nil {
		t.Fatal("update error swallowed")
	}
	if got, _ := s.GetUser(ctx, u.ID); got.Firstname != "F" {
		t.Errorf("a failed update wrote: %+v", got)
	}
}

// testRecords: records expire by the store clock even when cached.
func testRecords(t *testing.T, nb NewBackend) {
	s, clk := open(t, nb)
	ctx := context.Background()
	must(t, s.PutRecord(ctx, "session", "a", map[string]string{"u": "1"}, time.Minute))
	var v map[string]string
	if ok, err := s.GetRecord(ctx, "session", "a", &v); err != nil || !ok || v["u"] != "1" {
		t.Fatalf("get: %v %v %v", ok, err, v)
	}
	clk.advance(2 * time.Minute)
	if ok, _ := s.GetRecord(ctx, "session", "a", &v); ok {
		t.Error("an expired record was read (from the cache)")
	}
	must(t, s.PutRecord(ctx, "tx", "b", 42, time.Minute))
	var n int
	if ok, err := s.TakeRecord(ctx, "tx", "b", &n); err != nil || !ok || n != 42 {
		t.Fatalf("take: %v %v %d", ok, err, n)
	}
	if ok, _ := s.TakeRecord(ctx, "tx", "b", &n); ok {
		t.Error("a record was taken twice")
	}
	type ks struct{ N int }
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := store.UpdateRecord(ctx, s, "keys", "set", func(cur *ks) (*ks, time.Duration, error) {
				if cur == nil {
					return &ks{N: 1}, 0, nil
				}
				return &ks{N: cur.N + 1}, 0, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var got ks
	if ok, _ := s.GetRecord(ctx, "keys", "set", &got); !ok || got.N != 10 {
		t.Errorf("10 concurrent UpdateRecord calls gave %+v", got)
	}
}
