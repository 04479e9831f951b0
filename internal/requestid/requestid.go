// Package requestid makes the eg-request-id values: 22 base62 characters of
// 128 random bits, the shape of Express Gateway's uuid62 ids.
package requestid

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Len is the length of an id.
const Len = 22

// New returns a fresh random id.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return Encode(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
}

// Encode writes the 128-bit number hi:lo in base62, zero-padded to Len
// characters (62^22 > 2^128).
func Encode(hi, lo uint64) string {
	var out [Len]byte
	for i := Len - 1; i >= 0; i-- {
		var rem uint64
		hi, rem = bits.Div64(0, hi, 62)
		lo, rem = bits.Div64(rem, lo, 62)
		out[i] = alphabet[rem]
	}
	return string(out[:])
}
