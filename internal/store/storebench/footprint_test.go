package storebench_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/boltstore"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// footprintSlice is how many tokens one throughput measurement covers.
const footprintSlice = 100_000

// footprintN is how many live tokens BenchmarkTokenFootprint issues:
// STOREBENCH_TOKENS, else 1,000,000 (100,000 with -short).
func footprintN() int {
	if v, err := strconv.Atoi(os.Getenv("STOREBENCH_TOKENS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return footprintSlice
	}
	return 1_000_000
}

// issuedToken is what /oauth2/token saves for a client_credentials grant
// with opaque tokens (oauth2server's issue): an access token of one client,
// in a family of its own, no refresh token.
func issuedToken(client string, now time.Time) store.Token {
	return store.Token{
		Kind: store.AccessToken, ConsumerID: client, AuthType: "oauth2",
		GrantType: "client_credentials", FamilyID: secret.GenerateHex(16),
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

// footprintBackend opens an empty backend and returns a function that
// reads how many bytes it holds (heap in use after a GC for memory, the
// file's size for bolt, used_memory for Redis), and its cleanup.
func footprintBackend(b *testing.B, backend string) (store.Backend, func() int64, func()) {
	switch backend {
	case "memory":
		m := memstore.New(nil)
		return m, heapInuse, func() { _ = m.Close() }
	case "bolt":
		path := filepath.Join(b.TempDir(), "footprint.db")
		bs, err := boltstore.Open(path, boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		size := func() int64 {
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			return fi.Size()
		}
		return bs, size, func() { _ = bs.Close() }
	case "redis":
		o := redistest.Server(b) // skips b when there is no Redis
		ns := redistest.Namespace()
		rs, err := redisstore.New(context.Background(), redisstore.Options{
			Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLS: o.TLSConfig,
			Namespace: ns,
		})
		if err != nil {
			b.Fatal(err)
		}
		c := redis.NewClient(o)
		used := func() int64 {
			info, err := c.InfoMap(context.Background(), "memory").Result()
			if err != nil {
				b.Fatal(err)
			}
			n, _ := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
			return n
		}
		return rs, used, func() {
			_ = rs.Close()
			_ = c.Close()
			if err := redistest.Purge(o, ns); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
				fmt.Fprintf(os.Stderr, "storebench: deleting Redis namespace %s: %v\n", ns, err)
			}
		}
	}
	b.Fatalf("unknown backend %s", backend)
	return nil, nil, nil
}

func heapInuse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// BenchmarkTokenFootprint issues footprintN() opaque tokens through
// Store.SaveToken, as /oauth2/token does for client_credentials (one
// client, so one consumer index of every token; a family per token), from
// GOMAXPROCS goroutines, none expiring during the run. It reports the
// bytes the backend holds per live token (B/token: Go heap in use after a
// GC on memory, file size on bolt, Redis used_memory) and the issuing
// rate of each slice of footprintSlice tokens: tok/s of the first slice,
// and last/first and min/first, the ratios that say whether issuing
// stays flat as the store fills (every slice is logged with -v). Run it
// once per backend:
//
//	go test -run xxx -bench TokenFootprint -benchtime 1x ./internal/store/storebench/
func BenchmarkTokenFootprint(b *testing.B) {
	n := footprintN()
	for _, backend := range backends {
		b.Run(backend+"/"+strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				issueFootprint(b, backend, n)
			}
		})
	}
}

func issueFootprint(b *testing.B, backend string, n int) {
	be, size, release := footprintBackend(b, backend)
	defer release()
	s := store.New(be, store.Options{})
	defer s.Close()
	ctx := context.Background()
	const client = "3f1c2a9e-5b7d-4e8f-a1b2-c3d4e5f60718"
	before := size()
	workers := runtime.GOMAXPROCS(0)
	var rates []float64
	var at100k int64
	for done := 0; done < n; {
		part := min(footprintSlice, n-done)
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(part) {
					t := issuedToken(client, time.Now())
					store.NewToken(&t)
					if err := s.SaveToken(ctx, &t); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		done += part
		rates = append(rates, float64(part)/elapsed.Seconds())
		b.Logf("%s: tokens %7d–%7d: %8.0f tok/s", backend, done-part, done, rates[len(rates)-1])
		if done == footprintSlice && n > footprintSlice {
			at100k = size() - before
		}
	}
	b.StopTimer()
	held := size() - before
	b.ReportMetric(float64(held)/float64(n), "B/token")
	if at100k > 0 {
		b.ReportMetric(float64(at100k)/footprintSlice, "B/token@100k")
	}
	first, low := rates[0], rates[0]
	for _, r := range rates {
		low = min(low, r)
	}
	b.ReportMetric(first, "tok/s-first")
	b.ReportMetric(rates[len(rates)-1]/first, "last/first")
	b.ReportMetric(low/first, "min/first")
	var sb strings.Builder
	for _, r := range rates {
		fmt.Fprintf(&sb, " %.2f", r/first)
	}
	b.Logf("%s: %d tokens, %.0f B/token; rate per slice / first slice:%s", backend, n, float64(held)/float64(n), sb.String())
	b.StartTimer()
}
