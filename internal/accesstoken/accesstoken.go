// Package accesstoken is the contract between the authorization server,
// which issues access tokens, and the oauth2 policy, which accepts them: a
// Verifier role, the Token it returns and the verdicts it may give. It
// imports neither side, so the policy does not depend on the server (it
// receives a Verifier when the gateway builds it) and the server does not
// depend on the data plane.
package accesstoken

import (
	"errors"
	"net/http"
	"time"
)

// Verifier checks an access token issued by Gatehouse's authorization
// server: opaque ("<id>|<secret>") or RFC 9068 JWT. It returns the token,
// or one of ErrInvalid, ErrExpired and ErrRevoked (a verdict on the token),
// or another error when it could not decide (a store outage: no verdict).
type Verifier interface {
	VerifyAccessToken(r *http.Request, token string) (*Token, error)
}

// Token is what a valid access token grants.
type Token struct {
	ID        string
	ClientID  string
	UserID    string // empty for client_credentials
	Scopes    []string
	ExpiresAt time.Time
	Claims    map[string]any // JWT access tokens only
}

// The verdicts of a Verifier on a token it refuses (RFC 6750 §3.1
// invalid_token: "expired, revoked, malformed, or invalid for other
// reasons"); the oauth2 policy tells them apart in its reason codes.
var (
	ErrInvalid = errors.New("the access token is not valid")
	ErrExpired = errors.New("the access token has expired")
	ErrRevoked = errors.New("the access token was revoked")
)
