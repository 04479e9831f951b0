// Package headervalue turns values the gateway computes (identity fields,
// token claims, expression results) into request header values sent
// upstream: one rule for control characters, so that no value can split a
// header, and one rendering of a claim.
package headervalue

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Sanitize drops the control characters (all but tab, RFC 9110 §5.5) from
// v, so that a value read from a token, the store or a request can never
// end a header line and start another. It works on bytes: obs-text
// (bytes 0x80-0xff) passes as it is, so does invalid UTF-8. v is returned
// unchanged, without allocating, when it has nothing to drop.
func Sanitize(v string) string {
	for i := 0; i < len(v); i++ {
		if isControl(v[i]) {
			b := make([]byte, 0, len(v))
			for j := 0; j < len(v); j++ {
				if !isControl(v[j]) {
					b = append(b, v[j])
				}
			}
			return string(b)
		}
	}
	return v
}

func isControl(c byte) bool { return c < ' ' && c != '\t' || c == 0x7f }

// FromClaim renders a token claim as text: a string as it is, a number and
// a boolean as JSON, null as nothing, a list with its elements joined by
// sep (string elements as they are, others as compact JSON), and an object
// as compact JSON. The jwt policy's claimsToHeaders joins lists with ","
// (docs/policies/jwt.md), expressions with ", " (docs/expressions.md).
//
// A json.Number (the jwt policy decodes with it) is its JSON text; a
// float64 (introspection responses, the authorization server's own tokens)
// is written in decimal, never with an exponent. A []string and a
// time.Time, which no JSON decoder produces, render as a list and as
// RFC 3339 in UTC.
//
// The result is not sanitized: a caller putting it in a header calls
// Sanitize.
func FromClaim(v any, sep string) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if s, ok := e.(string); ok {
				parts[i] = s
			} else {
				parts[i] = scalar(e)
			}
		}
		return strings.Join(parts, sep)
	case []string:
		return strings.Join(x, sep)
	}
	return scalar(v)
}

// scalar renders a value that is not a top-level list.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		// Decimal, never an exponent: 3, 0.5, 1700000000.
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
