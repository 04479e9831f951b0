package authn

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// Reason is a stable reason code of an auth decision, sent in refusal
// bodies (pipeline.Rejection.Code) and written to the access log and the
// metrics. docs/errors.md lists them; TestDocsListEveryReason keeps the
// two in step.
type Reason string

// The reason codes of every auth policy. Each has its status, challenge
// error code and public message in verdicts.
const (
	// A credential presented more than once (RFC 6750 §3.1
	// invalid_request: "uses more than one method for including an access
	// token"): Source.Find.
	ReasonInvalidRequest Reason = "invalid_request"

	// basic-auth and key-auth (and the credential checks of jwt and
	// oauth2).
	ReasonMissing           Reason = "missing_credentials"
	ReasonMalformed         Reason = "malformed_credentials"
	ReasonInvalid           Reason = "invalid_credentials"
	ReasonInactive          Reason = "inactive_credentials"
	ReasonInactiveConsumer  Reason = "inactive_consumer"
	ReasonInsufficientScope Reason = "insufficient_scope"
	ReasonStoreUnavailable  Reason = "store_unavailable"
	// ReasonTooManyFailures: a failure limit (internal/lockout) refused
	// the attempt before its credential was checked.
	ReasonTooManyFailures Reason = "too_many_failures"
	// ReasonBusy: too many password checks were running to start one
	// more (failureLimits.passwordChecks).
	ReasonBusy Reason = "busy"

	// Bearer tokens: jwt (jwtauth.Verifier), oauth2 and oauth2-introspect.
	ReasonMissingToken        Reason = "missing_token"
	ReasonMalformedToken      Reason = "malformed_token"
	ReasonTokenTooLarge       Reason = "token_too_large"
	ReasonInvalidToken        Reason = "invalid_token"
	ReasonTokenExpired        Reason = "token_expired"
	ReasonTokenRevoked        Reason = "token_revoked"
	ReasonTokenNotYetValid    Reason = "token_not_yet_valid"
	ReasonBadSignature        Reason = "bad_signature"
	ReasonUnknownKID          Reason = "unknown_kid"
	ReasonAlgorithmNotAllowed Reason = "algorithm_not_allowed"
	ReasonTokenTooOld         Reason = "token_too_old"
	ReasonAudienceMismatch    Reason = "audience_mismatch"
	ReasonIssuerMismatch      Reason = "issuer_mismatch"
	ReasonMissingClaim        Reason = "missing_claim"
	ReasonTokenTypeMismatch   Reason = "token_type_mismatch"
	ReasonUnknownSubject      Reason = "unknown_subject"
	ReasonJWKSUnavailable     Reason = "jwks_unavailable"

	// oauth2-introspect (RFC 7662).
	ReasonInactiveToken              Reason = "inactive_token"
	ReasonNotAccessToken             Reason = "not_access_token"
	ReasonInvalidIntrospectionAnswer Reason = "invalid_introspection_answer"
	ReasonIntrospectionUnavailable   Reason = "introspection_unavailable"
)

// Verdict is how a reason is answered.
type Verdict struct {
	Status int
	// Error is the RFC 6750 §3.1 error code of a bearer challenge; ""
	// sends a challenge without error attributes (§3.1: a request without
	// a token), and statuses that carry no challenge (429, 5xx) have none.
	Error string
	// Message is the public message: a fixed sentence, safe in a
	// quoted-string (RFC 9110 §5.6.4). A policy may word it for its own
	// credential (Refusal.Message).
	Message string
	// RetryAfter is the Retry-After value, in seconds, of a refusal that
	// may succeed later ("" for none; too_many_failures computes it).
	RetryAfter string
}

