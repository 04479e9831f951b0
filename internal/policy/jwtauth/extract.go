package jwtauth

import (
	"net/http"
	"strings"

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
	kind  string
	field string // the scheme (authScheme), canonical header name (header) or query parameter (query)
}

func newExtractor(kind, field string) extractor {
	if kind == ExtractHeader {
		// Header names are case-insensitive (RFC 9110 §5.1). Express Gateway
		// looks the configured name up verbatim in Node's lower-cased
		// headers, so "X-Token" never matches there (B-16).
		field = http.CanonicalHeaderKey(field)
	}
	return extractor{kind: kind, field: field}
}

// extract returns the token, or "" when there is none.
func (e extractor) extract(r *http.Request) string {
	switch e.kind {
	case ExtractAuthScheme:
		tok, _ := authn.SchemeToken(r.Header.Get("Authorization"), e.field)
		return tok
	case ExtractHeader:
		return strings.TrimSpace(r.Header.Get(e.field))
	case ExtractQuery:
		return authn.QueryValue(r, e.field)
	default:
		tok, _ := authn.BearerToken(r)
		return tok
	}
}

// strip removes the token from the request (stripCredentials).
func (e extractor) strip(r *http.Request) {
	switch e.kind {
	case ExtractHeader:
		r.Header.Del(e.field)
	case ExtractQuery:
		authn.DropQueryValue(r, e.field)
	default:
		r.Header.Del("Authorization")
	}
}

// scheme is the auth scheme of the challenge: the configured one for
// authScheme, Bearer (RFC 6750) otherwise.
func (e extractor) scheme() string {
	if e.kind == ExtractAuthScheme {
		return e.field
	}
	return "Bearer"
}

// header is the request header the token travels in, if any.
func (e extractor) header() string {
	switch e.kind {
	case ExtractHeader:
		return e.field
	case ExtractQuery:
		return ""
	}
	return "Authorization"
}
