package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// ClaimToken tells a refresh token used up by rotation (presented again:
// ErrTokenReused, the sign of a replay) from one revoked by a revocation
// (ErrTokenRevoked), whichever way it was revoked.
func TestClaimTellsReuseFromRevocation(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		before func(s *store.Store, tok *store.Token) error
		want   error
	}{
		{"live", func(*store.Store, *store.Token) error { return nil }, nil},
		{"claimed", func(s *store.Store, tok *store.Token) error { _, err := s.ClaimToken(ctx, tok.ID); return err }, store.ErrTokenReused},
		{"revoked", func(s *store.Store, tok *store.Token) error { _, err := s.RevokeToken(ctx, tok.ID); return err }, store.ErrTokenRevoked},
		{"family revoked", func(s *store.Store, tok *store.Token) error { _, err := s.RevokeFamily(ctx, tok.FamilyID); return err }, store.ErrTokenRevoked},
		{"claimed, then its family revoked", func(s *store.Store, tok *store.Token) error {
			if _, err := s.ClaimToken(ctx, tok.ID); err != nil {
				return err
			}
			_, err := s.RevokeFamily(ctx, tok.FamilyID)
			return err
		}, store.ErrTokenReused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
			defer s.Close()
			now := time.Now()
			tok := &store.Token{Kind: store.RefreshToken, ConsumerID: "app", FamilyID: "fam", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			store.NewToken(tok)
			if err := s.SaveToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if err := tt.before(s, tok); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ClaimToken(ctx, tok.ID); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("ClaimToken: %v, want %v", err, tt.want)
			}
		})
	}
}
