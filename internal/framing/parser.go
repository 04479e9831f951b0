// Package framing refuses HTTP/1.x requests whose message framing two HTTP
// parsers could read differently: the forms behind request smuggling
// (RFC 9112 §11.2). It follows the byte stream of a connection below
// net/http, holds each request head back until it is complete, and lets
// only unambiguous ones through:
//
//   - Content-Length and Transfer-Encoding together (RFC 9112 §6.1: net/http
//     drops the Content-Length and keeps the connection open; a front end
//     that framed the message by Content-Length reads the rest as a second
//     request);
//   - more than one Content-Length field, even with equal values
//     (RFC 9110 §8.6; net/http merges equal ones);
//   - Transfer-Encoding other than exactly one "chunked" field: lists such
//     as "chunked, identity", unknown codings such as "xchunked", values
//     padded with tabs, several fields (RFC 9112 §6.3 rule 4);
//   - Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: net/http
//     ignores the field, so a chunked body becomes the next request);
//   - obs-fold line folding (RFC 9112 §5.2), which net/http unfolds.
//
// A refused request reaches net/http as a stand-in request carrying
// Header (see Refusal), so the application answers it like any other error
// and the connection is closed after the answer: nothing the client sent
// after the refused head is read.
//
// Everything else is passed through unchanged. Where the bytes are not a
// request net/http would accept either (a malformed request line, a bad
// chunk-size line, a head over the size limit), the stream ends after the
// bytes net/http needs to see the fault, so the connection closes even if
// the two parsers disagreed on it.
package framing

import (
	"bytes"
	"net/http"
)

// verdict is what the parser decided about the bytes it was given.
type verdict uint8

const (
	more   verdict = iota // nothing decided: all cleared bytes may go on
	final                 // end the stream after the cleared bytes
	refuse                // replace the held head by a stand-in, then end
)

// parser states.
const (
	sHead      = iota // a request head, from its first byte
	sBody             // remain bytes of a Content-Length body
	sChunkSize        // a chunk-size line
	sChunkData        // remain bytes of chunk data
	sChunkCR          // the CR after chunk data
	sChunkLF          // the LF after chunk data
	sTrailer          // trailer lines up to an empty line
)

// Limits net/http applies to chunked bodies (net/http/internal/chunked.go).
const (
	maxChunkLine   = 4096 // a chunk-size line, CRLF excluded, must be shorter
	maxChunkDigits = 16
)

// parser follows the framing of the requests on one connection, the way
// net/http's server reads them.
type parser struct {
	state  int
	remain uint64
	// maxHead bounds a held head: past it net/http answers 431 on its own.
	maxHead int
	// postBefore: the previous request was a POST, after which net/http
	// skips up to four CR or LF bytes (RFC 9112 §2.2 tolerance).
	postBefore bool
	skip       int // CR/LF bytes still skippable before this head

	// The head being read; all offsets are from the head's first byte.
	hpos    int // bytes of the head already parsed (whole lines)
	lines   int
	rlLen   int // length of the request line
	version int // 10, 11, or 0 for anything else
	post    bool
	bad     bool // net/http refuses this head itself
	ncl     int
	clBad   bool
	cl      uint64
	nte     int
	teOK    bool // the Transfer-Encoding field is exactly "chunked"
	teLast  bool // "chunked" is the final coding of a list of codings
	obsFold bool

	// A chunk-size or trailer line being read.
	line   int // bytes of the line so far
	digits int
	phase  int // chunk-size line: 0 digits, 1 whitespace, 2 extension
	cr     bool

	code Code // why the last head was refused
}

// Code says why a head was refused.
type Code uint8

// The refusals; see the package comment.
const (
	_ Code = iota
	CodeContentLengthAndTransferEncoding
	CodeDuplicateContentLength
	CodeInvalidContentLength
	CodeTransferEncoding
	CodeUnsupportedTransferCoding
	CodeTransferEncodingHTTP10
	CodeObsFold
	codeEnd
)

func (p *parser) resetHead() {
	p.hpos, p.lines, p.rlLen, p.version = 0, 0, 0, 0
	p.post, p.bad, p.obsFold = false, false, false
	p.ncl, p.clBad, p.cl = 0, false, 0
	p.nte, p.teOK, p.teLast = 0, false, false
	p.skip = 0
	if p.postBefore {
		p.skip = 4
	}
}

