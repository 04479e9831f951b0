package jwtauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/headervalue"
	"github.com/gatehouse/gatehouse/internal/lrucache"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
)

// Stable reason codes of the jwt policy (and of any other user of
// Verifier), sent in refusal bodies and written to the access log. They
// are authn's: their status, challenge and message are in its table.
const (
	ReasonMissingToken        = authn.ReasonMissingToken
	ReasonMalformedToken      = authn.ReasonMalformedToken
	ReasonTokenTooLarge       = authn.ReasonTokenTooLarge
	ReasonBadSignature        = authn.ReasonBadSignature
	ReasonUnknownKID          = authn.ReasonUnknownKID
	ReasonAlgorithmNotAllowed = authn.ReasonAlgorithmNotAllowed
	ReasonTokenExpired        = authn.ReasonTokenExpired
	ReasonTokenNotYetValid    = authn.ReasonTokenNotYetValid
	ReasonTokenTooOld         = authn.ReasonTokenTooOld
	ReasonAudienceMismatch    = authn.ReasonAudienceMismatch
	ReasonIssuerMismatch      = authn.ReasonIssuerMismatch
	ReasonMissingClaim        = authn.ReasonMissingClaim
	ReasonTokenTypeMismatch   = authn.ReasonTokenTypeMismatch
	ReasonUnknownSubject      = authn.ReasonUnknownSubject
	ReasonInactiveCredentials = authn.ReasonInactive
	ReasonInactiveConsumer    = authn.ReasonInactiveConsumer
	ReasonInsufficientScope   = authn.ReasonInsufficientScope
	ReasonJWKSUnavailable     = authn.ReasonJWKSUnavailable
)

// Defaults.
const (
	DefaultMaxTokenBytes  = 8 << 10
	DefaultClockTolerance = 5 * time.Second
	DefaultCacheSize      = 10_000
	// DefaultCacheBytes bounds the verified-token cache's estimated bytes
	// (issue #14). A typical provider access token (500 bytes, a dozen
	// claims) costs about 1.3 KB cached, so 8 MiB holds some 6,000 of
	// them; DefaultCacheSize is reached first only by tokens of a few
	// claims.
	DefaultCacheBytes = 8 << 20
	// minCacheBytes is the least cacheBytes option: a cache smaller than
	// a few tokens' claims would store nothing and only cost its lock.
	minCacheBytes = 16 << 10
	// maxCacheLife bounds how long a token without exp stays cached.
	maxCacheLife = time.Hour
	maxKIDBytes  = 256
)

