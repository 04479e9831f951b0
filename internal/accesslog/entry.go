package accesslog

import (
	"strconv"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Entry is one request's line. The fields are written in this order, with
// the keys of docs/operations.md; the optional ones are left out when
// empty, as the gateway always did.
type Entry struct {
	// Time stamps the line (the request's end); zero: when Log is called.
	Time                    time.Time
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
func appendJSON(b []byte, c *stamps, t time.Time, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = c.appendTime(b, t, false)
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
func appendText(b []byte, c *stamps, t time.Time, e *Entry) []byte {
	b = append(b, "time="...)
	b = c.appendTime(b, t, true)
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

// stamps caches the formatted date, time and zone of the current second,
// which every line of that second shares: formatting a time anew is a
// third of a line's cost.
type stamps struct{ last atomic.Pointer[stamp] }

type stamp struct {
	unix int64
	loc  *time.Location
	head string // 2006-01-02T15:04:05
	zone string // Z or -07:00
}

// appendTime appends t as slog does: RFC 3339 with nanoseconds, trailing
// zeros trimmed (JSON: time.RFC3339Nano), or with exactly three digits of
// milliseconds, truncated (text).
func (c *stamps) appendTime(b []byte, t time.Time, millis bool) []byte {
	s := c.last.Load()
	if s == nil || s.unix != t.Unix() || s.loc != t.Location() {
		// A zone's offset changes on a whole second, so one second has
		// one zone.
		f := t.Truncate(time.Second).Round(0).Format("2006-01-02T15:04:05Z07:00")
		s = &stamp{unix: t.Unix(), loc: t.Location(), head: f[:19], zone: f[19:]}
		c.last.Store(s)
	}
	b = append(b, s.head...)
	ns := t.Nanosecond()
	if millis {
		ms := ns / 1e6
		b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	} else if ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, s.zone...)
}

func jsonString(b []byte, s string) []byte {
	b = append(b, '"')
	b = jsonEscape(b, s)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// load64 is s[i:i+8] as a little-endian word (one load once compiled).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainWord reports whether none of x's bytes is a control character,
// '"', '\\' or above 0x7f (the bit tricks of "Bit Twiddling Hacks":
// a byte below n sets its high bit in (x - n) &^ x).
func plainWord(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, bs := x^(lo*'"'), x^(lo*'\\')
	return ((x-lo*0x20)&^x|(q-lo)&^q|(bs-lo)&^bs|x)&hi == 0
}

// jsonEscape is log/slog's JSON string escaping (RFC 8259 §7): control
// characters, '"' and '\\' escaped, invalid UTF-8 as U+FFFD, and U+2028
// and U+2029 escaped; '<', '>' and '&' are kept.
func jsonEscape(b []byte, s string) []byte {
	// Most of a line is plain ASCII that needs no escaping: skip it eight
	// bytes at a time.
	i := 0
	for i+8 <= len(s) && plainWord(load64(s, i)) {
		i += 8
	}
	start := 0
	for i < len(s) {
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
