package app

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/framing"
)

// tlsListener does the https listener's TLS handshakes itself, one
// goroutine each, so that it can hand every connection to net/http the way
// it needs: an HTTP/2 one as the *tls.Conn net/http serves with its HTTP/2
// server, an HTTP/1.x one wrapped by framing, which must see the requests
// in plain text (net/http checks for a *tls.Conn, and the framing checks
// cannot read below TLS). Handshakes in progress count against the
// connection caps of the listener below.
type tlsListener struct {
	inner net.Listener
	conf  *tls.Config
	srv   *http.Server // handshake timeout, MaxHeaderBytes, ErrorLog
	log   *slog.Logger
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func newTLSListener(inner net.Listener, conf *tls.Config, srv *http.Server, log *slog.Logger) *tlsListener {
	l := &tlsListener{inner: inner, conf: conf, srv: srv, log: log,
		conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			// net/http retries temporary errors and returns (closing the
			// listener, hence done) on the others.
			select {
			case l.errs <- err:
				continue
			case <-l.done:
				return
			}
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.conf)
	if d := handshakeTimeout(l.srv); d > 0 {
		_ = c.SetDeadline(time.Now().Add(d))
	}
	if err := tc.Handshake(); err != nil {
		// As net/http does: a plain-text request gets a plain-text 400.
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		if l.srv.ErrorLog != nil {
			l.srv.ErrorLog.Printf("http: TLS handshake error from %s: %v", c.RemoteAddr(), err)
		}
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	var out net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		out = framing.NewConn(tc, l.srv.MaxHeaderBytes)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		out.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.inner.Close()
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// handshakeTimeout is net/http's: the smallest of its read and write
// timeouts that is set.
func handshakeTimeout(s *http.Server) time.Duration {
	var d time.Duration
	for _, t := range []time.Duration{s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout} {
		if t > 0 && (d == 0 || t < d) {
			d = t
		}
	}
	return d
}

// looksLikeHTTP is net/http's test for a plain-text request sent to a TLS
// port.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}
