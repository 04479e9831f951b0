package store

import "context"

// HoldPasswordChecks takes every slot of s's bound on bcrypt checks, as
// that many slow checks in flight would, until release is called.
func HoldPasswordChecks(s *Store) (release func()) {
	n := cap(s.gate.slots)
	for range n {
		_ = s.gate.acquire(context.Background())
	}
	return func() {
		for range n {
			s.gate.release()
		}
	}
}

// DecodeToken is decodeToken, for the record tests.
func DecodeToken(id string, b []byte) (*Token, error) { return decodeToken(id, b) }