// Config is what a Verifier checks. The zero value of every field is the
// safe choice, except that one key source is required.
type Config struct {
	// Key is a static verification key: an HMAC secret ([]byte), or an
	// *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey. The token's
	// kid is ignored (Express Gateway).
	Key any
	// KeySet looks keys up by the token's kid: a *RemoteKeySet (a JWKS
	// URI), or any jwkset storage (Gatehouse's own signing keys). Only
	// asymmetric algorithms are allowed with a key set.
	KeySet jwkset.Storage
	// Algorithms is the allow-list; empty means the key's family (HS* for
	// a secret, RS*/PS* for RSA, the curve's ES* for EC, EdDSA for
	// Ed25519, all asymmetric ones for a key set). "none" is never allowed.
	Algorithms []string
	// Audiences: when set, the aud claim must contain at least one of them.
	Audiences []string
	// Issuers: when set, iss must be one of them.
	Issuers []string
	// Types: when set, the typ header must be one of them, compared
	// case-insensitively with the "application/" prefix optional (RFC 7515
	// §4.1.9; RFC 9068 §4 access tokens use "at+jwt"). A token without typ
	// matches only "" or "JWT" (RFC 7519 §5.1: the type a JWT without typ
	// has); a typ that is not a string matches nothing.
	Types []string
	// AcceptIDTokens accepts tokens that carry a claim only OpenID Connect
	// ID tokens have (idTokenClaims); by default they are refused.
	AcceptIDTokens bool
	// ClockTolerance is the leeway on exp, nbf and maxAge.
	ClockTolerance time.Duration
	// MaxAge refuses tokens issued (iat) longer ago; it requires iat.
	MaxAge time.Duration
	// RequiredClaims must be present (and not null).
	RequiredClaims []string
	// AllowMissingExp accepts tokens without exp (Express Gateway's
	// behaviour); by default exp is required.
	AllowMissingExp bool
	// ScopeClaim names the claim holding the token's scopes; empty means
	// "scope" (space-separated, RFC 8693 §4.2), then "scp" (a list or a
	// string).
	ScopeClaim string
	// MaxTokenBytes refuses longer tokens before any parsing; 0 means 8 KiB.
	MaxTokenBytes int
	// CacheSize bounds the verified-token cache; 0 means 10,000 tokens and
	// a negative value disables it.
	CacheSize int
	// CacheBytes bounds the verified-token cache's estimated bytes (see
	// cacheEntrySize); 0 means DefaultCacheBytes.
	CacheBytes int
	// CacheSizes, when set, is called once, when the cache first stores a
	// token, with a function reporting its entries, estimated bytes and
	// evictions (metrics.Metrics.RegisterCacheSize). Not at build: a
	// Verifier built by a reload that is then refused never serves, and
	// must not take the series from the one that does.
	CacheSizes func(metrics.CacheStats)
	// CacheLookups counts the verified-token cache's hits and misses (nil:
	// not counted).
	CacheLookups *metrics.CacheCounter
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Claims is a verified token. It may be shared by concurrent requests
// through the cache: treat it, and Raw, as read-only.
type Claims struct {
	// Raw is the whole payload; numbers are json.Number.
	Raw       map[string]any
	Subject   string
	Issuer    string
	ID        string // jti
	Scopes    []string
	HasScopes bool // the token carries a scope claim (possibly empty)
	ExpiresAt time.Time
	IssuedAt  time.Time
}

// Error is a refusal: Reason is one of the Reason* codes and Message a
// description safe to send to the client (it never holds the token).
type Error struct {
	Reason  authn.Reason
	Message string
	// Cause is the internal error, for logs (set for server-side causes
	// such as an unreachable JWKS URI).
	Cause error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Cause }

func refusal(reason authn.Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Verifier checks JWS compact tokens against one configuration. It is safe
// for concurrent use.
type Verifier struct {
	static    any
	keys      keyfunc.Keyfunc
	epochOf   func() uint64
	algs      []string
	audiences []string
	issuers   []string
	types     []string
	idTokens  bool // accept ID tokens (Config.AcceptIDTokens)
	required  []string
	leeway    time.Duration
	maxAge    time.Duration
	scopeAt   string
	maxBytes  int
	now       func() time.Time
	parser    *jwt.Parser
	validator *jwt.Validator
	cache     *lrucache.Cache[[sha256.Size]byte, *cacheEntry]
	lookups   *metrics.CacheCounter
	sizes     func(metrics.CacheStats)
	sizesOnce sync.Once
}

type cacheEntry struct {
	claims *Claims
	until  time.Time // the entry answers only while now is before this
	epoch  uint64    // the key set's epoch when it was verified
}

// Fixed parts of a cached verification, in bytes on a 64-bit platform:
// the SHA-256 key; the cacheEntry (pointer, time.Time, epoch); the Claims
// struct (map pointer, three string headers, the Scopes slice header, the
// flag, two time.Time).
const (
	cacheKeyBytes    = sha256.Size
	cacheEntryBytes  = 8 + 24 + 8
	cacheClaimsBytes = 8 + 3*16 + 24 + 8 + 2*24
)

// cacheEntrySize estimates what a cached verification holds besides the
// cache's per-entry overhead (lrucache.EntryOverhead): the fixed parts and
// the decoded payload, walked (claims are what varies: a token with a
// kilobyte of roles costs a kilobyte more). The token itself is not kept,
// only its hash; Subject, Issuer and ID share the payload's strings, and
// Scopes' strings are counted again, erring on the large side.
func cacheEntrySize(_ [sha256.Size]byte, e *cacheEntry) int {
	return cacheKeyBytes + cacheEntryBytes + cacheClaimsBytes + lrucache.JSONSize(e.claims.Raw) + lrucache.JSONSize(e.claims.Scopes)
}

var (
	errCritical = errors.New("critical header parameters are not supported")
	errKIDType  = errors.New("kid is not a string")
	errTypType  = errors.New("typ mismatch")
)

// NewVerifier checks c and returns a Verifier.
func NewVerifier(c Config) (*Verifier, error) {
	v := &Verifier{
		audiences: slices.Clone(c.Audiences), issuers: slices.Clone(c.Issuers),
		leeway: c.ClockTolerance, maxAge: c.MaxAge, scopeAt: c.ScopeClaim,
		maxBytes: c.MaxTokenBytes, now: c.Now, epochOf: func() uint64 { return 0 },
		lookups: c.CacheLookups, sizes: c.CacheSizes, idTokens: c.AcceptIDTokens,
	}
	if v.maxBytes == 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	if c.ClockTolerance < 0 || c.MaxAge < 0 || v.maxBytes < 0 || c.CacheBytes < 0 {
		return nil, errors.New("jwtauth: negative durations or sizes are not allowed")
	}
	var fam []string
	switch {
	case (c.Key == nil) == (c.KeySet == nil):
		return nil, errors.New("jwtauth: exactly one of Key and KeySet is required")
	case c.Key != nil:
		if fam = family(c.Key); fam == nil {
			return nil, fmt.Errorf("jwtauth: unsupported key type %T", c.Key)
		}
		v.static = c.Key
	default:
		fam = keySetAlgorithms
		kf, err := keyfunc.New(keyfunc.Options{Storage: c.KeySet, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
		if err != nil {
			return nil, err
		}
		v.keys = kf
		if e, ok := c.KeySet.(interface{ Epoch() uint64 }); ok {
			v.epochOf = e.Epoch
		}
	}
	algs, err := allowedAlgorithms(c.Algorithms, fam, c.Key)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: %w", err)
	}
	v.algs = algs
	for _, t := range c.Types {
		v.types = append(v.types, normalizeType(t))
	}
	if !c.AllowMissingExp {
		v.required = append(v.required, "exp")
	}
	if c.MaxAge > 0 {
		v.required = append(v.required, "iat")
	}
	for _, name := range c.RequiredClaims {
		if !slices.Contains(v.required, name) {
			v.required = append(v.required, name)
		}
	}
	// Signature and parsing by golang-jwt; claims are checked after, so
	// each failure gets its own reason (see checkClaims).
	v.parser = jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	vopts := []jwt.ParserOption{jwt.WithLeeway(c.ClockTolerance), jwt.WithTimeFunc(v.now)}
	if len(v.audiences) > 0 {
		vopts = append(vopts, jwt.WithAudience(v.audiences...)) // any of them (not WithAllAudiences)
	}
	v.validator = jwt.NewValidator(vopts...)
	if c.CacheSize >= 0 {
		size, bytes := c.CacheSize, c.CacheBytes
		if size == 0 {
			size = DefaultCacheSize
		}
		if bytes == 0 {
			bytes = DefaultCacheBytes
		}
		v.cache = lrucache.New(size, bytes, cacheEntrySize)
	}
	return v, nil
}

// CacheStats reports the verified-token cache's entries, estimated bytes
// and evictions (zeros when it is disabled).
func (v *Verifier) CacheStats() (entries, bytes int, evictions uint64) {
	if v.cache == nil {
		return 0, 0, 0
	}
	return v.cache.Stats()
}

// Algorithms is the effective allow-list.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// Verify checks token: size, structure, algorithm, signature (key by kid
// from the key set, or the static key), then the claims. On failure it
// returns the reason code and an *Error whose message can be sent to the
// client. A token seen before and still valid is answered from a cache
// keyed by its SHA-256, without a signature check; the time-bound claims
// (exp, maxAge) bound the entry and a key-set change voids it.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, authn.Reason, error) {
	if token == "" {
		return nil, ReasonMissingToken, refusal(ReasonMissingToken, "a bearer token is required")
	}
	if len(token) > v.maxBytes {
		return nil, ReasonTokenTooLarge, refusal(ReasonTokenTooLarge, "the token is longer than %d bytes", v.maxBytes)
	}
	var key [sha256.Size]byte
	now := v.now()
	epoch := v.epochOf()
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if e, ok := v.cache.Get(key); ok {
			if now.Before(e.until) && e.epoch == epoch {
				v.lookups.Hit()
				return e.claims, "", nil
			}
			v.cache.Remove(key)
		}
		v.lookups.Miss()
	}
	c, until, verr := v.verify(ctx, token, now)
	if verr != nil {
		return nil, verr.Reason, verr
	}
	if v.cache != nil {
		v.cache.Add(key, &cacheEntry{claims: c, until: until, epoch: epoch})
		if v.sizes != nil {
			v.sizesOnce.Do(func() { v.sizes(v.cache.WeakStats()) })
		}
	}
	return c, "", nil
}

func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (*Claims, time.Time, *Error) {
	mc := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, mc, v.keyfunc(ctx))
	if err != nil {
		return nil, time.Time{}, v.classify(t, err)
	}
	return v.checkClaims(mc, now)
}

