package oauth2server

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/boltstore"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// BenchmarkTokenClientCredentials is POST /oauth2/token with
// grant_type=client_credentials and HTTP Basic client authentication, the
// handler alone (no network): client authentication, one token minted
// and stored (opaque) or signed (JWT), the JSON answer.
func BenchmarkTokenClientCredentials(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) *store.Store
	}{
		{"memory", func(*testing.B) *store.Store { return store.New(memstore.New(nil), store.Options{BcryptCost: 4}) }},
		{"file", func(b *testing.B) *store.Store {
			bb, err := boltstore.Open(filepath.Join(b.TempDir(), "gatehouse.db"), boltstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return store.New(bb, store.Options{BcryptCost: 4})
		}},
	}
	modes := []struct {
		name string
		sys  *config.System
	}{
		{"opaque", nil},
		{"jwt", &config.System{AccessTokens: &config.AccessTokens{TokenType: "jwt"}}},
	}
	for _, st := range stores {
		for _, m := range modes {
			b.Run(st.name+"/"+m.name, func(b *testing.B) {
				f := newFixtureOn(b, st.open(b), nil, m.sys)
				auth := basicHeader(f.web.ID, f.webSecret)
				const body = "grant_type=client_credentials&scope=read"
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					req := httptest.NewRequest("POST", "http://gw.example/oauth2/token", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", auth)
					rec := httptest.NewRecorder()
					f.srv.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

// BenchmarkVerifyJWT is the server side of the oauth2 policy for a JWT
// access token: the signature check alone (ES256, a generated key), and
// VerifyAccessToken for a token verified before (cache hit, plus the
// revoked-jti and revoked-grant lookups).
func BenchmarkVerifyJWT(b *testing.B) {
	f := newFixtureOn(b, store.New(memstore.New(nil), store.Options{BcryptCost: 4}), nil,
		&config.System{AccessTokens: &config.AccessTokens{TokenType: "jwt"}})
	tok := f.clientToken(b, f.srv)
	b.Run("signature", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.srv.parseJWT(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		req := httptest.NewRequest("GET", "http://api.example/", nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.srv.VerifyAccessToken(req, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
