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
// footprintWorkers is how many goroutines issue: STOREBENCH_WORKERS, else
// GOMAXPROCS (bolt and Redis share commits and round trips between
// concurrent writers, as between concurrent token requests: give them
// more).
func footprintWorkers() int {
	if v, err := strconv.Atoi(os.Getenv("STOREBENCH_WORKERS")); err == nil && v > 0 {
		return v
	}
	return runtime.GOMAXPROCS(0)
}

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
// stays flat as the store fills; and the same for the process's CPU time
// per token (garbage collection included), which other load on a shared
// machine disturbs much less than the rate (every slice is logged with
// -v). For Redis the CPU is only the client's. Run it
// once per backend:
//
//	go test -run xxx -bench TokenFootprint -benchtime 1x ./internal/store/storebench/
//	STOREBENCH_TOKENS=100000 STOREBENCH_WORKERS=32 go test -run xxx -bench 'TokenFootprint/(bolt|redis)' -benchtime 1x ./internal/store/storebench/
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
	workers := footprintWorkers()
	var rates, cpus []float64 // per slice: tokens/s, process CPU ns/token
	var at100k int64
	for done := 0; done < n; {
		part := min(footprintSlice, n-done)
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		start := time.Now()
		cpu0, _ := usage()
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
		cpu1, _ := usage()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		done += part
		rates = append(rates, float64(part)/elapsed.Seconds())
		cpus = append(cpus, float64(cpu1-cpu0)/float64(part))
		b.Logf("%s: tokens %7d–%7d: %8.0f tok/s, %6.2f µs CPU/token", backend, done-part, done, rates[len(rates)-1], cpus[len(cpus)-1]/1e3)
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
	worst := cpus[0]
	for _, c := range cpus {
		worst = max(worst, c)
	}
	b.ReportMetric(cpus[0], "cpu-ns/token-first")
	b.ReportMetric(cpus[len(cpus)-1]/cpus[0], "cpu-last/first")
	b.ReportMetric(worst/cpus[0], "cpu-max/first")
	var sb, sc strings.Builder
	for i, r := range rates {
		fmt.Fprintf(&sb, " %.2f", r/first)
		fmt.Fprintf(&sc, " %.2f", cpus[i]/cpus[0])
	}
	b.Logf("%s: %d tokens, %.0f B/token; per slice / first slice: rate%s; CPU per token%s",
		backend, n, float64(held)/float64(n), sb.String(), sc.String())
	b.StartTimer()
}

// churnEnv reads a duration from the environment, else def.
func churnEnv(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// rss is the process's resident set size, from /proc (0 elsewhere).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkTokenChurn issues opaque tokens on the memory backend as fast
// as GOMAXPROCS goroutines can for STOREBENCH_CHURN (default 2m; the
// documented figure is for 10m), each living STOREBENCH_CHURN_LIFE
// (default 1m), with the backend's default sweeper (every minute). Live
// tokens level off at rate × (lifetime + sweep interval) at most, and so
// must the process's memory: it reports the peak RSS and Go heap, the
// most tokens held at once (live or expired, not swept yet), and the RSS
// per held token at the peak, which docs/operations.md ("What a live token costs") turns into the bound.
//
//	STOREBENCH_CHURN=10m go test -run xxx -bench TokenChurn -benchtime 1x -timeout 30m ./internal/store/storebench/
func BenchmarkTokenChurn(b *testing.B) {
	for range b.N {
		churn(b, churnEnv("STOREBENCH_CHURN", 2*time.Minute), churnEnv("STOREBENCH_CHURN_LIFE", time.Minute))
	}
}

func churn(b *testing.B, total, life time.Duration) {
	m := memstore.New(nil)
	defer m.Close()
	s := store.New(m, store.Options{})
	defer s.Close()
	ctx := context.Background()
	const client = "3f1c2a9e-5b7d-4e8f-a1b2-c3d4e5f60718"
	var issued atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Value
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				now := time.Now()
				t := issuedToken(client, now)
				t.ExpiresAt = now.Add(life)
				store.NewToken(&t)
				if err := s.SaveToken(ctx, &t); err != nil {
					failed.Store(err)
					return
				}
				issued.Add(1)
			}
		}()
	}
	var peakRSS, peakHeap, peakHeld, rssAtPeak int64
	start := time.Now()
	tick := time.NewTicker(time.Second)
	for now := range tick.C {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r := rss()
		peakRSS, peakHeap = max(peakRSS, r), max(peakHeap, int64(ms.HeapInuse))
		if n, err := m.CountKeys(ctx); err == nil {
			// A token is a key, its family set and member, its
			// consumer-index member and three wheel entries: 7.
			if held := int64(n / 7); held > peakHeld {
				peakHeld, rssAtPeak = held, r
			}
		}
		if now.Sub(start) >= total {
			break
		}
		if int(now.Sub(start)/time.Second)%30 == 0 {
			b.Logf("%v: %d issued, RSS %d MB, heap in use %d MB", now.Sub(start).Round(time.Second), issued.Load(), r>>20, ms.HeapInuse>>20)
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(issued.Load())/time.Since(start).Seconds(), "tok/s")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peakHeld), "peak-held-tokens")
	if peakHeld > 0 {
		b.ReportMetric(float64(rssAtPeak)/float64(peakHeld), "RSS-B/held-token")
	}
}
