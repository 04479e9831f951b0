package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestChosenSecretLengths: chosen secrets shorter than their type's
// minimum are refused at creation and rotation (issue #11 §3); generated
// ones, and secrets at the minimum, are fine.
func TestChosenSecretLengths(t *testing.T) {
	ctx := context.Background()
	s, _ := newRulesStore(t, store.Options{})
	u, err := s.CreateUser(ctx, store.User{Username: "ann", Firstname: "A", Lastname: "N"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "web", RedirectURI: "https://web.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	const (
		pwMsg  = "a basic-auth password must be at least 8 characters (got %d): NIST SP 800-63B §5.1.1.2; the minimum is crypto.minPasswordLength in system.config.yml"
		secMsg = "an oauth2 client secret must be at least 32 characters (got %d); leave it out to have a random one generated"
	)
	for _, tt := range []struct {
		name  string
		in    store.CredentialInput
		field string
		msg   string
	}{
		{"password 1", store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "1"}, "password", strings.Replace(pwMsg, "%d", "1", 1)},
		{"password 7", store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "passwor"}, "password", strings.Replace(pwMsg, "%d", "7", 1)},
		// Characters, not bytes: 7 two-byte letters are 14 bytes.
		{"password 7 letters", store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "ééééééé"}, "password", strings.Replace(pwMsg, "%d", "7", 1)},
		{"client secret a", store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2, Secret: "a"}, "secret", strings.Replace(secMsg, "%d", "1", 1)},
		{"client secret 31", store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2, Secret: strings.Repeat("s", 31)}, "secret", strings.Replace(secMsg, "%d", "31", 1)},
		{"key secret x", store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: "k1", KeySecret: "x"}, "keySecret", "a key-auth keySecret must be at least 22 characters (got 1); leave it out to have a random one generated"},
		{"key secret 21", store.CredentialInput{ConsumerID: u.ID, Type: store.KeyAuth, KeySecret: strings.Repeat("k", 21)}, "keySecret", "a key-auth keySecret must be at least 22 characters (got 21); leave it out to have a random one generated"},
		{"jwt key secret", store.CredentialInput{ConsumerID: u.ID, Type: store.JWT, KeySecret: "short"}, "keySecret", "a jwt keySecret must be at least 22 characters (got 5); leave it out to have a random one generated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.CreateCredential(ctx, tt.in)
			wantInvalid(t, err, tt.field, tt.msg)
		})
	}
	// At the minimum, and generated: accepted.
	for _, in := range []store.CredentialInput{
		{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "8 chars!"},
		{ConsumerID: app.ID, Type: store.OAuth2, Secret: strings.Repeat("s", 32)},
		{ConsumerID: u.ID, Type: store.KeyAuth, KeyID: "eg-key", KeySecret: "2ERz3OHUzsQqyRf1vyitBt"}, // an Express Gateway keySecret (uuid62)
		{ConsumerID: u.ID, Type: store.KeyAuth},
		{ConsumerID: u.ID, Type: store.JWT},
	} {
		if _, _, err := s.CreateCredential(ctx, in); err != nil {
			t.Errorf("%s: %v", in.Type, err)
		}
	}
	// Rotation: the same rules; an empty value still generates one.
	_, _, err = s.RotateSecret(ctx, store.OAuth2, app.ID, "b")
	wantInvalid(t, err, "secret", strings.Replace(secMsg, "%d", "1", 1))
	_, _, err = s.RotateSecret(ctx, store.BasicAuth, u.ID, "short")
	wantInvalid(t, err, "password", strings.Replace(pwMsg, "%d", "5", 1))
	_, _, err = s.RotateSecret(ctx, store.KeyAuth, "eg-key", "x")
	wantInvalid(t, err, "keySecret", "a key-auth keySecret must be at least 22 characters (got 1); leave it out to have a random one generated")
	if _, plain, err := s.RotateSecret(ctx, store.OAuth2, app.ID, ""); err != nil || len(plain) < 32 {
		t.Errorf("generated rotation: %q, %v", plain, err)
	}
	// A refused rotation left the old secret in place.
	if _, err := s.VerifyCredential(ctx, store.BasicAuth, u.ID, "8 chars!"); err != nil {
		t.Errorf("password after a refused rotation: %v", err)
	}
}

// TestMinPasswordLengthConfigurable: crypto.minPasswordLength reaches the
// store as Options.MinPasswordLength.
func TestMinPasswordLengthConfigurable(t *testing.T) {
	ctx := context.Background()
	s, _ := newRulesStore(t, store.Options{MinPasswordLength: 12})
	u, err := s.CreateUser(ctx, store.User{Username: "ann", Firstname: "A", Lastname: "N"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "elevenchars"})
	wantInvalid(t, err, "password", "a basic-auth password must be at least 12 characters (got 11): NIST SP 800-63B §5.1.1.2; the minimum is crypto.minPasswordLength in system.config.yml")
	if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "twelve chars"}); err != nil {
		t.Error(err)
	}
}
