package oauth2

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// accessTokenType reports whether tok may be an access token by its type:
// an opaque token ("<id>|<secret>") or a value that is not a JWS compact
// serialization always may (the server judges it); a JWT only when its
// header's typ is "at+jwt" or "application/at+jwt", in any case (RFC 9068
// §4: resource servers MUST reject any other typ, and a JWT without typ is
// not an access token either; RFC 7515 §4.1.9 for the prefix). A header
// that cannot be read is refused too: the signature check could not accept
// it anyway.
//
// Only the header is decoded, into stack buffers and with a scanner that
// allocates nothing; a header with escapes or an unusual shape goes to
// encoding/json (what golang-jwt decodes it with, so both read the same
// typ: the last one, compared by exact name).
func accessTokenType(tok string) bool {
	if strings.IndexByte(tok, '|') >= 0 {
		return true
	}
	seg, _, isJWS := strings.Cut(tok, ".")
	if !isJWS {
		return true
	}
	var src [1024]byte
	var dst [768]byte
	if len(seg) > len(src) {
		h, err := base64.RawURLEncoding.DecodeString(seg)
		return err == nil && slowTyp(h)
	}
	n, err := base64.RawURLEncoding.Decode(dst[:], src[:copy(src[:], seg)])
	if err != nil {
		return false
	}
	h := dst[:n]
	if bytes.IndexByte(h, '\\') < 0 {
		if verdict, ok := scanTyp(h); ok {
			return verdict
		}
	}
	return slowTyp(bytes.Clone(h)) // a copy: dst stays on the stack
}

var (
	atJWT            = []byte("at+jwt")
	applicationATJWT = []byte("application/at+jwt")
)

func isATJWT(v []byte) bool {
	return bytes.EqualFold(v, atJWT) || bytes.EqualFold(v, applicationATJWT)
}

// slowTyp reads typ with encoding/json.
func slowTyp(h []byte) bool {
	var m map[string]any
	if json.Unmarshal(h, &m) != nil {
		return false
	}
	typ, _ := m["typ"].(string)
	return isATJWT([]byte(typ))
}

// scanTyp reads the top-level typ member of a JSON object that has no
// backslash (so every string ends at the next quote). ok is false when h
// is not such an object; then encoding/json decides.
func scanTyp(h []byte) (verdict, ok bool) {
	i := skipWS(h, 0)
	if i >= len(h) || h[i] != '{' {
		return false, false
	}
	i = skipWS(h, i+1)
	if i < len(h) && h[i] == '}' {
		return false, skipWS(h, i+1) == len(h)
	}
	for {
		key, next, isStr := scanString(h, i)
		if !isStr {
			return false, false
		}
		i = skipWS(h, next)
		if i >= len(h) || h[i] != ':' {
			return false, false
		}
		i = skipWS(h, i+1)
		if i >= len(h) {
			return false, false
		}
		var end int
		if h[i] == '"' {
			val, e, ok := scanString(h, i)
			if !ok {
				return false, false
			}
			if string(key) == "typ" {
				verdict = isATJWT(val)
			}
			end = e
		} else {
			e, ok := skipValue(h, i)
			if !ok {
				return false, false
			}
			if string(key) == "typ" {
				verdict = false // not a string
			}
			end = e
		}
		i = skipWS(h, end)
		switch {
		case i < len(h) && h[i] == ',':
			i = skipWS(h, i+1)
		case i < len(h) && h[i] == '}':
			return verdict, skipWS(h, i+1) == len(h)
		default:
			return false, false
		}
	}
}

func skipWS(h []byte, i int) int {
	for i < len(h) && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the string starting at h[i] (a quote) and returns its
// content and the index after it.
func scanString(h []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(h) || h[i] != '"' {
		return nil, 0, false
	}
	j := bytes.IndexByte(h[i+1:], '"')
	if j < 0 {
		return nil, 0, false
	}
	return h[i+1 : i+1+j], i + 2 + j, true
}

// skipValue skips a non-string value: a literal or number, or a nested
// object or array (whose strings end at their next quote).
func skipValue(h []byte, i int) (int, bool) {
	if h[i] != '{' && h[i] != '[' {
		start := i
		for i < len(h) && h[i] != ',' && h[i] != '}' && h[i] != ']' && h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r' {
			i++
		}
		return i, i > start
	}
	depth := 0
	for ; i < len(h); i++ {
		switch h[i] {
		case '"':
			j := bytes.IndexByte(h[i+1:], '"')
			if j < 0 {
				return 0, false
			}
			i += j + 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}
