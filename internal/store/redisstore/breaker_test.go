package redisstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
	"github.com/gatehouse/gatehouse/internal/store/redisstore/redistest"
)

// stallProxy forwards TCP to a Redis and can stall: while stalled, bytes
// are read but not passed on, as with a stopped (SIGSTOP) or partitioned
// Redis, where connections open and requests hang.
type stallProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	closed  bool
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	var conns []net.Conn
	var cmu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, c, u)
			cmu.Unlock()
			go p.pipe(u, c)
			go p.pipe(c, u)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.set(false)
		p.mu.Lock()
		p.closed = true
		p.cond.Broadcast()
		p.mu.Unlock()
		cmu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		cmu.Unlock()
	})
	return p
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled && !p.closed {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				_ = dst.Close()
			}
			return
		}
	}
}

func (p *stallProxy) set(stalled bool) {
	p.mu.Lock()
	p.stalled = stalled
	p.cond.Broadcast()
	p.mu.Unlock()
}

// TestStalledRedisFailsFast: when Redis stops answering, a burst of
// commands (more than the pool holds) fails with ErrUnavailable within
// about CommandTimeout, never the seconds go-redis's retries and pool
// waits would add; later commands fail at once; the first answer after
// Redis resumes brings service back.
func TestStalledRedisFailsFast(t *testing.T) {
	opts, _ := redistest.Open(t)
	p := newStallProxy(t, opts.Addr)
	opts.Addr = p.ln.Addr().String()
	r, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Update(ctx, func(tx store.Tx) error { return tx.Set("k", []byte("v"), 0) }); err != nil {
		t.Fatal(err)
	}

	p.set(true)
	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	took := make([]time.Duration, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if i%4 == 0 {
				errs[i] = r.Update(ctx, func(tx store.Tx) error {
					_, _, err := tx.Get("k")
					return err
				})
			} else {
				_, _, errs[i] = r.Get(ctx, "k")
			}
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	var slowest time.Duration
	for i := range n {
		slowest = max(slowest, took[i])
		if !errors.Is(errs[i], store.ErrUnavailable) {
			t.Errorf("command %d on a stalled Redis: %v, want ErrUnavailable", i, errs[i])
		}
	}
	t.Logf("burst of %d on a stalled Redis: slowest failed after %v", n, slowest)
	if slowest > redisstore.CommandTimeout+time.Second {
		t.Errorf("slowest command took %v, want about CommandTimeout (%v)", slowest, redisstore.CommandTimeout)
	}
	start := time.Now()
	_, _, err = r.Get(ctx, "k")
	if d := time.Since(start); !errors.Is(err, store.ErrUnavailable) || d > 100*time.Millisecond {
		t.Errorf("Get once Redis is known down: %v after %v, want ErrUnavailable at once", err, d)
	}
	if err := r.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping while down: %v", err)
	}

	p.set(false)
	resumed := time.Now()
	for {
		b, ok, err := r.Get(ctx, "k")
		if err == nil {
			if !ok || string(b) != "v" {
				t.Fatalf("after recovery: %q %v", b, ok)
			}
			break
		}
		if time.Since(resumed) > 2*time.Second {
			t.Fatalf("still failing 2s after Redis resumed: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("answers again %v after Redis resumed", time.Since(resumed))
	if err := r.Update(ctx, func(tx store.Tx) error { return tx.Set("k", []byte("w"), 0) }); err != nil {
		t.Fatalf("Update after recovery: %v", err)
	}
}

// TestErrorRepliesDoNotTrip: an error reply proves Redis answers; it must
// not make later commands fail.
func TestErrorRepliesDoNotTrip(t *testing.T) {
	r := redistest.New(t)
	raw(t).HSet(ctx, "{"+r.Namespace()+"}:k:hash", "f", "v")
	for range 3 {
		if _, _, err := r.Get(ctx, "hash"); err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("WRONGTYPE: %v", err)
		}
	}
	if _, _, err := r.Get(ctx, "absent"); err != nil {
		t.Fatalf("Get after error replies: %v", err)
	}
}

// TestOutageLoggedOnce: a Redis that stays away is logged when the outage
// starts and then once per OutageSummaryEvery, however many commands fail
// fast meanwhile; not once per failed command or probe.
func TestOutageLoggedOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there: every dial is refused

	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r, err := redisstore.New(context.Background(), redisstore.Options{Addr: addr, Namespace: "outage-log", Logger: log, OutageSummaryEvery: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	deadline := time.Now().Add(1100 * time.Millisecond)
	for time.Now().Before(deadline) {
		_, _, _ = r.Get(context.Background(), "k") // refused fast: never logged one by one
		time.Sleep(time.Millisecond)
	}
	out := buf.String()
	started := strings.Count(out, `"msg":"redis is not answering`)
	still := strings.Count(out, `"msg":"redis is still not answering`)
	if started != 1 || still < 2 || still > 4 {
		t.Errorf("outage start logged %d times (want 1), summaries %d (want 2-4 in 1.1 s at 300 ms):\n%s", started, still, out)
	}
	if !strings.Contains(out, `"refused_commands":`) {
		t.Errorf("summary without the refused count:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
