package store

import (
	"context"
	"encoding/json"
	"time"
)

func recordKey(kind, id string) string { return "rec:" + kind + ":" + id }

// PutRecord stores v (JSON) under kind and id, for ttl (0: no expiry). The
// OAuth2 server keeps its sessions, authorization transactions and signing
// keys this way, so that every node sharing the store sees them.
func (s *Store) PutRecord(ctx context.Context, kind, id string, v any, ttl time.Duration) error {
	return s.update(ctx, func(tx *txn) error { return tx.putJSON(recordKey(kind, id), v, ttl) })
}

// GetRecord reads a record into v; false when there is none. Reads go
// through the per-process cache (absent records too), which writes and the
// backend's invalidations keep exact, so a check per request is cheap.
func (s *Store) GetRecord(ctx context.Context, kind, id string, v any) (bool, error) {
	raw, err := cached[json.RawMessage](ctx, s, recordKey(kind, id))
	if err != nil || raw == nil {
		return false, err
	}
	return true, json.Unmarshal(*raw, v)
}

// TakeRecord reads and deletes a record atomically (single-use values).
func (s *Store) TakeRecord(ctx context.Context, kind, id string, v any) (bool, error) {
	var found bool
	err := s.update(ctx, func(tx *txn) error {
		var err error
		if found, err = tx.getJSON(recordKey(kind, id), v); err != nil || !found {
			return err
		}
		return tx.Del(recordKey(kind, id))
	})
	return found, err
}

// DeleteRecord removes a record (no error when there is none).
func (s *Store) DeleteRecord(ctx context.Context, kind, id string) error {
	return s.update(ctx, func(tx *txn) error { return tx.Del(recordKey(kind, id)) })
}

// UpdateRecord changes a record atomically: fn gets the current value (nil
// when there is none) and returns the value to store (nil: leave it) and its
// ttl. Concurrent callers on several nodes serialise, so exactly one of
// them creates a missing record.
func UpdateRecord[T any](ctx context.Context, s *Store, kind, id string, fn func(cur *T) (*T, time.Duration, error)) (*T, error) {
	var out *T
	err := s.update(ctx, func(tx *txn) error {
		var cur T
		found, err := tx.getJSON(recordKey(kind, id), &cur)
		if err != nil {
			return err
		}
		var in *T
		if found {
			in = &cur
		}
		next, ttl, err := fn(in)
		if err != nil {
			return err
		}
		if next == nil {
			out = in
			return nil
		}
		out = next
		return tx.putJSON(recordKey(kind, id), next, ttl)
	})
	return out, err
}