// verdicts is the one table of the auth reason codes.
var verdicts = map[Reason]Verdict{
	ReasonInvalidRequest:    {Status: http.StatusBadRequest, Error: "invalid_request", Message: "send the credential once"},
	ReasonMissing:           {Status: http.StatusUnauthorized, Message: "credentials are required"},
	ReasonMalformed:         {Status: http.StatusUnauthorized, Error: "invalid_request", Message: "the credentials are malformed"},
	ReasonInvalid:           {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the credentials are not valid"},
	ReasonInactive:          {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the credential is deactivated"},
	ReasonInactiveConsumer:  {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the consumer is deactivated"},
	ReasonInsufficientScope: {Status: http.StatusForbidden, Error: "insufficient_scope", Message: "the credential lacks a scope this endpoint requires"},
	ReasonStoreUnavailable:  {Status: http.StatusServiceUnavailable, Message: "the identity store is unavailable; try again shortly", RetryAfter: "1"},
	ReasonTooManyFailures:   {Status: http.StatusTooManyRequests, Message: "too many failed attempts for this credential; try again later"},
	ReasonBusy:              {Status: http.StatusServiceUnavailable, Message: "too many password checks are running; try again shortly", RetryAfter: "1"},

	ReasonMissingToken:        {Status: http.StatusUnauthorized, Message: "a bearer token is required"},
	ReasonMalformedToken:      {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is not a well-formed JWT"},
	ReasonTokenTooLarge:       {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is too large"},
	ReasonInvalidToken:        {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the access token is not valid"},
	ReasonTokenExpired:        {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token has expired"},
	ReasonTokenRevoked:        {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the access token was revoked"},
	ReasonTokenNotYetValid:    {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is not valid yet"},
	ReasonBadSignature:        {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token's signature does not verify"},
	ReasonUnknownKID:          {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token's signing key is not known"},
	ReasonAlgorithmNotAllowed: {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token's algorithm is not accepted"},
	ReasonTokenTooOld:         {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is too old"},
	ReasonAudienceMismatch:    {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is not meant for this API"},
	ReasonIssuerMismatch:      {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token's issuer is not accepted"},
	ReasonMissingClaim:        {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token lacks a claim this API requires"},
	ReasonTokenTypeMismatch:   {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token's type is not accepted"},
	ReasonUnknownSubject:      {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token's subject is not a known credential"},
	ReasonJWKSUnavailable:     {Status: http.StatusServiceUnavailable, Message: "the signing keys are not available yet; try again shortly", RetryAfter: "5"},

	ReasonInactiveToken:              {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is not active"},
	ReasonNotAccessToken:             {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is not active"},
	ReasonInvalidIntrospectionAnswer: {Status: http.StatusUnauthorized, Error: "invalid_token", Message: "the token is not active"},
	ReasonIntrospectionUnavailable:   {Status: http.StatusServiceUnavailable, Message: "the authorization server could not be asked about the token; try again shortly", RetryAfter: "5"},
}

// Verdict is the table's answer for r (a 401 without message for a code
// that is not in it: every policy's codes are).
func (r Reason) Verdict() Verdict {
	if v, ok := verdicts[r]; ok {
		return v
	}
	return Verdict{Status: http.StatusUnauthorized, Error: "invalid_token"}
}

// Challenge is how a policy challenges the client (RFC 9110 §11.6.1):
// every 401 carries it, and a bearer challenge also a 403's scope (RFC
// 6750 §3). Build one with SchemeChallenge or BearerScheme.
type Challenge struct {
	value  string // a non-bearer challenge, whole
	scheme string // a bearer challenge's auth scheme
}

// SchemeChallenge is a challenge of another scheme than Bearer, sent as
// it is on 401s only: `Basic realm="gatehouse", charset="UTF-8"`.
func SchemeChallenge(value string) Challenge { return Challenge{value: value} }

// BearerScheme is an RFC 6750 §3 challenge, realm="gatehouse", with its
// error attributes, under scheme: Bearer ("" too), or the jwt policy's
// authScheme.
func BearerScheme(scheme string) Challenge {
	if scheme == "" {
		scheme = "Bearer"
	}
	return Challenge{scheme: scheme}
}

// bearer is an RFC 6750 §3 challenge under c's scheme.
func (c Challenge) bearer(errCode, description, scope string) string {
	v := BearerChallenge(errCode, description, scope)
	if c.scheme != "Bearer" {
		v = c.scheme + strings.TrimPrefix(v, "Bearer")
	}
	return v
}

// Refusal is a verdict on a credential, before it is a Rejection: its
// reason, and what a policy says differently from the table.
type Refusal struct {
	Reason Reason
	// Message replaces the table's message ("" keeps it).
	Message string
	// Description is a bearer challenge's error_description ("": the
	// message).
	Description string
	// Error replaces the table's RFC 6750 error code ("" keeps it).
	Error string
	// Err is the internal cause: logged, never sent.
	Err error
}

// Reject turns f into the Rejection a client gets from c's policy.
func (c Challenge) Reject(f Refusal) *pipeline.Rejection {
	v := f.Reason.Verdict()
	rej := &pipeline.Rejection{Status: v.Status, Code: string(f.Reason), Message: v.Message, Err: f.Err}
	if f.Message != "" {
		rej.Message = f.Message
	}
	if v.RetryAfter != "" {
		rej.Header = http.Header{"Retry-After": {v.RetryAfter}}
	}
	if v.Status != http.StatusUnauthorized {
		return rej // 403s get their challenge from InsufficientScope; 429 and 5xx none
	}
	switch {
	case c.scheme == "":
		rej.Challenge = c.value
	case f.Error == "" && v.Error == "":
		rej.Challenge = c.bearer("", "", "") // §3.1: no error for a missing token
	default:
		code, desc := v.Error, rej.Message
		if f.Error != "" {
			code = f.Error
		}
		if f.Description != "" {
			desc = f.Description
		}
		rej.Challenge = c.bearer(code, desc, "")
	}
	return rej
}

// Refuse is the refusal of reason, worded by message ("": the table's).
func (c Challenge) Refuse(reason Reason, message string) *pipeline.Rejection {
	return c.Reject(Refusal{Reason: reason, Message: message})
}

// InsufficientScope is the 403 for a valid credential that lacks an
// endpoint scope (Express Gateway's key-auth status, used by every policy).
// The body does not list the endpoint's scopes (issue #11 §2: a refusal
// never says what the gateway expected); they are logged. A bearer
// challenge keeps its scope attribute, which RFC 6750 §3 defines so a
// client can ask its authorization server for a token with that scope;
// only a caller whose token verified sees it.
func (c Challenge) InsufficientScope(required []string) *pipeline.Rejection {
	v := verdicts[ReasonInsufficientScope]
	scopes := strings.Join(required, " ")
	rej := &pipeline.Rejection{Status: v.Status, Code: string(ReasonInsufficientScope), Message: v.Message,
		Err: errors.New("the endpoint requires the scopes: " + scopes)}
	if c.scheme != "" {
		rej.Challenge = c.bearer(v.Error, "", scopes)
	}
	return rej
}

// BearerChallenge is an RFC 6750 §3 WWW-Authenticate value.
func BearerChallenge(errCode, description, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="gatehouse"`)
	if errCode != "" {
		b.WriteString(`, error="` + errCode + `"`)
	}
	if description != "" {
		b.WriteString(`, error_description="` + strings.ReplaceAll(description, `"`, `'`) + `"`)
	}
	if scope != "" {
		b.WriteString(`, scope="` + scope + `"`)
	}
	return b.String()
}
