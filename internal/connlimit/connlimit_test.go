package connlimit

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

func listen(t *testing.T, lim Limits) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, lim, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t *testing.T, l *Listener, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func accept(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return")
	}
	return nil
}

// closedByServer reports whether the server side closed c within wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	_, err := c.Read(b[:])
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

func TestPerClient(t *testing.T) {
	l := listen(t, Limits{MaxPerClient: 2})
	a, b, c := dial(t, l, ""), dial(t, l, ""), dial(t, l, "")
	accept(t, l)
	accept(t, l)
	other := dial(t, l, "127.0.0.2")
	got := accept(t, l) // the third from 127.0.0.1 is closed, 127.0.0.2 gets in
	if ra := got.RemoteAddr().(*net.TCPAddr); !ra.IP.Equal(net.ParseIP("127.0.0.2")) {
		t.Errorf("accepted %v, want the connection from 127.0.0.2", ra)
	}
	if !closedByServer(c, 5*time.Second) {
		t.Error("the third connection from 127.0.0.1 was not closed")
	}
	_, _, _ = a, b, other
}

func TestIdleCap(t *testing.T) {
	l := listen(t, Limits{MaxIdle: 1})
	var client, server []net.Conn
	for range 3 {
		client = append(client, dial(t, l, ""))
		server = append(server, accept(t, l))
	}
	l.ConnState(server[0], http.StateIdle)
	l.ConnState(server[1], http.StateIdle) // two idle: the oldest goes
	if !closedByServer(client[0], 5*time.Second) {
		t.Error("the oldest idle connection was not closed")
	}
	l.ConnState(server[1], http.StateActive)
	l.ConnState(server[2], http.StateIdle)
	if l.Idle() != 1 {
		t.Errorf("%d idle, want 1", l.Idle())
	}
	if closedByServer(client[1], 200*time.Millisecond) || closedByServer(client[2], 200*time.Millisecond) {
		t.Error("a connection under the cap was closed")
	}
}

func TestMaxWaitsThenEvictsIdle(t *testing.T) {
	l := listen(t, Limits{Max: 1})
	c1 := dial(t, l, "")
	s1 := accept(t, l)
	dial(t, l, "")
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			got <- c
		}
	}()
	select {
	case <-got:
		t.Fatal("a second connection was accepted at Max 1")
	case <-time.After(200 * time.Millisecond):
	}
	l.ConnState(s1, http.StateIdle) // an idle connection makes room for the waiting one
	select {
	case c := <-got:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not accepted")
	}
	if !closedByServer(c1, 5*time.Second) {
		t.Error("the idle connection was not closed")
	}
	if l.Open() != 0 {
		t.Errorf("%d slots in use after both closed", l.Open())
	}
}

func TestClientKey(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"192.0.2.1:80", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::"},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientKey(a).String(); got != c.want {
			t.Errorf("%s: key %s, want %s", c.addr, got, c.want)
		}
	}
}
