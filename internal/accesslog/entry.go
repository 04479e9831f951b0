package accesslog

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Entry is one request's line. The fields are written in this order, with
// the keys of docs/operations.md; the optional ones are left out when
// empty, as the gateway always did.
type Entry struct {
	RequestID, Method, Path string
	Status                  int
	// Bytes is the response body's size; negative when it was not counted
	// (the listener's own refusals), which leaves the field out.
	Bytes    int64
	Duration time.Duration
	Remote   string
	Peer     string // only when Remote is a forwarded address
	// APIEndpoint and Pipeline are written together when APIEndpoint is
	// set (a route matched).
	APIEndpoint, Pipeline string
	// Identified writes consumer_id, even empty (a jwt policy that looks
	// up no consumer).
	Identified bool
	ConsumerID string
	Reason     string
	Policy     string
	// auth is AuthPolicy:AuthResult, when AuthResult is set.
	AuthPolicy, AuthResult string
	Upstream               string
}

// appendJSON appends e as slog.NewJSONHandler (no options) writes
// LogAttrs(ctx, slog.LevelInfo, "request", e's attributes...) at t.
func appendJSON(b []byte, t time.Time, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = t.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","request_id":`...)
	b = jsonString(b, e.RequestID)
	b = append(b, `,"method":`...)
	b = jsonString(b, e.Method)
	b = append(b, `,"path":`...)
	b = jsonString(b, e.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	if e.Bytes >= 0 {
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, e.Bytes, 10)
	}
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(e.Duration), 10) // nanoseconds, as json.Marshal
	b = append(b, `,"remote":`...)
	b = jsonString(b, e.Remote)
	if e.Peer != "" {
		b = append(b, `,"peer":`...)
		b = jsonString(b, e.Peer)
	}
	if e.APIEndpoint != "" {
		b = append(b, `,"api_endpoint":`...)
		b = jsonString(b, e.APIEndpoint)
		b = append(b, `,"pipeline":`...)
		b = jsonString(b, e.Pipeline)
	}
	if e.Identified {
		b = append(b, `,"consumer_id":`...)
		b = jsonString(b, e.ConsumerID)
	}
	if e.Reason != "" {
		b = append(b, `,"reason":`...)
		b = jsonString(b, e.Reason)
	}
	if e.Policy != "" {
		b = append(b, `,"policy":`...)
		b = jsonString(b, e.Policy)
	}
	if e.AuthResult != "" {
		b = append(b, `,"auth":"`...)
		b = jsonEscape(b, e.AuthPolicy)
		b = append(b, ':')
		b = jsonEscape(b, e.AuthResult)
		b = append(b, '"')
	}
	if e.Upstream != "" {
		b = append(b, `,"upstream":`...)
		b = jsonString(b, e.Upstream)
	}
	return append(b, "}\n"...)
}

// appendText appends e as slog.NewTextHandler (no options) writes it.
func appendText(b []byte, t time.Time, e *Entry) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, t.Round(0))
	b = append(b, " level=INFO msg=request request_id="...)
	b = textString(b, e.RequestID)
	b = append(b, " method="...)
	b = textString(b, e.Method)
	b = append(b, " path="...)
	b = textString(b, e.Path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	if e.Bytes >= 0 {
		b = append(b, " bytes="...)
		b = strconv.AppendInt(b, e.Bytes, 10)
	}
	b = append(b, " duration="...)
	b = append(b, e.Duration.String()...) // text is for a person: 420.674µs
	b = append(b, " remote="...)
	b = textString(b, e.Remote)
	if e.Peer != "" {
		b = append(b, " peer="...)
		b = textString(b, e.Peer)
	}
	if e.APIEndpoint != "" {
		b = append(b, " api_endpoint="...)
		b = textString(b, e.APIEndpoint)
		b = append(b, " pipeline="...)
		b = textString(b, e.Pipeline)
	}
	if e.Identified {
		b = append(b, " consumer_id="...)
		b = textString(b, e.ConsumerID)
	}
	if e.Reason != "" {
		b = append(b, " reason="...)
		b = textString(b, e.Reason)
	}
	if e.Policy != "" {
		b = append(b, " policy="...)
		b = textString(b, e.Policy)
	}
	if e.AuthResult != "" {
		b = append(b, " auth="...)
		b = textString(b, e.AuthPolicy+":"+e.AuthResult)
	}
	if e.Upstream != "" {
		b = append(b, " upstream="...)
		b = textString(b, e.Upstream)
	}
	return append(b, '\n')
}

// appendRFC3339Millis is slog's text time: RFC 3339 with exactly three
// fractional digits.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	// RFC3339Nano trims trailing zeros: add 1/10 ms so that there are
	// always four digits, then drop the fourth (as log/slog does).
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

func jsonString(b []byte, s string) []byte {
	b = append(b, '"')
	b = jsonEscape(b, s)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// jsonEscape is log/slog's JSON string escaping (RFC 8259 §7): control
// characters, '"' and '\\' escaped, invalid UTF-8 as U+FFFD, and U+2028
// and U+2029 escaped; '<', '>' and '&' are kept.
func jsonEscape(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// textString is a value as slog's text handler writes it: bare, or Go
// quoted when it is empty or holds a space, '=', '"', a control or
// non-printing character or invalid UTF-8.
func textString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// A backslash is kept bare; what JSON would escape is quoted.
			if c != '\\' && (c == ' ' || c == '=' || c < 0x20 || c == '"') {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
