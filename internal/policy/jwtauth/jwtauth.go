// Package jwtauth is the jwt policy: it verifies a JSON Web Token (RFC 7519)
// signed with an HMAC secret, a configured public key or a key from a JWKS
// URI (given, or found by OpenID Connect Discovery from the issuer), then authenticates the request as the consumer whose jwt credential
// is the token's sub ("controlled" mode, Express Gateway's default) or as
// the token's claims ("uncontrolled"). Verifier, the verification core, is
// reusable (the oauth2 policy verifies Gatehouse's own JWT access tokens
// with it).
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/headervalue"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Options are Express Gateway's jwt options (first block) and Gatehouse's
// additions.
type Options struct {
	authn.Base               `yaml:",inline"`
	SecretOrPublicKey        string            `yaml:"secretOrPublicKey"`
	SecretOrPublicKeyFile    string            `yaml:"secretOrPublicKeyFile"`
	JWTExtractor             string            `yaml:"jwtExtractor"`
	JWTExtractorField        string            `yaml:"jwtExtractorField"`
	Audience                 config.StringList `yaml:"audience"`
	Issuer                   config.StringList `yaml:"issuer"`
	CheckCredentialExistence *bool             `yaml:"checkCredentialExistence"`
	Algorithms               config.StringList `yaml:"algorithms"`

	// JWKSURI is a JWKS endpoint (Auth0, Okta, Keycloak...).
	JWKSURI string `yaml:"jwksUri"`
	// Discover finds the keys by OpenID Connect Discovery 1.0 from the
	// one issuer: its configuration document's jwks_uri.
	Discover *bool `yaml:"discover"`
	// OpenIDConfigurationURL is the configuration document's URL when it
	// is not at the issuer's /.well-known/openid-configuration (Azure AD
	// B2C's policy URLs); it implies discover.
	OpenIDConfigurationURL string `yaml:"openidConfigurationUrl"`
	// JWKSRefreshInterval is the background refresh period (default 1h).
	JWKSRefreshInterval config.Duration `yaml:"jwksRefreshInterval"`
	// JWKSCooldown is the least time between refetches caused by unknown
	// kids (default 10s).
	JWKSCooldown config.Duration `yaml:"jwksCooldown"`
	// ClockTolerance is the leeway on exp, nbf and maxAge (default 5s).
	ClockTolerance *config.Duration `yaml:"clockTolerance"`
	// MaxAge refuses tokens whose iat is older.
	MaxAge config.Duration `yaml:"maxAge"`
	// RequiredClaims must be present in the token.
	RequiredClaims config.StringList `yaml:"requiredClaims"`
	// RequireExp refuses tokens without exp (default true; Express Gateway
	// accepts them).
	RequireExp *bool `yaml:"requireExp"`
	// CheckScopes checks the token's scopes against the apiEndpoint's
	// (default true).
	CheckScopes *bool `yaml:"checkScopes"`
	// ScopeClaim names the scopes claim (default: scope, then scp).
	ScopeClaim string `yaml:"scopeClaim"`
	// ClaimsToHeaders sets request headers from claims before proxying.
	ClaimsToHeaders config.Named[string] `yaml:"claimsToHeaders"`
	// MaxTokenBytes refuses longer tokens before parsing (default 8192).
	MaxTokenBytes int `yaml:"maxTokenBytes"`
	// CacheSize bounds the verified-token cache in entries (default
	// 10,000), CacheBytes in estimated bytes (default 8 MiB): whichever is
	// reached first evicts the least recently used token (issue #14).
	CacheSize  int `yaml:"cacheSize"`
	CacheBytes int `yaml:"cacheBytes"`
	// StripCredentials removes the token before proxying: true from the
	// header and the query, false from neither. Unset, the default (as
	// every auth policy: authn.Stripping), forwards a header, as Express
	// Gateway does, and removes a token read from the query (URLs end up
	// in logs).
	StripCredentials *bool `yaml:"stripCredentials"`
	// Types lists the accepted typ header values (RFC 8725 §3.11 explicit
	// typing), compared case-insensitively with "application/" optional
	// (RFC 7515 §4.1.9). A token without typ is accepted only when "JWT"
	// or "" is listed. Unset accepts any typ (Express Gateway).
	Types config.StringList `yaml:"types"`
	// AcceptIDTokens lets OpenID Connect ID tokens through as access
	// tokens. By default a token with a claim only ID tokens carry is
	// refused (see idTokenClaims).
	AcceptIDTokens bool `yaml:"acceptIdTokens"`
}

