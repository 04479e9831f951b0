// Package store holds Gatehouse's identity data: consumers (users and
// applications), their credentials, scopes, tokens and authorization codes,
// with Express Gateway's data model. Store implements the rules once on top
// of a Backend (memory, embedded file, Redis). Records are JSON but for
// tokens, the most numerous, which are a compact binary record
// (tokenrecord.go) unless Options.JSONTokens keeps them JSON (a store
// that nodes of different versions share: Redis).
package store

import (
	"errors"
	"fmt"
	"time"
)

// Credential types.
const (
	BasicAuth = "basic-auth"
	KeyAuth   = "key-auth"
	OAuth2    = "oauth2"
	JWT       = "jwt"
)

// CredentialTypes lists the credential types in a stable order.
var CredentialTypes = []string{BasicAuth, KeyAuth, OAuth2, JWT}

// Consumer types.
const (
	TypeUser        = "user"
	TypeApplication = "application"
)

// User is a person (or service) that owns applications and credentials.
type User struct {
	ID          string         `json:"id"`
	Username    string         `json:"username"`
	Firstname   string         `json:"firstname"`
	Lastname    string         `json:"lastname"`
	Email       string         `json:"email,omitempty"`
	RedirectURI string         `json:"redirectUri,omitempty"`
	IsActive    bool           `json:"isActive"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
	Extra       map[string]any `json:"extra,omitempty"` // properties declared in models/users.json
}

// App is an application (an OAuth2 client) owned by a user.
type App struct {
	ID          string `json:"id"`
	UserID      string `json:"userId"`
	Name        string `json:"name"`
	RedirectURI string `json:"redirectUri,omitempty"`
	IsActive    bool   `json:"isActive"`
	// DeactivatedWithUser records that the application was deactivated
	// by its owner's deactivation, not on its own: activating the owner
	// activates exactly these applications again (SetUserStatus), and
	// any status change of the application itself clears it.
	DeactivatedWithUser bool           `json:"deactivatedWithUser,omitempty"`
	CreatedAt           time.Time      `json:"createdAt"`
	UpdatedAt           time.Time      `json:"updatedAt"`
	Extra               map[string]any `json:"extra,omitempty"`
}

// UserStatus is what a change of a user's status did.
type UserStatus struct {
	// Changed is false when the user already had the status.
	Changed bool
	// Apps are the applications, by name, the change deactivated (with the user)
	// or activated again (those that the user's deactivation had
	// deactivated).
	Apps []*App
	// LeftInactive are, on activation, the user's applications that stay
	// inactive because they were deactivated on their own.
	LeftInactive []*App
}

// Scope is a registered scope name and what it lets a client do, in words
// for the consent page.
type Scope struct {
	Name        string `json:"-"`
	Description string `json:"description,omitempty"`
}

// Consumer is a user or an application, as the auth policies see it.
type Consumer struct {
	Type string // TypeUser or TypeApplication
	User *User
	App  *App
}

// ID is the consumer's id.
func (c *Consumer) ID() string {
	if c.App != nil {
		return c.App.ID
	}
	return c.User.ID
}

// Name is the username or the application name.
func (c *Consumer) Name() string {
	if c.App != nil {
		return c.App.Name
	}
	return c.User.Username
}

// Active reports whether the consumer may authenticate.
func (c *Consumer) Active() bool {
	if c.App != nil {
		return c.App.IsActive
	}
	return c.User.IsActive
}

// Credential is one way a consumer authenticates. basic-auth and oauth2
// credentials are one per consumer and keyed by the consumer's id (as in
// Express Gateway, so an app's client_id is its id); key-auth and jwt
// credentials are many per consumer and keyed by their keyId.
type Credential struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	ConsumerID string `json:"consumerId"`
	KeyID      string `json:"keyId,omitempty"`
	// SecretHash is the password, client secret or key secret, hashed: a
	// bcrypt hash for secrets a person chose, "sha256:<hex>" for secrets
	// Gatehouse generated (128 random bits need no slow hash).
	SecretHash           string   `json:"secretHash,omitempty"`
	PasswordKey          string   `json:"passwordKey,omitempty"` // "password" or "secret", as Express Gateway
	AutoGeneratePassword bool     `json:"autoGeneratePassword,omitempty"`
	Scopes               []string `json:"scopes"`
	RedirectURIs         []string `json:"redirectUris,omitempty"`
	// ClientMetadata is an oauth2 credential's OpenID Connect
	// registration (client.go); empty for the other types and for
	// credentials stored before it existed, which keeps their behaviour.
	ClientMetadata
	IsActive  bool      `json:"isActive"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Rev changes on every write; cached verifications of an older revision
	// no longer count.
	Rev uint64 `json:"rev"`
}

