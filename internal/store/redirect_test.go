package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// TestCheckRedirectURI: the registration rules for redirect URIs (issue
// #11 §4; RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7).
func TestCheckRedirectURI(t *testing.T) {
	for _, ok := range []string{
		"https://app.example.com/callback",
		"https://app.example.com:8443/cb?tenant=a",
		"https://app.example.com",
		"http://127.0.0.1/cb",
		"http://127.0.0.1:51000/cb",
		"http://[::1]/cb",
		"http://[::1]:8080/cb",
		"http://localhost/cb",
		"http://LOCALHOST:3000/cb",
		"com.example.app:/oauth2redirect",
		"com.example.app://callback",
		"io.gatehouse.native:/cb",
	} {
		if err := store.CheckRedirectURI("redirectUri", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, tt := range []struct{ uri, want string }{
		{"", "a redirect URI must not be empty"},
		{"/cb", `redirect URI "/cb" must be an absolute URI, with a scheme such as https:// (RFC 6749 §3.1.2)`},
		{"cb", `redirect URI "cb" must be an absolute URI, with a scheme such as https:// (RFC 6749 §3.1.2)`},
		{"https://app.example/cb#x", `redirect URI "https://app.example/cb#x" must not have a fragment (RFC 6749 §3.1.2)`},
		{"https://app.example/cb#", `redirect URI "https://app.example/cb#" must not have a fragment (RFC 6749 §3.1.2)`},
		{"https://app.example/c b", `redirect URI "https://app.example/c b" must not contain spaces or control characters`},
		{"javascript:alert(1)", `redirect URI "javascript:alert(1)" is refused: a javascript: URI is never a redirect URI (it runs script or reads local files)`},
		{"JavaScript://app.example/%0aalert(1)", `redirect URI "JavaScript://app.example/%0aalert(1)" is refused: a javascript: URI is never a redirect URI (it runs script or reads local files)`},
		{"data:text/html,<script>alert(1)</script>", `redirect URI "data:text/html,<script>alert(1)</script>" is refused: a data: URI is never a redirect URI (it runs script or reads local files)`},
		{"vbscript:msgbox", `redirect URI "vbscript:msgbox" is refused: a vbscript: URI is never a redirect URI (it runs script or reads local files)`},
		{"file:///etc/passwd", `redirect URI "file:///etc/passwd" is refused: a file: URI is never a redirect URI (it runs script or reads local files)`},
		{"https://*.example.com/cb", `redirect URI "https://*.example.com/cb" must not contain a wildcard (*): every redirect URI is compared exactly, so list each one (RFC 9700 §2.1)`},
		{"https://app.example/*", `redirect URI "https://app.example/*" must not contain a wildcard (*): every redirect URI is compared exactly, so list each one (RFC 9700 §2.1)`},
		{"http://app.example.com/cb", `redirect URI "http://app.example.com/cb" must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)`},
		{"http://127.0.0.1.nip.io/cb", `redirect URI "http://127.0.0.1.nip.io/cb" must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)`},
		{"http://localhost.evil.example/cb", `redirect URI "http://localhost.evil.example/cb" must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)`},
		{"https:/cb", `redirect URI "https:/cb" must have a host, such as https://app.example.com/callback`},
		{"https:app.example.com", `redirect URI "https:app.example.com" must have a host, such as https://app.example.com/callback`},
		{"https://good.example@evil.example/cb", `redirect URI "https://good.example@evil.example/cb" must not contain a user name or password`},
		{"myapp:/cb", `redirect URI "myapp:/cb" must use https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)`},
		{"ftp://files.example/cb", `redirect URI "ftp://files.example/cb" must use https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)`},
		{"com..app:/cb", `redirect URI "com..app:/cb" must use https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)`},
		{"com.:/cb", `redirect URI "com.:/cb" must use https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)`},
	} {
		err := store.CheckRedirectURI("redirectUris", tt.uri)
		var se *store.Error
		if !errors.As(err, &se) || !errors.Is(err, store.ErrInvalid) || se.Field != "redirectUris" {
			t.Errorf("%q: %v, want an invalid redirectUris error", tt.uri, err)
			continue
		}
		if se.Msg != tt.want {
			t.Errorf("%q:\n got: %s\nwant: %s", tt.uri, se.Msg, tt.want)
		}
	}
}

func newRulesStore(t *testing.T, o store.Options) (*store.Store, store.Backend) {
	t.Helper()
	b := memstore.New(nil)
	o.BcryptCost = 4
	s := store.New(b, o)
	t.Cleanup(func() { s.Close() })
	return s, b
}

func wantInvalid(t *testing.T, err error, field, msg string) {
	t.Helper()
	var se *store.Error
	if !errors.As(err, &se) || !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("got %v, want an invalid %s error %q", err, field, msg)
	}
	if se.Field != field || se.Msg != msg {
		t.Errorf("got %s: %s\nwant %s: %s", se.Field, se.Msg, field, msg)
	}
}

// TestRedirectURIsCheckedOnWrite: users', applications' and oauth2
// credentials' redirect URIs are checked when created or changed; a record
// stored before the rules still loads and stays editable as long as its
// URI is not rewritten (issue #11 §4).
func TestRedirectURIsCheckedOnWrite(t *testing.T) {
	ctx := context.Background()
	s, b := newRulesStore(t, store.Options{})
	const httpMsg = `redirect URI "http://shop.example/cb" must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)`
	_, err := s.CreateUser(ctx, store.User{Username: "ann", Firstname: "A", Lastname: "N", RedirectURI: "http://shop.example/cb"})
	wantInvalid(t, err, "redirectUri", httpMsg)
	u, err := s.CreateUser(ctx, store.User{Username: "ann", Firstname: "A", Lastname: "N", RedirectURI: "https://shop.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateUser(ctx, u.ID, func(u *store.User) error { u.RedirectURI = "http://shop.example/cb"; return nil })
	wantInvalid(t, err, "redirectUri", httpMsg)
	_, err = s.CreateApp(ctx, store.App{UserID: u.ID, Name: "web", RedirectURI: "javascript:alert(1)"})
	wantInvalid(t, err, "redirectUri", `redirect URI "javascript:alert(1)" is refused: a javascript: URI is never a redirect URI (it runs script or reads local files)`)
	app, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "web", RedirectURI: "http://127.0.0.1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateApp(ctx, app.ID, func(a *store.App) error { a.RedirectURI = "https://*.shop.example/cb"; return nil })
	wantInvalid(t, err, "redirectUri", `redirect URI "https://*.shop.example/cb" must not contain a wildcard (*): every redirect URI is compared exactly, so list each one (RFC 9700 §2.1)`)
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2, RedirectURIs: []string{"com.example.app:/cb", "myapp:/cb"}})
	wantInvalid(t, err, "redirectUris", `redirect URI "myapp:/cb" must use https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)`)

	// A record written before the rules (Express Gateway accepted any
	// redirectUri): it loads, and other changes go through.
	app, err = s.CreateApp(ctx, store.App{UserID: u.ID, Name: "legacy", RedirectURI: "https://legacy.example/old"})
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	raw, _, _ := b.Get(ctx, "app:"+app.ID)
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	rec["redirectUri"] = "http://legacy.example/cb#frag"
	raw, _ = json.Marshal(rec)
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Set("app:"+app.ID, raw, 0) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetApp(ctx, app.ID)
	if err != nil || got.RedirectURI != "http://legacy.example/cb#frag" {
		t.Fatalf("legacy app: %+v, %v", got, err)
	}
	renamed, err := s.UpdateApp(ctx, app.ID, func(a *store.App) error { a.Name = "web2"; return nil })
	if err != nil || renamed.Name != "web2" || renamed.RedirectURI != "http://legacy.example/cb#frag" {
		t.Fatalf("renaming a legacy app: %+v, %v", renamed, err)
	}
	_, err = s.UpdateApp(ctx, app.ID, func(a *store.App) error { a.RedirectURI = "http://legacy.example/cb2"; return nil })
	wantInvalid(t, err, "redirectUri", `redirect URI "http://legacy.example/cb2" must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)`)
	fixed, err := s.UpdateApp(ctx, app.ID, func(a *store.App) error { a.RedirectURI = "https://legacy.example/cb"; return nil })
	if err != nil || fixed.RedirectURI != "https://legacy.example/cb" {
		t.Fatalf("fixing a legacy app: %+v, %v", fixed, err)
	}
}
