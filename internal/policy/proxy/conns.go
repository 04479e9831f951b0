package proxy

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// connPool is the RoundTripper for plain-HTTP/1.1 upstreams: a pool of idle
// connections, each with its bufio.Reader and Writer, and an exchange run
// on the caller's (the handler's) goroutine. http.Transport hands every
// request to a connection's writeLoop and every response back from its
// readLoop, through channels, with a timer and a cancellation context per
// request: that is a third of a proxied request's allocations and two
// goroutine switches. Serialization and parsing stay the standard
// library's (Request.Write, http.ReadResponse), so the request-boundary
// guarantees do not change.
//
// What it does not do it leaves to fallback, the step's http.Transport:
// https upstreams (TLS, HTTP/2), the outbound forward proxy (forward.go)
// Upgrade requests (101, RFC 9110 §7.8: the connection is no longer
// HTTP, ReverseProxy needs a writable body), and Expect: 100-continue
// requests (RFC 9110 §10.1.1): the transport holds their body until the
// upstream's 100, and reading the body is what makes net/http's server
// send the client its own 100, which must not race with an upstream 1xx
// being passed on.
type connPool struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// headerTimeout bounds the wait for the response headers, from the
	// request's last byte (http.Transport's ResponseHeaderTimeout).
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxIdle       int // per upstream host
	fallback      http.RoundTripper

	mu     sync.Mutex
	idle   map[string][]*upConn // by URL.Host, most recently used last
	closed bool
	// reaper closes connections idle past idleTimeout (one timer per
	// pool, armed while any is idle), as http.Transport does: an unused
	// connection would otherwise stay open, or half-closed by the
	// upstream, until the next request or reload.
	reaper *time.Timer
}

func newConnPool(dial func(context.Context, string, string) (net.Conn, error), headerTimeout time.Duration, fallback http.RoundTripper) *connPool {
	return &connPool{
		dial: dial, headerTimeout: headerTimeout, fallback: fallback,
		idleTimeout: 90 * time.Second, maxIdle: 256, // as the transport's
		idle: map[string][]*upConn{},
	}
}

// maxHeaderBytes bounds the response header block, 1xx responses included
// (http.Transport's default MaxResponseHeaderBytes).
const maxHeaderBytes = 10 << 20

// max1xx bounds the informational responses before the final one.
const max1xx = 8

// upConn is one upstream connection with its buffers. Read counts what is
// read, so that a failure before the first byte of a response on a reused
// connection (closed by the upstream while idle) can be retried, and
// bounds the header block.
type upConn struct {
	net.Conn
	pool   *connPool
	key    string
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	nread  int64
	limit  int64 // header bytes left; < 0: not reading headers
	probe  *liveness
	// mu orders the writer's arming of the header timeout (a request
	// with a body) with the reader's disarming of it once headers are in.
	mu        sync.Mutex
	headersIn bool
	abortFunc func() // c.abort, made once
}

func (c *upConn) Read(b []byte) (int, error) {
	if c.limit == 0 {
		return 0, fmt.Errorf("proxy: upstream response headers exceed %d bytes", maxHeaderBytes)
	}
	if c.limit > 0 && int64(len(b)) > c.limit {
		b = b[:c.limit]
	}
	n, err := c.Conn.Read(b)
	c.nread += int64(n)
	if c.limit > 0 {
		c.limit -= int64(n)
	}
	return n, err
}

// abort unblocks a read or write in progress: the request's context ended.
func (c *upConn) abort() { _ = c.Conn.SetDeadline(aLongTimeAgo) }

var aLongTimeAgo = time.Unix(1, 0)

// errHeaderTimeout is proxyTimeout passing before the response headers,
// in http.Transport's words.
var errHeaderTimeout error = headerTimeoutError{}

type headerTimeoutError struct{}

func (headerTimeoutError) Error() string   { return "net/http: timeout awaiting response headers" }
func (headerTimeoutError) Timeout() bool   { return true }
func (headerTimeoutError) Temporary() bool { return true }

// errStale is a reused connection that failed before any response byte:
// the upstream closed it while it was idle.
var errStale = errors.New("proxy: upstream closed an idle connection")

