package admin

import (
	"context"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The store roles the Admin API works through, sized to its routes (as
// fosite's storage interfaces are, and as the auth policies' IdentityStore
// is): each group of handlers holds the role it uses, so what a route can
// read or change is visible in its type, and a test can stand in for one
// role alone. *store.Store has every one of them.

// Users is what the /users routes use.
type Users interface {
	CreateUser(ctx context.Context, u store.User) (*store.User, error)
	GetUser(ctx context.Context, idOrName string) (*store.User, error)
	UpdateUser(ctx context.Context, idOrName string, change func(*store.User) error) (*store.User, error)
	SetUserStatus(ctx context.Context, idOrName string, active bool) (*store.UserStatus, error)
	DeleteUser(ctx context.Context, idOrName string) error
	ListUsers(ctx context.Context, cursor uint64, count int) ([]*store.User, uint64, error)
}

// Apps is what the /apps routes use.
type Apps interface {
	CreateApp(ctx context.Context, a store.App) (*store.App, error)
	GetApp(ctx context.Context, idOrName string) (*store.App, error)
	UpdateApp(ctx context.Context, id string, change func(*store.App) error) (*store.App, error)
	SetAppActive(ctx context.Context, id string, active bool) (bool, error)
	DeleteApp(ctx context.Context, id string) error
	ListApps(ctx context.Context, cursor uint64, count int) ([]*store.App, uint64, error)
}

// Consumers is users and apps together, and Express Gateway's lookup of a
// consumer by any of its names (the credentials and tokens routes name
// their consumer that way).
type Consumers interface {
	Users
	Apps
	GetConsumer(ctx context.Context, id string, withUsername bool) (*store.Consumer, error)
}

// Credentials is what the /credentials routes change.
type Credentials interface {
	CreateCredential(ctx context.Context, in store.CredentialInput) (*store.Credential, string, error)
	GetCredential(ctx context.Context, typ, id string) (*store.Credential, error)
	ListCredentials(ctx context.Context, consumerID string) ([]*store.Credential, error)
	SetCredentialActive(ctx context.Context, typ, id string, active bool) (bool, error)
	AddScopes(ctx context.Context, typ, id string, scopes ...string) (*store.Credential, error)
	RemoveScopes(ctx context.Context, typ, id string, scopes ...string) (*store.Credential, error)
	SetScopes(ctx context.Context, typ, id string, scopes []string) (*store.Credential, error)
	RotateSecret(ctx context.Context, typ, id, value string) (*store.Credential, string, error)
	DeleteCredential(ctx context.Context, typ, id string) error
	SetClientMetadata(ctx context.Context, id string, m store.ClientMetadata) (*store.Credential, error)
}

// Scopes is what the /scopes routes use.
type Scopes interface {
	RegisterScopes(ctx context.Context, scopes ...store.Scope) error
	GetScope(ctx context.Context, name string) (*store.Scope, error)
	ListScopeDetails(ctx context.Context) ([]store.Scope, error)
	SetScopeDescription(ctx context.Context, name, description string) (*store.Scope, error)
	DeleteScope(ctx context.Context, name string) error
}

// Tokens is what the /tokens routes use.
type Tokens interface {
	GetToken(ctx context.Context, id string) (*store.Token, error)
	RevokeToken(ctx context.Context, id string) (*store.Token, error)
	ListTokens(ctx context.Context, consumerID string) ([]*store.Token, error)
}

// Consents is what the /consents routes use (the store's ConsentStore).
type Consents interface {
	ListConsents(ctx context.Context, f store.ConsentFilter) ([]*store.Consent, error)
	RevokeConsent(ctx context.Context, userID, clientID string) (int, error)
}

// Store is every role: what New takes, and what *store.Store is.
type Store interface {
	Consumers
	Credentials
	Scopes
	Tokens
	Consents
}