type claimHeader struct {
	claim, header string
}

// claimsHeaders is the claimsToHeaders option: run on an accepted
// request (authn.Acceptor).
type claimsHeaders []claimHeader

// Accepted sets each header from its claim, or deletes it: a client can
// never supply a value the gateway would have set from the token.
func (hs claimsHeaders) Accepted(r *http.Request, id *pipeline.Identity) {
	for _, h := range hs {
		if v, ok := id.Claims[h.claim]; ok && v != nil {
			r.Header[h.header] = []string{headervalue.Sanitize(headervalue.FromClaim(v, ","))}
		} else {
			delete(r.Header, h.header)
		}
	}
}

// authenticator verifies the token and finds its identity; authn.Policy
// does the rest.
type authenticator struct {
	v          *Verifier
	extract    extractor
	challenge  authn.Challenge
	controlled bool
	store      policyenv.IdentityStore
}

// policy is the jwt step: the shared auth steps, and the key set it
// closes when the Runtime is replaced.
type policy struct {
	authn.Policy
	keys    *RemoteKeySet // nil unless jwksUri or discovery
	headers claimsHeaders
}

// New builds a jwt step.
func New(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
	o := Options{JWTExtractor: ExtractAuthBearer, CacheSize: DefaultCacheSize, CacheBytes: DefaultCacheBytes}
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	ex, err := extractorOf(o, action)
	if err != nil {
		return nil, err
	}
	a := &authenticator{extract: ex, challenge: authn.BearerScheme(ex.scheme()), store: env.Identity,
		controlled: o.CheckCredentialExistence == nil || *o.CheckCredentialExistence}
	cfg, keyOption, err := verifierConfig(o, action, env)
	if err != nil {
		return nil, err
	}
	headers, err := claimHeaders(o, action, ex.header())
	if err != nil {
		return nil, err
	}
	if a.controlled && env.Identity == nil {
		return nil, action.Errorf("checkCredentialExistence", "needs the identity store, which is not available here; set checkCredentialExistence: false to trust the token's claims")
	}
	p := &policy{Policy: authn.Policy{Source: &a.extract.src, Strip: authn.Stripping(o.StripCredentials, authn.ForwardHeader),
		PassThrough: o.PassThrough, Auth: a, Metrics: env.Metrics,
		Scopes: authn.Scopes{Skip: o.CheckScopes != nil && !*o.CheckScopes, Challenge: a.challenge}}}
	if len(headers) > 0 {
		p.Accepted, p.headers = headers, headers
	}
	// Only now, with every option checked, start fetching keys: a failed
	// build must not leave a goroutine behind.
	if keyOption == "jwksUri" || keyOption == optDiscovery {
		if p.keys, err = remoteKeys(o, keyOption, action, env); err != nil {
			return nil, err
		}
		cfg.KeySet = p.keys
	}
	if a.v, err = NewVerifier(cfg); err != nil {
		p.Close()
		return nil, action.Errorf("", "%v", err)
	}
	return p, nil
}