func (v *Verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a recipient must reject a token whose crit lists
		// extensions it does not understand; Gatehouse understands none
		// (b64=false of RFC 7797 included).
		if _, ok := t.Header["crit"]; ok {
			return nil, errCritical
		}
		if len(v.types) > 0 && !v.typeAllowed(t.Header["typ"]) {
			return nil, errTypType
		}
		// jku, x5u, x5c and jwk headers are never read: keys come from the
		// configuration or the configured key set only.
		if v.static != nil {
			return v.static, nil
		}
		if kid, ok := t.Header["kid"]; ok {
			s, isString := kid.(string)
			if !isString {
				return nil, errKIDType
			}
			if len(s) > maxKIDBytes {
				return nil, jwkset.ErrKeyNotFound // no refetch for absurd ids
			}
		}
		return v.keys.KeyfuncCtx(ctx)(t)
	}
}

// typeAllowed checks a typ header value (nil when absent) against types.
func (v *Verifier) typeAllowed(h any) bool {
	typ, isString := h.(string)
	switch {
	case h != nil && !isString:
		return false
	case normalizeType(typ) == "":
		return slices.Contains(v.types, "") || slices.Contains(v.types, "jwt")
	}
	return slices.Contains(v.types, normalizeType(typ))
}

func normalizeType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	return strings.TrimPrefix(t, "application/")
}

