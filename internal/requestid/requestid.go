// Package requestid makes the eg-request-id values: 22 base62 characters of
// 128 random bits, the shape of Express Gateway's uuid62 ids.
package requestid

import (
	"math/bits"
	"math/rand/v2"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Len is the length of an id.
const Len = 22

// New returns a fresh random id. Ids correlate logs; they guard nothing,
// so they come from the runtime's ChaCha8 generator (math/rand/v2, randomly
// seeded, unpredictable in practice) rather than a getrandom call per
// request.
func New() string {
	return Encode(rand.Uint64(), rand.Uint64())
}

// Encode writes the 128-bit number hi:lo in base62, zero-padded to Len
// characters (62^22 > 2^128).
//
// It splits the number into base-62^10 limbs with two 128-by-64-bit
// divisions, then converts each limb with 64-bit divisions by the constant
// 62, which the compiler turns into multiplications: the same digits as one
// 128-bit division by 62 per digit, at a fraction of the cost (this runs
// once per request).
func Encode(hi, lo uint64) string {
	const limb = 839299365868340224 // 62^10, the largest power of 62 below 2^64
	// hi:lo = (q1hi:q1lo)*limb + r0, then q1hi:q1lo = top*limb + r1, where
	// top < 62^2 since hi:lo < 2^128 < 62^22.
	q1hi, rem := hi/limb, hi%limb
	q1lo, r0 := bits.Div64(rem, lo, limb)
	top, r1 := bits.Div64(q1hi, q1lo, limb)

	var out [Len]byte
	for i := Len - 1; i >= Len-10; i-- {
		out[i] = alphabet[r0%62]
		r0 /= 62
	}
	for i := Len - 11; i >= Len-20; i-- {
		out[i] = alphabet[r1%62]
		r1 /= 62
	}
	out[1] = alphabet[top%62]
	out[0] = alphabet[top/62]
	return string(out[:])
}
