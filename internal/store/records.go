package store

import (
	"context"
	"encoding/json"
	"time"
)

func recordKey(kind, id string) string { return "rec:" + kind + ":" + id }

// envelope carries a record with its expiry: the per-process cache does not
// see backend TTLs run out, so readers check it themselves.
type envelope struct {
	Exp int64           `json:"exp,omitempty"` // Unix milliseconds; 0: never
	V   json.RawMessage `json:"v"`
}

func (s *Store) wrap(v any, ttl time.Duration) (*envelope, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	e := &envelope{V: raw}
	if ttl > 0 {
		e.Exp = s.now().Add(ttl).UnixMilli()
	}
	return e, nil
}

func (s *Store) live(e *envelope) bool { return e.Exp == 0 || s.now().UnixMilli() < e.Exp }

// PutRecord stores v (JSON) under kind and id, for ttl (0: no expiry). The
// OAuth2 server keeps its sessions, authorization transactions and signing
// keys this way, so that every node sharing the store sees them.
func (s *Store) PutRecord(ctx context.Context, kind, id string, v any, ttl time.Duration) error {
	e, err := s.wrap(v, ttl)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *txn) error { return tx.putJSON(recordKey(kind, id), e, ttl) })
}

// GetRecord reads a record into v; false when there is none. Reads go
// through the per-process cache (absent records too), which writes and the
// backend's invalidations keep exact, so a check per request is cheap.
func (s *Store) GetRecord(ctx context.Context, kind, id string, v any) (bool, error) {
	e, err := cached[envelope](ctx, s, recordKey(kind, id))
	if err != nil || e == nil || !s.live(e) {
		return false, err
	}
	return true, json.Unmarshal(e.V, v)
}

// TakeRecord reads and deletes a record atomically (single-use values).
func (s *Store) TakeRecord(ctx context.Context, kind, id string, v any) (bool, error) {
	var found bool
	err := s.update(ctx, func(tx *txn) error {
		var e envelope
		ok, err := tx.getJSON(recordKey(kind, id), &e)
		if err != nil || !ok {
			return err
		}
		if found = s.live(&e); found {
			if err := json.Unmarshal(e.V, v); err != nil {
				return err
			}
		}
		return tx.Del(recordKey(kind, id))
	})
	return found, err
}

// DeleteRecord removes a record (no error when there is none).
func (s *Store) DeleteRecord(ctx context.Context, kind, id string) error {
	return s.update(ctx, func(tx *txn) error { return tx.Del(recordKey(kind, id)) })
}

// RecordUpdater is what UpdateRecord works through: the atomic update of
// one record's JSON. *Store has it; role interfaces of the store's users
// (the authorization server's) name it, so they need no *Store.
type RecordUpdater interface {
	UpdateRecordJSON(ctx context.Context, kind, id string, fn func(cur json.RawMessage) (json.RawMessage, time.Duration, error)) (json.RawMessage, error)
}

// UpdateRecord changes a record atomically: fn gets the current value (nil
// when there is none) and returns the value to store (nil: leave it) and its
// ttl. Concurrent callers on several nodes serialise, so exactly one of
// them creates a missing record.
func UpdateRecord[T any](ctx context.Context, s RecordUpdater, kind, id string, fn func(cur *T) (*T, time.Duration, error)) (*T, error) {
	var out *T
	_, err := s.UpdateRecordJSON(ctx, kind, id, func(raw json.RawMessage) (json.RawMessage, time.Duration, error) {
		var in *T
		if raw != nil {
			var cur T
			if err := json.Unmarshal(raw, &cur); err != nil {
				return nil, 0, err
			}
			in = &cur
		}
		next, ttl, err := fn(in)
		if err != nil || next == nil {
			out = in
			return nil, 0, err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return nil, 0, err
		}
		out = next
		return b, ttl, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateRecordJSON is UpdateRecord on the record's JSON: fn gets the
// current value (nil when there is none or it expired) and returns the
// JSON to store (nil: leave it) and its ttl. It returns what the record
// holds afterwards. A transaction retried on conflict calls fn again.
func (s *Store) UpdateRecordJSON(ctx context.Context, kind, id string, fn func(cur json.RawMessage) (json.RawMessage, time.Duration, error)) (json.RawMessage, error) {
	var out json.RawMessage
	err := s.update(ctx, func(tx *txn) error {
		var e envelope
		found, err := tx.getJSON(recordKey(kind, id), &e)
		if err != nil {
			return err
		}
		var in json.RawMessage
		if found && s.live(&e) {
			in = e.V
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
		w, err := s.wrap(next, ttl)
		if err != nil {
			return err
		}
		return tx.putJSON(recordKey(kind, id), w, ttl)
	})
	return out, err
}