// Public reports whether an oauth2 credential is a public client: it has no
// secret and authenticates with PKCE alone.
func (c *Credential) Public() bool { return c.Type == OAuth2 && c.SecretHash == "" }

// HasScopes reports whether every scope in want is granted.
func (c *Credential) HasScopes(want []string) bool { return hasAll(c.Scopes, want) }

func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Token kinds.
const (
	AccessToken  = "access"
	RefreshToken = "refresh"
)

// Token is an issued opaque access or refresh token. Only a hash of its
// secret is stored.
type Token struct {
	ID                  string    `json:"id"`
	Kind                string    `json:"kind"` // AccessToken or RefreshToken
	SecretHash          string    `json:"secretHash"`
	ConsumerID          string    `json:"consumerId"` // the client
	AuthenticatedUserID string    `json:"authenticatedUserId,omitempty"`
	AuthType            string    `json:"authType,omitempty"`
	Scopes              []string  `json:"scopes,omitempty"`
	RedirectURI         string    `json:"redirectUri,omitempty"`
	GrantType           string    `json:"grantType,omitempty"`
	FamilyID            string    `json:"familyId,omitempty"` // refresh-token rotation family (RFC 9700 §4.14)
	ParentID            string    `json:"parentId,omitempty"` // the code or refresh token it was issued from
	CreatedAt           time.Time `json:"createdAt"`
	ExpiresAt           time.Time `json:"expiresAt"`
	Revoked             bool      `json:"revoked,omitempty"`
	// Withdrawn tells a token revoked by a revocation (RFC 7009, the Admin
	// API, its family's or its consumer's revocation) from one used up by
	// rotation (ClaimToken): presenting the first again is not theft.
	// Tokens revoked before the field existed read as used up, the
	// cautious answer.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

// Expired reports whether the token is past its expiry at now.
func (t *Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Code is an authorization code (RFC 6749 §4.1), single use.
type Code struct {
	ID          string `json:"id"`
	ConsumerID  string `json:"consumerId"`
	UserID      string `json:"userId"`
	RedirectURI string `json:"redirectUri,omitempty"`
	// RedirectURIGiven records that the authorization request named the
	// redirect URI, so the token request must repeat it (RFC 6749 §4.1.3).
	RedirectURIGiven    bool      `json:"redirectUriGiven,omitempty"`
	Scopes              []string  `json:"scopes,omitempty"`
	CodeChallenge       string    `json:"codeChallenge,omitempty"`
	CodeChallengeMethod string    `json:"codeChallengeMethod,omitempty"`
	CreatedAt           time.Time `json:"createdAt"`
	ExpiresAt           time.Time `json:"expiresAt"`
	Used                bool      `json:"used,omitempty"`
	// What the ID token issued for the code says (OpenID Connect Core 1.0
	// §2, §3.1.3.6): the authorization request's nonce, echoed exactly;
	// when and how the user signed in (auth_time, acr, amr); the sign-in
	// session's id (sid, Back-Channel Logout 1.0 §2.1). Empty without
	// openid; codes stored before the fields existed read as empty.
	Nonce    string    `json:"nonce,omitempty"`
	AuthTime time.Time `json:"authTime,omitzero"`
	SID      string    `json:"sid,omitempty"`
	ACR      string    `json:"acr,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
}

// Errors, mapped to HTTP statuses by the Admin API.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
)

// Error carries a user-facing message and the field it is about.
type Error struct {
	Kind  error // ErrNotFound, ErrExists, ErrInvalid
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func notFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Msg: fmt.Sprintf(format, args...)}
}

func exists(field, format string, args ...any) error {
	return &Error{Kind: ErrExists, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}
