package oauth2server

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The store roles the authorization server works through, sized to what
// it does (as fosite's storage interfaces are, and as the Admin API's and
// the auth policies' are): what an endpoint may read or change is visible
// in the role it calls. *store.Store has every one of them.

// Consumers finds the users and applications the server signs in and
// issues to.
type Consumers interface {
	GetUser(ctx context.Context, idOrName string) (*store.User, error)
	GetConsumer(ctx context.Context, id string, withUsername bool) (*store.Consumer, error)
}

// Credentials checks client secrets and user passwords (the password and
// client_credentials grants, client authentication, the login form).
type Credentials interface {
	GetCredential(ctx context.Context, typ, id string) (*store.Credential, error)
	VerifyCredential(ctx context.Context, typ, id, presented string) (*store.Credential, error)
	// VerifyDecoy spends a secret check's work and refuses, so that a
	// refusal made before any credential is checked takes as long as a
	// wrong secret's.
	VerifyDecoy(ctx context.Context, presented string) error
}

// Tokens keeps the access and refresh tokens the server issues.
type Tokens interface {
	SaveToken(ctx context.Context, t *store.Token) error
	GetToken(ctx context.Context, id string) (*store.Token, error)
	VerifyToken(ctx context.Context, id, plain string) (*store.Token, error)
	// ClaimToken marks a refresh token used, once (rotation, RFC 9700
	// §4.14.2).
	ClaimToken(ctx context.Context, id string) (*store.Token, error)
	RevokeToken(ctx context.Context, id string) (*store.Token, error)
	// RevokeFamily revokes every token issued from one grant (a reused
	// refresh token).
	RevokeFamily(ctx context.Context, familyID string) (int, error)
	UserTokens(ctx context.Context, userID string) ([]*store.Token, error)
}

// Codes keeps authorization codes, each redeemable once (RFC 6749
// §4.1.2).
type Codes interface {
	SaveCode(ctx context.Context, c *store.Code) error
	ConsumeCode(ctx context.Context, id string) (*store.Code, error)
}

// Records keeps what the server shares between nodes that is not identity
// data: sign-in sessions, authorization transactions, used JWT ids.
type Records interface {
	PutRecord(ctx context.Context, kind, id string, v any, ttl time.Duration) error
	GetRecord(ctx context.Context, kind, id string, v any) (bool, error)
	TakeRecord(ctx context.Context, kind, id string, v any) (bool, error)
	DeleteRecord(ctx context.Context, kind, id string) error
	// The generated JWT signing keys are created and rotated with an
	// atomic read-modify-write (store.UpdateRecord), so that of several
	// nodes starting at once exactly one creates them.
	store.RecordUpdater
}

// Scopes names the scopes a client may ask for and what they mean (the
// consent and account pages show the descriptions).
type Scopes interface {
	ListScopes(ctx context.Context) ([]string, error)
	ScopeDetails(ctx context.Context, names []string) ([]store.Scope, error)
}

// Storage is every role the server uses.
type Storage interface {
	Consumers
	Credentials
	Tokens
	Codes
	Records
	Scopes
	// Remembered consent (consent.go): the authorization request skips
	// the consent page for what the user allowed before; the consents page
	// lists and revokes.
	store.ConsentStore
}

var _ Storage = (*store.Store)(nil)
