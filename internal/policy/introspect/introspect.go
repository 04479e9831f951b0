// Package introspect is the oauth2-introspect policy: an RFC 7662 client
// that asks an authorization server whether a bearer token is active, with
// a bounded cache, single-flight calls and a 503 when the server is down.
package introspect

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/lrucache"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// Options are Express Gateway's oauth2-introspect options, plus a few.
type Options struct {
	authn.Base `yaml:",inline"`
	// Endpoint is the RFC 7662 introspection endpoint.
	Endpoint string `yaml:"endpoint"`
	// AuthorizationValue is sent verbatim as the Authorization header
	// (e.g. "Basic base64(client_id:client_secret)").
	AuthorizationValue string `yaml:"authorization_value"`
	// Timeout bounds each call (milliseconds; default 10000 as Express
	// Gateway). Past it the request gets 503 unless a cached answer holds.
	Timeout config.Duration `yaml:"timeout"`
	// TTL is how long an active answer is cached, in seconds (default 60),
	// never past the token's exp; 0 caches until exp (an hour at most when
	// the answer has no exp).
	TTL *int `yaml:"ttl"`
	// NegativeTTL is how long an inactive answer is cached, in seconds
	// (default 10), so that a flood of bad tokens does not become a flood of
	// calls to the authorization server.
	NegativeTTL *int `yaml:"negativeTtl"`
	// CacheSize bounds the cache in entries (default 100,000), CacheBytes
	// in estimated bytes (default 16 MiB): whichever is reached first
	// evicts the least recently used answer (issue #14).
	CacheSize  int `yaml:"cacheSize"`
	CacheBytes int `yaml:"cacheBytes"`
	// MaxTokenBytes refuses longer bearer tokens before any call to the
	// authorization server (default 8192).
	MaxTokenBytes int `yaml:"maxTokenBytes"`
	// ClockTolerance is the leeway on the answer's exp, nbf and iat
	// (default 5s).
	ClockTolerance *config.Duration `yaml:"clockTolerance"`
	// StripCredentials removes the bearer token before proxying: true
	// removes it from the Authorization header and the query, false leaves
	// both (Express Gateway forwards it). Unset, the default, removes an
	// ?access_token= (URLs end up in logs) and forwards the header
	// (upstreams often ask the authorization server themselves).
	StripCredentials *bool `yaml:"stripCredentials"`
}

// Defaults.
const (
	DefaultMaxTokenBytes  = 8 << 10
	DefaultClockTolerance = 5 * time.Second
	DefaultCacheSize      = 100_000
	// DefaultCacheBytes bounds the answers' estimated bytes. An answer of
	// a dozen members costs about 1.2 KB cached (entrySize), so 16 MiB
	// holds some 14,000; a miss costs a call to the authorization server,
	// hence twice the jwt policy's budget, where a miss costs a signature
	// check.
	DefaultCacheBytes = 16 << 20
	// minCacheBytes is the least cacheBytes: room for a few answers.
	minCacheBytes = 16 << 10
)

type entry struct {
	active bool
	// refused is the reason code when the gateway refused an active
	// answer; such entries are not cached.
	refused  authn.Reason
	claims   map[string]any
	scopes   []string
	expires  time.Time // cache expiry
	tokenExp time.Time
}

// entryFixedBytes is an entry's fixed part on a 64-bit platform: the
// SHA-256 key, the pointer to the entry, and the entry (flag, reason
// string header, map pointer, scopes slice header, two time.Time).
const entryFixedBytes = 32 + 8 + 8 + 16 + 8 + 24 + 2*24

// entrySize estimates what a cached answer holds besides the cache's
// per-entry overhead: the fixed part and the decoded answer, walked. The
// scopes are substrings of the answer's scope member, so only their
// headers count.
func entrySize(_ [32]byte, e *entry) int {
	return entryFixedBytes + lrucache.JSONSize(e.claims) + 16*cap(e.scopes)
}

// source: RFC 6750 §2.1 and §2.3, one of them.
var source = authn.Source{Header: "Authorization", Scheme: "Bearer", Query: "access_token", Challenge: "Bearer"}

type policy struct {
	o        Options
	endpoint string
	client   *http.Client
	timeout  time.Duration
	ttl      time.Duration // 0: until exp
	negTTL   time.Duration
	cache    *lrucache.Cache[[32]byte, *entry]
	// sizes registers the cache's size figures on /metrics, once, when it
	// first stores an answer: a step built by a reload that is then
	// refused never serves and must not take the series.
	sizes     func()
	sizesOnce sync.Once
	lookups   *metrics.CacheCounter
	group     singleflight.Group
	now       func() time.Time
	leeway    time.Duration // on nbf and iat
}

