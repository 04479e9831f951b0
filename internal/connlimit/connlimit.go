// Package connlimit caps the connections of a listener: in total, per
// client address, and those idle between keep-alive requests.
//
// At the total cap, Accept first closes the oldest idle connection, then
// waits for a connection to close; meanwhile new connections wait in the
// kernel's accept queue. A client over its own cap is closed as soon as it
// is accepted. The idle cap closes the oldest idle connection when one more
// becomes idle. Idle and active come from net/http's Server.ConnState,
// which the server must pass to ConnState.
package connlimit

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the caps; 0 means no cap.
type Limits struct {
	// Max is the number of open connections.
	Max int
	// MaxIdle is the number of connections idle between requests.
	MaxIdle int
	// MaxPerClient is the number of open connections from one client
	// address: one IPv4 address, or one IPv6 /64 (what one host usually
	// gets).
	MaxPerClient int
}

// Listener applies Limits to the connections of a net.Listener.
type Listener struct {
	net.Listener
	lim   Limits
	log   *slog.Logger
	name  string
	slots chan struct{} // one token per open connection, when Max is set
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	clients map[netip.Addr]int // open connections per client, when MaxPerClient is set
	oldest  *Conn              // the idle list, oldest first
	newest  *Conn
	nidle   int

	waiting atomic.Int32 // Accept calls waiting for a slot

	warned [2]atomic.Int64 // unix nanoseconds of the last warning per kind
}

// New wraps ln. name and log say which listener a warning is about.
func New(ln net.Listener, lim Limits, name string, log *slog.Logger) *Listener {
	l := &Listener{Listener: ln, lim: lim, log: log, name: name, done: make(chan struct{})}
	if lim.Max > 0 {
		l.slots = make(chan struct{}, lim.Max)
	}
	if lim.MaxPerClient > 0 {
		l.clients = map[netip.Addr]int{}
	}
	return l
}

// Accept waits for a free slot and for a connection from a client under
// its cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			default:
				l.warn(0, "the listener reached maxConnections: new connections wait until one closes", "max_connections", l.lim.Max)
				l.waiting.Add(1)
				if victim := l.popIdle(); victim != nil {
					victim.Close()
				}
				select {
				case l.slots <- struct{}{}:
					l.waiting.Add(-1)
				case <-l.done:
					l.waiting.Add(-1)
					return nil, net.ErrClosed
				}
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.release()
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		if l.clients != nil {
			l.mu.Lock()
			n := l.clients[key]
			if n >= l.lim.MaxPerClient {
				l.mu.Unlock()
				c.Close()
				l.release()
				l.warn(1, "a client reached maxConnectionsPerClient: its new connections are closed", "client", key.String(), "max_connections_per_client", l.lim.MaxPerClient)
				continue
			}
			l.clients[key] = n + 1
			l.mu.Unlock()
		}
		return &Conn{Conn: c, l: l, key: key}, nil
	}
}

// Close stops Accept.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *Listener) release() {
	if l.slots != nil {
		<-l.slots
	}
}

// warn logs at most once a minute per kind: a flood must not flood the log.
func (l *Listener) warn(kind int, msg string, args ...any) {
	now := time.Now().UnixNano()
	last := l.warned[kind].Load()
	if now-last < int64(time.Minute) || !l.warned[kind].CompareAndSwap(last, now) {
		return
	}
	l.log.Warn(msg, append([]any{"listener", l.name}, args...)...)
}

// ConnState is for http.Server.ConnState: it tracks which connections are
// idle.
func (l *Listener) ConnState(nc net.Conn, s http.ConnState) {
	c := find(nc)
	if c == nil || c.l != l {
		return
	}
	if s != http.StateIdle && !c.listed.Load() {
		return // the common case, StateActive after a request head: no lock
	}
	var victim *Conn
	l.mu.Lock()
	if s == http.StateIdle {
		if !c.idle && !c.closed {
			c.idle = true
			c.listed.Store(true)
			c.prev = l.newest
			if l.newest != nil {
				l.newest.next = c
			} else {
				l.oldest = c
			}
			l.newest = c
			l.nidle++
		}
		// Over the idle cap, or a new connection waits for room: the
		// oldest idle connection goes.
		if l.lim.MaxIdle > 0 && l.nidle > l.lim.MaxIdle || l.waiting.Load() > 0 {
			victim = l.popIdleLocked()
		}
	} else {
		l.unlinkLocked(c)
	}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
}

func (l *Listener) popIdle() *Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.popIdleLocked()
}

func (l *Listener) popIdleLocked() *Conn {
	c := l.oldest
	if c != nil {
		l.unlinkLocked(c)
	}
	return c
}

func (l *Listener) unlinkLocked(c *Conn) {
	if !c.idle {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.oldest = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.newest = c.prev
	}
	c.prev, c.next, c.idle = nil, nil, false
	c.listed.Store(false)
	l.nidle--
}

// Open and Idle count the listener's connections, for tests and metrics.
func (l *Listener) Open() int {
	if l.slots == nil {
		return -1
	}
	return len(l.slots)
}

// Idle is the number of idle connections.
func (l *Listener) Idle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nidle
}

// Conn is an accepted connection; closing it frees its slot.
type Conn struct {
	net.Conn
	l   *Listener
	key netip.Addr

	// guarded by l.mu
	prev, next   *Conn
	idle, closed bool
	listed       atomic.Bool // idle, readable without l.mu
}

// Close closes the connection and frees its slot, once.
func (c *Conn) Close() error {
	l := c.l
	l.mu.Lock()
	if c.closed {
		l.mu.Unlock()
		return c.Conn.Close()
	}
	c.closed = true
	l.unlinkLocked(c)
	if l.clients != nil {
		if n := l.clients[c.key] - 1; n > 0 {
			l.clients[c.key] = n
		} else {
			delete(l.clients, c.key)
		}
	}
	l.mu.Unlock()
	l.release()
	return c.Conn.Close()
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes a TCP connection (net/http does it after a 413).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// find unwraps nc (a *tls.Conn, or a wrapper with NetConn) down to a *Conn.
func find(nc net.Conn) *Conn {
	for range 8 {
		switch c := nc.(type) {
		case *Conn:
			return c
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// clientKey is the address a connection counts against: the IPv4 address,
// or the /64 of an IPv6 one.
func clientKey(a net.Addr) netip.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	if ip.Is6() {
		if p, err := ip.WithZone("").Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}