// feed scans b. While a head is being read, b must start at the head's
// first byte (held bytes are presented again with the new ones after
// them). It returns how many leading bytes of b are cleared, and the
// verdict about the bytes after them.
func (p *parser) feed(b []byte) (int, verdict) {
	i := 0
	for i < len(b) {
		switch p.state {
		case sHead:
			for p.hpos == 0 && p.skip > 0 && i < len(b) && (b[i] == '\r' || b[i] == '\n') {
				p.skip--
				i++
			}
			if i == len(b) {
				return i, more
			}
			n, v := p.head(b[i:])
			switch {
			case v == final:
				return len(b), final // net/http refuses this head itself
			case v == refuse || n == 0:
				return i, v // b[i:] is held: refused, or not complete yet
			}
			i += n
		case sBody:
			n := uint64(len(b) - i)
			if n >= p.remain {
				i += int(p.remain)
				p.remain = 0
				p.nextHead()
				continue
			}
			p.remain -= n
			return len(b), more
		case sChunkData:
			n := uint64(len(b) - i)
			if n >= p.remain {
				i += int(p.remain)
				p.remain = 0
				p.state = sChunkCR
				continue
			}
			p.remain -= n
			return len(b), more
		case sChunkCR, sChunkLF:
			want := byte('\r')
			if p.state == sChunkLF {
				want = '\n'
			}
			if b[i] != want {
				return len(b), final // net/http: "malformed chunked encoding"
			}
			i++
			if p.state == sChunkCR {
				p.state = sChunkLF
			} else {
				p.startChunkLine()
			}
		case sChunkSize:
			n, ok := p.chunkLine(b[i:])
			i += n
			if !ok {
				// net/http fails the body on this line: let it have the
				// bytes at hand, so that it sees the same fault rather than
				// an early end, and nothing after them.
				return len(b), final
			}
		case sTrailer:
			i += p.trailer(b[i:])
		}
	}
	return i, more
}

// nextHead prepares for the next request.
func (p *parser) nextHead() {
	p.state = sHead
	p.resetHead()
}

// head parses the whole lines of b (which starts at the head's first byte)
// not parsed yet. It returns the head's length once it is complete and
// accepted, or 0 with the verdict.
func (p *parser) head(b []byte) (int, verdict) {
	for {
		nl := bytes.IndexByte(b[p.hpos:], '\n')
		if nl < 0 {
			if len(b) > p.maxHead {
				return 0, final // net/http answers 431
			}
			return 0, more
		}
		line := b[p.hpos : p.hpos+nl]
		p.hpos += nl + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if p.lines == 0 {
			p.lines++
			p.rlLen = len(line)
			if !p.requestLine(line) {
				return 0, final // net/http: "malformed HTTP request"
			}
			continue
		}
		if len(line) == 0 {
			n := p.hpos
			if v := p.endHead(); v != more {
				return 0, v
			}
			return n, more
		}
		p.lines++
		p.field(line)
	}
}

// requestLine splits as net/http's parseRequestLine does.
func (p *parser) requestLine(line []byte) bool {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	_, proto, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 {
		return false
	}
	p.post = string(method) == "POST"
	// The version as net/http reads it (ParseHTTPVersion): it serves any
	// HTTP/1.x, so HTTP/1.2 and HTTP/1.9 are framed as HTTP/1.1 and must
	// be checked as such; only HTTP/1.0 has 1.0's framing.
	switch major, minor, ok := http.ParseHTTPVersion(string(proto)); {
	case ok && major == 1 && minor == 0:
		p.version = 10
	case ok && major == 1:
		p.version = 11
	default:
		p.bad = true // HTTP/2.0, HTTP/x: net/http answers 505 or 400
	}
	return true
}

// field records what framing needs from one header field line.
func (p *parser) field(line []byte) {
	if line[0] == ' ' || line[0] == '\t' {
		p.obsFold = true
		return
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		p.bad = true // net/http: "malformed MIME header line"
		return
	}
	name, value := line[:colon], line[colon+1:]
	switch {
	case len(name) == len("content-length") && asciiEqualFold(name, "content-length"):
		p.ncl++
		n, ok := parseLength(trimOWS(value))
		p.cl, p.clBad = n, p.clBad || !ok
	case len(name) == len("transfer-encoding") && asciiEqualFold(name, "transfer-encoding"):
		p.nte++
		p.teOK = isChunked(trimSP(value))
		p.teLast = finalChunked(value)
	}
}

