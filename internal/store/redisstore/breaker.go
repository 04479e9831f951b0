package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Failing fast while Redis is away.
//
// A Redis that stops answering without refusing (a stopped or overloaded
// process, a network partition) makes each command wait for its read
// timeout, and, under load, for one of the pool's connections as well,
// which are all waiting too: go-redis's own retries then stretch a single
// command to several seconds and a burst of requests hangs. The client
// this package builds therefore has a hook in front of every command
// (pipelines and transactions included, and the rate limiter's scripts,
// which share the client):
//
//   - each command has a total budget, CommandTimeout (= ReadTimeout),
//     covering the wait for a connection, the retries and the reply: a
//     retry after a dead pooled connection still fits, one after a
//     timeout no longer doubles the wait;
//   - the first connectivity failure (a timeout, a refused or reset
//     connection; not an error reply, which proves Redis answers) marks
//     Redis down: from then on every command fails at once with
//     store.ErrUnavailable instead of waiting, and one background probe
//     PINGs Redis through the same client (so that it also waits out
//     go-redis's own dial backoff, which retries a refused address once a
//     second), ProbeInterval after each failed PING at first, backing off
//     to MaxProbeInterval;
//   - the probe's first answer marks Redis up again.
//
// So a store-backed request waits at most about CommandTimeout when Redis
// goes away and is answered 503 at once afterwards, and service resumes
// within about a second of Redis answering again (at once when Redis was
// only stalled: the PING in flight gets its answer). An injected client
// (Options.Client) is left as its owner configured it.
const (
	CommandTimeout   = time.Second
	ProbeInterval    = 100 * time.Millisecond
	MaxProbeInterval = 500 * time.Millisecond
)

// errDown is what commands fail with while Redis is marked down.
var errDown = fmt.Errorf("%w: redis is not answering (failing fast until it does)", store.ErrUnavailable)

// breaker is the go-redis hook described above.
type breaker struct {
	r     *Redis
	down  atomic.Bool
	since atomic.Int64 // unix nanoseconds of the last trip
	// refused counts the commands failed fast during this outage, for the
	// periodic summary (the outage is logged once, not per request).
	refused atomic.Int64
	mu      sync.Mutex // guards probing
	// probing is true while a probe goroutine runs.
	probing bool
}

var _ redis.Hook = (*breaker)(nil)

// probeKey marks the probe's commands, which pass while Redis is down.
type probeKey struct{}

func (b *breaker) refuses(ctx context.Context) bool {
	if b.down.Load() && ctx.Value(probeKey{}) == nil {
		b.refused.Add(1)
		return true
	}
	return false
}

func (b *breaker) DialHook(next redis.DialHook) redis.DialHook { return next }

// clusterInternal reports the commands a cluster client sends on its own
// to learn the topology (CLUSTER SLOTS, SHARDS or NODES; COMMAND). The
// breaker neither refuses them, since after a failover the probe needs a
// fresh slot map to find the new master, nor counts their failures: a dead
// node says nothing of the master of the namespace's slot.
func clusterInternal(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "cluster", "command":
		return true
	}
	return false
}

func (b *breaker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if clusterInternal(cmd) {
			return next(ctx, cmd)
		}
		if b.refuses(ctx) {
			return errDown
		}
		ctx, cancel := budget(ctx)
		defer cancel()
		err := next(ctx, cmd)
		b.observe(err)
		return err
	}
}

func (b *breaker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if b.refuses(ctx) {
			for _, c := range cmds {
				c.SetErr(errDown)
			}
			return errDown
		}
		ctx, cancel := budget(ctx)
		defer cancel()
		err := next(ctx, cmds)
		b.observe(err)
		return err
	}
}

// budget bounds one command (with its retries and its wait for a
// connection) by CommandTimeout, unless the caller's deadline is sooner.
func budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= CommandTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, CommandTimeout)
}

// observe trips the breaker on a connectivity failure.
func (b *breaker) observe(err error) {
	if !trips(err) {
		return
	}
	if b.down.Swap(true) {
		return
	}
	b.since.Store(time.Now().UnixNano())
	b.refused.Store(0)
	b.r.log.Warn("redis is not answering: store-backed requests fail at once (503) until it does",
		"namespace", b.r.ns, "err", err)
	b.startProbe()
}

// trips reports whether err means Redis could not be reached in time. An
// error reply (redis.Nil, WRONGTYPE, LOADING, NOAUTH...) means it was, a
// canceled context that the caller gave up, a closed client that we did.
func trips(err error) bool {
	if err == nil || errors.Is(err, errDown) || errors.Is(err, redis.ErrClosed) || errors.Is(err, context.Canceled) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || unavailable(err)
}

func (b *breaker) startProbe() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probing {
		return
	}
	b.r.mu.Lock()
	closed := b.r.closed
	if !closed {
		b.r.wg.Add(1)
	}
	b.r.mu.Unlock()
	if closed {
		return
	}
	b.probing = true
	go b.run()
}

// run PINGs until Redis answers, then marks it up.
func (b *breaker) run() {
	defer b.r.wg.Done()
	ctx := b.r.bg
	wait := ProbeInterval
	summarized := time.Now()
	for {
		if cc, ok := b.r.c.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx) // in the background: the master may have changed
		}
		pctx, cancel := context.WithTimeout(context.WithValue(ctx, probeKey{}, true), CommandTimeout)
		err := b.r.ping(pctx)
		cancel()
		if ctx.Err() != nil {
			b.stopProbing()
			return
		}
		if err == nil {
			b.mu.Lock()
			b.probing = false
			b.down.Store(false)
			b.mu.Unlock()
			select { // resubscribe now if the subscription was lost too
			case b.r.wake <- struct{}{}:
			default:
			}
			b.r.log.Info("redis answers again: store-backed requests resume", "namespace", b.r.ns,
				"down_for", time.Since(time.Unix(0, b.since.Load())).Round(time.Millisecond).String(),
				"refused_commands", b.refused.Load())
			return
		}
		if time.Since(summarized) >= b.r.summaryEvery {
			summarized = time.Now()
			b.r.log.Warn("redis is still not answering: store-backed requests fail at once (503)", "namespace", b.r.ns,
				"down_for", time.Since(time.Unix(0, b.since.Load())).Round(time.Second).String(),
				"refused_commands", b.refused.Load(), "err", err)
		}
		if sleep(ctx, wait) != nil {
			b.stopProbing()
			return
		}
		wait = min(2*wait, MaxProbeInterval)
	}
}

func (b *breaker) stopProbing() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}