// extractorOf checks jwtExtractor and jwtExtractorField: where the token
// is.
func extractorOf(o Options, action policyenv.Decoder) (extractor, error) {
	switch o.JWTExtractor {
	case ExtractAuthBearer:
	case ExtractAuthScheme, ExtractHeader, ExtractQuery:
		if o.JWTExtractorField == "" {
			return extractor{}, action.Errorf("jwtExtractorField", "is required with jwtExtractor %s: name the %s", o.JWTExtractor,
				map[string]string{ExtractAuthScheme: "Authorization scheme", ExtractHeader: "header", ExtractQuery: "query parameter"}[o.JWTExtractor])
		}
		if o.JWTExtractor != ExtractQuery && !validToken(o.JWTExtractorField) {
			return extractor{}, action.Errorf("jwtExtractorField", "%q is not a valid %s name", o.JWTExtractorField, o.JWTExtractor)
		}
	default:
		return extractor{}, action.Errorf("jwtExtractor", "must be one of authBearer, authScheme, header, query; got %q", o.JWTExtractor)
	}
	return newExtractor(o.JWTExtractor, o.JWTExtractorField), nil
}

// verifierConfig checks what the Verifier checks, and the key; it returns
// the key option that was set (a jwksUri is fetched by the caller, last).
func verifierConfig(o Options, action policyenv.Decoder, env *policyenv.Env) (Config, string, error) {
	cfg := Config{
		Audiences: o.Audience, Issuers: o.Issuer, MaxAge: time.Duration(o.MaxAge),
		RequiredClaims: o.RequiredClaims, AllowMissingExp: o.RequireExp != nil && !*o.RequireExp,
		ScopeClaim: o.ScopeClaim, MaxTokenBytes: o.MaxTokenBytes, ClockTolerance: DefaultClockTolerance, Now: env.Now,
		CacheLookups: env.Metrics.Cache("jwt"), CacheSize: o.CacheSize, CacheBytes: o.CacheBytes,
		AcceptIDTokens: o.AcceptIDTokens,
	}
	if env.Metrics != nil {
		name := policyenv.CacheName("jwt", action)
		cfg.CacheSizes = func(s metrics.CacheStats) { env.Metrics.RegisterCacheSize(name, s) }
	}
	if o.ClockTolerance != nil {
		cfg.ClockTolerance = time.Duration(*o.ClockTolerance)
	}
	if o.MaxTokenBytes < 0 {
		return cfg, "", action.Errorf("maxTokenBytes", "must not be negative")
	}
	if o.CacheSize <= 0 {
		return cfg, "", action.Errorf("cacheSize", "must be a positive number of tokens (default %d)", DefaultCacheSize)
	}
	if o.CacheBytes < minCacheBytes {
		return cfg, "", action.Errorf("cacheBytes", "must be at least %d bytes, room for a few tokens (default %d, 8 MiB)", minCacheBytes, DefaultCacheBytes)
	}
	types, err := acceptedTypes(o.Types)
	if err != nil {
		return cfg, "", action.Errorf("types", "%v", err)
	}
	cfg.Types = types
	for i, c := range o.RequiredClaims {
		if c == "" {
			return cfg, "", action.Errorf("requiredClaims", "entry %d is empty", i)
		}
	}
	keyOption, err := keySource(o, action)
	if err != nil {
		return cfg, "", err
	}
	if cfg.Key, err = staticKey(o, keyOption, action, env.ConfigDir); err != nil {
		return cfg, "", err
	}
	if cfg.Key != nil && (o.JWKSRefreshInterval != 0 || o.JWKSCooldown != 0) {
		return cfg, "", action.Errorf("", "jwksRefreshInterval and jwksCooldown apply only with jwksUri or discover")
	}
	if _, err := allowedAlgorithms(o.Algorithms, familyOrKeySet(cfg.Key), cfg.Key); err != nil {
		return cfg, "", action.Errorf("algorithms", "%v", err)
	}
	cfg.Algorithms = o.Algorithms
	if o.ScopeClaim != "" && strings.TrimSpace(o.ScopeClaim) != o.ScopeClaim {
		return cfg, "", action.Errorf("scopeClaim", "must be a claim name without spaces")
	}
	return cfg, keyOption, nil
}