// endHead decides about a complete head and sets up its body.
func (p *parser) endHead() verdict {
	post := p.post
	switch {
	case p.bad:
		return final
	case p.obsFold:
		return p.refuse(CodeObsFold)
	case p.nte > 0 && p.version == 10:
		return p.refuse(CodeTransferEncodingHTTP10)
	case p.nte > 0 && p.ncl > 0:
		return p.refuse(CodeContentLengthAndTransferEncoding)
	case p.nte > 1:
		return p.refuse(CodeTransferEncoding)
	case p.nte == 1 && !p.teOK:
		if p.teLast {
			return p.refuse(CodeUnsupportedTransferCoding)
		}
		return p.refuse(CodeTransferEncoding)
	case p.nte == 1:
		p.startChunkLine()
	case p.ncl > 1:
		return p.refuse(CodeDuplicateContentLength)
	case p.ncl == 1 && p.clBad:
		return p.refuse(CodeInvalidContentLength)
	case p.ncl == 1 && p.cl > 0:
		p.state, p.remain = sBody, p.cl
	default:
		p.state = sHead
	}
	p.postBefore = post
	if p.state == sHead {
		p.resetHead()
	} else {
		p.hpos = 0
	}
	return more
}

func (p *parser) startChunkLine() {
	p.state = sChunkSize
	p.line, p.digits, p.phase, p.cr, p.remain = 0, 0, 0, false, 0
}

func (p *parser) refuse(c Code) verdict {
	p.code = c
	return refuse
}

// chunkLine reads a chunk-size line as net/http's chunked reader does:
// 1-16 hex digits, then optional spaces or tabs, or a ';' and an extension,
// then CRLF; no other CR, no bare LF, shorter than 4096 bytes. It returns
// the bytes consumed and false on a line net/http rejects.
func (p *parser) chunkLine(b []byte) (int, bool) {
	for i, c := range b {
		if p.cr {
			if c != '\n' {
				return i + 1, false // "invalid CR in chunked line"
			}
			if p.digits == 0 || p.line >= maxChunkLine {
				return i + 1, false
			}
			if p.remain == 0 {
				p.state, p.line, p.cr = sTrailer, 0, false
				return i + 1, true
			}
			p.state = sChunkData
			return i + 1, true
		}
		switch {
		case c == '\r':
			p.cr = true
			continue
		case c == '\n':
			return i + 1, false // "chunked line ends with bare LF"
		}
		p.line++
		if p.line >= maxChunkLine {
			return i + 1, false // "header line too long"
		}
		switch p.phase {
		case 0:
			d, ok := hexDigit(c)
			switch {
			case ok:
				if p.digits == maxChunkDigits {
					return i + 1, false // "http chunk length too large"
				}
				p.digits++
				p.remain = p.remain<<4 | uint64(d)
			case c == ';':
				p.phase = 2
			case c == ' ' || c == '\t':
				p.phase = 1
			default:
				return i + 1, false // "invalid byte in chunk length"
			}
		case 1: // only whitespace may follow the digits (net/http trims it)
			if c != ' ' && c != '\t' {
				return i + 1, false
			}
		}
	}
	return len(b), true
}

// trailer reads trailer lines up to an empty one (LF or CRLF), as
// net/http's header reader does.
func (p *parser) trailer(b []byte) int {
	for i, c := range b {
		if c != '\n' {
			p.line++
			p.cr = c == '\r'
			continue
		}
		empty := p.line == 0 || p.line == 1 && p.cr
		p.line, p.cr = 0, false
		if empty {
			p.nextHead()
			return i + 1
		}
	}
	return len(b)
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseLength accepts 1*DIGIT below 2^63 (RFC 9110 §8.6; net/http's limit).
func parseLength(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n < 1<<63
}

// isChunked: the value is "chunked" in any case, with no padding but spaces.
func isChunked(v []byte) bool {
	return asciiEqualFold(v, "chunked")
}

// finalChunked: a list of codings whose last one, and only that one, is
// chunked, such as "gzip, chunked": well framed, with a coding Gatehouse
// does not decode (RFC 9112 §6.1: 501). "chunked, chunked" is not: chunked
// may be applied only once.
func finalChunked(v []byte) bool {
	i := bytes.LastIndexByte(v, ',')
	if i < 0 || !isChunked(trimSP(v[i+1:])) {
		return false
	}
	for _, c := range bytes.Split(v[:i], []byte{','}) {
		if c = trimSP(c); len(c) == 0 || isChunked(c) {
			return false
		}
	}
	return true
}

func trimSP(v []byte) []byte {
	for len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	for len(v) > 0 && v[len(v)-1] == ' ' {
		v = v[:len(v)-1]
	}
	return v
}

func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
