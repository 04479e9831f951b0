package framing

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Header is the field of the stand-in request that replaces a refused one.
// Its value is a per-process random token and the Code; a client that
// sends the field itself cannot know the token.
const Header = "Gatehouse-Framing-Refusal"

// token makes the stand-in unforgeable (forging it would only get the
// forger's own request refused, but a refusal should mean one thing).
var token = sync.OnceValue(func() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
})

// Slack is what net/http reads past Server.MaxHeaderBytes before it answers
// 431 (its initialReadLimitSize).
const Slack = 4096

// Conn checks the requests read from an HTTP/1.x connection; see the
// package comment. It is safe for the one reader net/http runs per
// connection; Hijacked may be called from another goroutine.
type Conn struct {
	net.Conn
	p parser
	// buf holds bytes read from Conn and not yet returned: buf[r:v] are
	// cleared, buf[v:] are the start of a head that is not complete yet.
	buf  []byte
	r, v int
	err  error // a read error, returned once the cleared bytes are out
	end  bool  // return io.EOF once the cleared bytes are out
	off  atomic.Bool
}

// NewConn wraps c. maxHeaderBytes is the server's MaxHeaderBytes. A
// *tls.Conn stays visible to net/http through ConnectionState, so that it
// sets Request.TLS.
func NewConn(c net.Conn, maxHeaderBytes int) net.Conn {
	fc := &Conn{Conn: c}
	fc.p.maxHead = maxHeaderBytes + Slack + 64 // more than net/http reads before its 431
	fc.p.resetHead()
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsConn{Conn: fc, tls: tc}
	}
	return fc
}

type tlsConn struct {
	*Conn
	tls *tls.Conn
}

// ConnectionState lets net/http fill Request.TLS (it does for a conn that
// is not a *tls.Conn but has this method).
func (c *tlsConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// Hijacked stops the checks: the connection no longer carries HTTP/1.x
// requests (a WebSocket after 101 Switching Protocols, a CONNECT tunnel).
// net/http reports it through Server.ConnState (StateHijacked).
func (c *Conn) Hijacked() { c.off.Store(true) }

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the connection, as net/http does after a 413 so
// that the client reads the answer before a reset.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *Conn) Read(b []byte) (int, error) {
	for {
		if c.r < c.v {
			n := copy(b, c.buf[c.r:c.v])
			c.r += n
			if c.r == len(c.buf) {
				c.release()
			}
			return n, nil
		}
		if c.off.Load() {
			if c.v < len(c.buf) {
				c.v = len(c.buf) // held bytes go out unchecked
				continue
			}
			return c.Conn.Read(b)
		}
		if c.err != nil {
			err := c.err
			c.err = nil
			return 0, err
		}
		if c.end {
			return 0, io.EOF
		}
		if len(c.buf) == 0 {
			// Nothing held: read straight into b, and hold only the start
			// of a head that does not end in it.
			n, err := c.Conn.Read(b)
			if n == 0 {
				return 0, err
			}
			k, v := c.p.feed(b[:n])
			if k == n && v == more {
				return n, err
			}
			if v != final {
				c.buf = append(c.buffer(), b[k:n]...)
			}
			c.r, c.v, c.err = 0, 0, err
			c.decide(v)
			if k > 0 {
				return k, nil
			}
			continue
		}
		// A head is held: read the rest of it after the held bytes.
		if c.r > 0 {
			c.buf = c.buf[:copy(c.buf, c.buf[c.r:])]
			c.r, c.v = 0, 0
		}
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, make([]byte, len(c.buf))...)[:len(c.buf)]
		}
		n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if n > 0 {
			k, v := c.p.feed(c.buf[c.v:])
			c.v += k
			c.decide(v)
		}
		if err != nil {
			c.err = err
		}
	}
}

// decide applies the parser's verdict to the held bytes after c.v.
func (c *Conn) decide(v verdict) {
	switch v {
	case final:
		c.buf = c.buf[:c.v]
		c.end = true
	case refuse:
		stand := standIn(c.buf[c.v:], &c.p)
		c.buf = append(c.buf[:c.v], stand...)
		c.v = len(c.buf)
		c.end = true
	}
}

