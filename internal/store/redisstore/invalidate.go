package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Invalidation messages are JSON arrays of the logical keys an Update wrote
// (Set or Del; set names are not included: the Store caches no sets),
// published inside the transaction's MULTI/EXEC, so a message goes out if
// and only if the writes were committed, and after them.

// listen receives the invalidation channel and forwards its messages. It
// keeps the subscription alive: go-redis reconnects and resubscribes after
// a connection error; a connection that silently stopped answering (no
// reply to a PING within healthInterval) is replaced.
func (r *Redis) listen(ctx context.Context) {
	defer r.wg.Done()
	r.mu.Lock()
	ps := r.ps
	r.mu.Unlock()
	_ = ps.Subscribe(ctx, r.channel) // registers the channel even when it fails; Receive retries
	pinged, down := false, false
	delay := time.Duration(0)
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, r.health)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !down {
				if !pinged {
					pinged = true
					_ = ps.Ping(ctx) // a write error makes go-redis reconnect
					continue
				}
				r.log.Warn("redis invalidation subscription stopped answering; reconnecting", "channel", r.channel)
				if ps = r.renew(ctx); ps == nil {
					return
				}
				pinged = false
				continue
			}
			if !down {
				down = true
				r.log.Warn("redis invalidation subscription lost; caches are purged when it is back", "channel", r.channel, "err", err)
			}
			delay = min(max(2*delay, 50*time.Millisecond), 2*time.Second)
			if r.backoff(ctx, delay) != nil {
				return
			}
			continue
		}
		delay, pinged = 0, false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == r.channel {
				if down {
					down = false
					r.log.Info("redis invalidation subscription restored", "channel", r.channel)
				}
				r.notify(nil) // messages may have been missed: purge everything
			}
		case *redis.Message:
			var keys []string
			if err := json.Unmarshal([]byte(m.Payload), &keys); err != nil || keys == nil {
				r.log.Warn("bad redis invalidation message; purging caches", "channel", r.channel, "payload", m.Payload)
				r.notify(nil)
			} else if len(keys) > 0 {
				r.notify(keys)
			}
		}
	}
}

// backoff waits d before the next attempt to resubscribe, or less if the
// breaker has seen Redis answer meanwhile.
func (r *Redis) backoff(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.wake:
		return nil
	case <-t.C:
		return nil
	}
}

// renew replaces the PubSub (and its connection) with a fresh one.
func (r *Redis) renew(ctx context.Context) *redis.PubSub {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	_ = r.ps.Close()
	r.ps = r.c.Subscribe(ctx) // no channel: no I/O under the lock
	ps := r.ps
	r.mu.Unlock()
	_ = ps.Subscribe(ctx, r.channel)
	return ps
}

// notify forwards keys (nil: purge everything) without ever blocking: when
// the channel is full the message is dropped and the flusher sends a nil as
// soon as there is room. Every dropped message is followed on the channel
// by a nil sent after the drop.
func (r *Redis) notify(keys []string) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.pending {
		return // the nil on its way covers these keys
	}
	select {
	case r.out <- keys:
	default:
		r.pending = true
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// flush sends the nil owed after dropped messages.
func (r *Redis) flush(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		r.pmu.Lock()
		r.pending = false
		r.pmu.Unlock()
		select {
		case r.out <- nil:
		case <-ctx.Done():
			return
		}
	}
}
