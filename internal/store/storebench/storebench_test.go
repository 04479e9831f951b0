package storebench_test

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/boltstore"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

const (
	small = 1_000
	large = 1_000_000
	// batch is the number of records one populating transaction writes.
	batch = 10_000
	// seqLen is the length of the lookup sequence: indices drawn uniformly
	// with replacement, cycled through by the measured loops.
	seqLen = 1 << 20
	// warmLookups are done through a cached Store before measuring, so that
	// its cache is in its steady state (full, for the 1M case).
	warmLookups = 150_000
)

var backends = []string{"memory", "bolt", "redis"}

// TestMain runs the benchmarks (stopping a redis-server redistest started)
// and then deletes what they left: the bolt files and the Redis namespaces.
func TestMain(m *testing.M) {
	code := redistest.Main(m)
	releaseAll()
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// Deterministic data: record i of a dataset of any size always has the same
// ids and secrets, so one lookup sequence serves every backend.

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendBase62 writes x as exactly 11 base62 digits (62^11 > 2^64), so
// distinct x give distinct strings.
func appendBase62(b []byte, x uint64) []byte {
	var d [11]byte
	for i := range d {
		d[10-i] = base62[x%62]
		x /= 62
	}
	return append(b, d[:]...)
}

// keyID is credential i's keyId: 22 base62 characters, like
// secret.Generate(22); unique because splitmix is a bijection.
func keyID(i int) string {
	b := make([]byte, 0, 22)
	b = appendBase62(b, splitmix(uint64(i)))
	b = appendBase62(b, splitmix(uint64(i)^1<<62))
	return string(b)
}

func hex128(i int, salt uint64) string {
	var b [16]byte
	x, y := splitmix(uint64(i)^salt), splitmix(uint64(i)^salt^1<<61)
	for j := range 8 {
		b[j], b[8+j] = byte(x>>(8*j)), byte(y>>(8*j))
	}
	return hex.EncodeToString(b[:])
}

// credSecret is credential i's key secret (as generated: secret.HashFast).
func credSecret(i int) string { return "s" + hex128(i, 0x5ec) }

// tokenID and tokenSecret are token i's "<id>|<secret>" halves, the shape
// of store.NewToken (16 random bytes each, hex).
func tokenID(i int) string     { return hex128(i, 0x70c) }
func tokenSecret(i int) string { return hex128(i, 0x70c5) }

// consumerID gives every ten credentials (and tokens) one consumer.
func consumerID(i int) string {
	h := hex128(i/10, 0xc0)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

var created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// credRecord is the JSON Store.CreateCredential writes for a generated
// key-auth credential.
func credRecord(i int) []byte {
	kid := keyID(i)
	c := store.Credential{
		Type: store.KeyAuth, ID: kid, ConsumerID: consumerID(i), KeyID: kid,
		SecretHash: secret.HashFast(credSecret(i)), Scopes: []string{}, IsActive: true,
		CreatedAt: created, UpdatedAt: created, Rev: splitmix(uint64(i)^0x4e5) >> 1,
	}
	b, err := json.Marshal(&c)
	if err != nil {
		panic(err)
	}
	return b
}

const tokenLife = 24 * time.Hour

// tokenRecord is the record Store.SaveToken writes for an access token
// the oauth2 server issued.
func tokenRecord(i int, now time.Time) []byte {
	t := store.Token{
		ID: tokenID(i), Kind: store.AccessToken, SecretHash: secret.HashFast(tokenSecret(i)),
		ConsumerID: consumerID(i), AuthenticatedUserID: consumerID(i + 7), AuthType: "oauth2",
		Scopes: []string{"read", "write"}, GrantType: "authorization_code",
		CreatedAt: now, ExpiresAt: now.Add(tokenLife),
	}
	return store.TokenRecord(&t)
}

// The Store's key layout (internal/store: credKey, tokenKey).
func credKey(id string) string  { return "cred:" + store.KeyAuth + ":" + id }
func tokenKey(id string) string { return "token:" + id }

// ---------------------------------------------------------------------------
// Lookup sequences: seqLen random indices (with replacement), their keys
// laid out contiguously in lookup order so that the loop reads its input
// sequentially whatever n is (the harness must not add cache misses that
// grow with n).

type sequence struct {
	creds   packed // keyIds
	tokens  packed // token ids
	secrets packed // the matching token secrets
}

// packed is a list of strings in one string, without pointers: the
// sequences are large (2^20 entries) and kept for the whole run, and the
// garbage collector should not have to scan them.
type packed struct {
	all  string
	ends []uint32
}

func pack(idx []int, f func(int) string) packed {
	var sb strings.Builder
	sb.Grow(len(idx) * len(f(0)))
	ends := make([]uint32, len(idx))
	for j, i := range idx {
		sb.WriteString(f(i))
		ends[j] = uint32(sb.Len())
	}
	return packed{all: sb.String(), ends: ends}
}

// at is string j.
func (p *packed) at(j int) string {
	start := uint32(0)
	if j > 0 {
		start = p.ends[j-1]
	}
	return p.all[start:p.ends[j]]
}

var (
	seqMu sync.Mutex
	seqs  = map[string]*sequence{}
)

// zipfTheta is the skew of the "cached-zipf" variant's lookups: YCSB's
// default zipfian constant (record k is looked up with a probability
// proportional to 1/(k+1)^0.99).
const zipfTheta = 0.99

// lookupSequence returns the lookups over n records: uniform, or zipfian
// when zipf is set (record indices are hashed into the key space, so the
// hot records are spread over it, not bunched in one part of a tree).
func lookupSequence(n int, zipf bool) *sequence {
	seqMu.Lock()
	defer seqMu.Unlock()
	name := strconv.Itoa(n) + "/" + strconv.FormatBool(zipf)
	if s := seqs[name]; s != nil {
		return s
	}
	r := rand.New(rand.NewPCG(uint64(n), 42))
	draw := func() int { return r.IntN(n) }
	if zipf {
		cdf := make([]float64, n)
		sum := 0.0
		for k := range cdf {
			sum += 1 / math.Pow(float64(k+1), zipfTheta)
			cdf[k] = sum
		}
		draw = func() int {
			k, _ := slices.BinarySearch(cdf, r.Float64()*sum)
			return min(k, n-1)
		}
	}
	idx := make([]int, seqLen)
	for i := range idx {
		idx[i] = draw()
	}
	s := &sequence{
		creds:   pack(idx, keyID),
		tokens:  pack(idx, tokenID),
		secrets: pack(idx, tokenSecret),
	}
	seqs[name] = s
	return s
}

// ---------------------------------------------------------------------------
// Datasets: a backend holding n key-auth credentials and n tokens.

type dataset struct {
	backend string
	n       int
	be      store.Backend
	release func()
}

var (
	dsMu     sync.Mutex
	datasets = map[string]*dataset{}
	tmpDir   string
)

// getDataset returns the populated backend, populating it on first use.
// Bolt and Redis datasets are kept for the whole run (populating 2M records
// takes a while; their data lives outside the Go heap); a memory dataset is
// dropped when tb ends, so that a 1M-record Go heap does not slow down the
// garbage collection of the benchmarks after it.
func getDataset(tb testing.TB, backend string, n int) *dataset {
	tb.Helper()
	dsMu.Lock()
	defer dsMu.Unlock()
	name := backend + "/" + strconv.Itoa(n)
	if ds := datasets[name]; ds != nil {
		return ds
	}
	ds := &dataset{backend: backend, n: n}
	switch backend {
	case "memory":
		m := memstore.New(nil)
		ds.be, ds.release = m, func() { _ = m.Close() }
	case "bolt":
		dir := os.Getenv("STOREBENCH_BOLT_DIR") // kept afterwards, to inspect
		if dir == "" {
			if tmpDir == "" {
				d, err := os.MkdirTemp("", "storebench-")
				if err != nil {
					tb.Fatal(err)
				}
				tmpDir = d
			}
			dir = tmpDir
		}
		path := filepath.Join(dir, "bolt-"+strconv.Itoa(n)+".db")
		_ = os.Remove(path)
		bs, err := boltstore.Open(path, boltstore.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		ds.be, ds.release = bs, func() { _ = bs.Close() }
	case "redis":
		o := redistest.Server(tb) // skips tb when there is no Redis
		ns := redistest.Namespace()
		rs, err := redisstore.New(context.Background(), redisstore.Options{
			Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLS: o.TLSConfig,
			Namespace: ns,
		})
		if err != nil {
			tb.Fatal(err)
		}
		ds.be, ds.release = rs, func() {
			_ = rs.Close()
			if err := redistest.Purge(o, ns); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
				fmt.Fprintf(os.Stderr, "storebench: deleting Redis namespace %s: %v\n", ns, err)
			}
		}
	}
	start := time.Now()
	if err := populate(ds.be, n); err != nil {
		ds.release()
		tb.Fatalf("populating %s: %v", name, err)
	}
	populated := time.Since(start)
	if backend == "bolt" {
		warmBolt(tb, ds.be, n)
	}
	tb.Logf("%s: %d credentials + %d tokens written in %v (ready after %v)",
		name, n, n, populated.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if backend == "memory" {
		tb.Cleanup(func() {
			dsMu.Lock()
			delete(datasets, name)
			dsMu.Unlock()
			ds.release()
			runtime.GC()
		})
	}
	datasets[name] = ds
	return ds
}

func releaseAll() {
	dsMu.Lock()
	defer dsMu.Unlock()
	for name, ds := range datasets {
		ds.release()
		delete(datasets, name)
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
}

// populate writes n credentials and n tokens with the Store's key layout
// and JSON, batch records per backend transaction, in key order (bbolt
// appends instead of splitting pages all over the tree; memory and Redis do
// not care). The Store's secondary sets (consumer-creds:, consumer-tokens:)
// are not written: lookups never read them.
func populate(be store.Backend, n int) error {
	ctx := context.Background()
	type rec struct {
		key string
		i   int
	}
	write := func(recs []rec, val func(int) []byte, ttl time.Duration) error {
		slices.SortFunc(recs, func(a, b rec) int { return cmp.Compare(a.key, b.key) })
		for start := 0; start < len(recs); start += batch {
			part := recs[start:min(start+batch, len(recs))]
			vals := make([][]byte, len(part))
			for j, r := range part {
				vals[j] = val(r.i)
			}
			err := be.Update(ctx, func(tx store.Tx) error {
				for j, r := range part {
					if err := tx.Set(r.key, vals[j], ttl); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	recs := make([]rec, n)
	for i := range recs {
		recs[i] = rec{credKey(keyID(i)), i}
	}
	if err := write(recs, credRecord, 0); err != nil {
		return err
	}
	for i := range recs {
		recs[i] = rec{tokenKey(tokenID(i)), i}
	}
	now := time.Now()
	return write(recs, func(i int) []byte { return tokenRecord(i, now) }, tokenLife)
}

// warmBolt reads every record once, so that the measured loops run against
// a mapped file, as a gateway that has been serving for a while does (the
// first read of each page of the mmap is a page fault).
func warmBolt(tb testing.TB, be store.Backend, n int) {
	ctx := context.Background()
	for i := range n {
		if _, ok, err := be.Get(ctx, credKey(keyID(i))); !ok || err != nil {
			tb.Fatalf("warming: credential %d: %v %v", i, ok, err)
		}
		if _, ok, err := be.Get(ctx, tokenKey(tokenID(i))); !ok || err != nil {
			tb.Fatalf("warming: token %d: %v %v", i, ok, err)
		}
	}
}

// ---------------------------------------------------------------------------
// Stores over a shared dataset.

// shared is a dataset's backend that a Store may not close (each benchmark
// closes its Store, which stops its invalidation listener).
type shared struct{ store.Backend }

func (shared) Close() error { return nil }

// variants: "cached" is the Store as the gateway runs it (default cache of
// 100,000 records); "backend" has a cache of one entry, so every lookup
// reads and decodes the record from the backend; "get" is the backend's
// Get of the record alone (no Store, no JSON decoding), to show what the
// backend itself contributes. All three draw records uniformly; so does
// "cached-zipf" but for a skewed (zipfian) choice of records, closer to
// real traffic, where some keys and tokens are much busier than others.
var variants = []struct {
	name      string
	cacheSize int // 0: the default
	raw, zipf bool
}{
	{"cached", 0, false, false},
	{"backend", 1, false, false},
	{"get", 0, true, false},
	{"cached-zipf", 0, false, true},
}

func newStore(b *testing.B, ds *dataset, cacheSize int) *store.Store {
	s := store.New(shared{ds.be}, store.Options{CacheSize: cacheSize})
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// usage reads the process's CPU time (user+system) and page faults (minor
// and major).
func usage() (cpu time.Duration, faults int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Minflt + ru.Majflt
}

// measure runs op over the lookup sequence, after warm operations (not
// timed). Besides ns/op (wall time) it reports cpu-ns/op, the process's CPU
// time per operation (the garbage collector's included), which other
// processes on a shared machine disturb much less than wall time; faults/op,
// the page faults per operation; and hit%, the Store's cache hit rate (s may
// be nil).
func measure(b *testing.B, s *store.Store, warm int, op func(j int) error) {
	for j := range warm {
		if err := op(j % seqLen); err != nil {
			b.Fatal(err)
		}
	}
	var h0, m0 uint64
	if s != nil {
		h0, m0, _, _ = s.CacheStats()
	}
	cpu0, f0 := usage()
	b.ReportAllocs()
	j, ops := warm, 0
	for b.Loop() {
		if err := op(j % seqLen); err != nil {
			b.Fatal(err)
		}
		j++
		ops++
	}
	cpu1, f1 := usage()
	b.ReportMetric(float64(cpu1-cpu0)/float64(ops), "cpu-ns/op")
	b.ReportMetric(float64(f1-f0)/float64(ops), "faults/op")
	if s != nil {
		h1, m1, _, _ := s.CacheStats()
		if lookups := (h1 - h0) + (m1 - m0); lookups > 0 {
			b.ReportMetric(100*float64(h1-h0)/float64(lookups), "hit%")
		}
	}
}

// lookupBench runs, for each backend, size and variant, viaStore (j is the
// position in seq) or, for the "get" variant, viaBackend.
func lookupBench(b *testing.B,
	viaStore func(s *store.Store, seq *sequence, j int) error,
	viaBackend func(be store.Backend, seq *sequence, j int) error,
) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			for _, n := range []int{small, large} {
				b.Run(strconv.Itoa(n), func(b *testing.B) {
					if n > small && testing.Short() {
						b.Skip("1M records: skipped under -short")
					}
					ds := getDataset(b, backend, n)
					for _, v := range variants {
						b.Run(v.name, func(b *testing.B) {
							seq := lookupSequence(n, v.zipf)
							if v.raw {
								measure(b, nil, 0, func(j int) error { return viaBackend(ds.be, seq, j) })
								return
							}
							s := newStore(b, ds, v.cacheSize)
							warm := 0
							if v.cacheSize == 0 {
								warm = min(warmLookups, 10*n)
							}
							measure(b, s, warm, func(j int) error { return viaStore(s, seq, j) })
						})
					}
				})
			}
		})
	}
}

func get(be store.Backend, key string) error {
	if _, ok, err := be.Get(context.Background(), key); err != nil || !ok {
		return fmt.Errorf("get %s: %v %v", key, ok, err)
	}
	return nil
}

// BenchmarkCredentialLookup is Store.GetCredential of a random existing
// key-auth keyId, as the key-auth policy does on every request.
func BenchmarkCredentialLookup(b *testing.B) {
	ctx := context.Background()
	lookupBench(b, func(s *store.Store, seq *sequence, j int) error {
		id := seq.creds.at(j)
		c, err := s.GetCredential(ctx, store.KeyAuth, id)
		if err == nil && c.KeyID != id {
			err = fmt.Errorf("got credential %s for %s", c.KeyID, id)
		}
		return err
	}, func(be store.Backend, seq *sequence, j int) error {
		return get(be, credKey(seq.creds.at(j)))
	})
}

// BenchmarkTokenLookup is Store.VerifyToken of a random existing opaque
// token (id and secret), as the oauth2 policy does on every request.
func BenchmarkTokenLookup(b *testing.B) {
	ctx := context.Background()
	lookupBench(b, func(s *store.Store, seq *sequence, j int) error {
		_, err := s.VerifyToken(ctx, seq.tokens.at(j), seq.secrets.at(j))
		return err
	}, func(be store.Backend, seq *sequence, j int) error {
		return get(be, tokenKey(seq.tokens.at(j)))
	})
}

// BenchmarkVerifyCached is Store.VerifyCredential of one key-auth
// credential with its right secret, over and over: the record and the
// verification both come from the Store's caches (the acceptance criterion:
// under 2µs). "parallel" runs it from GOMAXPROCS goroutines (ns/op is then
// wall time per operation of the whole process).
func BenchmarkVerifyCached(b *testing.B) {
	ctx := context.Background()
	const i = 123 // any stored credential
	kid, sec := keyID(i), credSecret(i)
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			ds := getDataset(b, backend, small)
			verify := func(s *store.Store) error {
				c, err := s.VerifyCredential(ctx, store.KeyAuth, kid, sec)
				if err == nil && c.KeyID != kid {
					err = fmt.Errorf("got credential %s for %s", c.KeyID, kid)
				}
				return err
			}
			b.Run("serial", func(b *testing.B) {
				s := newStore(b, ds, 0)
				if err := verify(s); err != nil { // fills both caches
					b.Fatal(err)
				}
				_, _, vh0, vm0 := s.CacheStats()
				cpu0, _ := usage()
				b.ReportAllocs()
				ops := 0
				for b.Loop() {
					if err := verify(s); err != nil {
						b.Fatal(err)
					}
					ops++
				}
				cpu1, _ := usage()
				b.ReportMetric(float64(cpu1-cpu0)/float64(ops), "cpu-ns/op")
				if _, _, vh1, vm1 := s.CacheStats(); vm1 != vm0 || vh1 == vh0 {
					b.Fatalf("verification cache missed %d times", vm1-vm0)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				s := newStore(b, ds, 0)
				if err := verify(s); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := verify(s); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// TestDatasetMatchesStore checks that the generated records are what the
// Store reads and accepts: every credential and token of a small dataset
// verifies with its secret, through each backend.
func TestDatasetMatchesStore(t *testing.T) {
	ctx := context.Background()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			ds := getDataset(t, backend, small)
			s := store.New(shared{ds.be}, store.Options{})
			defer s.Close()
			for i := range small {
				c, err := s.VerifyCredential(ctx, store.KeyAuth, keyID(i), credSecret(i))
				if err != nil {
					t.Fatalf("credential %d: %v", i, err)
				}
				if c.ConsumerID != consumerID(i) || !c.IsActive {
					t.Fatalf("credential %d: %+v", i, c)
				}
				if _, err := s.VerifyToken(ctx, tokenID(i), tokenSecret(i)); err != nil {
					t.Fatalf("token %d: %v", i, err)
				}
			}
			if _, err := s.VerifyToken(ctx, tokenID(small), tokenSecret(small)); !errors.Is(err, store.ErrTokenInvalid) {
				t.Fatalf("token outside the dataset: %v", err)
			}
		})
	}
}