// classify turns a parse or signature error into a reason.
func (v *Verifier) classify(t *jwt.Token, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refusal(ReasonMalformedToken, "the token is not a well-formed JWT (three base64url parts, JSON header and payload)")
	case t == nil:
		return refusal(ReasonMalformedToken, "the token is not a well-formed JWT")
	}
	alg, ok := t.Header["alg"].(string)
	if !ok {
		return refusal(ReasonMalformedToken, "the token's header has no alg")
	}
	if !slices.Contains(v.algs, alg) {
		if len(alg) > 16 || strings.ContainsFunc(alg, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.' || r == '+')
		}) {
			return refusal(ReasonAlgorithmNotAllowed, "the token's algorithm is not allowed (allowed: %s)", strings.Join(v.algs, ", "))
		}
		return refusal(ReasonAlgorithmNotAllowed, "the token's algorithm %s is not allowed (allowed: %s)", alg, strings.Join(v.algs, ", "))
	}
	switch {
	case errors.Is(err, errJWKSUnavailable):
		return &Error{Reason: ReasonJWKSUnavailable, Message: "the signing keys are not available yet; try again shortly", Cause: err}
	case errors.Is(err, errCritical):
		return refusal(ReasonMalformedToken, "the token has critical header parameters (crit) the gateway does not support")
	case errors.Is(err, errKIDType):
		return refusal(ReasonMalformedToken, "the token's kid is not a string")
	case errors.Is(err, errTypType):
		return refusal(ReasonTokenTypeMismatch, "the token's typ is not one this API accepts (%s)", strings.Join(v.types, ", "))
	case errors.Is(err, jwkset.ErrKeyNotFound):
		if _, hasKID := t.Header["kid"]; !hasKID {
			return refusal(ReasonBadSignature, "the token has no kid and no key in the key set verifies it")
		}
		return refusal(ReasonUnknownKID, "no key in the key set has the token's key id (kid)")
	case errors.Is(err, keyfunc.ErrKeyfunc):
		return refusal(ReasonAlgorithmNotAllowed, "the key with the token's kid is not for the token's algorithm or for signatures")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return refusal(ReasonBadSignature, "the token's signature does not verify")
	}
	return refusal(ReasonMalformedToken, "the token could not be verified")
}

