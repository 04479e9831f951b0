package jwtauth

import (
	"net/http"

	"github.com/gatehouse/gatehouse/internal/policy/authn"
)

// Extractors (Express Gateway's jwtExtractor values, passport-jwt's
// extractors).
const (
	ExtractAuthBearer = "authBearer"
	ExtractAuthScheme = "authScheme"
	ExtractHeader     = "header"
	ExtractQuery      = "query"
)

// extractor finds the token in a request.
type extractor struct {
	kind string
	src  authn.Source
}

func newExtractor(kind, field string) extractor {
	e := extractor{kind: kind}
	switch kind {
	case ExtractAuthScheme:
		e.src = authn.Source{Header: "Authorization", Scheme: field, Challenge: field}
	case ExtractHeader:
		// Header names are case-insensitive (RFC 9110 §5.1). Express Gateway
		// looks the configured name up verbatim in Node's lower-cased
		// headers, so "X-Token" never matches there (B-16).
		e.src = authn.Source{Header: http.CanonicalHeaderKey(field), Challenge: "Bearer"}
	case ExtractQuery:
		e.src = authn.Source{Query: field, Challenge: "Bearer"}
		if field == "access_token" {
			// RFC 6750 §2.3's place: Authorization: Bearer is the other
			// method of sending the same token.
			e.src.WatchHeader, e.src.WatchScheme = "Authorization", "Bearer"
		}
	default:
		// RFC 6750 §2.1; ?access_token= (§2.3) is not read, but a token
		// there as well is a second method.
		e.src = authn.Source{Header: "Authorization", Scheme: "Bearer", WatchQuery: "access_token", Challenge: "Bearer"}
	}
	return e
}

// token is the token of what Find found: "" when there is none, or when
// "<scheme> a b" holds no one token (RFC 6750 §2.1).
func (e *extractor) token(c authn.Presented) string {
	if (e.kind == ExtractAuthBearer || e.kind == ExtractAuthScheme) && !authn.SingleToken(c.Value) {
		return ""
	}
	return c.Value
}

// scheme is the auth scheme of the challenge: the configured one for
// authScheme, Bearer (RFC 6750) otherwise.
func (e *extractor) scheme() string {
	return e.src.Challenge
}

// header is the request header the token travels in, if any.
func (e *extractor) header() string {
	return e.src.Header
}
