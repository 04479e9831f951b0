package e2e

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/app"
)

// fakeClock is the gateway's clock (app.Options.Now) in the tests that
// wait for something to expire: the real time plus an offset that Advance
// moves forward, so that the test skips the wait and nothing else stands
// still.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d, at once.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// withClock starts the gateway on c.
func withClock(c *fakeClock) func(*app.Options) {
	return func(o *app.Options) { o.Now = c.Now }
}