// checkClaims checks the verified payload: required claims, exp and nbf
// with leeway, aud (any match), iss, maxAge; and reads the identity
// claims. It returns how long the result may be cached.
// idTokenClaims are claims of OpenID Connect ID tokens that access tokens
// do not carry: nonce (Core §2), at_hash and c_hash (§3.1.3.6, §3.3.2.11),
// s_hash (FAPI 1.0 Advanced §5.1). An ID token is for the client that
// asked for it, about the sign-in; presented to an API as a bearer token it
// is a token confusion (RFC 9068 §4, RFC 8725 §2.8): the client's own
// audience, often no scope check, and it leaks through the client. The
// authorization server's ID tokens always carry at_hash.
var idTokenClaims = [...]string{"nonce", "at_hash", "c_hash", "s_hash"}

func (v *Verifier) checkClaims(mc jwt.MapClaims, now time.Time) (*Claims, time.Time, *Error) {
	if !v.idTokens {
		for _, name := range idTokenClaims {
			if _, ok := mc[name]; ok {
				return nil, time.Time{}, refusal(ReasonTokenTypeMismatch, "the token is an OpenID Connect ID token (it has %q), not an access token; this API accepts ID tokens only with acceptIdTokens: true", name)
			}
		}
	}
	for _, name := range v.required {
		if mc[name] == nil {
			return nil, time.Time{}, refusal(ReasonMissingClaim, "the token has no %q claim, which is required", name)
		}
	}
	switch mc["aud"].(type) {
	case nil, string, []any: // golang-jwt takes other types for "no aud"
	default:
		return nil, time.Time{}, refusal(ReasonMalformedToken, "the aud claim is not a string or a list of strings")
	}
	if len(v.audiences) > 0 {
		if aud, err := mc.GetAudience(); err == nil && (len(aud) == 0 || len(aud) == 1 && aud[0] == "") {
			return nil, time.Time{}, refusal(ReasonAudienceMismatch, "the token has no aud claim; expected one of: %s", strings.Join(v.audiences, ", "))
		}
	}
	if err := v.validator.Validate(mc); err != nil {
		switch {
		case errors.Is(err, jwt.ErrInvalidType):
			return nil, time.Time{}, refusal(ReasonMalformedToken, "a claim has the wrong type (exp, nbf and iat are numbers; aud is a string or a list of strings)")
		case errors.Is(err, jwt.ErrTokenExpired):
			exp, _ := mc.GetExpirationTime()
			return nil, time.Time{}, refusal(ReasonTokenExpired, "the token expired at %s (clock tolerance %s)", exp.UTC().Format(time.RFC3339), v.leeway)
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			nbf, _ := mc.GetNotBefore()
			return nil, time.Time{}, refusal(ReasonTokenNotYetValid, "the token is not valid before %s (clock tolerance %s)", nbf.UTC().Format(time.RFC3339), v.leeway)
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return nil, time.Time{}, refusal(ReasonAudienceMismatch, "the token's audience is not one this API accepts; expected one of: %s", strings.Join(v.audiences, ", "))
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return nil, time.Time{}, refusal(ReasonMissingClaim, "the token lacks a required claim")
		}
		return nil, time.Time{}, refusal(ReasonMalformedToken, "the token's claims could not be checked")
	}
	c := &Claims{Raw: mc}
	var err error
	if c.Issuer, err = mc.GetIssuer(); err != nil {
		return nil, time.Time{}, refusal(ReasonMalformedToken, "the iss claim is not a string")
	}
	if len(v.issuers) > 0 && !slices.Contains(v.issuers, c.Issuer) {
		if c.Issuer == "" {
			return nil, time.Time{}, refusal(ReasonIssuerMismatch, "the token has no iss claim; expected one of: %s", strings.Join(v.issuers, ", "))
		}
		return nil, time.Time{}, refusal(ReasonIssuerMismatch, "the token's issuer is not one this API accepts; expected one of: %s", strings.Join(v.issuers, ", "))
	}
	if c.Subject, err = mc.GetSubject(); err != nil {
		return nil, time.Time{}, refusal(ReasonMalformedToken, "the sub claim is not a string")
	}
	if jti, ok := mc["jti"].(string); ok {
		c.ID = jti
	}
	until := now.Add(maxCacheLife)
	if exp, _ := mc.GetExpirationTime(); exp != nil {
		c.ExpiresAt = exp.Time
		until = minTime(until, exp.Add(v.leeway))
	}
	iat, err := mc.GetIssuedAt()
	if err != nil {
		return nil, time.Time{}, refusal(ReasonMalformedToken, "the iat claim is not a number")
	}
	if iat != nil {
		c.IssuedAt = iat.Time
	}
	if v.maxAge > 0 {
		limit := iat.Add(v.maxAge + v.leeway)
		if now.After(limit) {
			return nil, time.Time{}, refusal(ReasonTokenTooOld, "the token was issued at %s, more than maxAge %s ago", iat.UTC().Format(time.RFC3339), v.maxAge)
		}
		until = minTime(until, limit.Add(time.Nanosecond))
	}
	if c.Scopes, c.HasScopes, err = v.scopes(mc); err != nil {
		return nil, time.Time{}, refusal(ReasonMalformedToken, "%v", err)
	}
	return c, until, nil
}

