package authn

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// Source is every place of a request where one auth policy's credential
// can be presented. Find returns the one credential, or refuses a request
// that presents it more than once: two header lines, one line holding two
// comma-joined credentials (what a proxy makes of two lines), the header
// and the query parameter together (even with the same value: RFC 6750 §2,
// a client MUST NOT use more than one method), or the query parameter
// twice. Without that the policy would verify one credential while the
// upstream, which receives the request as it came, could act on the other.
type Source struct {
	// Header is the canonical name of the header the credential is read
	// from, "" for none.
	Header string
	// Scheme is the auth scheme the header's value must start with
	// ("Bearer", "Basic", "apiKey"), compared case-insensitively; a value
	// with another scheme is another policy's credential and is not read.
	// "" takes the whole value.
	Scheme string
	// Query is the query parameter the credential is read from, "" for
	// none.
	Query string
	// WatchHeader (with WatchScheme) and WatchQuery are places the policy
	// does not read, but where the same credential would be a second
	// method: RFC 6750 §2.1 and §2.3 for a bearer token read from only one
	// of Authorization: Bearer and ?access_token=.
	WatchHeader, WatchScheme, WatchQuery string
	// Challenge is the auth scheme of the WWW-Authenticate challenge of the
	// 400, with error="invalid_request" (RFC 6750 §3); "" sends none.
	Challenge string
}

// Presented is what Find found.
type Presented struct {
	// Value is the credential: the header's value after the scheme, or the
	// decoded query value; "" when the request has none.
	Value string
	// InQuery says Value was read from the query.
	InQuery bool
	// Foreign is the header's value when it is not this policy's
	// credential (another scheme, or the scheme alone). It is not a
	// presentation: policies that share the header read it, and a policy
	// that owns the header may refuse it as malformed.
	Foreign string
}

