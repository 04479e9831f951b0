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
	"strings"
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
	// Issuer, when set, makes the set an OpenID Connect Discovery client
	// (NewDiscoveredKeySet): the issuer the discovery document must name.
	Issuer string
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
//   - with discovery (NewDiscoveredKeySet), each fetch reads the OpenID
//     Provider's configuration document first, for its jwks_uri.
//
// Parsing and validation of each JWK is jwkset's; keyfunc turns the set
// into a jwt.Keyfunc (see Verifier). jwkset's own HTTP storage was not
// used: its first fetch blocks its constructor, its unknown-kid refresh is
// not single-flight and queues callers on a rate limiter, it reads
// documents of any size and cannot tell "never fetched" from "unknown kid".
type RemoteKeySet struct {
	*jwkset.MemoryJWKSet // the current keys; Storage methods not overridden here read it
	// url is the JWKS URI: fixed, or with discovery the last jwks_uri
	// discovered ("" before the first discovery; written and read by the
	// fetch in flight only, one at a time, under mu).
	url string
	// discoveryURL is the OpenID configuration document's URL; "" without
	// discovery.
	discoveryURL string
	o            RemoteOptions
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup

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
	if !httpURL(rawURL) {
		return nil, fmt.Errorf("%q is not an http(s) URL", rawURL)
	}
	o.Issuer = ""
	return newKeySet(rawURL, "", o), nil
}

// NewDiscoveredKeySet starts fetching the keys of o.Issuer, an OpenID
// Provider, by OpenID Connect Discovery 1.0: each fetch first reads the
// provider's configuration document at configURL (DiscoveryURL(issuer)
// when empty; §4), checks that its issuer is exactly o.Issuer (§4.3: else
// the document is not used) and that its jwks_uri is an https URL (§3),
// then fetches that JWKS as a RemoteKeySet does. So the document is
// refreshed on the JWKS schedule (every RefreshInterval, and on unknown
// kids within the cooldown), and a provider that moves its jwks_uri is
// followed. When the document cannot be read or fails its checks, the
// last jwks_uri that passed them is fetched instead (the keys stay
// current through a discovery outage); before any, there are no keys.
func NewDiscoveredKeySet(configURL string, o RemoteOptions) (*RemoteKeySet, error) {
	if err := CheckIssuer(o.Issuer); err != nil {
		return nil, err
	}
	if configURL == "" {
		configURL = DiscoveryURL(o.Issuer)
	}
	if !httpURL(configURL) {
		return nil, fmt.Errorf("%q is not an http(s) URL", configURL)
	}
	return newKeySet("", configURL, o), nil
}

// DiscoveryURL is where an issuer publishes its OpenID Provider
// configuration: the issuer, less a terminating "/", then
// "/.well-known/openid-configuration" (OpenID Connect Discovery 1.0 §4).
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// CheckIssuer checks an issuer to discover: a URL with the https scheme
// (http on a loopback host, for tests and local providers), a host, and
// no query or fragment (OpenID Connect Discovery 1.0 §3, issuer).
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case issuer == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%q is not an https URL", issuer)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("%q is plain http: an OpenID Provider's issuer is an https URL (OpenID Connect Discovery 1.0 §3); http is accepted for localhost only", issuer)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#"):
		return fmt.Errorf("%q has a query or fragment, which an issuer never has (OpenID Connect Discovery 1.0 §3)", issuer)
	}
	return nil
}

func httpURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func newKeySet(jwksURL, discoveryURL string, o RemoteOptions) *RemoteKeySet {
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
	s := &RemoteKeySet{MemoryJWKSet: jwkset.NewMemoryStorage(), url: jwksURL, discoveryURL: discoveryURL, o: o}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	first := s.startLocked()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.loop(first)
	return s
}

// source names where the keys come from, for logs.
func (s *RemoteKeySet) source() slog.Attr {
	if s.discoveryURL != "" {
		return slog.String("openid_configuration", s.discoveryURL)
	}
	return slog.String("url", s.url)
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
				s.source(), slog.Bool("have_keys", s.fetched.Load()), slog.String("error", err.Error()))
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

// maxDiscoveryBytes bounds the OpenID configuration document: providers'
// are a few kilobytes (Keycloak's, among the largest, about 7 KB).
const maxDiscoveryBytes = 256 << 10

// fetch discovers the JWKS URI (with discovery), then fetches the set.
// Each request has its own Timeout.
func (s *RemoteKeySet) fetch() error {
	s.mu.Lock()
	jwksURL := s.url
	s.mu.Unlock()
	var discoveryErr error
	if s.discoveryURL != "" {
		u, err := s.discover()
		switch {
		case err == nil:
			if u != jwksURL {
				s.o.Logger.Info("openid configuration loaded", slog.String("issuer", s.o.Issuer), slog.String("jwks_uri", u))
			}
			jwksURL = u
			s.mu.Lock()
			s.url = u
			s.mu.Unlock()
		case jwksURL == "":
			return err
		default:
			discoveryErr = fmt.Errorf("%w (fetching the last jwks_uri discovered, %s)", err, jwksURL)
		}
	}
	return errors.Join(discoveryErr, s.fetchJWKS(jwksURL))
}

// get reads one document of at most limit bytes, answered 200, within
// Timeout.
func (s *RemoteKeySet) get(rawURL, accept, what string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("the %s URI answered %s", what, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("the %s is larger than %d bytes", what, limit)
	}
	return body, nil
}

// discover reads the OpenID Provider configuration and returns its
// jwks_uri, once checked.
func (s *RemoteKeySet) discover() (string, error) {
	body, err := s.get(s.discoveryURL, "application/json", "OpenID configuration", maxDiscoveryBytes)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  *string `json:"issuer"`
		JWKSURI *string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("the OpenID configuration is not a JSON object with string issuer and jwks_uri: %w", err)
	}
	switch {
	case doc.Issuer == nil:
		return "", errors.New("the OpenID configuration has no issuer")
	case *doc.Issuer != s.o.Issuer:
		// §4.3: the issuer value returned MUST be identical to the
		// Issuer URL used to retrieve it; else the document MUST NOT be
		// used. Exactly: no case folding, no trailing-slash leniency, as
		// the tokens' iss is compared.
		return "", fmt.Errorf("the OpenID configuration's issuer %q is not the configured issuer %q (OpenID Connect Discovery 1.0 §4.3: they must be identical)", *doc.Issuer, s.o.Issuer)
	case doc.JWKSURI == nil || *doc.JWKSURI == "":
		return "", errors.New("the OpenID configuration has no jwks_uri")
	}
	u, err := url.Parse(*doc.JWKSURI)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		// §3: jwks_uri MUST use the https scheme; whoever can change the
		// key set can sign tokens.
		return "", fmt.Errorf("the OpenID configuration's jwks_uri %q is not an https URL", *doc.JWKSURI)
	}
	return *doc.JWKSURI, nil
}

func (s *RemoteKeySet) fetchJWKS(jwksURL string) error {
	body, err := s.get(jwksURL, "application/jwk-set+json, application/json", "JWKS", s.o.MaxBytes)
	if err != nil {
		return err
	}
	ctx := s.ctx
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
		s.o.Logger.Debug("jwks keys skipped", slog.String("url", jwksURL), slog.Any("skipped", skipped))
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
	s.o.Logger.Info("jwks loaded", slog.String("url", jwksURL), slog.Int("keys", len(keys)))
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
