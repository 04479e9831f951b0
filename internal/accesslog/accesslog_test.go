package accesslog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder keeps every Write call, safe for the writer goroutine and the
// test reading it.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
	gate   chan struct{} // when set, each Write waits for it to close
	inside chan struct{} // closed when the first Write waits on gate
	once   sync.Once
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		r.once.Do(func() { close(r.inside) })
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(bytes.Join(r.writes, nil))
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

func entry(i int) Entry {
	return Entry{RequestID: strconv.Itoa(i), Method: "GET", Path: "/p", Status: 200, Remote: "127.0.0.1:1"}
}

// TestCloseWritesEveryLine: the lines logged before Close are all written,
// in order, as JSON lines; Close is what a graceful stop calls.
func TestCloseWritesEveryLine(t *testing.T) {
	var rec recorder
	l := New(&rec, Options{FlushInterval: time.Hour})
	const n = 5000
	for i := range n {
		l.Log(entry(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(rec.String(), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines written, want %d", len(lines), n)
	}
	for i, line := range lines {
		var v struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Msg != "request" || v.RequestID != strconv.Itoa(i) {
			t.Fatalf("line %d: %q (%v)", i, line, err)
		}
	}
	// Logged after Close (a hijacked connection's end): written at once.
	l.Log(entry(n))
	if !strings.Contains(rec.String(), `"request_id":"5000"`) {
		t.Error("a line logged after Close was lost")
	}
	l.Flush() // returns at once
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFlush: Flush writes out what was logged before it, however long the
// flush interval.
func TestFlush(t *testing.T) {
	var rec recorder
	l := New(&rec, Options{Format: Text, FlushInterval: time.Hour})
	defer l.Close()
	l.Log(entry(1))
	l.Log(entry(2))
	l.Flush()
	got := rec.String()
	if strings.Count(got, "level=INFO msg=request") != 2 || !strings.Contains(got, "request_id=2 ") {
		t.Errorf("after Flush: %q", got)
	}
}

// TestFlushInterval: a line is written within the flush interval without
// any Flush; the wait bound is generous, the interval short.
func TestFlushInterval(t *testing.T) {
	var rec recorder
	l := New(&rec, Options{FlushInterval: 10 * time.Millisecond})
	defer l.Close()
	l.Log(entry(1))
	deadline := time.Now().Add(10 * time.Second)
	for rec.calls() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the line was not written within the flush interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBatchesHoldWholeLines: the writer batches lines, and no write(2)
// ends mid-line (another writer of the same stderr would land inside it).
func TestBatchesHoldWholeLines(t *testing.T) {
	var rec recorder
	l := New(&rec, Options{FlushInterval: time.Hour})
	long := strings.Repeat("x", 3000)
	const n = 400
	for i := range n {
		e := entry(i)
		e.Path = long[:i*7%3000] // varied sizes, some lines far from the buffer's edges
		l.Log(e)
	}
	huge := entry(n)
	huge.Path = strings.Repeat("y", 3*bufferSize) // larger than the buffer
	l.Log(huge)
	l.Close()
	lines := 0
	for i, w := range rec.writes {
		if len(w) == 0 || w[len(w)-1] != '\n' {
			t.Fatalf("write %d of %d does not end a line: ...%q", i, len(rec.writes), w[max(0, len(w)-20):])
		}
		lines += bytes.Count(w, []byte("\n"))
	}
	if lines != n+1 {
		t.Errorf("%d lines, want %d", lines, n+1)
	}
	if len(rec.writes) >= n/2 {
		t.Errorf("%d writes for %d lines: not batched", len(rec.writes), n)
	}
}

// TestOverloadDrops: with the writer stuck, Log does not block: the lines
// that find the queue full are dropped, counted, and reported once per
// period (and at Close) with their number.
func TestOverloadDrops(t *testing.T) {
	rec := recorder{gate: make(chan struct{}), inside: make(chan struct{})}
	var logs bytes.Buffer
	var logsMu sync.Mutex
	warn := slog.New(slog.NewJSONHandler(lockedWriter{&logsMu, &logs}, nil))
	var dropped counter
	const queue = 4
	l := New(&rec, Options{Queue: queue, FlushInterval: time.Hour, Dropped: &dropped, Log: warn})
	// One line reaches the writer, which then blocks in Write on Flush.
	l.Log(entry(0))
	flushed := make(chan struct{})
	go func() { l.Flush(); close(flushed) }()
	<-rec.inside
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 100; i++ {
			l.Log(entry(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Log blocked on a stuck writer")
	}
	if got := dropped.n.Load(); got != 100-queue {
		t.Errorf("%d lines counted as dropped, want %d", got, 100-queue)
	}
	close(rec.gate) // the writer gets going again
	<-flushed
	l.Flush() // the first warning: the period's first report
	logsMu.Lock()
	first := logs.String()
	logsMu.Unlock()
	if strings.Count(first, "access log lines dropped") != 1 || !strings.Contains(first, `"dropped":`+strconv.FormatInt(dropped.n.Load(), 10)) {
		t.Errorf("warning after the drops: %s (dropped %d)", first, dropped.n.Load())
	}
	// More drops within the period: no new warning until Close.
	l.lost.Add(3)
	l.Flush()
	logsMu.Lock()
	again := strings.Count(logs.String(), "access log lines dropped")
	logsMu.Unlock()
	if again != 1 {
		t.Errorf("%d warnings within 30 s, want 1", again)
	}
	l.Close()
	logsMu.Lock()
	defer logsMu.Unlock()
	if strings.Count(logs.String(), "access log lines dropped") != 2 || !strings.Contains(logs.String(), `"dropped":3`) {
		t.Errorf("Close does not report the last drops: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestLogWhileClosing: lines logged while Close runs are written, by the
// writer or directly once it is gone, never both at once (the race
// detector watches the buffer).
func TestLogWhileClosing(t *testing.T) {
	var rec recorder
	l := New(&rec, Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				l.Log(entry(g*1000 + i))
			}
		}()
	}
	l.Close()
	wg.Wait()
	if n := strings.Count(rec.String(), "\n"); n != 800 {
		t.Errorf("%d lines of 800", n)
	}
}

// TestNilLogger: a nil *Logger is no access log.
func TestNilLogger(t *testing.T) {
	var l *Logger
	l.Log(entry(1))
	l.Flush()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentLog: many goroutines logging while Flush and Close run
// (for the race detector); every line logged is written or counted.
func TestConcurrentLog(t *testing.T) {
	var rec recorder
	var dropped counter
	l := New(&rec, Options{Queue: 64, Dropped: &dropped})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.Log(entry(g*1000 + i))
				if i%100 == 0 {
					l.Flush()
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	if got := int64(strings.Count(rec.String(), "\n")) + dropped.n.Load(); got != 8*500 {
		t.Errorf("%d lines written or dropped, want %d", got, 8*500)
	}
}
