package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ClientLog is go-redis's logger (redis.SetLogger) writing to slog.
//
// go-redis prints a line for every failed dial, and while Redis is away
// the breaker's probe and the pub/sub reconnects dial several times a
// second: an outage would write the same warning every half second. The
// state change is the breaker's to log (once when Redis stops answering,
// once when it answers again, and a summary while it stays down), so here a
// message is written the first time, and repeats of it are counted and
// written as one summary line per SummaryEvery.
type ClientLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu        sync.Mutex
	last      string    // the last message written
	since     time.Time // when it was written, or last summarized
	repeated  int       // repeats of last not written since then
	firstSeen time.Time // when last was first written
}

// SummaryEvery is how often a repeated go-redis message is summarized.
const SummaryEvery = 30 * time.Second

// NewClientLog returns go-redis's logger over l.
func NewClientLog(l *slog.Logger) *ClientLog {
	return &ClientLog{log: l, every: SummaryEvery, now: time.Now}
}

// Printf implements go-redis's internal.Logging.
func (c *ClientLog) Printf(ctx context.Context, format string, v ...any) {
	msg := "redis: " + fmt.Sprintf(format, v...)
	now := c.now()
	c.mu.Lock()
	if msg == c.last {
		c.repeated++
		if now.Sub(c.since) < c.every {
			c.mu.Unlock()
			return
		}
		n, first := c.repeated, c.firstSeen
		c.repeated, c.since = 0, now
		c.mu.Unlock()
		c.log.WarnContext(ctx, msg, "repeated", n, "first_seen", first.UTC().Format(time.RFC3339))
		return
	}
	prev, n := c.last, c.repeated
	c.last, c.since, c.firstSeen, c.repeated = msg, now, now, 0
	c.mu.Unlock()
	if n > 0 { // the repeats of the previous message since its last line
		c.log.WarnContext(ctx, prev, "repeated", n)
	}
	c.log.WarnContext(ctx, msg)
}
