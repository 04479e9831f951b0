package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// deadlineRecorder is a ResponseWriter with the deadline methods of
// net/http's, recording what they were set to.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	read, write []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.read = append(d.read, t)
	return nil
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.write = append(d.write, t)
	return nil
}

func TestResolveLimits(t *testing.T) {
	def := resolveLimits(&config.Listener{})
	if def.maxBody != DefaultMaxBodyBytes || def.bodyTimeout != DefaultBodyReadTimeout || def.minRate != DefaultMinBodyRate ||
		def.sendTimeout != DefaultSendTimeout || def.conns.Max != DefaultMaxConnections ||
		def.conns.MaxIdle != DefaultMaxIdleConnections || def.conns.MaxPerClient != DefaultMaxConnectionsPerClient {
		t.Errorf("defaults: %+v", def)
	}
	off := resolveLimits(&config.Listener{MaxBodyBytes: -1, MinBodyRate: -1, MaxConnections: -1, MaxIdleConnections: -1, MaxConnectionsPerClient: -1})
	if off.maxBody != -1 || off.minRate != 0 || off.conns.Max != 0 || off.conns.MaxIdle != 0 || off.conns.MaxPerClient != 0 {
		t.Errorf("-1 must turn each limit off: %+v", off)
	}
}

// TestProgressBodyDeadlines: each read gets timeout from now, but never
// more than the grace plus what minRate owes for the bytes so far; the
// end of the body gives the listener's deadline back.
func TestProgressBodyDeadlines(t *testing.T) {
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	b := &progressBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 300))),
		dl: rec, timeout: time.Second, minRate: 100}
	buf := make([]byte, 100)
	for range 3 {
		if _, err := b.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Read(buf); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	// Reads 1-3 at about the same instant: 1 s from now; read 4 would be
	// owed 1 s + 300 B / 100 B/s: the 1 s per-read bound is the smaller.
	for i, d := range rec.read[:4] {
		if w := time.Until(d); w > time.Second || w < 900*time.Millisecond {
			t.Errorf("read %d: deadline in %v, want about 1s", i+1, w)
		}
	}
	if last := rec.read[len(rec.read)-1]; !last.IsZero() {
		t.Errorf("after EOF the deadline is %v, want none (the listener has no readTimeout)", last)
	}

	// A slow body: 1 s of grace plus 0.01 s per byte at 100 B/s, counted
	// from the first read, which was 5 s ago.
	rec.read = nil
	slow := &progressBody{ReadCloser: io.NopCloser(strings.NewReader("abc")), dl: rec, timeout: time.Second,
		minRate: 100, first: time.Now().Add(-5 * time.Second), n: 200}
	slow.Read(buf)
	if w := time.Until(rec.read[0]); w > -1500*time.Millisecond || w < -2500*time.Millisecond {
		t.Errorf("slow body: deadline in %v, want about -2s (5 s ago + 1 s + 2 s)", w)
	}
}

// TestGuardRefusesDeclaredBodyOverLimit: 413 before any read.
func TestGuardRefusesDeclaredBodyOverLimit(t *testing.T) {
	called := false
	g := &guard{next: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }),
		lim: resolveLimits(&config.Listener{MaxBodyBytes: 10}), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 11)))
	g.ServeHTTP(rec, r)
	if called || rec.Code != 413 || !strings.Contains(rec.Body.String(), `"error":"body_too_large"`) || rec.Header().Get("Connection") != "close" {
		t.Errorf("called %v, %d %q %v", called, rec.Code, rec.Body, rec.Header())
	}
}

// BenchmarkGuardGET is the guard's cost on a request without a body (it
// should allocate nothing: the write wrapper is pooled).
func BenchmarkGuardGET(b *testing.B) {
	ok := []byte("ok")
	g := &guard{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(ok) }),
		lim: resolveLimits(&config.Listener{}), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r := httptest.NewRequest("GET", "/", nil)
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	b.ReportAllocs()
	for b.Loop() {
		rec.read, rec.write = rec.read[:0], rec.write[:0]
		rec.Body.Reset()
		g.ServeHTTP(rec, r)
	}
}
