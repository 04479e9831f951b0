//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// liveness tells whether an idle upstream connection is still open, with
// one non-blocking read on its socket: nothing to read (EAGAIN) is alive;
// end of file is the upstream's close; bytes are an answer to nothing
// asked, which makes the connection unusable too. The read callback is a
// method value made once per connection, so a check does not allocate.
type liveness struct {
	rc  syscall.RawConn
	fn  func(uintptr) bool
	ok  bool
	buf [1]byte
}

func newLiveness(c net.Conn) *liveness {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	l := &liveness{rc: rc}
	l.fn = l.check
	return l
}

func (l *liveness) alive() bool {
	if l == nil {
		return true
	}
	l.ok = false
	if err := l.rc.Read(l.fn); err != nil {
		return false
	}
	return l.ok
}

func (l *liveness) check(fd uintptr) bool {
	_, err := syscall.Read(int(fd), l.buf[:])
	l.ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true // answered: never wait for the socket to become readable
}
