package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/gatehouse/gatehouse/internal/metrics"
)

// errJWKSUnavailable: no key set was ever fetched, so no verdict is
// possible (503, not 401).
var errJWKSUnavailable = errors.New("the JWKS has not been fetched yet")

var errClosed = errors.New("the key set is closed")

// RemoteOptions tune a RemoteKeySet; zero values pick the defaults.
type RemoteOptions struct {
	// Client makes the requests; nil means a client with a 10s timeout.
	Client *http.Client
	// Timeout bounds one fetch (default 5s).
	Timeout time.Duration
	// RefreshInterval is the background refresh period (default 1h).
	RefreshInterval time.Duration
	// Cooldown is the least time between two fetches caused by unknown
	// kids (default 10s), so a flood of tokens with made-up kids cannot
	// hammer the identity provider. An unknown kid seen during the cooldown
	// schedules one fetch for when it ends.
	Cooldown time.Duration
	// MaxBytes bounds the JWKS document (default 1 MiB).
	MaxBytes int64
	// Lookups counts key lookups answered from the keys in hand (hit) and
	// those that needed a fetch (miss); nil: not counted.
	Lookups *metrics.CacheCounter
	Logger  *slog.Logger
	Now     func() time.Time
}

// RemoteKeySet is a JWKS fetched from a URI (Auth0, Okta, Keycloak...):
//
//   - the first fetch starts at once, in the background; requests that need
//     a key meanwhile wait for it (bounded by the fetch timeout);
//   - a token with an unknown kid triggers a refetch, single-flight (all
//     waiting requests share one fetch) and at most once per Cooldown; an
//     unknown kid seen during the cooldown is refused at once and schedules
//     one refetch for the end of the cooldown, so a key rotation that
//     happens during a flood of made-up kids is picked up within Cooldown;
//     scheduled (background) fetches do not count against the cooldown;
//   - the set is refreshed in the background every RefreshInterval, and
//     retried with backoff after a failure;
//   - a failed fetch (IdP down, bad document) keeps the last good set;
//   - symmetric ("oct") keys, encryption keys and weak RSA keys are dropped.
//
// Parsing and validation of each JWK is jwkset's; keyfunc turns the set
// into a jwt.Keyfunc (see Verifier). jwkset's own HTTP storage was not
// used: its first fetch blocks its constructor, its unknown-kid refresh is
// not single-flight and queues callers on a rate limiter, it reads
// documents of any size and cannot tell "never fetched" from "unknown kid".
type RemoteKeySet struct {
	*jwkset.MemoryJWKSet // the current keys; Storage methods not overridden here read it
	url                  string
	o                    RemoteOptions
	ctx                  context.Context
	cancel               context.CancelFunc
	wg                   sync.WaitGroup

	fetched atomic.Bool
	epoch   atomic.Uint64

	mu       sync.Mutex
	inflight chan struct{} // closed when the current fetch ends
	lastKID  time.Time     // start of the last fetch caused by an unknown kid
	deferred *time.Timer   // a refetch scheduled for the end of the cooldown
	lastErr  error
	digest   [sha256.Size]byte
	closed   bool
}

// NewRemoteKeySet starts fetching the JWKS at rawURL. Close stops it.
func NewRemoteKeySet(rawURL string, o RemoteOptions) (*RemoteKeySet, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", rawURL)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Hour
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 10 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &RemoteKeySet{MemoryJWKSet: jwkset.NewMemoryStorage(), url: rawURL, o: o}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	first := s.startLocked()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.loop(first)
	return s, nil
}

// Close stops the background refresh and any fetch in flight.
func (s *RemoteKeySet) Close() {
	s.mu.Lock()
	s.closed = true
	if s.deferred != nil {
		s.deferred.Stop()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Ready reports whether a key set was fetched at least once.
func (s *RemoteKeySet) Ready() bool { return s.fetched.Load() }

// Epoch changes whenever the keys change; verified-token caches compare it.
func (s *RemoteKeySet) Epoch() uint64 { return s.epoch.Load() }

// KeyRead finds the key with kid, refetching the set (subject to the
// cooldown) when it is unknown.
func (s *RemoteKeySet) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	if k, err := s.MemoryJWKSet.KeyRead(ctx, kid); err == nil {
		s.o.Lookups.Hit()
		return k, nil
	}
	s.o.Lookups.Miss()
	s.refreshIfAllowed(ctx)
	if k, err := s.MemoryJWKSet.KeyRead(ctx, kid); err == nil {
		return k, nil
	}
	if !s.fetched.Load() {
		return jwkset.JWK{}, errJWKSUnavailable
	}
	return jwkset.JWK{}, jwkset.ErrKeyNotFound
}

// KeyReadAll returns every key (for tokens without kid).
func (s *RemoteKeySet) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	if !s.fetched.Load() {
		s.refreshIfAllowed(ctx)
		if !s.fetched.Load() {
			return nil, errJWKSUnavailable
		}
	}
	return s.MemoryJWKSet.KeyReadAll(ctx)
}

