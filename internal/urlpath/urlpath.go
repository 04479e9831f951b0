// Package urlpath computes the one canonical form of a request path that the
// gateway routes on and forwards, so that no spelling of a path reaches an
// upstream under a pipeline other than the one its normalized form selects
// (Kong #6821, Envoy CVE-2019-9901: "/public/../protected" routed as public).
//
// Canonical applies, in one pass over the escaped path:
//
//   - RFC 3986 §6.2.2.2: percent-encoded unreserved characters are decoded
//     ("%7Euser" -> "~user", "%2e" -> "."); every other escape is kept, with
//     upper-case hex (§6.2.2.1);
//   - raw bytes a path may not hold (RFC 3986 §3.3 pchar: space, quotes,
//     braces, non-ASCII...) are percent-encoded, so that the result is one
//     spelling every parser reads the same way;
//   - repeated slashes are merged (Envoy's merge_slashes);
//   - RFC 3986 §5.2.4: "." and ".." segments are removed, including their
//     encoded forms, which were decoded above.
//
// It refuses, as ambiguous, what careful proxies refuse: an encoded slash or
// backslash (%2F, %5C; an upstream that decodes it splits the path where the
// gateway did not, Envoy's path_with_escaped_slashes_action), a raw
// backslash (Windows and some frameworks read it as a slash), NUL and other
// control bytes raw or encoded, bad percent-encoding ("%zz", "%u002e"), a
// dot segment with path parameters (";" — Tomcat and Spring read "..;x" as
// ".."), a double-encoded escape ("%252e": an upstream that decodes twice
// reads "."), and a ".." that climbs above the root. With AllowEncodedSlash an
// apiEndpoint may accept %2F: it stays encoded, so it never splits a route.
package urlpath

import "errors"

// Errors Canonical returns; each names one reason a path is refused.
var (
	ErrNotAbsolute  = errors.New("the path must start with /")
	ErrBadEscape    = errors.New("the path has a malformed percent-encoding")
	ErrControl      = errors.New("the path holds a control character")
	ErrBackslash    = errors.New("the path holds a backslash")
	ErrEncodedSlash = errors.New("the path holds an encoded slash (%2F)")
	ErrDotParams    = errors.New("the path holds a dot segment with parameters (..;)")
	//lint:ignore ST1005 the message ends with the ".." it names (sent in invalid_path refusals)
	ErrAboveRoot      = errors.New("the path climbs above the root with ..")
	ErrEncodedDivider = errors.New("the path holds an encoded backslash (%5C)")
	ErrDoubleEncoded  = errors.New("the path holds a double-encoded escape (%25 followed by two hex digits)")
)

// Flags change what Canonical accepts.
type Flags uint8

const (
	// AllowEncodedSlash accepts %2F (kept encoded) instead of refusing it.
	AllowEncodedSlash Flags = 1 << iota
)

// Result describes a canonical path.
type Result struct {
	// Path is the canonical escaped path.
	Path string
	// EncodedSlash reports that Path holds %2F (only with AllowEncodedSlash).
	EncodedSlash bool
	// Params reports that Path holds a ';' (a path parameter, RFC 3986
	// §3.3), which Tomcat, Jetty and Spring strip before matching, so that
	// "/admin;x/users" is "/admin/users" to them and not to the router.
	Params bool
}

const upperHex = "0123456789ABCDEF"

// Canonical returns the canonical form of the escaped path p (what follows
// the authority in the request target, without the query). It allocates
// only when p is not already canonical.
func Canonical(p string, f Flags) (Result, error) {
	if p == "" || p[0] != '/' {
		return Result{}, ErrNotAbsolute
	}
	// Fast path: a path that is already canonical is returned as it is.
	if ok, res, err := isCanonical(p, f); err != nil {
		return Result{}, err
	} else if ok {
		res.Path = p
		return res, nil
	}
	return canonicalize(p, f)
}

// isCanonical scans p once: it reports whether p needs no change, and any
// refusal that does not depend on the segment structure.
func isCanonical(p string, f Flags) (ok bool, res Result, err error) {
	ok = true
	segStart := 0 // index just past the last '/'
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			if i > 0 && p[i-1] == '/' {
				ok = false // "//"
			}
			if isDotSegment(p[segStart:i]) {
				ok = false
			}
			segStart = i + 1
		case c == '%':
			if i+2 >= len(p) || !ishex(p[i+1]) || !ishex(p[i+2]) {
				return false, res, ErrBadEscape
			}
			b := unhex(p[i+1])<<4 | unhex(p[i+2])
			switch {
			case b < 0x20 || b == 0x7f:
				return false, res, ErrControl
			case b == '/':
				if f&AllowEncodedSlash == 0 {
					return false, res, ErrEncodedSlash
				}
				res.EncodedSlash = true
			case b == '\\':
				return false, res, ErrEncodedDivider
			case b == '%' && i+4 < len(p) && ishex(p[i+3]) && ishex(p[i+4]):
				return false, res, ErrDoubleEncoded
			}
			if unreserved(b) || isLowerHex(p[i+1]) || isLowerHex(p[i+2]) {
				ok = false
			}
			i += 2
		case c < 0x20 || c == 0x7f:
			return false, res, ErrControl
		case c == '\\':
			return false, res, ErrBackslash
		case c == ';':
			res.Params = true
		case !pchar(c):
			ok = false
		}
	}
	if isDotSegment(p[segStart:]) {
		ok = false
	}
	return ok, res, nil
}

