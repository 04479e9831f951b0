// Package boltstore is the embedded, persistent store backend (the default):
// one bbolt file, one process. It has the same semantics as memstore (keys
// with optional expiry, sorted sets, serializable read-modify-write
// transactions) and survives restarts; every write is a bbolt transaction,
// so a crash never leaves a half-written record.
//
// Layout (format 1), all in one file:
//
//	kv      key                         -> 8-byte big-endian expiry (Unix ns, 0: none) + value
//	exp     8-byte expiry + key         -> empty  (index of keys with a TTL, oldest first)
//	sets    uvarint(len(set)) + set + member -> empty, or an 8-byte expiry (SAddTTL)
//	setexp  8-byte expiry + set key     -> empty  (index of members with a TTL, oldest first)
//	meta    "format"                    -> "1"
//
// The set key starts with the set name's length, so one set's members are
// exactly the keys under its prefix, whatever bytes the names contain, and
// a prefix cursor lists them sorted in O(members).
//
// Expired keys and members are invisible at once; the sweeper removes them
// from the file, oldest first through the two indexes, at most sweepChunk
// per transaction. setexp and the members' expiries were added to format 1
// without changing it: a file written before has no expiring members, and
// an older gatehouse reading a newer file sees expiring members as
// permanent ones (the Store checks the record each one names anyway).
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/gatehouse/gatehouse/internal/store"
)

var (
	bucketKV   = []byte("kv")
	bucketExp  = []byte("exp")
	bucketSets = []byte("sets")
	bucketSExp = []byte("setexp")
	bucketMeta = []byte("meta")

	keyFormat = []byte("format")
)

const (
	format = "1"

	defaultSweepInterval = time.Minute
	defaultOpenTimeout   = time.Second
	defaultBatchDelay    = 2 * time.Millisecond

	// appendFill is how full the buckets written mostly in key order
	// (kv, exp, setexp) fill a page before splitting it.
	appendFill = 0.9

	// sweepChunk bounds the keys and set members one sweeper transaction
	// removes, so the sweeper never holds the writer lock for long.
	sweepChunk = 1000
)

// ErrInUse is wrapped by Open's error when another process holds the file.
var ErrInUse = errors.New("in use by another gatehouse process")

// Options tune a Bolt backend. The zero value is ready to use.
type Options struct {
	// Now is the clock for expiries (tests move it); nil means time.Now.
	Now func() time.Time
	// SweepInterval is how often expired keys and set members are removed
	// from the file (they are invisible as soon as they expire). 0 means
	// one minute; a negative value disables the sweeper (Sweep still
	// works).
	SweepInterval time.Duration
	// OpenTimeout bounds the wait for the file lock; 0 means one second.
	OpenTimeout time.Duration
	// MaxBatchDelay is how long concurrent writers wait to share one commit
	// (one fsync); 0 means 2ms. A writer that is alone does not wait.
	MaxBatchDelay time.Duration
}

// Bolt is a store.Backend in a bbolt file.
type Bolt struct {
	db       *bolt.DB
	now      func() time.Time
	inflight atomic.Int64 // Updates in progress, to decide between Update and Batch

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ store.Backend = (*Bolt)(nil)

// Open opens (or creates) the data file at path. Its directory is created
// with mode 0700 and the file with 0600. A file held by another process is
// an error after opts.OpenTimeout (wrapping ErrInUse), not a hang.
func Open(path string, opts Options) (*Bolt, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = defaultSweepInterval
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = defaultOpenTimeout
	}
	if opts.MaxBatchDelay <= 0 {
		opts.MaxBatchDelay = defaultBatchDelay
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data file %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.OpenTimeout,
		FreelistType: bolt.FreelistMapType,
		// The freelist is rebuilt on open instead of written on every
		// commit (as etcd does): fewer pages per commit.
		NoFreelistSync: true,
		// Statistics take a global mutex on every transaction.
		NoStatistics: true,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("data file %s is %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("data file %s: %w", path, err)
	}
	db.MaxBatchDelay = opts.MaxBatchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketExp, bucketSets, bucketSExp} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(keyFormat); {
		case v == nil:
			return meta.Put(keyFormat, []byte(format))
		case string(v) != format:
			return fmt.Errorf("unsupported data format %q (this gatehouse reads format %s)", v, format)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("data file %s: %w", path, err)
	}
	b := &Bolt{db: db, now: opts.Now, stop: make(chan struct{})}
	if opts.SweepInterval > 0 {
		b.wg.Add(1)
		go b.sweeper(opts.SweepInterval)
	}
	return b, nil
}

