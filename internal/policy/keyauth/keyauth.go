// Package keyauth is the key-auth policy: an API key "<keyId>:<keySecret>"
// from a header (default "Authorization: apiKey <key>") or a query
// parameter (default ?apiKey=), checked against the consumer's key-auth
// credential.
package keyauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Options are Express Gateway's key-auth options, plus stripCredentials.
type Options struct {
	authn.Base           `yaml:",inline"`
	APIKeyHeader         string `yaml:"apiKeyHeader"`
	APIKeyHeaderScheme   string `yaml:"apiKeyHeaderScheme"`
	APIKeyField          string `yaml:"apiKeyField"`
	DisableHeaders       bool   `yaml:"disableHeaders"`
	DisableHeadersScheme bool   `yaml:"disableHeadersScheme"`
	DisableQueryParam    bool   `yaml:"disableQueryParam"`
	// StripCredentials removes the key from the request before it is
	// proxied: true from the header and the query, false from neither.
	// Unset (authn.Stripping), a key in the header is forwarded, as
	// Express Gateway does, and one in the query removed.
	StripCredentials *bool `yaml:"stripCredentials"`
}

// authenticator checks an API key; authn.Policy does the rest.
type authenticator struct {
	store     policyenv.IdentityStore
	challenge authn.Challenge
	guard     *lockout.Guard // failureLimits.keyAuth
	// identities share one identity between the requests of a key.
	identities *authn.IdentityCache
}

// New builds a key-auth step.
func New(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
	o := Options{APIKeyHeader: "Authorization", APIKeyHeaderScheme: "apiKey", APIKeyField: "apiKey"}
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if !o.DisableHeaders && (strings.TrimSpace(o.APIKeyHeader) == "" || strings.ContainsAny(o.APIKeyHeader, " :\t")) {
		return nil, action.Errorf("apiKeyHeader", "must be a header name")
	}
	if !o.DisableHeadersScheme && (o.APIKeyHeaderScheme == "" || strings.ContainsAny(o.APIKeyHeaderScheme, " \t\"\\")) {
		return nil, action.Errorf("apiKeyHeaderScheme", "must be one word (or set disableHeadersScheme)")
	}
	if !o.DisableQueryParam && strings.TrimSpace(o.APIKeyField) == "" {
		return nil, action.Errorf("apiKeyField", "must not be empty (or set disableQueryParam)")
	}
	if o.DisableHeaders && o.DisableQueryParam {
		return nil, action.Errorf("disableQueryParam", "disableHeaders and disableQueryParam together leave no place for the key")
	}
	if env.Identity == nil {
		return nil, action.Errorf("", "key-auth needs the identity store")
	}
	a := &authenticator{store: env.Identity, identities: authn.NewIdentityCache(),
		challenge: authn.SchemeChallenge(o.APIKeyHeaderScheme + ` realm="gatehouse"`),
		guard:     authn.Guard(env, func(s *lockout.Set) *lockout.Guard { return s.KeyAuth }, "key-auth", lockout.KeyAuth)}
	p := &authn.Policy{Source: &authn.Source{}, Strip: authn.Stripping(o.StripCredentials, authn.ForwardHeader),
		PassThrough: o.PassThrough, Auth: a, Metrics: env.Metrics}
	if !o.DisableHeaders {
		p.Source.Header = http.CanonicalHeaderKey(strings.TrimSpace(o.APIKeyHeader))
		if !o.DisableHeadersScheme {
			p.Source.Scheme = o.APIKeyHeaderScheme
		}
	}
	if !o.DisableQueryParam {
		p.Source.Query = o.APIKeyField
	}
	return p, nil
}

// keyOf follows passport-apikey: the last space-separated part of what
// follows the header's scheme (or of the whole value with
// disableHeadersScheme), else the query parameter. A header with another
// scheme is not a key (it may be another policy's credential).
func keyOf(c authn.Presented) string {
	if c.InQuery {
		return c.Value
	}
	if i := strings.LastIndexAny(c.Value, " \t"); i >= 0 {
		return c.Value[i+1:]
	}
	return c.Value
}

// Authenticate checks the failure limits, then the key.
func (a *authenticator) Authenticate(r *http.Request, cred authn.Presented) (*pipeline.Identity, error) {
	key := keyOf(cred)
	if key == "" {
		return nil, a.challenge.Refuse(authn.ReasonMissing, "an API key is required")
	}
	// The failure limits are checked before the key, so that past them
	// even a right guess tells the guesser nothing. They count per key id
	// and client address (internal/lockout).
	keyID, _, _ := strings.Cut(key, ":")
	ctx, addr := r.Context(), pipeline.ClientIP(r)
	if v := a.guard.Check(ctx, keyID, addr); v.Blocked {
		return nil, authn.TooManyFailures(v)
	}
	id, err := a.check(ctx, key)
	if err != nil && authn.Guessed(err) {
		a.guard.Fail(ctx, keyID, addr)
	}
	return id, err
}

func (a *authenticator) check(ctx context.Context, key string) (*pipeline.Identity, error) {
	keyID, keySecret, ok := strings.Cut(key, ":")
	if !ok || keyID == "" || keySecret == "" {
		return nil, a.challenge.Refuse(authn.ReasonMalformed, "the API key must be <keyId>:<keySecret>")
	}
	cred, err := a.store.VerifyCredential(ctx, store.KeyAuth, keyID, keySecret)
	switch {
	case errors.Is(err, store.ErrInactive):
		return nil, a.challenge.Refuse(authn.ReasonInactive, "the API key is deactivated")
	case errors.Is(err, store.ErrNoSuchCreds), errors.Is(err, store.ErrBadSecret):
		return nil, a.challenge.Refuse(authn.ReasonInvalid, "the API key is not valid")
	case err != nil:
		return nil, authn.StoreError(err)
	}
	consumer, err := a.store.GetConsumer(ctx, cred.ConsumerID, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !consumer.Active()) {
		return nil, a.challenge.Refuse(authn.ReasonInactiveConsumer, "the key's consumer is missing or deactivated")
	} else if err != nil {
		return nil, authn.StoreError(err)
	}
	return a.identities.Identity(consumer, store.KeyAuth, cred), nil
}