// standIn is the request net/http reads instead of a refused head: its
// request line (for the logs), no body, Connection: close, and Header.
func standIn(head []byte, p *parser) []byte {
	line := head[:p.rlLen]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	proto := " HTTP/1.1"
	if p.version == 10 {
		proto = " HTTP/1.0"
	}
	var b []byte
	if len(line) > 2048 {
		method, _, _ := strings.Cut(string(line[:64]), " ")
		b = append(b, method+" /"+proto...)
	} else {
		b = append(b, line...)
	}
	b = append(b, "\r\nHost: refused.invalid\r\nContent-Length: 0\r\nConnection: close\r\n"+
		Header+": "+token()+" "+strconv.Itoa(int(p.code))+"\r\n\r\n"...)
	return b
}

// Buffers for held heads. Most heads arrive whole in one read and need
// none.
var buffers = sync.Pool{New: func() any { return new([4096]byte) }}

func (c *Conn) buffer() []byte {
	if c.buf != nil {
		return c.buf[:0]
	}
	return buffers.Get().(*[4096]byte)[:0]
}

func (c *Conn) release() {
	if cap(c.buf) == 4096 {
		buffers.Put((*[4096]byte)(c.buf[:4096]))
	}
	c.buf, c.r, c.v = nil, 0, 0
}

// Refusal reports whether h is the header of a stand-in request, and why
// the request it replaces was refused.
func Refusal(h http.Header) (Code, bool) {
	v, ok := h[Header]
	if !ok || len(v) != 1 {
		return 0, false
	}
	tok, code, ok := strings.Cut(v[0], " ")
	if !ok || tok != token() {
		return 0, false
	}
	n, err := strconv.Atoi(code)
	if err != nil || n <= 0 || n >= int(codeEnd) {
		return 0, false
	}
	return Code(n), true
}

// Status is the HTTP status a refusal is answered with.
func (c Code) Status() int {
	if c == CodeUnsupportedTransferCoding {
		return http.StatusNotImplemented
	}
	return http.StatusBadRequest
}

// Reason is the reason code of the answer.
func (c Code) Reason() string {
	if c == CodeUnsupportedTransferCoding {
		return "unsupported_transfer_coding"
	}
	return "invalid_framing"
}

// Message says what was wrong, for the client.
func (c Code) Message() string {
	switch c {
	case CodeContentLengthAndTransferEncoding:
		return "the request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1)"
	case CodeDuplicateContentLength:
		return "the request has more than one Content-Length (RFC 9110 §8.6)"
	case CodeInvalidContentLength:
		return "the request's Content-Length is not a number of bytes (RFC 9110 §8.6)"
	case CodeTransferEncoding:
		return `the request's Transfer-Encoding is not one "chunked" field (RFC 9112 §6.3)`
	case CodeUnsupportedTransferCoding:
		return "the request's body uses a transfer coding other than chunked (RFC 9112 §6.1)"
	case CodeTransferEncodingHTTP10:
		return "an HTTP/1.0 request cannot use Transfer-Encoding (RFC 9112 §6.1)"
	case CodeObsFold:
		return "the request folds a header field over several lines (RFC 9112 §5.2)"
	}
	return "the request's framing is invalid"
}

// String names the refusal in logs.
func (c Code) String() string {
	switch c {
	case CodeContentLengthAndTransferEncoding:
		return "content-length-and-transfer-encoding"
	case CodeDuplicateContentLength:
		return "duplicate-content-length"
	case CodeInvalidContentLength:
		return "invalid-content-length"
	case CodeTransferEncoding:
		return "invalid-transfer-encoding"
	case CodeUnsupportedTransferCoding:
		return "unsupported-transfer-coding"
	case CodeTransferEncodingHTTP10:
		return "transfer-encoding-in-http/1.0"
	case CodeObsFold:
		return "obs-fold"
	}
	return "code " + strconv.Itoa(int(c))
}

// Listener wraps the connections of a plain-text HTTP/1.x listener.
type Listener struct {
	net.Listener
	maxHeaderBytes int
}

// NewListener wraps ln; maxHeaderBytes is the server's MaxHeaderBytes.
func NewListener(ln net.Listener, maxHeaderBytes int) *Listener {
	return &Listener{Listener: ln, maxHeaderBytes: maxHeaderBytes}
}

// Accept wraps the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(c, l.maxHeaderBytes), nil
}