// Path is the data file's path.
func (b *Bolt) Path() string { return b.db.Path() }

// Get reads a key; an expired key is not found.
func (b *Bolt) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	var out []byte
	var ok bool
	err := b.db.View(func(tx *bolt.Tx) error {
		out, ok = b.get(tx.Bucket(bucketKV), key)
		return nil
	})
	if err != nil {
		return nil, false, wrap(err)
	}
	return out, ok, nil
}

// get reads a live key from kv and copies its value out of the mmap.
func (b *Bolt) get(kv *bolt.Bucket, key string) ([]byte, bool) {
	v := kv.Get([]byte(key))
	if len(v) < 8 || !b.live(binary.BigEndian.Uint64(v)) {
		return nil, false
	}
	return append(make([]byte, 0, len(v)-8), v[8:]...), true
}

func (b *Bolt) live(exp uint64) bool {
	return exp == 0 || uint64(b.now().UnixNano()) < exp
}

// Update runs fn in one read-write transaction: fn sees its own writes,
// and they are committed only if it returns nil. Concurrent Updates share a
// commit (bbolt's Batch), so fn may run more than once; its error is
// returned as it is.
func (b *Bolt) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	run := func(btx *bolt.Tx) error {
		if err := ctx.Err(); err != nil {
			fnErr = err
			return err
		}
		t := &tx{b: b, kv: btx.Bucket(bucketKV), exp: btx.Bucket(bucketExp), sets: btx.Bucket(bucketSets), setExp: btx.Bucket(bucketSExp)}
		// Most writes append: the expiry indexes are in time order, and
		// token keys (most of kv) have time-ordered ids. bbolt splits a
		// page half full by default, which leaves appended pages half
		// empty for good; filling them halves the file's growth per token.
		t.kv.FillPercent, t.exp.FillPercent, t.setExp.FillPercent = appendFill, appendFill, appendFill
		fnErr = fn(t)
		return fnErr
	}
	// A writer alone commits at once; writers that arrive while another
	// is in progress are grouped into one transaction and one fsync.
	err := b.commit(run)
	if err != nil && err != fnErr { //nolint:errorlint // identity: fn's own error is passed through untouched
		return wrap(err)
	}
	return err
}

func (b *Bolt) commit(run func(*bolt.Tx) error) error {
	defer b.inflight.Add(-1)
	if b.inflight.Add(1) == 1 {
		return b.db.Update(run)
	}
	return b.db.Batch(run)
}

// Scan pages through a set in sorted order; the cursor is an offset.
func (b *Bolt) Scan(ctx context.Context, set string, cursor uint64, count int) ([]string, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var out []string
	var next uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		prefix := setPrefix(set)
		c := tx.Bucket(bucketSets).Cursor()
		k, v := c.Seek(prefix)
		// The cursor counts live members only, as memstore's offset does.
		for i := uint64(0); i < cursor && k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if b.liveMember(v) {
				i++
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if !b.liveMember(v) {
				continue
			}
			if count > 0 && len(out) == count {
				next = cursor + uint64(count) // there is more
				break
			}
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, 0, wrap(err)
	}
	return out, next, nil
}

