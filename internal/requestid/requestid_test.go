package requestid

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// bigEncode is the reference: hi:lo in base62 with math/big, padded.
func bigEncode(hi, lo uint64) string {
	n := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
	n.Or(n, new(big.Int).SetUint64(lo))
	var out []byte
	base := big.NewInt(62)
	rem := new(big.Int)
	for n.Sign() > 0 {
		n.QuoRem(n, base, rem)
		out = append([]byte{alphabet[rem.Int64()]}, out...)
	}
	return strings.Repeat("0", Len-len(out)) + string(out)
}

func TestEncode(t *testing.T) {
	const max = math.MaxUint64
	tests := []struct {
		hi, lo uint64
		want   string
	}{
		{0, 0, "0000000000000000000000"},
		{0, 1, "0000000000000000000001"},
		{0, 61, "000000000000000000000z"},
		{0, 62, "0000000000000000000010"},
		{0, max, "00000000000LygHa16AHYF"},
		{1, 0, "00000000000LygHa16AHYG"},                  // 2^64
		{0, 839299365868340224, "0000000000010000000000"}, // 62^10
		{max, max, "7n42DGM5Tflk9n8mt7Fhc7"},              // 2^128-1
	}
	for _, tt := range tests {
		if got := Encode(tt.hi, tt.lo); got != tt.want {
			t.Errorf("Encode(%d, %d) = %s, want %s", tt.hi, tt.lo, got, tt.want)
		}
		if ref := bigEncode(tt.hi, tt.lo); ref != tt.want {
			t.Fatalf("reference encoder disagrees with the table: %s vs %s", ref, tt.want)
		}
	}
	// 62^20 and its neighbours cross the limb boundaries of the encoder.
	p20 := new(big.Int).Exp(big.NewInt(62), big.NewInt(20), nil)
	for _, d := range []int64{-1, 0, 1} {
		n := new(big.Int).Add(p20, big.NewInt(d))
		hi := new(big.Int).Rsh(n, 64).Uint64()
		lo := n.Uint64()
		if got, want := Encode(hi, lo), bigEncode(hi, lo); got != want {
			t.Errorf("Encode(62^20%+d) = %s, want %s", d, got, want)
		}
	}
	// Random values agree with math/big; the encoding is order-preserving.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		hi, lo := rng.Uint64(), rng.Uint64()
		switch rng.IntN(4) {
		case 0:
			hi = 0
		case 1:
			hi >>= rng.UintN(64)
		}
		if got, want := Encode(hi, lo), bigEncode(hi, lo); got != want {
			t.Fatalf("Encode(%d, %d) = %s, want %s", hi, lo, got, want)
		}
	}
}

func FuzzEncode(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64))
	f.Add(uint64(1), uint64(0))
	f.Fuzz(func(t *testing.T, hi, lo uint64) {
		if got, want := Encode(hi, lo), bigEncode(hi, lo); got != want {
			t.Fatalf("Encode(%d, %d) = %s, want %s", hi, lo, got, want)
		}
	})
}

func TestNew(t *testing.T) {
	const n = 20000
	seen := make(map[string]bool, n)
	var counts [len(alphabet)]int
	for range n {
		id := New()
		if len(id) != Len || Len != 22 {
			t.Fatalf("New() = %q: length %d, want 22", id, len(id))
		}
		for i := 0; i < len(id); i++ {
			k := strings.IndexByte(alphabet, id[i])
			if k < 0 {
				t.Fatalf("New() = %q: %q is not base62", id, id[i])
			}
			if i > 0 { // the first digit is at most '7' (2^128 < 8*62^21)
				counts[k]++
			}
		}
		if id[0] > '7' {
			t.Fatalf("New() = %q: more than 128 bits", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
	// every symbol turns up: the ids use the whole alphabet
	for k, c := range counts {
		if c == 0 {
			t.Errorf("symbol %q never appears in %d ids", alphabet[k], n)
		}
	}
}

func TestNewConcurrent(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := make([]string, 1000)
			for i := range local {
				local[i] = New()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("repeated id %q", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New()
	}
}
