package framing

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// chunkConn returns its input in reads of the given sizes (the rest in one
// read), as a network would.
type chunkConn struct {
	net.Conn
	data  []byte
	sizes []int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n = min(n, c.sizes[0])
		c.sizes = c.sizes[1:]
	}
	n = copy(p[:min(len(p), n)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// through reads in through a Conn, with reads of split bytes (0: whole)
// and a reader buffer of bufSize.
func through(in string, split, bufSize int) string {
	cc := &chunkConn{data: []byte(in)}
	if split > 0 {
		for range len(in)/split + 1 {
			cc.sizes = append(cc.sizes, split)
		}
	}
	c := NewConn(cc, 1<<16)
	var out bytes.Buffer
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func refusedAs(out string) (Code, string, bool) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(out)))
	if err != nil {
		return 0, "", false
	}
	code, ok := Refusal(req.Header)
	return code, req.Method + " " + req.RequestURI + " " + req.Proto, ok
}

func TestRefusals(t *testing.T) {
	const next = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
	for _, c := range []struct {
		name, in string
		code     Code
		line     string
		prefix   string // passed through before the refused head
	}{
		{"CL and TE", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, CodeContentLengthAndTransferEncoding, "POST /a HTTP/1.1", ""},
		{"duplicate CL", "POST /a HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc" + next, CodeDuplicateContentLength, "POST /a HTTP/1.1", ""},
		{"bad CL", "POST /a HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc" + next, CodeInvalidContentLength, "POST /a HTTP/1.1", ""},
		{"TE list", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + next, CodeTransferEncoding, "POST /a HTTP/1.1", ""},
		{"TE tab", "POST /a HTTP/1.1\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n" + next, CodeTransferEncoding, "POST /a HTTP/1.1", ""},
		{"TE gzip", "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + next, CodeUnsupportedTransferCoding, "POST /a HTTP/1.1", ""},
		{"TE HTTP/1.0", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, CodeTransferEncodingHTTP10, "POST /a HTTP/1.0", ""},
		// net/http serves any HTTP/1.x as 1.1 (review finding: these skipped every check)
		{"CL and TE in HTTP/1.2", "POST /a HTTP/1.2\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + next, CodeContentLengthAndTransferEncoding, "POST /a HTTP/1.2", ""},
		{"duplicate CL in HTTP/1.9", "POST /a HTTP/1.9\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + next, CodeDuplicateContentLength, "POST /a HTTP/1.9", ""},
		{"obs-fold", "GET /a HTTP/1.1\r\nX: 1\r\n\t2\r\n\r\n" + next, CodeObsFold, "GET /a HTTP/1.1", ""},
		{"bare LF lines", "POST /a HTTP/1.1\nContent-Length: 1\nTransfer-Encoding: chunked\n\n" + next, CodeContentLengthAndTransferEncoding, "POST /a HTTP/1.1", ""},
		{"after a good request", next + "POST /b HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", CodeDuplicateContentLength, "POST /b HTTP/1.1", next},
		{"after a chunked body", "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x\r\nabcd\r\n0\r\nT: 1\r\n\r\n" + "POST /b HTTP/1.1\r\nTransfer-Encoding: x\r\n\r\n",
			CodeTransferEncoding, "POST /b HTTP/1.1", "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x\r\nabcd\r\n0\r\nT: 1\r\n\r\n"},
	} {
		for _, split := range []int{0, 1, 3, 17} {
			for _, bufSize := range []int{1, 7, 4096} {
				out := through(c.in, split, bufSize)
				if !strings.HasPrefix(out, c.prefix) {
					t.Fatalf("%s (split %d, buf %d): %q does not start with %q", c.name, split, bufSize, out, c.prefix)
				}
				code, line, ok := refusedAs(out[len(c.prefix):])
				if !ok || code != c.code || line != c.line {
					t.Fatalf("%s (split %d, buf %d): got %q, want the stand-in of %q for %v", c.name, split, bufSize, out, c.line, c.code)
				}
				if strings.Contains(out, "/next") && !strings.Contains(c.prefix, "/next") {
					t.Fatalf("%s: the request after the refused one went through: %q", c.name, out)
				}
			}
		}
	}
}

// TestPassThrough: well-framed streams come out byte for byte, whatever
// the reads look like.
func TestPassThrough(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n\r\n5 \t\r\nhello\r\nA;a=b;c\r\n0123456789\r\n0\r\nX: y\r\nZ: w\n\nGET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length:\t7 \r\n\r\n1234567GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
	} {
		for _, split := range []int{0, 1, 2, 5, 64} {
			for _, bufSize := range []int{1, 3, 4096} {
				if out := through(in, split, bufSize); out != in {
					t.Fatalf("split %d, buf %d:\n got %q\nwant %q", split, bufSize, out, in)
				}
			}
		}
	}
}

// TestEndsAfterFault: where net/http refuses the bytes itself, they go
// through up to the fault and what arrived with it, and nothing after
// (the input arrives one byte per read here).
func TestEndsAfterFault(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\n"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 ;"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111"},
		{"GARBAGE\r\nGET /x HTTP/1.1\r\n\r\n", "GARBAGE\r\n"}, // net/http answers 400 at the first line
	} {
		if out := through(c.in, 1, 4096); out != c.want {
			t.Errorf("\n got %q\nwant %q", out, c.want)
		}
	}
}

// TestForgedRefusalHeader: a client sending the header itself is not
// taken for a stand-in.
func TestForgedRefusalHeader(t *testing.T) {
	h := http.Header{Header: {"0123 1"}}
	if _, ok := Refusal(h); ok {
		t.Fatal("a forged header was taken for a refusal")
	}
	h = http.Header{Header: {token() + " 1"}}
	if c, ok := Refusal(h); !ok || c != CodeContentLengthAndTransferEncoding {
		t.Fatal("the real header was not recognized")
	}
}

// TestAgainstNetHTTP: random well-framed pipelines sent in random pieces
// reach a net/http server behind a Conn as the same requests as without it.
func TestAgainstNetHTTP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		var stream strings.Builder
		var want []string
		for i := range 1 + rng.IntN(6) {
			body := strings.Repeat(string(rune('a'+i)), rng.IntN(300))
			path := fmt.Sprintf("/r%d-%d", round, i)
			switch rng.IntN(3) {
			case 0:
				fmt.Fprintf(&stream, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path)
				body = ""
			case 1:
				fmt.Fprintf(&stream, "POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
				if rng.IntN(2) == 0 {
					stream.WriteString("\r\n") // tolerated after a POST
				}
			default:
				fmt.Fprintf(&stream, "PUT %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", path)
				rest := body
				for len(rest) > 0 {
					n := min(len(rest), 1+rng.IntN(100))
					fmt.Fprintf(&stream, "%x", n)
					if rng.IntN(3) == 0 {
						stream.WriteString(";ext=1")
					}
					fmt.Fprintf(&stream, "\r\n%s\r\n", rest[:n])
					rest = rest[n:]
				}
				stream.WriteString("0\r\n")
				if rng.IntN(2) == 0 {
					stream.WriteString("Trailer-A: 1\r\n")
				}
				stream.WriteString("\r\n")
			}
			want = append(want, path+" "+body)
		}
		got := serveStream(t, stream.String(), rng, true)
		plain := serveStream(t, stream.String(), rng, false)
		if strings.Join(got, "|") != strings.Join(want, "|") || strings.Join(plain, "|") != strings.Join(want, "|") {
			t.Fatalf("round %d:\n framed %q\n  plain %q\n   want %q\nstream %q", round, got, plain, want, stream.String())
		}
	}
}

