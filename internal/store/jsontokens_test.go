package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// TestJSONTokens: with Options.JSONTokens (a store shared by nodes that may
// run older versions: Redis) a token's record is the JSON every version
// reads, through every write (save, revoke); without it, the compact
// binary record. Both read back the same token.
func TestJSONTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, jsonTokens := range []bool{true, false} {
		b := memstore.New(nil)
		s := store.New(b, store.Options{BcryptCost: 4, JSONTokens: jsonTokens})
		tok := &store.Token{ID: "t1", Kind: store.AccessToken, SecretHash: "h", ConsumerID: "c1",
			Scopes: []string{"read"}, FamilyID: "f1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.SaveToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RevokeToken(ctx, "t1"); err != nil {
			t.Fatal(err)
		}
		raw, ok, err := b.Get(ctx, "token:t1")
		if err != nil || !ok {
			t.Fatalf("record: %v %v", ok, err)
		}
		var old store.Token
		isJSON := json.Unmarshal(raw, &old) == nil
		if isJSON != jsonTokens {
			t.Errorf("JSONTokens=%v: the record is JSON=%v: %q", jsonTokens, isJSON, raw)
		}
		if jsonTokens && (old.ID != "t1" || !old.Revoked || old.ConsumerID != "c1") {
			t.Errorf("JSON record %+v", old)
		}
		got, err := s.GetToken(ctx, "t1")
		if err != nil || got.ConsumerID != "c1" || !got.Revoked || len(got.Scopes) != 1 {
			t.Errorf("JSONTokens=%v: GetToken = %+v, %v", jsonTokens, got, err)
		}
		s.Close()
	}
}
