package app

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/connlimit"
	"github.com/gatehouse/gatehouse/internal/framing"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/requestid"
)

// Client limits used when the config sets none (docs/configuration.md#client-limits
// says why these values).
const (
	// DefaultMaxBodyBytes is AWS API Gateway's payload limit: room for the
	// uploads an API carries, a bound on what one request can make the
	// gateway stream and an upstream receive.
	DefaultMaxBodyBytes = 10 << 20
	// DefaultBodyReadTimeout is the longest a request body may stall (and
	// the grace before DefaultMinBodyRate counts), as readHeaderTimeout is
	// for the head.
	DefaultBodyReadTimeout = 10 * time.Second
	// DefaultMinBodyRate is Apache mod_reqtimeout's MinRate, in bytes per
	// second.
	DefaultMinBodyRate = 500
	// DefaultSendTimeout is the longest one response write may wait for the
	// client to read; nginx's send_timeout is 60s.
	DefaultSendTimeout = 30 * time.Second
	// DefaultMaxConnections bounds the descriptors and memory of one
	// listener (10,000 connections are a few hundred MiB at most).
	DefaultMaxConnections = 10000
	// DefaultMaxIdleConnections keeps idle keep-alive connections from
	// holding the room active ones need.
	DefaultMaxIdleConnections = 1000
	// DefaultMaxConnectionsPerClient lets one address (an IPv6 /64) hold a
	// tenth of the listener, well above what a browser (6), a load test
	// (wrk -c64) or a pooling client opens.
	DefaultMaxConnectionsPerClient = 1000
)

// clientLimits are a listener's limits with the defaults applied; -1
// (or 0 for minRate) means none.
type clientLimits struct {
	maxBody      int64
	bodyTimeout  time.Duration
	minRate      int64
	sendTimeout  time.Duration
	readTimeout  time.Duration // the listener's own, which per-read deadlines must not outlast
	writeTimeout time.Duration
	conns        connlimit.Limits
}

func resolveLimits(l *config.Listener) clientLimits {
	pick := func(v, def int64) int64 {
		switch {
		case v == 0:
			return def
		case v < 0:
			return -1
		}
		return v
	}
	count := func(v, def int) int { // connlimit: 0 is no cap
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	lim := clientLimits{
		maxBody:      pick(l.MaxBodyBytes, DefaultMaxBodyBytes),
		bodyTimeout:  time.Duration(l.BodyReadTimeout),
		minRate:      max(pick(l.MinBodyRate, DefaultMinBodyRate), 0),
		sendTimeout:  time.Duration(l.SendTimeout),
		readTimeout:  time.Duration(l.ReadTimeout),
		writeTimeout: time.Duration(l.WriteTimeout),
		conns: connlimit.Limits{
			Max:          count(l.MaxConnections, DefaultMaxConnections),
			MaxIdle:      count(l.MaxIdleConnections, DefaultMaxIdleConnections),
			MaxPerClient: count(l.MaxConnectionsPerClient, DefaultMaxConnectionsPerClient),
		},
	}
	if lim.bodyTimeout == 0 {
		lim.bodyTimeout = DefaultBodyReadTimeout
	}
	if lim.sendTimeout == 0 {
		lim.sendTimeout = DefaultSendTimeout
	}
	return lim
}

// limitListener wraps a bound listener with the connection caps and the
// framing checks, and sets srv.ConnState, which both need (idle and
// hijacked connections). With tlsConf, the TLS handshakes are done here
// too (see tlsListener).
func (a *App) limitListener(name string, ln net.Listener, srv *http.Server, lim clientLimits, tlsConf *tls.Config) net.Listener {
	cl := connlimit.New(ln, lim.conns, name, a.log)
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateHijacked {
			if fc, ok := c.(interface{ Hijacked() }); ok {
				fc.Hijacked()
			}
		}
		cl.ConnState(c, s)
	}
	if tlsConf != nil {
		srv.TLSConfig = tlsConf
		return newTLSListener(cl, tlsConf, srv, a.log)
	}
	return framing.NewListener(cl, srv.MaxHeaderBytes)
}

// guard applies a listener's request limits around its handler: it
// answers the stand-ins of requests the framing checks refused, refuses a
// declared body over maxBodyBytes before reading it (so a client that sent
// Expect: 100-continue never gets 100 Continue), stops a chunked body at
// the limit, and keeps deadlines on body reads and response writes moving
// with the data.
type guard struct {
	next   http.Handler
	lim    clientLimits
	log    *slog.Logger
	access *accesslog.Logger // nil: no access log (the admin listener)
}