// isDotSegment reports a segment that dot-segment removal changes, in its
// raw (escaped) form: ".", "..", or an encoded spelling of either. Dot
// segments with parameters are refused in canonicalize.
func isDotSegment(s string) bool {
	switch len(s) {
	case 0:
		return false
	case 1:
		return s == "."
	case 2:
		return s == ".."
	}
	// %2e, .%2e, %2e%2e and the like, or ".;x"
	d := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '.':
			d++
		case s[i] == '%' && i+2 < len(s) && s[i+1] == '2' && (s[i+2] == 'e' || s[i+2] == 'E'):
			d++
			i += 2
		case s[i] == ';':
			return d == 1 || d == 2
		default:
			return false
		}
	}
	return d == 1 || d == 2
}

func canonicalize(p string, f Flags) (Result, error) {
	out := make([]byte, 0, len(p)+8)
	// segs holds the start offset in out of each output segment (after its
	// leading '/'), so that ".." can drop the last one.
	var segsBuf [32]int
	segs := segsBuf[:0]
	seg := make([]byte, 0, 64)
	flush := func(last bool) error {
		switch dots(seg) {
		case 1: // "." : nothing to write; a final one leaves a trailing slash
			if last {
				out = append(out, '/')
			}
			return nil
		case 2: // "..": drop the last segment
			if len(segs) == 0 {
				return ErrAboveRoot
			}
			out = out[:segs[len(segs)-1]]
			segs = segs[:len(segs)-1]
			if last {
				out = append(out, '/')
			}
			return nil
		case -1:
			return ErrDotParams
		}
		if len(seg) == 0 && !last {
			return nil // "//": merged
		}
		segs = append(segs, len(out))
		out = append(out, '/')
		out = append(out, seg...)
		return nil
	}
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if err := flush(i == len(p)); err != nil {
				return Result{}, err
			}
			seg = seg[:0]
			continue
		}
		c := p[i]
		switch {
		case c == '%':
			var err error
			if seg, err = appendEscape(seg, p, i, f); err != nil {
				return Result{}, err
			}
			i += 2
		case c < 0x20 || c == 0x7f:
			return Result{}, ErrControl
		case c == '\\':
			return Result{}, ErrBackslash
		case pchar(c):
			seg = append(seg, c)
		default:
			seg = append(seg, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	if len(out) == 0 {
		out = append(out, '/')
	}
	// The flags describe the result, not the input: "/a;x/../b" is "/b".
	// The scan also refuses what decoding made: "/%25%300" decodes to the
	// double-encoded "/%2500".
	p = string(out)
	_, res, err := isCanonical(p, f)
	if err != nil {
		return Result{}, err
	}
	res.Path = p
	return res, nil
}

// appendEscape appends the %XX escape at p[i] to seg: decoded when it is
// an unreserved character, with upper-case hex digits otherwise. It
// refuses a malformed escape, an encoded control character, backslash or
// (without AllowEncodedSlash) slash, and a double encoding (%25 followed
// by two hex digits). The caller skips the escape's three bytes.
func appendEscape(seg []byte, p string, i int, f Flags) ([]byte, error) {
	if i+2 >= len(p) || !ishex(p[i+1]) || !ishex(p[i+2]) {
		return seg, ErrBadEscape
	}
	b := unhex(p[i+1])<<4 | unhex(p[i+2])
	i += 2
	switch {
	case b < 0x20 || b == 0x7f:
		return seg, ErrControl
	case b == '/':
		if f&AllowEncodedSlash == 0 {
			return seg, ErrEncodedSlash
		}
	case b == '\\':
		return seg, ErrEncodedDivider
	case b == '%' && i+2 < len(p) && ishex(p[i+1]) && ishex(p[i+2]):
		return seg, ErrDoubleEncoded
	}
	if unreserved(b) {
		return append(seg, b), nil
	}
	return append(seg, '%', upperHex[b>>4], upperHex[b&15]), nil
}

// dots classifies a decoded segment: 1 for ".", 2 for "..", -1 for a dot
// segment with parameters (".;x", "..;x"), 0 otherwise.
func dots(seg []byte) int {
	n := 0
	for n < len(seg) && n < 3 && seg[n] == '.' {
		n++
	}
	if n == 0 || n > 2 {
		return 0
	}
	if n == len(seg) {
		return n
	}
	if seg[n] == ';' {
		return -1
	}
	return 0
}

// unreserved is RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// pchar is what a path segment may hold unencoded (RFC 3986 §3.3):
// unreserved, sub-delims, ':' and '@'.
func pchar(c byte) bool {
	if unreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Unescape decodes a canonical path for url.URL.Path. Canonical paths are
// well-formed, so it cannot fail; %2F decodes to '/', which is why the
// escaped form (url.URL.RawPath) is what routing and forwarding use.
func Unescape(p string) string {
	i := 0
	for i < len(p) && p[i] != '%' {
		i++
	}
	if i == len(p) {
		return p
	}
	b := make([]byte, 0, len(p))
	b = append(b, p[:i]...)
	for ; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			b = append(b, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}
