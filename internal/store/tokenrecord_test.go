package store_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// recordTokens are tokens of every shape a field can take: the shapes the
// record packs (hex ids, UUIDs, sha256 hashes, known words, times in UTC,
// the local zone or another offset, lifetimes) and the ones it keeps as
// they are.
func recordTokens() []store.Token {
	now := time.Date(2026, 12, 7, 2, 3, 4, 567890123, time.UTC)
	east := time.FixedZone("", 5*3600+30*60)
	return []store.Token{
		{}, // every field empty
		{ID: "0123456789abcdef0123456789abcdef", Kind: store.AccessToken,
			SecretHash: "sha256:" + strings.Repeat("ab", 32), ConsumerID: "3f1c2a9e-5b7d-4e8f-a1b2-c3d4e5f60718",
			AuthType: "oauth2", GrantType: "client_credentials", FamilyID: "fedcba9876543210fedcba9876543210",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{ID: "x", Kind: store.RefreshToken, SecretHash: "sha256:" + strings.Repeat("AB", 32), // uppercase: kept as is
			ConsumerID: "3F1C2A9E-5B7D-4E8F-A1B2-C3D4E5F60718", AuthenticatedUserID: "user-1|ü",
			AuthType: "key-auth", Scopes: []string{"read", "", "write:all", strings.Repeat("s", 300)},
			RedirectURI: "https://app.example/cb?x=1", GrantType: "authorization_code",
			FamilyID: "fam", ParentID: "0123456789abcdef0123456789abcdeF",
			CreatedAt: now.In(east), ExpiresAt: now.Add(30 * 24 * time.Hour).In(east), Revoked: true, Withdrawn: true},
		{Kind: "custom", CreatedAt: now.Local(), ExpiresAt: now.Add(-time.Minute).Local(), Revoked: true}, // expiry before creation
		{CreatedAt: now, ExpiresAt: now.Add(time.Hour).In(east)},                                          // zones differ
		{ExpiresAt: now.Add(time.Hour)},                                                                   // no creation time
		{CreatedAt: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), ExpiresAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

// TestTokenRecord: a token read back from its record is the token it was
// when it went through JSON (what the Admin API and introspection render
// it from, and what the store kept before), field for field, and the
// usual access token takes under 96 bytes.
func TestTokenRecord(t *testing.T) {
	for i, tok := range recordTokens() {
		rec := store.TokenRecord(&tok)
		got, err := store.DecodeToken(tok.ID, rec)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		viaJSON := jsonRoundTrip(t, &tok)
		if a, b := mustJSON(t, got), mustJSON(t, viaJSON); !bytes.Equal(a, b) {
			t.Errorf("token %d:\nrecord: %s\nJSON:   %s", i, a, b)
		}
		for _, p := range []struct {
			name string
			a, b time.Time
		}{{"createdAt", got.CreatedAt, viaJSON.CreatedAt}, {"expiresAt", got.ExpiresAt, viaJSON.ExpiresAt}} {
			if !p.a.Equal(p.b) || p.a.Location().String() != p.b.Location().String() {
				t.Errorf("token %d: %s %v (%s), through JSON %v (%s)", i, p.name, p.a, p.a.Location(), p.b, p.b.Location())
			}
		}
	}
	usual := recordTokens()[1]
	if n := len(store.TokenRecord(&usual)); n > 96 {
		t.Errorf("a client_credentials access token takes %d bytes, want at most 96", n)
	}
}

// TestTokenRecordJSON: records written as JSON (by earlier versions) are
// still read.
func TestTokenRecordJSON(t *testing.T) {
	tok := recordTokens()[2]
	b := mustJSON(t, &tok)
	got, err := store.DecodeToken(tok.ID, b)
	if err != nil {
		t.Fatal(err)
	}
	if a := mustJSON(t, got); !bytes.Equal(a, b) {
		t.Errorf("JSON record read as %s, want %s", a, b)
	}
}

// TestTokenRecordCorrupt: a record cut short, or with bytes after it or an
// unknown version, is an error, never a panic or a wrong token.
func TestTokenRecordCorrupt(t *testing.T) {
	for i, tok := range recordTokens() {
		rec := store.TokenRecord(&tok)
		for n := range len(rec) {
			if _, err := store.DecodeToken("id", rec[:n]); err == nil {
				t.Errorf("token %d cut to %d of %d bytes decodes", i, n, len(rec))
			}
		}
		if _, err := store.DecodeToken("id", append(rec, 0)); err == nil {
			t.Errorf("token %d with a trailing byte decodes", i)
		}
	}
	if _, err := store.DecodeToken("id", []byte{0x7f, 0}); err == nil {
		t.Error("a record of an unknown version decodes")
	}
}

func FuzzTokenRecord(f *testing.F) {
	for _, tok := range recordTokens() {
		f.Add(store.TokenRecord(&tok))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := store.DecodeToken("id", b)
		if err != nil || len(b) == 0 || b[0] == '{' {
			return
		}
		// What decodes encodes back to a record that decodes the same.
		again, err := store.DecodeToken("id", store.TokenRecord(tok))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if a, b := mustJSON(t, again), mustJSON(t, tok); !bytes.Equal(a, b) {
			t.Fatalf("re-encoded record decodes to %s, want %s", a, b)
		}
	})
}

func jsonRoundTrip(t *testing.T, tok *store.Token) *store.Token {
	t.Helper()
	var out store.Token
	if err := json.Unmarshal(mustJSON(t, tok), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
