// Package oauth2 is the oauth2 policy, the resource-server side of
// Gatehouse's authorization server: it accepts the access tokens that
// server issued (opaque or RFC 9068 JWT), checks the apiEndpoint's scopes,
// and passes the client (and the end user) upstream as identity headers.
package oauth2

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth2server"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Options are Express Gateway's oauth2 options.
type Options struct {
	authn.Base `yaml:",inline"`
	// JWT is Express Gateway's `jwt:` block for JWT mode. Gatehouse
	// verifies its own JWT access tokens with the keys it signs them with,
	// so the block is accepted and ignored (it had to repeat the key).
	JWT config.Node `yaml:"jwt"`
	// StripCredentials removes the access token before proxying, as in
	// every auth policy (authn.Stripping): true from the Authorization
	// header and the query, false from neither. Unset, both are removed:
	// the header as Express Gateway's oauth2 policy does, the query as
	// every policy does (Express Gateway forwarded it).
	StripCredentials *bool `yaml:"stripCredentials"`
	// KeepAuthorization: true is the older name of stripCredentials: false.
	KeepAuthorization *bool `yaml:"keepAuthorization"`
}

type policy struct {
	o        Options
	strip    authn.Strip
	verifier pipeline.AccessTokenVerifier
	store    pipeline.IdentityStore
}

// New builds an oauth2 step.
func New(action pipeline.Decoder, env *pipeline.Env) (pipeline.Policy, error) {
	var o Options
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if env.OAuth2 == nil || env.Identity == nil {
		return nil, action.Errorf("", "the oauth2 policy needs the authorization server: list oauth2 under the top-level policies")
	}
	strip := o.StripCredentials
	if k := o.KeepAuthorization; k != nil {
		if strip != nil && *strip == *k {
			return nil, action.Errorf("keepAuthorization", "contradicts stripCredentials: keepAuthorization: %t is stripCredentials: %t; keep one of them", *k, !*k)
		}
		keep := !*k
		strip = &keep
	}
	return &policy{o: o, strip: authn.Stripping(strip, authn.StripHeader), verifier: env.OAuth2, store: env.Identity}, nil
}

// source: the Authorization header or the access_token query parameter
// (RFC 6750 §2.1, §2.3), one of them, once.
var source = authn.Source{Header: "Authorization", Scheme: "Bearer", Query: "access_token", Challenge: "Bearer"}

func (p *policy) Handle(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	cred, err := source.Find(r)
	if err != nil {
		return authn.Fail(w, r, next, p.o.PassThrough, err)
	}
	tok := cred.Value
	if cred.Foreign != "" || !cred.InQuery && tok != "" && !authn.SingleToken(tok) {
		return authn.Fail(w, r, next, p.o.PassThrough, authn.Refuse("malformed_token", "the Authorization header is not a Bearer token", authn.BearerChallenge("invalid_request", "malformed Authorization header", "")))
	}
	if tok == "" {
		return authn.Fail(w, r, next, p.o.PassThrough, authn.Refuse("missing_token", "an access token is required", authn.BearerChallenge("", "", "")))
	}
	if len(tok) > 8192 {
		return authn.Fail(w, r, next, p.o.PassThrough, authn.Refuse("token_too_large", "the access token is too large", authn.BearerChallenge("invalid_token", "token too large", "")))
	}
	if !accessTokenType(tok) {
		// RFC 9068 §4: a JWT whose typ is not at+jwt is not an access token
		// (an ID token, or another JWT signed with the same key), whatever
		// its signature says.
		return authn.Fail(w, r, next, p.o.PassThrough, authn.Refuse("invalid_token", "the access token is not an RFC 9068 access token (typ must be at+jwt)",
			authn.BearerChallenge("invalid_token", "typ is not at+jwt", "")))
	}
	id, err := p.authenticate(r, tok)
	if err != nil {
		return authn.Fail(w, r, next, p.o.PassThrough, err)
	}
	source.Strip(r, cred, p.strip)
	return authn.Succeed(w, r, next, id)
}

func (p *policy) authenticate(r *http.Request, tok string) (*pipeline.Identity, error) {
	ctx := r.Context()
	at, err := p.verifier.VerifyAccessToken(r, tok)
	if err != nil {
		reason, desc := "invalid_token", "the access token is not valid"
		switch {
		case errors.Is(err, store.ErrUnavailable):
			return nil, authn.StoreError(err)
		case errors.Is(err, oauth2server.ErrTokenExpired):
			reason, desc = "token_expired", "the access token has expired"
		case errors.Is(err, oauth2server.ErrTokenRevoked):
			reason, desc = "token_revoked", "the access token was revoked"
		case !errors.Is(err, oauth2server.ErrTokenInvalid):
			return nil, err
		}
		return nil, authn.Refuse(reason, desc, authn.BearerChallenge("invalid_token", desc, ""))
	}
	client, err := p.store.GetConsumer(ctx, at.ClientID, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !client.Active()) {
		return nil, authn.Refuse(authn.ReasonInactiveConsumer, "the token's client is missing or deactivated", authn.BearerChallenge("invalid_token", "client deactivated", ""))
	} else if err != nil {
		return nil, authn.StoreError(err)
	}
	if at.UserID != "" {
		user, err := p.store.GetConsumer(ctx, at.UserID, false)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !user.Active()) {
			return nil, authn.Refuse(authn.ReasonInactiveConsumer, "the token's user is missing or deactivated", authn.BearerChallenge("invalid_token", "user deactivated", ""))
		} else if err != nil {
			return nil, authn.StoreError(err)
		}
	}
	if required := pipeline.StateOf(r).Route.Scopes; !authn.HasScopes(required, at.Scopes) {
		return nil, authn.InsufficientScope(required, true)
	}
	id := authn.ConsumerIdentity(client, "oauth2", nil)
	id.TokenID, id.Scopes, id.ExpiresAt, id.Claims = at.ID, at.Scopes, at.ExpiresAt, at.Claims
	id.AuthenticatedUserID = at.UserID // the end user the client acts for, if any
	return id, nil
}