// optDiscovery is keySource's name for discover and
// openidConfigurationUrl: the keys come from the issuer's discovery
// document.
const optDiscovery = "discover"

// keySource is the one key option set: secretOrPublicKey,
// secretOrPublicKeyFile, jwksUri or discovery (optDiscovery).
func keySource(o Options, action policyenv.Decoder) (string, error) {
	discovery, err := discoveryOn(o, action)
	if err != nil {
		return "", err
	}
	var sources []string
	for name, set := range map[string]bool{"secretOrPublicKey": o.SecretOrPublicKey != "", "secretOrPublicKeyFile": o.SecretOrPublicKeyFile != "", "jwksUri": o.JWKSURI != ""} {
		if set {
			sources = append(sources, name)
		}
	}
	slices.Sort(sources)
	switch {
	case discovery && len(sources) > 0:
		return "", action.Errorf(sources[0], "cannot be combined with discovery (discover or openidConfigurationUrl), which takes the keys from the issuer's jwks_uri: give one or the other")
	case discovery:
		return optDiscovery, nil
	case len(sources) == 0:
		return "", action.Errorf("", "one of secretOrPublicKey, secretOrPublicKeyFile, jwksUri or discover (with issuer) is required")
	case len(sources) > 1:
		return "", action.Errorf(sources[1], "only one of secretOrPublicKey, secretOrPublicKeyFile and jwksUri may be given (found %s)", strings.Join(sources, " and "))
	}
	return sources[0], nil
}

// discoveryOn checks discover, openidConfigurationUrl and issuer
// together: discovery needs exactly one issuer, an https URL, as the
// tokens' iss and the document's issuer spell it.
func discoveryOn(o Options, action policyenv.Decoder) (bool, error) {
	switch {
	case o.Discover != nil && !*o.Discover && o.OpenIDConfigurationURL != "":
		return false, action.Errorf("openidConfigurationUrl", "implies discover, which is false: remove one")
	case o.OpenIDConfigurationURL == "" && (o.Discover == nil || !*o.Discover):
		return false, nil
	case o.OpenIDConfigurationURL != "" && !httpURL(o.OpenIDConfigurationURL):
		return false, action.Errorf("openidConfigurationUrl", "%q is not an http(s) URL", o.OpenIDConfigurationURL)
	case len(o.Issuer) != 1:
		return false, action.Errorf("issuer", "discovery needs exactly one issuer, the tokens' iss exactly (e.g. https://YOUR_TENANT.auth0.com/); got %d", len(o.Issuer))
	}
	if err := CheckIssuer(o.Issuer[0]); err != nil {
		return false, action.Errorf("issuer", "%v", err)
	}
	return true, nil
}

// staticKey parses the secretOrPublicKey(File) key; nil for a jwksUri.
func staticKey(o Options, keyOption string, action policyenv.Decoder, configDir string) (any, error) {
	switch keyOption {
	case "secretOrPublicKey":
		k, err := parseKey([]byte(o.SecretOrPublicKey), false)
		if err != nil {
			return nil, action.Errorf(keyOption, "%v", err)
		}
		return k, nil // an HMAC secret shorter than 32 bytes was refused by parseKey
	case "secretOrPublicKeyFile":
		path := o.SecretOrPublicKeyFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(configDir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, action.Errorf(keyOption, "cannot read the key file: %v", err)
		}
		k, err := parseKey(b, true)
		if err != nil {
			return nil, action.Errorf(keyOption, "%s %v", path, err)
		}
		return k, nil
	}
	return nil, nil
}

