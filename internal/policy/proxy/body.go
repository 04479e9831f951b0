package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// clientBody is the request body the proxy streams upstream. It keeps the
// first error reading it, because ReverseProxy reports a client that sent
// a broken, oversized, stalled or cut-off body the same way as an upstream
// that failed: errorHandler asks it whose fault the failure was.
//
// A failed read never turns into a complete upstream request: the
// transport stops writing the body on the error and closes the upstream
// connection (HTTP/1.1: no last chunk, or fewer bytes than Content-Length;
// HTTP/2: RST_STREAM), so the upstream sees an aborted request.
type clientBody struct {
	io.ReadCloser
	faults *sync.Map       // the proxy's: key -> the read error
	key    *pipeline.State // the request's, which errorHandler can reach
	closed atomic.Bool
	failed atomic.Bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !b.closed.Load() && b.failed.CompareAndSwap(false, true) {
		b.faults.Store(b.key, err)
	}
	return n, err
}

// Close is the transport (or ReverseProxy) being done with the body: a
// read failing after it is not the client's doing.
func (b *clientBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}

// clientFailure is the client body read error of the request st, or nil.
// ReverseProxy hands errorHandler its outbound copy of the request, whose
// body is its own wrapper, but the same context, hence the same state. The
// transport waits for its body-writing goroutine before it returns an
// error, so a failed read is recorded by then. (It reports the
// cancellation of the request's context rather than the read error when
// both happened, and net/http cancels the context when a connection read
// fails: the record is what tells a stalled or cut-off client from one
// that simply left.)
func (p *Proxy) clientFailure(st *pipeline.State) error {
	if v, ok := p.faults.Load(st); ok {
		return v.(error)
	}
	return nil
}

// clientFault is the answer to a client whose body could not be read, or
// nil when the client is gone and nothing can be sent.
func clientFault(ctx context.Context, err error) *pipeline.Rejection {
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return &pipeline.Rejection{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: "the request body is larger than " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes"}
	case errors.As(err, &ne) && ne.Timeout():
		// RFC 9110 §15.5.9: the server closes the connection after a 408.
		return &pipeline.Rejection{Status: http.StatusRequestTimeout, Code: "body_timeout",
			Message: "the request body stopped arriving, or arrived too slowly",
			Header:  http.Header{"Connection": {"close"}}}
	case ctx.Err() != nil, errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return nil // the client closed the connection mid-body
	}
	// What is left are the body's framing errors: a bad chunk-size line, a
	// bare LF, a missing CRLF after chunk data, a broken trailer.
	return &pipeline.Rejection{Status: http.StatusBadRequest, Code: "malformed_body",
		Message: "the request body is not valid chunked encoding (RFC 9112 §7.1): " + err.Error(),
		Header:  http.Header{"Connection": {"close"}}}
}
