// Package oauth2 is the oauth2 policy, the resource-server side of
// Gatehouse's authorization server: it accepts the access tokens that
// server issued (opaque or RFC 9068 JWT), checks the apiEndpoint's scopes,
// and passes the client (and the end user) upstream as identity headers.
// It verifies tokens with the accesstoken.Verifier it is built with (the
// authorization server, wired in internal/gateway/policies.go), so it does
// not depend on the server itself.
package oauth2

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/accesstoken"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policyenv"
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

// authenticator checks the access token; authn.Policy does the rest.
type authenticator struct {
	tokens accesstoken.Verifier
	store  policyenv.IdentityStore
}

// New returns the oauth2 policy's New on tokens, the verifier of the
// authorization server's access tokens (nil: the server is not there, and
// the policy cannot be built).
func New(tokens accesstoken.Verifier) func(policyenv.Decoder, *policyenv.Env) (pipeline.Policy, error) {
	return func(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
		var o Options
		if err := action.Decode(&o); err != nil {
			return nil, err
		}
		if tokens == nil || env.Identity == nil {
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
		return &authn.Policy{Source: &source, Strip: authn.Stripping(strip, authn.StripHeader), PassThrough: o.PassThrough,
			Auth: &authenticator{tokens: tokens, store: env.Identity}, Metrics: env.Metrics,
			Scopes: authn.Scopes{Challenge: bearer}}, nil
	}
}

// source: the Authorization header or the access_token query parameter
// (RFC 6750 §2.1, §2.3), one of them, once.
var source = authn.Source{Header: "Authorization", Scheme: "Bearer", Query: "access_token", Challenge: "Bearer"}

// bearer: RFC 6750 §3 challenges.
var bearer = authn.BearerScheme("Bearer")

// Authenticate checks the token's form, then asks the verifier, then
// checks that its client (and end user) are active.
func (a *authenticator) Authenticate(r *http.Request, cred authn.Presented) (*pipeline.Identity, error) {
	tok := cred.Value
	if cred.Foreign != "" || !cred.InQuery && tok != "" && !authn.SingleToken(tok) {
		return nil, bearer.Reject(authn.Refusal{Reason: authn.ReasonMalformedToken, Message: "the Authorization header is not a Bearer token",
			Error: "invalid_request", Description: "malformed Authorization header"})
	}
	if tok == "" {
		return nil, bearer.Refuse(authn.ReasonMissingToken, "an access token is required")
	}
	if len(tok) > 8192 {
		return nil, bearer.Reject(authn.Refusal{Reason: authn.ReasonTokenTooLarge, Message: "the access token is too large", Description: "token too large"})
	}
	if !accessTokenType(tok) {
		// RFC 9068 §4: a JWT whose typ is not at+jwt is not an access token
		// (an ID token, or another JWT signed with the same key), whatever
		// its signature says.
		return nil, bearer.Reject(authn.Refusal{Reason: authn.ReasonInvalidToken,
			Message: "the access token is not an RFC 9068 access token (typ must be at+jwt)", Description: "typ is not at+jwt"})
	}
	return a.verify(r, tok)
}

func (a *authenticator) verify(r *http.Request, tok string) (*pipeline.Identity, error) {
	ctx := r.Context()
	at, err := a.tokens.VerifyAccessToken(r, tok)
	if err != nil {
		reason, desc := authn.ReasonInvalidToken, "the access token is not valid"
		switch {
		case errors.Is(err, store.ErrUnavailable):
			return nil, authn.StoreError(err)
		case errors.Is(err, accesstoken.ErrExpired):
			reason, desc = authn.ReasonTokenExpired, "the access token has expired"
		case errors.Is(err, accesstoken.ErrRevoked):
			reason, desc = authn.ReasonTokenRevoked, "the access token was revoked"
		case !errors.Is(err, accesstoken.ErrInvalid):
			return nil, err
		}
		return nil, bearer.Refuse(reason, desc)
	}
	client, err := a.store.GetConsumer(ctx, at.ClientID, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !client.Active()) {
		return nil, bearer.Reject(authn.Refusal{Reason: authn.ReasonInactiveConsumer, Message: "the token's client is missing or deactivated", Description: "client deactivated"})
	} else if err != nil {
		return nil, authn.StoreError(err)
	}
	if at.UserID != "" {
		user, err := a.store.GetConsumer(ctx, at.UserID, false)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !user.Active()) {
			return nil, bearer.Reject(authn.Refusal{Reason: authn.ReasonInactiveConsumer, Message: "the token's user is missing or deactivated", Description: "user deactivated"})
		} else if err != nil {
			return nil, authn.StoreError(err)
		}
	}
	id := authn.ConsumerIdentity(client, "oauth2", nil)
	id.TokenID, id.Scopes, id.ExpiresAt, id.Claims = at.ID, at.Scopes, at.ExpiresAt, at.Claims
	id.AuthenticatedUserID = at.UserID // the end user the client acts for, if any
	return id, nil
}
