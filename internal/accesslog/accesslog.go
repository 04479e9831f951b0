// Package accesslog writes the access log, one line per request, off the
// request's goroutine. The line is formatted on the request goroutine into
// a pooled buffer (the same bytes log/slog's JSON or text handler writes
// for the same fields, without building attributes) and handed to one
// writer goroutine through a bounded queue. The writer batches lines into
// a bufio.Writer and flushes within FlushInterval, on Flush and on Close.
// When the queue is full the line is dropped, counted, and reported in
// the application log at most every 30 s: under overload the log gives
// way, never the requests.
package accesslog

import (
	"bufio"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Format is how lines are written.
type Format uint8

const (
	// JSON lines as slog.NewJSONHandler writes them.
	JSON Format = iota
	// Text lines as slog.NewTextHandler writes them (key=value).
	Text
)

// Defaults for the zero Options.
const (
	DefaultQueue         = 4096
	DefaultFlushInterval = 100 * time.Millisecond
	// warnEvery bounds how often dropped lines are reported.
	warnEvery = 30 * time.Second
	// bufferSize is the writer's batch: one write(2) per 64 KiB of lines
	// under load.
	bufferSize = 64 << 10
)

// Counter counts dropped lines (a prometheus.Counter).
type Counter interface{ Inc() }

// Options configure a Logger. The zero value writes JSON with the defaults.
type Options struct {
	Format Format
	// Queue is how many formatted lines may wait for the writer; a line
	// that finds it full is dropped. Default DefaultQueue.
	Queue int
	// FlushInterval bounds how long a written line stays in the buffer.
	// Default DefaultFlushInterval.
	FlushInterval time.Duration
	// Dropped counts the dropped lines; nil counts nothing.
	Dropped Counter
	// Log receives the warning about dropped lines; nil: none.
	Log *slog.Logger
}

// Logger is an asynchronous access log. Its methods are safe for
// concurrent use; a nil *Logger logs nothing.
type Logger struct {
	format   Format
	stamps   stamps
	interval time.Duration
	dropped  Counter
	log      *slog.Logger

	queue chan *[]byte
	flush chan chan struct{}
	done  chan struct{} // closed by Close
	exit  chan struct{} // closed when the writer goroutine returns
	pool  sync.Pool     // *[]byte

	// mu orders Log against Close: a line logged once the writer is gone
	// is written directly (under mu's write lock) instead of queued where
	// no one reads it.
	mu     sync.RWMutex
	closed bool

	lost atomic.Int64 // dropped since the last warning

	// Owned by the writer goroutine (and by Log once closed, under mu).
	w        *bufio.Writer
	lastWarn time.Time
}

// New starts a Logger writing to w. Close stops it.
func New(w io.Writer, o Options) *Logger {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	l := &Logger{
		format: o.Format, interval: o.FlushInterval, dropped: o.Dropped, log: o.Log,
		queue: make(chan *[]byte, o.Queue), flush: make(chan chan struct{}),
		done: make(chan struct{}), exit: make(chan struct{}),
		w: bufio.NewWriterSize(w, bufferSize),
	}
	go l.run()
	return l
}

// Log formats e and queues it; it never waits for the writer. e is not
// kept.
func (l *Logger) Log(e Entry) {
	if l == nil {
		return
	}
	now := e.Time
	if now.IsZero() {
		now = time.Now()
	}
	b, _ := l.pool.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
		*b = make([]byte, 0, 512)
	}
	if l.format == Text {
		*b = appendText((*b)[:0], &l.stamps, now, &e)
	} else {
		*b = appendJSON((*b)[:0], &l.stamps, now, &e)
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		<-l.exit // the writer's last batch is out: l.w is free
		l.mu.Lock()
		l.write(b)
		_ = l.w.Flush()
		l.mu.Unlock()
		return
	}
	if !l.enqueue(b) {
		l.release(b)
		l.lost.Add(1)
		if l.dropped != nil {
			l.dropped.Inc()
		}
	}
	l.mu.RUnlock()
}

// enqueue hands b to the writer unless the queue is full. A full queue
// most often means the writer is runnable but the request goroutines hold
// every CPU: yielding once lets it run (it is next in line after the
// goroutine that woke it) and costs nothing unless the queue is full.
// Only then is the line dropped.
func (l *Logger) enqueue(b *[]byte) bool {
	select {
	case l.queue <- b:
		return true
	default:
	}
	runtime.Gosched()
	select {
	case l.queue <- b:
		return true
	default:
		return false
	}
}

// Flush returns once the lines logged before it are written to the
// underlying writer.
func (l *Logger) Flush() {
	if l == nil {
		return
	}
	ack := make(chan struct{})
	select {
	case l.flush <- ack:
		<-ack
	case <-l.exit: // closed: Close flushed, and later lines are written at once
	}
}

// Close writes out every queued line, reports lines dropped since the last
// warning and stops the writer. Lines logged after Close are written
// synchronously. The underlying writer is not closed.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.done)
	<-l.exit
	return nil
}

// run is the writer goroutine.
func (l *Logger) run() {
	defer close(l.exit)
	// The timer runs only while the buffer holds lines: an idle gateway
	// does not wake up.
	timer := time.NewTimer(l.interval)
	timer.Stop()
	var tick <-chan time.Time
	for {
		select {
		case b := <-l.queue:
			l.write(b)
			l.drain()
			if tick == nil && l.w.Buffered() > 0 {
				timer.Reset(l.interval)
				tick = timer.C
			}
		case <-tick:
			tick = nil
			l.sync()
		case ack := <-l.flush:
			l.drain()
			l.sync()
			close(ack)
		case <-l.done:
			timer.Stop()
			l.drain()
			l.sync()
			l.warn(true)
			return
		}
	}
}

// drain writes the lines already queued: a batch per wake-up.
func (l *Logger) drain() {
	for n := len(l.queue); n > 0; n-- {
		l.write(<-l.queue)
	}
}

// write appends one line to the batch. A batch never ends mid-line, so
// that another writer of the same file (the application log on stderr)
// cannot land inside a line: each write(2) carries whole lines.
func (l *Logger) write(b *[]byte) {
	if l.w.Available() < len(*b) && l.w.Buffered() > 0 {
		_ = l.w.Flush()
	}
	_, _ = l.w.Write(*b) // a failed write (disk full) must not stop the gateway
	l.release(b)
}

// sync flushes the batch and reports dropped lines when due.
func (l *Logger) sync() {
	_ = l.w.Flush()
	l.warn(false)
}

// warn reports the lines dropped since the last report, at most every
// warnEvery (always when final).
func (l *Logger) warn(final bool) {
	if l.log == nil || l.lost.Load() == 0 {
		return
	}
	now := time.Now()
	if !final && now.Sub(l.lastWarn) < warnEvery {
		return
	}
	l.lastWarn = now
	l.log.Warn("access log lines dropped: the writer could not keep up (see gatehouse_access_log_dropped_total)",
		"dropped", l.lost.Swap(0))
}

// release returns a buffer to the pool unless a huge line grew it.
func (l *Logger) release(b *[]byte) {
	if cap(*b) > 16<<10 {
		return
	}
	l.pool.Put(b)
}