// scopes reads the token's scopes: "scope" is a space-separated string
// (RFC 8693 §4.2, RFC 9068 §2.2.3); "scp" (Okta, Azure AD) a list or a
// string.
func (v *Verifier) scopes(mc jwt.MapClaims) ([]string, bool, error) {
	names := []string{"scope", "scp"}
	if v.scopeAt != "" {
		names = []string{v.scopeAt}
	}
	for _, name := range names {
		raw, ok := mc[name]
		if !ok || raw == nil {
			continue
		}
		switch s := raw.(type) {
		case string:
			return scopeFields(nil, s), true, nil
		case []any:
			out := make([]string, 0, len(s))
			for _, e := range s {
				str, ok := e.(string)
				if !ok {
					return nil, false, fmt.Errorf("the %s claim must be a string or a list of strings", name)
				}
				out = scopeFields(out, str)
			}
			return out, true, nil
		default:
			return nil, false, fmt.Errorf("the %s claim must be a string or a list of strings", name)
		}
	}
	return nil, false, nil
}

// scopeFields appends the space-separated scopes of s, without control
// characters (scopes become the eg-token-scopes header upstream).
func scopeFields(out []string, s string) []string {
	for _, f := range strings.Fields(s) {
		if f = headervalue.Sanitize(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// rejection turns a Verify failure into the response: 401 with an RFC 6750
// §3 challenge (no error attribute when the token is missing, §3.1), 503
// when the key set has never been fetched. c is the policy's challenge
// (its scheme is "Bearer" unless the token comes from another scheme).
//
// The client gets the reason code and PublicMessage(reason), in the body
// and as the challenge's error_description: never the Error's Message,
// which may say what the gateway expected (its audiences, issuers,
// algorithms, types, required claims, clock tolerance, size limit). That
// detail is the Rejection's Err, which the gateway logs and never sends
// (issue #11 §2).
func rejection(err error, c authn.Challenge) *pipeline.Rejection {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Reason: ReasonMalformedToken, Message: "the token could not be verified", Cause: err}
	}
	f := authn.Refusal{Reason: e.Reason, Message: PublicMessage(e.Reason), Err: e}
	if e.Reason == ReasonMissingToken {
		f.Err = nil // nothing to log: there is no token
	}
	return c.Reject(f)
}

// PublicMessage is what a refusal says to the client for a reason code: a
// fixed sentence per reason (authn's table, worded for a token where the
// table speaks of any credential), safe in a quoted-string (RFC 9110
// §5.6.4).
func PublicMessage(reason authn.Reason) string {
	switch reason {
	case ReasonInactiveCredentials:
		return "the token's credential is deactivated"
	case ReasonInactiveConsumer:
		return "the token's consumer is missing or deactivated"
	}
	if m := reason.Verdict().Message; m != "" {
		return m
	}
	return "the token could not be verified"
}
