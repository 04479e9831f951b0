// Package redisstore is the Redis store backend (Express Gateway's
// `db.redis` without `emulate`): the identity data lives in Redis and is
// shared by every gateway process pointed at the same Redis and namespace.
// It takes its own Options (addresses, credentials, a *tls.Config,
// namespace); internal/app turns system.config.yml's db.redis block into
// them, so the backend knows nothing of the config tree.
//
// # Key layout
//
// Every Redis key of a namespace NS (default "EG") starts with the hash tag
// "{NS}", so all of them hash to one Redis Cluster slot and a transaction
// may touch any of them:
//
//	{NS}:k:<key>   a value (a Redis string; SET ... PX <ttl> for expiring keys)
//	{NS}:s:<set>   a set's members without expiry (a Redis set)
//	{NS}:z:<set>   a set's members with an expiry (SAddTTL: a sorted set
//	               scored by expiry, Unix ms on Redis's clock)
//
// Values and sets live in disjoint key spaces, as in memstore: a logical
// key and a set of the same name never collide, so a transaction can never
// hit a WRONGTYPE error half-way through EXEC (Redis does not roll back a
// failed command inside MULTI/EXEC). For example the user 123 is
// "{EG}:k:user:123" and the set of all users "{EG}:s:users".
//
// # Expiry
//
// A value's TTL is Redis's (PX). The expiring members of a set (a
// consumer's tokens, a token family) are written by one script per
// transaction that drops the members already expired, adds the new ones
// scored by Redis's TIME plus their ttl, and extends the sorted set's own
// TTL to its furthest member: a set is trimmed on every write and goes
// with its last member, so no sweeper is needed, and nodes with skewed
// clocks agree (a script, not EXPIRE ... GT, so that Redis before 7.0
// works too, as for the rate limiter's script).
// Reads list the sorted set whole (an expired member may be listed until
// the set's next write; the Store checks the record a member names).
//
// Invalidations are published on the pub/sub channel "NS:invalidate" (no
// hash tag: classic pub/sub is broadcast to the whole cluster).
//
// # Transactions
//
// Update is optimistic (WATCH/MULTI/EXEC) on one connection: each key or
// set fn reads is WATCHed just before it is read (WATCH and the read go in
// one pipelined round trip), writes are buffered in the transaction and
// visible to its later reads, and at the end the buffered writes and the
// PUBLISH of the written keys are sent in one MULTI/EXEC. If a watched key
// changed, EXEC fails and fn runs again from scratch (up to 50 attempts
// with a small jittered backoff, then store.ErrConflict). A fn that read
// something and then failed or wrote nothing has its reads validated the
// same way (an EXEC of a PING), so fn's result always comes from a
// consistent snapshot, as with memstore's lock.
//
// # Errors
//
// Connectivity failures (refused or reset connections, timeouts, a closed
// client, pool timeouts, a loading, read-only, failing-over or
// authentication-refusing server) wrap store.ErrUnavailable; other Redis
// errors are returned as they are. Each command has a total budget
// (CommandTimeout), and once Redis has failed to answer, commands fail at
// once until a background probe gets an answer again (breaker.go).
package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store"
)

// DefaultNamespace is Express Gateway's default db.redis.namespace.
const DefaultNamespace = "EG"

// Client timeouts: a Redis that is down or unreachable produces an error
// within a few seconds, never a hang.
const (
	DialTimeout  = 2 * time.Second
	ReadTimeout  = time.Second
	WriteTimeout = time.Second
	PoolTimeout  = 2 * time.Second
)

const (
	maxAttempts        = 50
	invalidationBuffer = 1024
	healthInterval     = 15 * time.Second // pub/sub connection liveness check
)

// Options configure a Redis backend.
type Options struct {
	Addr string // host:port; default localhost:6379
	// Cluster, when set, lists seed nodes (host:port) of a Redis Cluster:
	// New builds a cluster client on them (with the single-node client's
	// settings and breaker) instead of a client of Addr. DB must be 0.
	Cluster  []string
	Username string
	Password string
	DB       int
	TLS      *tls.Config // nil: plain TCP
	// Namespace prefixes every key (default "EG"); it must not contain '{'
	// or '}'.
	Namespace string
	// Client, when set, is used instead of a client built from the fields
	// above (a *redis.ClusterClient for Redis Cluster, for instance). Close
	// does not close an injected client: its owner does.
	Client redis.UniversalClient
	Logger *slog.Logger
	// OutageSummaryEvery is how often an outage is summarized in the log
	// while it lasts (default SummaryEvery): it is logged when it starts
	// and ends, never per request.
	OutageSummaryEvery time.Duration
}