// claimHeaders checks claimsToHeaders; tokenHeader is the header the
// token travels in, which no claim may set.
func claimHeaders(o Options, action policyenv.Decoder, tokenHeader string) (claimsHeaders, error) {
	var hs claimsHeaders
	for _, e := range o.ClaimsToHeaders {
		h := e.Value
		switch {
		case e.Name == "":
			return nil, action.Errorf("claimsToHeaders", "a claim name is empty")
		case !validToken(h):
			return nil, action.Errorf("claimsToHeaders", "%s: %q is not a valid header name", e.Name, h)
		case strings.HasPrefix(strings.ToLower(h), "eg-"):
			return nil, action.Errorf("claimsToHeaders", "%s: %s: eg-* headers are the gateway's identity headers; choose another name (e.g. x-%s)", e.Name, h, strings.ToLower(h))
		case reservedHeaders[strings.ToLower(h)] || strings.EqualFold(h, tokenHeader):
			return nil, action.Errorf("claimsToHeaders", "%s: %s cannot be set from a claim", e.Name, h)
		}
		ch := http.CanonicalHeaderKey(h)
		for _, prev := range hs {
			if prev.header == ch {
				return nil, action.Errorf("claimsToHeaders", "%s: header %s is already set from claim %s", e.Name, h, prev.claim)
			}
		}
		hs = append(hs, claimHeader{claim: e.Name, header: ch})
	}
	return hs, nil
}

// remoteKeys starts the key set of jwksUri, or of the issuer's discovery
// document.
func remoteKeys(o Options, keyOption string, action policyenv.Decoder, env *policyenv.Env) (*RemoteKeySet, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ro := RemoteOptions{
		Client: env.HTTPClient, RefreshInterval: time.Duration(o.JWKSRefreshInterval),
		Cooldown: time.Duration(o.JWKSCooldown), Logger: log, Now: env.Now,
		Lookups: env.Metrics.Cache("jwks"),
	}
	name, target := "jwksUri", o.JWKSURI
	if keyOption == optDiscovery {
		ro.Issuer = o.Issuer[0]
		name, target = "openidConfigurationUrl", o.OpenIDConfigurationURL
		if target == "" {
			name, target = "issuer", DiscoveryURL(ro.Issuer)
		}
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, action.Errorf(name, "%q is not an http(s) URL", target)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		log.Warn("jwt: "+name+" is plain http: anyone on the path can substitute keys; use https", slog.String(name, target))
	}
	var ks *RemoteKeySet
	if keyOption == optDiscovery {
		ks, err = NewDiscoveredKeySet(o.OpenIDConfigurationURL, ro)
	} else {
		ks, err = NewRemoteKeySet(o.JWKSURI, ro)
	}
	if err != nil {
		return nil, action.Errorf(name, "%v", err)
	}
	return ks, nil
}

// acceptedTypes checks the types option: each entry a media type (RFC
// 9110 §8.3.1: type/subtype, or a subtype alone, as typ values usually
// are) or "" for "no typ", none twice once "application/" is dropped.
func acceptedTypes(list config.StringList) ([]string, error) {
	if list == nil {
		return nil, nil
	}
	if len(list) == 0 {
		return nil, errors.New(`lists no type: leave it out to accept any typ, or list the accepted ones (e.g. [at+jwt], or [JWT] for tokens with typ JWT or none)`)
	}
	seen := map[string]string{}
	for i, t := range list {
		n := normalizeType(t)
		typ, sub, slash := strings.Cut(n, "/")
		if n != "" && (!validToken(typ) || slash && !validToken(sub)) || n == "" && strings.TrimSpace(t) != "" {
			return nil, fmt.Errorf("entry %d, %q, is not a media type (e.g. at+jwt, JWT, application/jose)", i, t)
		}
		if prev, ok := seen[n]; ok {
			return nil, fmt.Errorf("entry %d, %q, is the same type as %q (compared case-insensitively, application/ optional)", i, t, prev)
		}
		seen[n] = t
	}
	return list, nil
}

func familyOrKeySet(key any) []string {
	if key == nil {
		return keySetAlgorithms
	}
	return family(key)
}

