package accesslog

import (
	"io"
	"testing"
	"time"
)

// BenchmarkFormatJSON is one line's formatting, the request goroutine's
// share of the access log.
func BenchmarkFormatJSON(b *testing.B) {
	e := formatCases[1]
	var c stamps
	buf := make([]byte, 0, 1024)
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		buf = appendJSON(buf[:0], &c, at, &e)
	}
}

// BenchmarkLog is Log end to end (format, queue, the writer's batch to
// io.Discard), on every CPU.
func BenchmarkLog(b *testing.B) {
	l := New(io.Discard, Options{})
	defer l.Close()
	e := formatCases[1]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(e)
		}
	})
}