// Refresh fetches the set now, ignoring the cooldown (or joins the fetch in
// flight), and returns the fetch's error.
func (s *RemoteKeySet) Refresh(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	ch := s.inflight
	if ch == nil {
		ch = s.startLocked()
	}
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// refreshIfAllowed joins the fetch in flight, or starts one unless the last
// unknown-kid fetch started less than Cooldown ago; then it schedules one
// for the end of the cooldown and returns at once.
func (s *RemoteKeySet) refreshIfAllowed(ctx context.Context) {
	s.mu.Lock()
	ch := s.inflight
	if ch == nil {
		if s.closed {
			s.mu.Unlock()
			return
		}
		if wait := s.o.Cooldown - s.o.Now().Sub(s.lastKID); wait > 0 {
			if s.deferred == nil {
				s.deferred = time.AfterFunc(wait, s.deferredFetch)
			}
			s.mu.Unlock()
			return
		}
		s.lastKID = s.o.Now()
		ch = s.startLocked()
	}
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

func (s *RemoteKeySet) deferredFetch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deferred = nil
	if s.closed || s.inflight != nil {
		return
	}
	s.lastKID = s.o.Now()
	s.startLocked()
}

func (s *RemoteKeySet) startLocked() chan struct{} {
	ch := make(chan struct{})
	s.inflight = ch
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.fetch()
		if err != nil {
			s.o.Logger.Warn("jwks fetch failed; keeping the last good key set",
				slog.String("url", s.url), slog.Bool("have_keys", s.fetched.Load()), slog.String("error", err.Error()))
		}
		s.mu.Lock()
		s.lastErr = err
		s.inflight = nil
		s.mu.Unlock()
		close(ch)
	}()
	return ch
}

// loop refreshes in the background: every RefreshInterval after a success,
// with backoff from 1s after a failure.
func (s *RemoteKeySet) loop(first <-chan struct{}) {
	defer s.wg.Done()
	backoff := time.Second
	select { // the first fetch, started by the constructor
	case <-first:
	case <-s.ctx.Done():
		return
	}
	s.mu.Lock()
	err := s.lastErr
	s.mu.Unlock()
	for {
		wait := s.o.RefreshInterval
		if err != nil {
			wait, backoff = backoff, min(2*backoff, s.o.RefreshInterval)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err = s.Refresh(s.ctx)
		if errors.Is(err, errClosed) || s.ctx.Err() != nil {
			return
		}
	}
}

func (s *RemoteKeySet) fetch() error {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("the JWKS URI answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.o.MaxBytes+1))
	if err != nil {
		return fmt.Errorf("reading the JWKS: %w", err)
	}
	if int64(len(body)) > s.o.MaxBytes {
		return fmt.Errorf("the JWKS is larger than %d bytes", s.o.MaxBytes)
	}
	digest := sha256.Sum256(body)
	s.mu.Lock()
	same := s.fetched.Load() && digest == s.digest
	s.mu.Unlock()
	if same {
		return nil
	}
	var doc jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("the JWKS is not a JSON key set: %w", err)
	}
	keys := make([]jwkset.JWK, 0, len(doc.Keys))
	var skipped []string
	for i, m := range doc.Keys {
		k, why := usableKey(m)
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): %s", i, m.KID, why))
			continue
		}
		keys = append(keys, k)
	}
	if len(skipped) > 0 {
		s.o.Logger.Debug("jwks keys skipped", slog.String("url", s.url), slog.Any("skipped", skipped))
	}
	if len(keys) == 0 {
		return fmt.Errorf("the JWKS has no usable signature keys (%d skipped)", len(skipped))
	}
	if err := s.MemoryJWKSet.KeyReplaceAll(ctx, keys); err != nil {
		return err
	}
	s.mu.Lock()
	s.digest = digest
	s.mu.Unlock()
	s.epoch.Add(1)
	s.fetched.Store(true)
	s.o.Logger.Info("jwks loaded", slog.String("url", s.url), slog.Int("keys", len(keys)))
	return nil
}

// usableKey parses one JWK (public part only) and keeps it only if it is
// an asymmetric signature key of a supported strength.
func usableKey(m jwkset.JWKMarshal) (jwkset.JWK, string) {
	if m.USE != "" && m.USE != jwkset.UseSig {
		return jwkset.JWK{}, "not a signature key (use " + string(m.USE) + ")"
	}
	if m.KTY == jwkset.KtyOct {
		return jwkset.JWK{}, "symmetric keys are never taken from a key set"
	}
	k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: false}, jwkset.JWKValidateOptions{})
	if err != nil {
		return jwkset.JWK{}, err.Error()
	}
	switch pub := k.Key().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return jwkset.JWK{}, fmt.Sprintf("%d-bit RSA key is too weak", pub.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if ecAlgorithm(pub.Curve) == "" {
			return jwkset.JWK{}, "unsupported curve"
		}
	case ed25519.PublicKey:
	default:
		return jwkset.JWK{}, fmt.Sprintf("%T is not a signature key", pub)
	}
	return k, ""
}