// serveStream sends stream in random pieces to a net/http server (behind
// a Conn when framed) and returns "path body" for each request it served.
func serveStream(t *testing.T, stream string, rng *rand.Rand, framed bool) []string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+string(b))
		mu.Unlock()
	})}
	var l net.Listener = ln
	if framed {
		l = NewListener(ln, http.DefaultMaxHeaderBytes)
	}
	go srv.Serve(l)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	for rest := stream; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(200))
		io.WriteString(c, rest[:n])
		rest = rest[n:]
		if rng.IntN(4) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c)
	mu.Lock()
	defer mu.Unlock()
	return seen
}

// FuzzConn: whatever arrives, the Conn never lets net/http see more
// requests than it would alone, and never a different one first.
func FuzzConn(f *testing.F) {
	f.Add("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n", uint8(1))
	f.Add("GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", uint8(7))
	f.Add("POST / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n", uint8(3))
	f.Fuzz(func(t *testing.T, in string, split uint8) {
		out := through(in, int(split%32), 64)
		if strings.HasPrefix(in, out) {
			return // passed through, possibly cut after a fault
		}
		// Otherwise: the input up to a head, then that head's stand-in.
		k := strings.Index(out, "\r\nHost: refused.invalid\r\nContent-Length: 0\r\nConnection: close\r\n"+Header+": "+token()+" ")
		if k < 0 {
			t.Fatalf("the output is not the input, and has no stand-in:\n in %q\nout %q", in, out)
		}
		head := strings.LastIndex(out[:k], "\n") + 1
		if !strings.HasPrefix(in, out[:head]) || !strings.HasSuffix(out, "\r\n\r\n") || strings.Count(out[k:], "\r\n\r\n") != 1 {
			t.Fatalf("more than the input and a stand-in:\n in %q\nout %q", in, out)
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(out[head:])))
		if err != nil {
			return // a request line net/http refuses anyway
		}
		if _, ok := Refusal(req.Header); !ok {
			t.Fatalf("the stand-in is not one:\n in %q\nout %q", in, out)
		}
	})
}

// FuzzAgainstNetHTTP: a net/http server behind a Conn serves a prefix of
// the requests it serves alone, never one more or a different one: what
// the Conn lets through is framed the way net/http frames it.
func FuzzAgainstNetHTTP(f *testing.F) {
	for _, s := range []string{
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\n\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;\xff\r\nz\r\n0\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream string) {
		framed := serveOnce(t, stream, true)
		plain := serveOnce(t, stream, false)
		if len(framed) > len(plain) {
			t.Fatalf("behind the Conn net/http served more:\nframed %q\n plain %q\nstream %q", framed, plain, stream)
		}
		for i := range framed {
			if framed[i] != plain[i] {
				t.Fatalf("request %d differs:\nframed %q\n plain %q\nstream %q", i, framed, plain, stream)
			}
		}
	})
}

// serveOnce writes stream to a net/http server and lists "METHOD path
// body" of what it served (stand-ins left out; a body that failed to read
// as "error").
func serveOnce(t *testing.T, stream string, framed bool) []string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := Refusal(r.Header); ok {
			return
		}
		b, err := io.ReadAll(r.Body)
		body := string(b)
		if err != nil {
			body = "error"
		}
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+body)
		mu.Unlock()
	}), ErrorLog: log.New(io.Discard, "", 0)}
	var l net.Listener = ln
	if framed {
		l = NewListener(ln, http.DefaultMaxHeaderBytes)
	}
	go srv.Serve(l)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, stream)
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.Copy(io.Discard, c)
	mu.Lock()
	defer mu.Unlock()
	return seen
}