// New builds an oauth2-introspect step.
func New(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
	o := Options{Timeout: config.Duration(10 * time.Second), CacheSize: DefaultCacheSize, CacheBytes: DefaultCacheBytes, MaxTokenBytes: DefaultMaxTokenBytes}
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	u, err := url.Parse(o.Endpoint)
	if o.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, action.Errorf("endpoint", "is required: the http(s) URL of the RFC 7662 introspection endpoint")
	}
	if strings.ContainsAny(o.AuthorizationValue, "\r\n") {
		return nil, action.Errorf("authorization_value", "must be one line")
	}
	p := &policy{o: o, endpoint: o.Endpoint,
		client: env.HTTPClient, timeout: time.Duration(o.Timeout),
		ttl: 60 * time.Second, negTTL: 10 * time.Second, now: env.Now, lookups: env.Metrics.Cache("introspection")}
	if p.client == nil {
		p.client = &http.Client{Timeout: 30 * time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if o.TTL != nil {
		if *o.TTL < 0 {
			return nil, action.Errorf("ttl", "must not be negative")
		}
		p.ttl = time.Duration(*o.TTL) * time.Second
	}
	if o.NegativeTTL != nil {
		if *o.NegativeTTL < 0 {
			return nil, action.Errorf("negativeTtl", "must not be negative")
		}
		p.negTTL = time.Duration(*o.NegativeTTL) * time.Second
	}
	if p.timeout <= 0 {
		return nil, action.Errorf("timeout", "must be positive")
	}
	if o.CacheSize <= 0 {
		return nil, action.Errorf("cacheSize", "must be positive")
	}
	if o.CacheBytes < minCacheBytes {
		return nil, action.Errorf("cacheBytes", "must be at least %d bytes, room for a few answers (default %d, 16 MiB)", minCacheBytes, DefaultCacheBytes)
	}
	if o.MaxTokenBytes <= 0 {
		return nil, action.Errorf("maxTokenBytes", "must be positive")
	}
	p.leeway = DefaultClockTolerance
	if o.ClockTolerance != nil {
		if *o.ClockTolerance < 0 {
			return nil, action.Errorf("clockTolerance", "must not be negative")
		}
		p.leeway = time.Duration(*o.ClockTolerance)
	}
	p.cache = lrucache.New(o.CacheSize, o.CacheBytes, entrySize)
	if env.Metrics != nil {
		name, stats := policyenv.CacheName("introspection", action), p.cache.WeakStats()
		p.sizes = func() { env.Metrics.RegisterCacheSize(name, stats) }
	}
	return &authn.Policy{Source: &source, Strip: authn.Stripping(o.StripCredentials, authn.ForwardHeader), PassThrough: o.PassThrough, Auth: p, Metrics: env.Metrics,
		Scopes: authn.Scopes{Challenge: bearer}}, nil
}

// bearer: RFC 6750 §3 challenges.
var bearer = authn.BearerScheme("Bearer")

// Authenticate asks the authorization server about the bearer token, or
// its cached answer; authn.Policy checks the scopes on every request,
// cache hits included.
func (p *policy) Authenticate(r *http.Request, cred authn.Presented) (*pipeline.Identity, error) {
	tok := cred.Value
	if !authn.SingleToken(tok) {
		tok = "" // "Bearer a b" is no token (RFC 6750 §2.1)
	}
	if tok == "" {
		return nil, bearer.Refuse(authn.ReasonMissingToken, "a bearer token is required")
	}
	if len(tok) > p.o.MaxTokenBytes {
		// Bounded before the call: a 64 KB token is not sent on to the
		// authorization server (or hashed, or cached).
		return nil, bearer.Refuse(authn.ReasonTokenTooLarge, "the token is too large")
	}
	e, err := p.lookup(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	if !e.active {
		reason := authn.ReasonInactiveToken
		if e.refused != "" {
			reason = e.refused
		}
		return nil, bearer.Refuse(reason, "the token is not active")
	}
	return identity(e), nil
}

func identity(e *entry) *pipeline.Identity {
	str := func(k string) string { s, _ := e.claims[k].(string); return s }
	id := &pipeline.Identity{AuthType: "oauth2-introspect", Scopes: e.scopes, Claims: e.claims,
		ConsumerName: str("username"), ExpiresAt: e.tokenExp, TokenID: str("jti")}
	for _, k := range []string{"id", "sub", "client_id"} { // Express Gateway used "id"
		if v := str(k); v != "" {
			id.ConsumerID = v
			break
		}
	}
	return id
}

// lookup answers from the cache, or makes one call per token however many
// requests wait for it (single-flight).
func (p *policy) lookup(ctx context.Context, tok string) (*entry, error) {
	key := sha256.Sum256([]byte(tok))
	now := p.now()
	if e, ok := p.cache.Get(key); ok && now.Before(e.expires) {
		p.lookups.Hit()
		return e, nil
	}
	p.lookups.Miss()
	v, err, _ := p.group.Do(string(key[:]), func() (any, error) {
		if e, ok := p.cache.Get(key); ok && p.now().Before(e.expires) {
			return e, nil
		}
		e, err := p.introspect(context.WithoutCancel(ctx), tok)
		if err != nil {
			return nil, err
		}
		// An answer the gateway refused (not yet valid, a refresh token)
		// is never cached: only the authorization server's own verdicts.
		if e.refused == "" && e.expires.After(p.now()) {
			p.cache.Add(key, e)
			if p.sizes != nil {
				p.sizesOnce.Do(p.sizes)
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}

// introspect makes the RFC 7662 §2.1 request.
func (p *policy) introspect(ctx context.Context, tok string) (*entry, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.o.AuthorizationValue != "" {
		req.Header.Set("Authorization", p.o.AuthorizationValue)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, unavailable(fmt.Errorf("introspection call failed: %w", err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, unavailable(fmt.Errorf("reading the introspection answer: %w", err))
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		// RFC 7662 §2.1: the protected resource must authenticate; a
		// refusal is the gateway's misconfiguration, not the client's
		// token, so the client still gets 503 and the log says what to fix.
		return nil, unavailable(fmt.Errorf("introspection endpoint refused the gateway's own credentials (%d): check authorization_value", resp.StatusCode))
	default:
		return nil, unavailable(fmt.Errorf("introspection endpoint answered %d", resp.StatusCode))
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil {
		return nil, unavailable(errors.New("introspection answer is not a JSON object"))
	}
	now := p.now()
	e := &entry{claims: claims}
	e.active, _ = claims["active"].(bool) // RFC 7662 §2.2: a JSON boolean
	if !e.active {
		e.expires = now.Add(p.negTTL)
		return e, nil
	}
	if reason := p.check(claims, now); reason != "" {
		e.active, e.refused = false, reason
		return e, nil
	}
	e.scopes = scopesOf(claims)
	if exp, ok := claims["exp"].(float64); ok {
		e.tokenExp = time.Unix(int64(exp), 0)
	}
	ttl := p.ttl
	if ttl == 0 {
		ttl = time.Hour
		if !e.tokenExp.IsZero() {
			ttl = e.tokenExp.Sub(now)
		}
	}
	e.expires = now.Add(ttl)
	if !e.tokenExp.IsZero() && e.tokenExp.Before(e.expires) {
		e.expires = e.tokenExp // never past exp; never slid by later hits
	}
	return e, nil
}

// check is what an active answer must also say before the gateway takes
// it (RFC 7662 §2.2, RFC 9068 §4 by analogy): exp, when present, in the
// future (no leeway: past exp nothing is valid); nbf and iat, when present,
// not in the future (with clockTolerance); and
// an access token: a token_type or token_use naming a refresh token is
// refused, since a resource server must never take a refresh token for
// an access token. It returns the refusal's reason code, "" when fine.
func (p *policy) check(claims map[string]any, now time.Time) authn.Reason {
	for _, k := range [...]string{"exp", "nbf", "iat"} {
		v, present := claims[k]
		if !present {
			continue
		}
		f, ok := v.(float64)
		if !ok {
			return authn.ReasonInvalidIntrospectionAnswer
		}
		t := time.Unix(int64(f), 0)
		switch {
		case k == "exp" && !now.Before(t):
			return authn.ReasonInactiveToken // expired, whatever the server says
		case k != "exp" && t.After(now.Add(p.leeway)):
			return authn.ReasonTokenNotYetValid
		}
	}
	for _, k := range [...]string{"token_type", "token_use"} {
		if v, _ := claims[k].(string); isRefresh(v) {
			return authn.ReasonNotAccessToken
		}
	}
	return ""
}

func isRefresh(v string) bool {
	v = strings.ToLower(v)
	return v == "refresh_token" || v == "refresh" || v == "urn:ietf:params:oauth:token-type:refresh_token"
}

func scopesOf(claims map[string]any) []string {
	switch v := claims["scope"].(type) {
	case string:
		return strings.Fields(v)
	}
	switch v := claims["scopes"].(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			if str, ok := s.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

func unavailable(err error) error {
	return bearer.Reject(authn.Refusal{Reason: authn.ReasonIntrospectionUnavailable, Err: err})
}
