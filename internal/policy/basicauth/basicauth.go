// Package basicauth is the basic-auth policy: HTTP Basic (RFC 7617)
// checked against the consumer's basic-auth credential. The user part may
// be a username, a user id or an application id (as Express Gateway).
// Successful checks are cached by the store, so bcrypt runs once per
// credential and password, not per request.
package basicauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/lockout"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Options are Express Gateway's basic-auth options, plus stripCredentials.
type Options struct {
	authn.Base `yaml:",inline"`
	// StripCredentials removes the Authorization header (with the password)
	// before proxying. Unset, it is forwarded, as Express Gateway does
	// (authn.Stripping): set true unless the upstream needs it.
	StripCredentials *bool `yaml:"stripCredentials"`
	// Realm is sent in the WWW-Authenticate challenge.
	Realm string `yaml:"realm"`
}

// source: Authorization: Basic, nowhere else.
var source = authn.Source{Header: "Authorization", Scheme: "Basic"}

// authenticator checks the Basic credentials; authn.Policy does the rest.
type authenticator struct {
	store     policyenv.IdentityStore
	challenge authn.Challenge
	guard     *lockout.Guard // failureLimits.basicAuth
}

// New builds a basic-auth step.
func New(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
	o := Options{Realm: "gatehouse"}
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if strings.ContainsAny(o.Realm, "\"\\\r\n") {
		return nil, action.Errorf("realm", "must not contain quotes, backslashes or line breaks")
	}
	if env.Identity == nil {
		return nil, action.Errorf("", "basic-auth needs the identity store")
	}
	a := &authenticator{store: env.Identity,
		challenge: authn.SchemeChallenge(`Basic realm="` + o.Realm + `", charset="UTF-8"`),
		guard:     authn.Guard(env, func(s *lockout.Set) *lockout.Guard { return s.BasicAuth }, "basic-auth", lockout.BasicAuth)}
	return &authn.Policy{Source: &source, Strip: authn.Stripping(o.StripCredentials, authn.ForwardHeader),
		PassThrough: o.PassThrough, Auth: a, Metrics: env.Metrics}, nil
}

// parse decodes the base64(user:password) of "Basic <credentials>"; the
// password may contain ':' (Express Gateway cut it there, B-21).
func parse(tok string) (user, pass string, ok bool) {
	if !authn.SingleToken(tok) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok || user == "" || pass == "" {
		return "", "", false
	}
	return user, pass, true
}

// Authenticate checks the failure limits, then the password.
func (a *authenticator) Authenticate(r *http.Request, cred authn.Presented) (*pipeline.Identity, error) {
	if cred.Value == "" && cred.Foreign == "" {
		return nil, a.challenge.Refuse(authn.ReasonMissing, "HTTP Basic credentials are required")
	}
	user, pass, ok := parse(cred.Value)
	if !ok {
		return nil, a.challenge.Refuse(authn.ReasonMalformed, "the Authorization header is not valid HTTP Basic")
	}
	// The failure limits are checked before the password, so that past
	// them even a right guess tells the guesser nothing. They count per
	// account and client address (internal/lockout); the account is the
	// consumer's id when the name is a user's id or username, so the two
	// names of one user share one budget.
	ctx, addr := r.Context(), pipeline.ClientIP(r)
	account := user
	if c, err := a.store.GetConsumer(ctx, user, true); err == nil {
		account = c.ID()
	}
	if v := a.guard.Check(ctx, account, addr); v.Blocked {
		return nil, authn.TooManyFailures(v)
	}
	id, err := a.check(ctx, user, pass)
	if err != nil && authn.Guessed(err) {
		a.guard.Fail(ctx, account, addr)
	}
	return id, err
}

func (a *authenticator) check(ctx context.Context, user, pass string) (*pipeline.Identity, error) {
	consumer, err := a.store.GetConsumer(ctx, user, true)
	if errors.Is(err, store.ErrNotFound) {
		// As slow as a wrong password: no user enumeration (issue #11 §2).
		if err := a.store.VerifyDecoy(ctx, pass); err != nil {
			return nil, authn.StoreError(err)
		}
		return nil, a.challenge.Refuse(authn.ReasonInvalid, "the user name or password is not valid")
	} else if err != nil {
		return nil, authn.StoreError(err)
	}
	// The password is checked first: only someone who knows it learns that
	// the account or credential is deactivated.
	cred, err := a.store.VerifyCredential(ctx, store.BasicAuth, consumer.ID(), pass)
	switch {
	case errors.Is(err, store.ErrInactive): // only said to whoever knows the password
		return nil, a.challenge.Refuse(authn.ReasonInactive, "the credential is deactivated")
	case errors.Is(err, store.ErrNoSuchCreds), errors.Is(err, store.ErrBadSecret):
		return nil, a.challenge.Refuse(authn.ReasonInvalid, "the user name or password is not valid")
	case err != nil:
		return nil, authn.StoreError(err)
	}
	if !consumer.Active() {
		return nil, a.challenge.Refuse(authn.ReasonInactiveConsumer, "the consumer is deactivated")
	}
	return authn.ConsumerIdentity(consumer, store.BasicAuth, cred), nil
}