// deadliner is what http.ResponseController uses, on HTTP/1.x and
// HTTP/2 alike.
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.Header[framing.Header]; ok {
		if code, ok := framing.Refusal(r.Header); ok {
			g.log.Debug("request refused: ambiguous framing", "form", code.String(), "remote", r.RemoteAddr)
			g.refuse(w, r, &pipeline.Rejection{Status: code.Status(), Code: code.Reason(), Message: code.Message()})
			return
		}
		delete(r.Header, framing.Header)
	}
	if g.lim.maxBody >= 0 && r.ContentLength > g.lim.maxBody {
		g.refuse(w, r, tooLarge(g.lim.maxBody))
		return
	}
	start := time.Now()
	dl, _ := w.(deadliner)
	var body *progressBody
	if r.Body != nil && r.Body != http.NoBody {
		// A copy of the request carries the wrapped body: net/http goes on
		// looking at the Body of its own (to tell whether a client that
		// sent Expect: 100-continue got to send its body).
		rr := *r
		if r.ContentLength < 0 && g.lim.maxBody >= 0 {
			// Chunked: stopped at the limit with *http.MaxBytesError, which
			// the proxy answers with 413 (and the upstream request is
			// aborted); net/http closes the connection after the answer.
			rr.Body = http.MaxBytesReader(w, rr.Body, g.lim.maxBody)
		}
		if dl != nil {
			body = &progressBody{ReadCloser: rr.Body, dl: dl, timeout: g.lim.bodyTimeout,
				minRate: g.lim.minRate, limit: deadlineAfter(start, g.lim.readTimeout)}
			rr.Body = body
			// Whoever reads the body first, the handler or net/http
			// discarding it after a handler that did not (a 401 before
			// the body), finds a deadline.
			_ = dl.SetReadDeadline(earliest(start.Add(g.lim.bodyTimeout), body.limit))
		}
		r = &rr
	}
	if dl == nil {
		g.next.ServeHTTP(w, r)
		return
	}
	sw := sendWriters.Get().(*sendWriter)
	*sw = sendWriter{w: w, dl: dl, timeout: g.lim.sendTimeout, limit: deadlineAfter(start, g.lim.writeTimeout)}
	g.next.ServeHTTP(sw, r)
	sw.refresh() // net/http writes what is still buffered after the handler returns
	*sw = sendWriter{}
	sendWriters.Put(sw)
	if body != nil && !body.done {
		g.linger(dl)
	}
}

// linger bounds what net/http does after a handler that left the body
// unread: it reads on (up to 256 KiB) to reuse the connection, with no
// deadline of its own, so a client that declared a body and never sends it
// (Expect: 100-continue refused, or an upstream that answered early)
// would hold the connection for as long as it likes.
func (g *guard) linger(dl deadliner) {
	_ = dl.SetReadDeadline(time.Now().Add(min(g.lim.bodyTimeout, time.Second)))
}

func tooLarge(limit int64) *pipeline.Rejection {
	return &pipeline.Rejection{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: "the request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}

// refuse answers before the gateway runs: with an eg-request-id, the
// JSON error, Connection: close, and an access-log line like the gateway's.
func (g *guard) refuse(w http.ResponseWriter, r *http.Request, rej *pipeline.Rejection) {
	st := &pipeline.State{RequestID: requestid.New(), Record: pipeline.Record{Start: time.Now()}}
	r = pipeline.WithState(r, st)
	h := w.Header()
	h["Eg-Request-Id"] = []string{st.RequestID}
	h.Set("Connection", "close")
	pipeline.WriteError(w, r, rej, g.log)
	if dl, ok := w.(deadliner); ok && r.ContentLength != 0 {
		g.linger(dl)
	}
	// No bytes: the refusal's size is not counted here.
	g.access.Log(accesslog.Entry{RequestID: st.RequestID, Method: r.Method, Path: r.URL.Path,
		Status: rej.Status, Bytes: -1, Duration: time.Since(st.Record.Start), Remote: r.RemoteAddr,
		Reason: rej.Code})
}

// earliest is the earlier of d and limit; a zero limit is none.
func earliest(d, limit time.Time) time.Time {
	if !limit.IsZero() && limit.Before(d) {
		return limit
	}
	return d
}

func deadlineAfter(start time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return start.Add(d)
}

// progressBody moves the connection's read deadline with the body: the
// next bytes must come within timeout, and the body as a whole must keep
// up with minRate after a grace of timeout (so 1 byte every few seconds
// does not hold the request forever). A read past the deadline fails with
// a timeout, which the proxy answers with 408.
type progressBody struct {
	io.ReadCloser
	dl      deadliner
	timeout time.Duration
	minRate int64
	limit   time.Time // the listener's readTimeout, or zero
	first   time.Time
	n       int64
	done    bool
}

func (b *progressBody) Read(p []byte) (int, error) {
	now := time.Now()
	if b.first.IsZero() {
		b.first = now
	}
	d := now.Add(b.timeout)
	if b.minRate > 0 {
		owed := time.Duration(float64(b.n) / float64(b.minRate) * float64(time.Second))
		d = earliest(d, b.first.Add(b.timeout+owed))
	}
	_ = b.dl.SetReadDeadline(earliest(d, b.limit))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		// Done: back to the listener's deadline. net/http reads the
		// connection in the background once the body is done, and a stale
		// deadline would end the request there. (After a failure the
		// deadline stays: net/http must not wait on this client again.)
		b.done = true
		_ = b.dl.SetReadDeadline(b.limit)
	}
	return n, err
}

// sendWriter gives every response write sendTimeout to reach the client.
// A client that stops reading makes the write fail, and net/http closes
// the connection.
type sendWriter struct {
	w       http.ResponseWriter
	dl      deadliner
	timeout time.Duration
	limit   time.Time // the listener's writeTimeout, or zero
}

var sendWriters = sync.Pool{New: func() any { return new(sendWriter) }}

func (s *sendWriter) refresh() {
	_ = s.dl.SetWriteDeadline(earliest(time.Now().Add(s.timeout), s.limit))
}

func (s *sendWriter) Header() http.Header { return s.w.Header() }

func (s *sendWriter) WriteHeader(code int) {
	if code < 200 {
		s.refresh() // 1xx responses are written at once
	}
	s.w.WriteHeader(code)
}

func (s *sendWriter) Write(p []byte) (int, error) {
	s.refresh()
	return s.w.Write(p)
}

// Flush and FlushError write what is buffered (streamed responses).
func (s *sendWriter) Flush() { _ = s.FlushError() }

func (s *sendWriter) FlushError() error {
	s.refresh()
	switch f := s.w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.ErrNotSupported
}

// Unwrap lets http.ResponseController reach the server's writer (Hijack,
// deadlines, full duplex).
func (s *sendWriter) Unwrap() http.ResponseWriter { return s.w }