// Close stops the JWKS refresh when the Runtime is replaced.
func (p *policy) Close() {
	if p.keys != nil {
		p.keys.Close()
	}
}

// Authenticate verifies the token and finds who it names.
func (a *authenticator) Authenticate(r *http.Request, c authn.Presented) (*pipeline.Identity, error) {
	claims, _, err := a.v.Verify(r.Context(), a.extract.token(c))
	if err != nil {
		return nil, rejection(err, a.challenge)
	}
	return a.identify(r.Context(), claims)
}

// identify turns verified claims into the request's identity.
func (a *authenticator) identify(ctx context.Context, c *Claims) (*pipeline.Identity, error) {
	if !a.controlled {
		// The token is not tied to a store consumer, so no claim becomes
		// the consumer id: store ids and token subjects are different name
		// spaces, and an upstream keying on eg-consumer-id must not mistake
		// a signer's "sub" (or Express Gateway's "id" claim) for one of the
		// store's consumers. The subject and issuer go upstream as
		// eg-token-sub and eg-token-iss. Values become eg-* headers: no
		// control characters.
		return &pipeline.Identity{AuthType: store.JWT, TokenID: headervalue.Sanitize(c.ID),
			TokenSubject: headervalue.Sanitize(c.Subject), TokenIssuer: headervalue.Sanitize(c.Issuer),
			Scopes: c.Scopes, ExpiresAt: c.ExpiresAt, Claims: c.Raw}, nil
	}
	refuse := func(reason authn.Reason, detail string) error {
		// The detail is logged, never sent (Rejection's doc).
		return a.challenge.Reject(authn.Refusal{Reason: reason, Message: PublicMessage(reason), Err: errors.New(detail)})
	}
	// Controlled mode (Express Gateway): sub is the keyId of a jwt
	// credential; the credential and its consumer must be active. These
	// reads run on every request (they are cached in the store), so a
	// deactivation takes effect at once even for cached tokens.
	if c.Subject == "" {
		return nil, refuse(ReasonMissingClaim, `the token has no "sub" claim: it must be the keyId of a jwt credential`)
	}
	if len(c.Subject) > 200 {
		return nil, refuse(ReasonUnknownSubject, "the token's sub is not the keyId of a jwt credential")
	}
	cred, err := a.store.GetCredential(ctx, store.JWT, c.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, refuse(ReasonUnknownSubject, "the token's sub is not the keyId of a jwt credential")
	case err != nil:
		return nil, authn.StoreError(err)
	case !cred.IsActive:
		return nil, refuse(ReasonInactiveCredentials, "the token's jwt credential is deactivated")
	}
	consumer, err := a.store.GetConsumer(ctx, cred.ConsumerID, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !consumer.Active()) {
		return nil, refuse(ReasonInactiveConsumer, "the credential's consumer is missing or deactivated")
	} else if err != nil {
		return nil, authn.StoreError(err)
	}
	id := authn.ConsumerIdentity(consumer, store.JWT, cred)
	id.Claims, id.TokenID, id.ExpiresAt = c.Raw, headervalue.Sanitize(c.ID), c.ExpiresAt
	if c.HasScopes {
		// A token may narrow the credential's scopes, never widen them: its
		// signer may be the consumer itself.
		id.Scopes = intersect(cred.Scopes, c.Scopes)
	}
	return id, nil
}

func intersect(granted, asked []string) []string {
	out := make([]string, 0, len(asked))
	for _, s := range asked {
		if slices.Contains(granted, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// reservedHeaders cannot be set from claims: they frame the request,
// carry credentials or are hop-by-hop.
var reservedHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "host": true,
	"content-length": true, "content-type": true, "content-encoding": true, "transfer-encoding": true,
	"connection": true, "keep-alive": true, "te": true, "trailer": true, "upgrade": true,
	"proxy-connection": true, "forwarded": true,
}

// validToken reports whether s is an RFC 9110 token (header names, auth
// schemes).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
