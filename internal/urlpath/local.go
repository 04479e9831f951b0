package urlpath

import "errors"

// MaxLocalReference bounds a local redirect target.
const MaxLocalReference = 2048

// LocalReference checks that ref, used as a redirect's Location, takes
// every browser to a path on the same origin: a path-absolute reference
// (RFC 3986 §4.2). It refuses what a browser would read as another origin:
// a scheme ("https://evil.com", "javascript:"), a network-path reference
// ("//evil.com"), a backslash ("/\evil.com": the WHATWG URL parser reads
// "\" as "/" in http(s) URLs), and tab, newline and other control bytes
// (the parser removes tabs and newlines anywhere, so "/\t/evil.com" would
// become "//evil.com"). Space and non-ASCII bytes must be percent-encoded.
// The error says which rule ref breaks.
func LocalReference(ref string) error {
	switch {
	case ref == "":
		return errors.New("must not be empty")
	case len(ref) > MaxLocalReference:
		return errors.New("must be at most 2048 bytes")
	case ref[0] != '/':
		return errors.New(`must be a path on this server, starting with "/" (no scheme or host)`)
	case len(ref) > 1 && (ref[1] == '/' || ref[1] == '\\'):
		return errors.New(`must not start with "//" or "/\": browsers read that as another host`)
	}
	for i := 0; i < len(ref); i++ {
		switch c := ref[i]; {
		case c == '\\':
			return errors.New(`must not contain "\": browsers read it as "/"`)
		case c <= 0x20 || c >= 0x7f:
			return errors.New("must not contain spaces, control characters or non-ASCII bytes (percent-encode them)")
		}
	}
	return nil
}