// Find returns the request's one credential for s, or a 400
// invalid_request rejection when it is presented more than once. It
// allocates nothing unless it refuses or decodes an escaped query value.
func (s *Source) Find(r *http.Request) (Presented, error) {
	var p Presented
	inHeader, inWatched := false, false
	if s.Header != "" {
		v, err := s.headerValue(r.Header, s.Header)
		if err != nil {
			return p, err
		}
		if cred, ok := afterScheme(v, s.Scheme); ok {
			p.Value, inHeader = cred, true
		} else {
			p.Foreign = v
		}
	}
	if s.WatchHeader != "" {
		v, err := s.headerValue(r.Header, s.WatchHeader)
		if err != nil {
			return p, err
		}
		_, inWatched = afterScheme(v, s.WatchScheme)
	}
	var n, w int
	var first string
	if r.URL != nil {
		n, first = scanQuery(r.URL.RawQuery, s.Query)
		w, _ = scanQuery(r.URL.RawQuery, s.WatchQuery)
	}
	switch {
	case n > 1:
		return p, s.twice("the " + s.Query + " query parameter, " + strconv.Itoa(n) + " times")
	case w > 1:
		return p, s.twice("the " + s.WatchQuery + " query parameter, " + strconv.Itoa(w) + " times")
	case b2i(inHeader)+b2i(inWatched)+n+w > 1:
		return p, s.twice(s.places(inHeader, inWatched, n == 1, w == 1))
	}
	if n == 1 {
		v, err := url.QueryUnescape(first)
		if err != nil {
			return p, s.refuse("the " + s.Query + " query parameter is not valid percent-encoding")
		}
		p.Value, p.InQuery = v, true
	}
	return p, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// places names the places that hold a credential, for the refusal.
func (s *Source) places(header, watchedHeader, query, watchedQuery bool) string {
	var names []string
	if header {
		names = append(names, "the "+s.Header+" header")
	}
	if watchedHeader {
		names = append(names, "the "+s.WatchHeader+" header")
	}
	if query {
		names = append(names, "the "+s.Query+" query parameter")
	}
	if watchedQuery {
		names = append(names, "the "+s.WatchQuery+" query parameter")
	}
	return strings.Join(names, " and ")
}

// headerValue is the one line of header name, trimmed. Two lines, or one
// line with two comma-joined credentials, are refused: Authorization (RFC
// 9110 §11.6.2) and the credential headers are singletons.
func (s *Source) headerValue(h http.Header, name string) (string, error) {
	vs := h[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", s.twice("the " + name + " header, " + strconv.Itoa(len(vs)) + " times")
	}
	v := strings.TrimSpace(vs[0])
	if joined(v) {
		return "", s.twice("the " + name + " header holds more than one credential (comma-joined)")
	}
	return v, nil
}

// joined reports whether a header value looks like two field lines a proxy
// joined with a comma (RFC 9110 §5.3): a comma followed by whitespace, or
// by another "<scheme> <credential>". Bearer tokens (token68), base64 and
// JWTs never contain a comma; a key secret may, but not one followed by a
// space (passport-apikey already cut keys at spaces).
func joined(v string) bool {
	for {
		i := strings.IndexByte(v, ',')
		if i < 0 {
			return false
		}
		v = v[i+1:]
		rest := strings.TrimLeft(v, " \t")
		if rest != "" && (len(rest) < len(v) || strings.ContainsAny(rest, " \t")) {
			return true
		}
	}
}

// afterScheme returns what follows "<scheme> " in v (the whole of v when
// scheme is ""); ok is false when v is empty, has another scheme, or has
// the scheme alone.
func afterScheme(v, scheme string) (string, bool) {
	if v == "" {
		return "", false
	}
	if scheme == "" {
		return v, true
	}
	// RFC 9110 §11.4 separates the scheme with SP; a tab is cut too, since
	// upstreams that split on any whitespace would read "Bearer\tX" as a
	// bearer credential, which must then count as one (found in review).
	i := strings.IndexAny(v, " \t")
	if i < 0 || !strings.EqualFold(v[:i], scheme) {
		return "", false
	}
	rest := v[i+1:]
	rest = strings.TrimSpace(rest)
	return rest, rest != ""
}

func (s *Source) twice(where string) *pipeline.Rejection {
	return s.refuse("send the credential once; it was sent in " + where)
}

func (s *Source) refuse(msg string) *pipeline.Rejection {
	// The 400 of a request that presents its credential more than once
	// (RFC 6750 §3.1 invalid_request: "uses more than one method for
	// including an access token").
	rej := &pipeline.Rejection{Status: http.StatusBadRequest, Code: string(ReasonInvalidRequest), Message: msg}
	if s.Challenge != "" {
		rej.Challenge = BearerScheme(s.Challenge).bearer(string(ReasonInvalidRequest), msg, "")
	}
	return rej
}

// Strip removes the credential from r before it goes on, as Stripping
// decided: the header when what.Header is set and it held this policy's
// credential (a Foreign value is left for the policy it belongs to), and
// every occurrence of the query parameter when what.Query is set.
func (s *Source) Strip(r *http.Request, p Presented, what Strip) {
	if what.Header && s.Header != "" && p.Foreign == "" {
		delete(r.Header, s.Header)
	}
	if what.Query && s.Query != "" {
		DropQueryValue(r, s.Query)
	}
}

// SingleToken reports whether v is one token, as the Bearer (RFC 6750
// §2.1) and Basic (RFC 7617 §2) syntaxes require: no whitespace inside.
func SingleToken(v string) bool {
	return v != "" && !strings.ContainsAny(v, " \t")
}

// mayHold reports whether raw can contain the parameter name: it does
// when it has the name or a percent-escape (a key may be encoded, and the
// upstream decodes it), or a '+' when the name has a space.
func mayHold(raw, name string) bool {
	return name != "" && raw != "" && (strings.Contains(raw, name) || strings.IndexByte(raw, '%') >= 0 ||
		strings.IndexByte(name, ' ') >= 0 && strings.IndexByte(raw, '+') >= 0)
}

// scanQuery counts the occurrences of name with a non-empty value in a raw
// query string, and returns the first raw value. Parameters are separated
// by '&' and also by ';', which Go's parser refuses but some upstream
// frameworks split on: a credential hidden behind a ';' still counts. Keys
// are compared decoded ("access%5Ftoken" is access_token to the upstream),
// without allocating. An empty value carries nothing; it is not counted
// (and is removed with the rest when the query is stripped).
func scanQuery(raw, name string) (n int, first string) {
	if !mayHold(raw, name) {
		return 0, ""
	}
	for raw != "" {
		var seg string
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			seg, raw = raw[:i], raw[i+1:]
		} else {
			seg, raw = raw, ""
		}
		k, v, _ := strings.Cut(seg, "=")
		if v == "" || !keyEquals(k, name) {
			continue
		}
		if n == 0 {
			first = v
		}
		n++
	}
	return n, first
}

// keyEquals reports whether the raw (percent- or '+'-encoded) query key k
// decodes to name.
func keyEquals(k, name string) bool {
	j := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(k) || !isHex(k[i+1]) || !isHex(k[i+2]) {
				return false
			}
			c = unhex(k[i+1])<<4 | unhex(k[i+2])
			i += 2
		}
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// DropQueryValue removes every occurrence of the parameter name from the
// query before proxying, so a credential never reaches the upstream or
// its logs. Keys are compared decoded and ';' separates too, as in Find.
// The other parameters keep their order, encoding and separators
// (upstreams may sign the query).
func DropQueryValue(r *http.Request, name string) {
	raw := r.URL.RawQuery
	if !mayHold(raw, name) {
		return
	}
	var b strings.Builder
	removed, wrote := false, false
	prev := byte('&') // the separator before the current segment
	for rest := raw; ; {
		seg, sep := rest, byte(0)
		if i := strings.IndexAny(rest, "&;"); i >= 0 {
			seg, sep, rest = rest[:i], rest[i], rest[i+1:]
		}
		if k, _, _ := strings.Cut(seg, "="); keyEquals(k, name) {
			removed = true
		} else {
			if wrote {
				b.WriteByte(prev)
			}
			b.WriteString(seg)
			wrote = true
		}
		if sep == 0 {
			break
		}
		prev = sep
	}
	if removed {
		r.URL.RawQuery = b.String()
	}
}