// Redis is a store.Backend on Redis.
type Redis struct {
	c          redis.UniversalClient
	ownsClient bool
	ns         string
	kvPrefix   string
	setPrefix  string
	zPrefix    string
	channel    string
	anchor     []string // WATCHed first by clients that need a key to pick a node
	log        *slog.Logger

	// Invalidation delivery.
	out  chan []string
	kick chan struct{} // wakes the flusher after a dropped message
	// wake cuts the listener's reconnection backoff short when the breaker
	// sees Redis answer again, so that caches are purged (Redis may have
	// lost data) as soon as possible.
	wake    chan struct{}
	pmu     sync.Mutex
	pending bool // a message was dropped: a nil must follow

	health time.Duration
	brk    *breaker // nil for an injected client
	// summaryEvery: Options.OutageSummaryEvery.
	summaryEvery time.Duration

	mu        sync.Mutex
	ps        *redis.PubSub
	closed    bool
	bg        context.Context // canceled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ store.Backend = (*Redis)(nil)

// New connects to Redis and starts listening for invalidations. An
// unreachable Redis is not an error here (the gateway starts and answers
// 503 until Redis is back); New logs a warning, and callers that want to
// fail fast call Ping.
func New(ctx context.Context, o Options) (*Redis, error) {
	ns := o.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if strings.ContainsAny(ns, "{}") {
		return nil, fmt.Errorf("redisstore: namespace %q must not contain '{' or '}'", ns)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Redis{
		c:         o.Client,
		ns:        ns,
		kvPrefix:  "{" + ns + "}:k:",
		setPrefix: "{" + ns + "}:s:",
		zPrefix:   "{" + ns + "}:z:",
		channel:   ns + ":invalidate",
		log:       log,
		out:       make(chan []string, invalidationBuffer),
		kick:      make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		health:    healthInterval,
	}
	r.summaryEvery = o.OutageSummaryEvery
	if r.summaryEvery <= 0 {
		r.summaryEvery = SummaryEvery
	}
	if r.c == nil {
		if err := r.ownClient(o); err != nil {
			return nil, err
		}
	}
	if _, plain := r.c.(*redis.Client); !plain {
		// Cluster and ring clients pick the node of a transaction by its
		// first watched key: give them one in the namespace's slot.
		r.anchor = []string{"{" + ns + "}:tx"}
	}

	lctx, cancel := context.WithCancel(context.Background())
	r.bg, r.cancel = lctx, cancel
	r.ps = r.c.Subscribe(lctx) // the listener subscribes (no I/O here)
	r.wg.Add(2)
	go r.listen(lctx)
	go r.flush(lctx)

	if err := r.Ping(ctx); err != nil {
		log.Warn("redis store unreachable; continuing, requests needing it will fail until it is back",
			"namespace", ns, "err", err)
	}
	return r, nil
}

// Namespace is the key namespace.
func (r *Redis) Namespace() string { return r.ns }

// Client is the underlying go-redis client.
func (r *Redis) Client() redis.UniversalClient { return r.c }

func (r *Redis) key(k string) string { return r.kvPrefix + k }
func (r *Redis) set(s string) string { return r.setPrefix + s }

// zset is the key of a set's expiring members.
func (r *Redis) zset(s string) string { return r.zPrefix + s }

// Get reads one key.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.c.Get(ctx, r.key(key)).Bytes()
	if err == redis.Nil {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap(err)
	}
	return b, true, nil
}

// Scan pages through a set with SSCAN, then through its expiring members
// with ZSCAN (a cursor with bit 63 set is in that second part; SSCAN
// cursors never reach it). As with SSCAN (and Express Gateway), count is
// a hint: a page may hold more or fewer members, and a member added or
// removed during the iteration may or may not be returned. Each page is
// sorted. count <= 0 returns everything from cursor on.
func (r *Redis) Scan(ctx context.Context, set string, cursor uint64, count int) ([]string, uint64, error) {
	if count <= 0 {
		if cursor == 0 {
			m, err := r.Members(ctx, set)
			return m, 0, err
		}
		var all []string
		for {
			page, next, err := r.scanPage(ctx, set, cursor, 1000)
			if err != nil {
				return nil, 0, err
			}
			all = append(all, page...)
			if cursor = next; cursor == 0 {
				return dedupSorted(all), 0, nil
			}
		}
	}
	page, next, err := r.scanPage(ctx, set, cursor, int64(count))
	if err != nil {
		return nil, 0, err
	}
	return dedupSorted(page), next, nil
}

// zPhase marks a Scan cursor that is in the set's expiring members.
const zPhase = 1 << 63

func (r *Redis) scanPage(ctx context.Context, set string, cursor uint64, count int64) ([]string, uint64, error) {
	var out []string
	if cursor&zPhase == 0 {
		page, next, err := r.c.SScan(ctx, r.set(set), cursor, "", count).Result()
		if err != nil {
			return nil, 0, wrap(err)
		}
		if next != 0 {
			return page, next, nil
		}
		// The plain members are done: go on with the expiring ones in
		// this page, so that a set without any ends where it did.
		out, cursor = page, zPhase
	}
	flat, next, err := r.c.ZScan(ctx, r.zset(set), cursor&^zPhase, "", count).Result()
	if err != nil {
		return nil, 0, wrap(err)
	}
	for i := 0; i < len(flat); i += 2 { // member, score, ...
		out = append(out, flat[i])
	}
	if next != 0 {
		next |= zPhase
	}
	return out, next, nil
}

// Members reads a whole set, sorted: its plain and its expiring members,
// in one round trip.
func (r *Redis) Members(ctx context.Context, set string) ([]string, error) {
	var plain *redis.StringSliceCmd
	var expiring *redis.StringSliceCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		plain = p.SMembers(ctx, r.set(set))
		expiring = p.ZRange(ctx, r.zset(set), 0, -1)
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	return dedupSorted(append(plain.Val(), expiring.Val()...)), nil
}

// CountKeys counts the namespace's keys and the members of its sets
// (SCAN of the namespace's node, then SCARD/ZCARD): for tests and
// diagnostics, it reads the node's whole key space.
func (r *Redis) CountKeys(ctx context.Context) (int, error) {
	var c redis.Cmdable = r.c
	if cc, ok := r.c.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, r.kvPrefix)
		if err != nil {
			return 0, wrap(err)
		}
		c = node
	}
	total := 0
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "{"+r.ns+"}:*", 1000).Result()
		if err != nil {
			return 0, wrap(err)
		}
		total += len(keys)
		cards, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				switch {
				case strings.HasPrefix(k, r.setPrefix):
					p.SCard(ctx, k)
				case strings.HasPrefix(k, r.zPrefix):
					p.ZCard(ctx, k)
				}
			}
			return nil
		})
		if err != nil {
			return 0, wrap(err)
		}
		for _, cmd := range cards {
			total += int(cmd.(*redis.IntCmd).Val())
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
}

func dedupSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Ping checks Redis answers: on a cluster (or ring), the node of the
// namespace's slot, with an EXISTS of the anchor key (a PING would go to
// any node).
func (r *Redis) Ping(ctx context.Context) error {
	return wrap(r.ping(ctx))
}

func (r *Redis) ping(ctx context.Context) error {
	if len(r.anchor) > 0 {
		return r.c.Exists(ctx, r.anchor...).Err()
	}
	return r.c.Ping(ctx).Err()
}

// Invalidations delivers the keys written by every Update on this
// namespace, this process's included, and nil after each (re)subscription
// and after a message had to be dropped because the channel was full. It is
// closed by Close.
func (r *Redis) Invalidations() <-chan []string { return r.out }

// Close stops the invalidation listener and closes the client (unless it
// was injected).
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		ps := r.ps
		r.mu.Unlock()
		r.cancel()
		if ps != nil {
			_ = ps.Close()
		}
		r.wg.Wait()
		close(r.out)
		if r.ownsClient {
			r.closeErr = r.c.Close()
		}
	})
	return r.closeErr
}

// wrap marks connectivity failures with store.ErrUnavailable.
func wrap(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: redis: %w", store.ErrUnavailable, err)
}

func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; Redis may be fine
	}
	for _, target := range []error{
		redis.ErrClosed, redis.ErrPoolTimeout, redis.ErrPoolExhausted,
		context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var (
		netErr  net.Error
		verify  *tls.CertificateVerificationError
		record  tls.RecordHeaderError
		alert   tls.AlertError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	if errors.As(err, &netErr) || errors.As(err, &verify) || errors.As(err, &record) ||
		errors.As(err, &alert) || errors.As(err, &unknown) || errors.As(err, &host) ||
		errors.As(err, &invalid) {
		return true
	}
	if redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsMasterDownError(err) || redis.IsMaxClientsError(err) ||
		redis.IsAuthError(err) || redis.IsNoReplicasError(err) {
		return true
	}
	return strings.HasPrefix(err.Error(), "redis: Conn is in a bad state")
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff is a jittered delay before retry attempt n (n >= 1): up to
// 1ms·2^n, capped at 20ms.
func backoff(n int) time.Duration {
	max := time.Millisecond << min(n, 5)
	if max > 20*time.Millisecond {
		max = 20 * time.Millisecond
	}
	return time.Duration(rand.Int64N(int64(max))) + 100*time.Microsecond
}