// Members reads a whole set, sorted.
func (b *Bolt) Members(ctx context.Context, set string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []string
	err := b.db.View(func(tx *bolt.Tx) error {
		out = b.members(tx.Bucket(bucketSets), set)
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	return out, nil
}

// members lists a set's live members in order (never nil, as memstore).
func (b *Bolt) members(sets *bolt.Bucket, set string) []string {
	prefix := setPrefix(set)
	out := []string{}
	c := sets.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if b.liveMember(v) {
			out = append(out, string(k[len(prefix):]))
		}
	}
	return out
}

// liveMember reports whether a set member's value (empty, or its expiry)
// is live.
func (b *Bolt) liveMember(v []byte) bool { return len(v) < 8 || b.live(binary.BigEndian.Uint64(v)) }

// Invalidations is nil: only this process writes the file.
func (b *Bolt) Invalidations() <-chan []string { return nil }

// Ping checks the file is open.
func (b *Bolt) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketKV) == nil {
			return errors.New("boltstore: data file has no kv bucket")
		}
		return nil
	})
	return wrap(err)
}

// Close stops the sweeper and closes the file. Later calls return the
// first call's result.
func (b *Bolt) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.wg.Wait()
		b.closeErr = b.db.Close()
	})
	return b.closeErr
}

// wrap marks a closed database as unavailable (503, not 500).
func wrap(err error) error {
	if err != nil && errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func (b *Bolt) sweeper(every time.Duration) {
	defer b.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_, _ = b.sweep(b.stop)
		}
	}
}

// Sweep removes every key and set member expired by now, sweepChunk per
// transaction, without waiting for the sweeper.
func (b *Bolt) Sweep(ctx context.Context) error {
	_, err := b.sweep(ctx.Done())
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// sweep removes the keys and set members expired by now, sweepChunk per
// transaction, and reports how many it removed. It stops early when stop
// is closed.
func (b *Bolt) sweep(stop <-chan struct{}) (int, error) {
	total := 0
	for {
		select {
		case <-stop:
			return total, nil
		default:
		}
		n, more := 0, false
		err := b.db.Update(func(btx *bolt.Tx) error {
			now := uint64(b.now().UnixNano())
			// Keys first, then set members, sweepChunk index entries in all.
			seen, removed, full, err := sweepIndex(btx.Bucket(bucketExp), btx.Bucket(bucketKV), now, sweepChunk)
			n, more = removed, full
			if err != nil || more {
				return err
			}
			_, removed, more, err = sweepIndex(btx.Bucket(bucketSExp), btx.Bucket(bucketSets), now, sweepChunk-seen)
			n += removed
			return err
		})
		if err != nil {
			return total, wrap(err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// sweepIndex removes up to limit entries due by now from index (8-byte
// expiry + key) and their records from data, where a record's value starts
// with its expiry. seen counts the index entries, removed the records;
// more tells that the limit stopped it.
func sweepIndex(index, data *bolt.Bucket, now uint64, limit int) (seen, removed int, more bool, err error) {
	var due [][]byte
	c := index.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) < 8 || binary.BigEndian.Uint64(k) > now {
			break
		}
		if len(due) == limit {
			more = true
			break
		}
		due = append(due, append([]byte(nil), k...))
	}
	for _, k := range due {
		if err := index.Delete(k); err != nil {
			return seen, removed, false, err
		}
		seen++
		// Remove the record only if its own expiry agrees with the index
		// (it always should; an older gatehouse may have rewritten a set
		// member without one).
		key := k[8:]
		if v := data.Get(key); len(v) >= 8 && binary.BigEndian.Uint64(v) == binary.BigEndian.Uint64(k) {
			if err := data.Delete(key); err != nil {
				return seen, removed, false, err
			}
			removed++
		}
	}
	return seen, removed, more, nil
}

// CountKeys counts the entries of the file's data and index buckets:
// keys, set members and their expiry indexes, expired ones not swept yet
// included.
func (b *Bolt) CountKeys(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := b.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketExp, bucketSets, bucketSExp} {
			n += tx.Bucket(name).Stats().KeyN
		}
		return nil
	})
	return n, wrap(err)
}