// RoundTrip runs one exchange. Like http.Transport, it retries once on a
// fresh connection a replayable request whose reused connection turned out
// closed before anything was read.
func (p *connPool) RoundTrip(req *http.Request) (*http.Response, error) {
	if !direct(req) {
		return p.fallback.RoundTrip(req)
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	// The transport asks for gzip and decompresses it when the client
	// did not say what it accepts: the upstream sees the same request as
	// through http.Transport (the outbound request is ReverseProxy's own
	// copy, so its header may be added to). Decided once: a retry sends
	// the same request.
	gz := false
	if req.Method != "HEAD" && req.Header["Accept-Encoding"] == nil && req.Header["Range"] == nil {
		req.Header["Accept-Encoding"] = gzipOnly
		gz = true
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(req, attempt > 0)
		if err != nil {
			if hasBody {
				req.Body.Close()
			}
			return nil, err
		}
		resp, err := c.exchange(req, hasBody, gz)
		if err == nil {
			return resp, nil
		}
		if errors.Is(err, errStale) && reused && attempt == 0 && replayable(req) {
			continue
		}
		return nil, err
	}
}

// direct is whether the pool runs req's exchange itself, not its
// fallback (see connPool).
func direct(req *http.Request) bool {
	return req.URL.Scheme == "http" && req.Header["Upgrade"] == nil && req.Header["Expect"] == nil
}

// replayable is net/http's rule (Request.isReplayable): no body, and a
// method that is idempotent or a request that says it may be replayed.
func replayable(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody {
		return false
	}
	switch r.Method {
	case "", "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return r.Header["Idempotency-Key"] != nil || r.Header["X-Idempotency-Key"] != nil
}

// get takes the most recently used live idle connection to the request's
// host, or dials one.
func (p *connPool) get(req *http.Request, fresh bool) (*upConn, bool, error) {
	key := req.URL.Host
	for !fresh {
		p.mu.Lock()
		list := p.idle[key]
		if len(list) == 0 {
			p.mu.Unlock()
			break
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		p.idle[key] = list[:len(list)-1]
		p.mu.Unlock()
		// An upstream may close an idle connection at any time (its
		// keep-alive timeout): one non-blocking read tells, so that a
		// request that cannot be replayed is not sent on a dead one.
		if time.Since(c.idleAt) > p.idleTimeout || !c.probe.alive() {
			c.Conn.Close()
			continue
		}
		return c, true, nil
	}
	nc, err := p.dial(req.Context(), "tcp", canonicalAddr(req.URL))
	if err != nil {
		return nil, false, err
	}
	c := &upConn{Conn: nc, pool: p, key: key, limit: -1}
	c.br = bufio.NewReaderSize(c, 4096)
	c.bw = bufio.NewWriterSize(nc, 4096)
	c.probe = newLiveness(nc)
	c.abortFunc = c.abort
	return c, false, nil
}

// put returns a connection whose exchange ended cleanly to the pool.
func (p *connPool) put(c *upConn) {
	if c.br.Buffered() > 0 {
		// Bytes the upstream sent past its response: the connection is
		// out of step (RFC 9112 §9.3.2 forbids nothing here, but nothing
		// was asked for).
		c.Conn.Close()
		return
	}
	c.idleAt = time.Now()
	p.mu.Lock()
	if !p.closed && len(p.idle[c.key]) < p.maxIdle {
		p.idle[c.key] = append(p.idle[c.key], c)
		c = nil
		if p.reaper == nil {
			p.reaper = time.AfterFunc(p.idleTimeout, p.reap)
		}
	}
	p.mu.Unlock()
	if c != nil {
		c.Conn.Close()
	}
}

// reap closes the connections idle past idleTimeout, and comes back while
// some are left.
func (p *connPool) reap() {
	var old []*upConn
	p.mu.Lock()
	cutoff := time.Now().Add(-p.idleTimeout)
	left := false
	for k, list := range p.idle {
		n := 0 // the oldest are first
		for n < len(list) && !list[n].idleAt.After(cutoff) {
			old = append(old, list[n])
			n++
		}
		if n == len(list) {
			delete(p.idle, k)
			continue
		}
		p.idle[k] = append(list[:0], list[n:]...)
		clear(list[len(list)-n:])
		left = true
	}
	if left && !p.closed {
		p.reaper.Reset(p.idleTimeout)
	} else {
		p.reaper = nil
	}
	p.mu.Unlock()
	for _, c := range old {
		c.Conn.Close()
	}
}

// CloseIdleConnections closes the idle connections (the step's config is
// replaced) and the fallback's.
func (p *connPool) CloseIdleConnections() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = map[string][]*upConn{}, true
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.Conn.Close()
		}
	}
	if f, ok := p.fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// exchange writes req and reads its response on c. A request with a body
// is written by a goroutine, so that an upstream may answer before it has
// read the whole body (RFC 9110 §15.5.14, an early 413) and the body is
// streamed as it arrives; a request without one (most API calls) is
// written here.
func (c *upConn) exchange(req *http.Request, hasBody, gz bool) (*http.Response, error) {
	ctx := req.Context()
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.abortFunc)
	}
	c.nread, c.headersIn = 0, false
	var wrote chan error
	if hasBody {
		wrote = make(chan error, 1)
		go c.write(req, wrote)
	} else if err := c.writeHead(req); err != nil {
		return nil, c.fail(err, stop, ctx, nil)
	}
	resp, err := c.readResponse(req)
	if err != nil {
		return nil, c.fail(err, stop, ctx, wrote)
	}
	if gz && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
		resp.Body = &gunzip{body: resp.Body}
	}
	b := &pooledBody{body: resp.Body, c: c, stop: stop, wrote: wrote, reuse: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

var gzipOnly = []string{"gzip"}

func (c *upConn) writeHead(req *http.Request) error {
	if err := req.Write(c.bw); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	return c.armHeaderTimeout()
}

// armHeaderTimeout starts the wait for the response headers, once the
// request is sent (unless they are already in: an early answer).
func (c *upConn) armHeaderTimeout() error {
	t := c.pool.headerTimeout
	if t <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.headersIn {
		return nil
	}
	return c.Conn.SetReadDeadline(time.Now().Add(t))
}

func (c *upConn) disarmHeaderTimeout() {
	c.mu.Lock()
	c.headersIn = true
	if c.pool.headerTimeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
}

// write sends a request with a body. A failure closes the connection, so
// that the upstream sees an aborted request (fewer bytes than
// Content-Length, or no last chunk), never a complete one (see body.go).
func (c *upConn) write(req *http.Request, done chan<- error) {
	err := req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		err = c.armHeaderTimeout()
	}
	if err != nil {
		// Once the upstream has answered, the connection carries its
		// response: it is closed when that ends (finish), and the
		// request is incomplete, never complete, all the same. A
		// server in front stops the client's body when its response
		// starts (net/http does), which lands here.
		c.mu.Lock()
		if !c.headersIn {
			c.Conn.Close()
		}
		c.mu.Unlock()
	}
	done <- err
}

// readResponse reads the final response, passing each informational one
// (100 Continue, 103 Early Hints; RFC 9110 §15.2) to the request's
// httptrace.ClientTrace, through which ReverseProxy forwards it.
func (c *upConn) readResponse(req *http.Request) (*http.Response, error) {
	trace := httptrace.ContextClientTrace(req.Context())
	for n := 0; ; n++ {
		c.limit = maxHeaderBytes
		resp, err := http.ReadResponse(c.br, req)
		c.limit = -1
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code == http.StatusSwitchingProtocols {
			// Upgrade requests go to the fallback: a 101 here answers
			// a request that did not ask for it.
			return nil, errors.New("proxy: upstream switched protocols unasked")
		}
		if code >= 200 {
			c.disarmHeaderTimeout()
			return resp, nil
		}
		if n == max1xx {
			return nil, errors.New("proxy: too many 1xx responses from the upstream")
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// fail closes c after a failed exchange and says why: the request's
// context when it ended, errStale when a reused connection failed before
// any response byte.
func (c *upConn) fail(err error, stop func() bool, ctx context.Context, wrote chan error) error {
	c.Conn.Close()
	if stop != nil {
		stop()
	}
	if wrote != nil {
		// The transport's rule, which body.go relies on: the body's
		// read error is recorded before the exchange reports failing.
		if werr := <-wrote; werr != nil && c.nread == 0 {
			err = werr
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if c.pool.headerTimeout > 0 && !c.headersIn && errors.Is(err, os.ErrDeadlineExceeded) {
		return errHeaderTimeout // what the log said through http.Transport
	}
	if c.nread == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)) {
		return fmt.Errorf("%w: %w", errStale, err)
	}
	return err
}

// pooledBody is a response body that gives its connection back to the pool
// once read to its end (trailers included: the body reads them at EOF), or
// closes it when abandoned.
type pooledBody struct {
	body  io.ReadCloser
	c     *upConn
	stop  func() bool
	wrote chan error
	reuse bool
	done  bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.done {
		return b.body.Read(p)
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if !b.done {
		// Not read to its end: the connection cannot be reused, and
		// closing it first keeps the body's Close from draining an
		// endless stream.
		b.finish(false)
	}
	return b.body.Close()
}

func (b *pooledBody) finish(clean bool) {
	b.done = true
	c := b.c
	if b.stop != nil && !b.stop() {
		clean = false // the context ended: the deadline is poisoned
	}
	if b.wrote != nil {
		select {
		case err := <-b.wrote:
			clean = clean && err == nil
		default:
			// The upstream answered before the body was sent: the
			// connection is out of step; closing it ends the writer.
			clean = false
		}
	}
	if clean && b.reuse {
		c.pool.put(c)
		return
	}
	c.Conn.Close()
}

// gunzip decompresses a body the pool asked gzip for, on the first read
// (as http.Transport's gzipReader).
type gunzip struct {
	body io.ReadCloser
	zr   *gzip.Reader
	err  error
}

func (g *gunzip) Read(p []byte) (int, error) {
	if g.zr == nil {
		if g.err == nil {
			g.zr, g.err = gzip.NewReader(g.body)
		}
		if g.err != nil {
			return 0, g.err
		}
	}
	n, err := g.zr.Read(p)
	if err == io.EOF {
		// Read the wrapped body to its end too, so that the pool gets
		// the connection back.
		if _, berr := io.Copy(io.Discard, g.body); berr != nil {
			err = berr
		}
	}
	return n, err
}

func (g *gunzip) Close() error { return g.body.Close() }

// isReset is a connection the peer closed under a write or a read.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