// expiry is now+ttl in Unix nanoseconds, saturated (a ttl reaching past
// 2262 means "practically never", not an overflow into the past).
func expiry(now time.Time, ttl time.Duration) uint64 {
	n := now.UnixNano()
	if ttl > math.MaxInt64-time.Duration(n) {
		return math.MaxInt64
	}
	return uint64(n + int64(ttl))
}

func setPrefix(set string) []byte {
	p := make([]byte, 0, binary.MaxVarintLen64+len(set))
	p = binary.AppendUvarint(p, uint64(len(set)))
	return append(p, set...)
}

func setKey(set, member string) []byte {
	return append(setPrefix(set), member...)
}

func expKey(exp uint64, key []byte) []byte {
	k := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(k, exp)
	return append(k, key...)
}

// tx is the store.Tx over one bbolt read-write transaction.
type tx struct {
	b                     *Bolt
	kv, exp, sets, setExp *bolt.Bucket
}

// Get reads a key, seeing this transaction's writes. An expired key is
// not found, and removed on the way.
func (t *tx) Get(key string) ([]byte, bool, error) {
	k := []byte(key)
	v := t.kv.Get(k)
	if len(v) < 8 {
		return nil, false, nil
	}
	if e := binary.BigEndian.Uint64(v); !t.b.live(e) {
		if err := t.exp.Delete(expKey(e, k)); err != nil {
			return nil, false, err
		}
		return nil, false, t.kv.Delete(k)
	}
	return append(make([]byte, 0, len(v)-8), v[8:]...), true, nil
}

// Set writes key; ttl <= 0 means no expiry.
func (t *tx) Set(key string, value []byte, ttl time.Duration) error {
	k := []byte(key)
	if err := t.unindex(k); err != nil {
		return err
	}
	var e uint64
	if ttl > 0 {
		e = expiry(t.b.now(), ttl)
		if err := t.exp.Put(expKey(e, k), nil); err != nil {
			return err
		}
	}
	v := make([]byte, 8, 8+len(value))
	binary.BigEndian.PutUint64(v, e)
	return t.kv.Put(k, append(v, value...))
}

// Del removes key (a missing key is fine).
func (t *tx) Del(key string) error {
	k := []byte(key)
	if err := t.unindex(k); err != nil {
		return err
	}
	return t.kv.Delete(k)
}

// unindex drops key's current expiry from the exp index.
func (t *tx) unindex(k []byte) error {
	if v := t.kv.Get(k); len(v) >= 8 {
		if e := binary.BigEndian.Uint64(v); e != 0 {
			return t.exp.Delete(expKey(e, k))
		}
	}
	return nil
}

func (t *tx) SAdd(set string, members ...string) error {
	for _, m := range members {
		k := setKey(set, m)
		if err := t.unindexMember(k); err != nil {
			return err
		}
		if err := t.sets.Put(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// SAddTTL adds members that the sweeper removes ttl from now.
func (t *tx) SAddTTL(set string, ttl time.Duration, members ...string) error {
	if ttl <= 0 {
		return t.SAdd(set, members...)
	}
	e := expiry(t.b.now(), ttl)
	v := binary.BigEndian.AppendUint64(nil, e)
	for _, m := range members {
		k := setKey(set, m)
		if err := t.unindexMember(k); err != nil {
			return err
		}
		if err := t.setExp.Put(expKey(e, k), nil); err != nil {
			return err
		}
		if err := t.sets.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) SRem(set string, members ...string) error {
	for _, m := range members {
		k := setKey(set, m)
		if err := t.unindexMember(k); err != nil {
			return err
		}
		if err := t.sets.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// unindexMember drops a set member's current expiry from the setexp index.
func (t *tx) unindexMember(k []byte) error {
	if v := t.sets.Get(k); len(v) >= 8 {
		if e := binary.BigEndian.Uint64(v); e != 0 {
			return t.setExp.Delete(expKey(e, k))
		}
	}
	return nil
}

func (t *tx) SMembers(set string) ([]string, error) { return t.b.members(t.sets, set), nil }
