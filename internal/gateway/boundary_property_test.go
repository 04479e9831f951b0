package gateway

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
)

// boundaryConfig has public routes of every kind (prefix, :param,
// pathRegex, a host route and an any-host catch-all) beside a protected
// prefix whose pipeline refuses with 401, standing for an auth policy.
const boundaryConfig = `
http: {port: 0}
apiEndpoints:
  public: {paths: ['/public/*']}
  files: {paths: ['/files/:name', '/files/:name/*']}
  re: {pathRegex: '^/re/.*'}
  hosted: {host: api.example.com, paths: ['/public/*', '/api/:v/*']}
  everything: {host: '*', paths: '*'}
  protected: {paths: ['/protected', '/protected/*']}
  protectedHost: {host: api.example.com, paths: ['/protected/*']}
serviceEndpoints:
  up: {url: '%s'}
policies: [proxy, terminate]
pipelines:
  open:
    apiEndpoints: [public, files, re, hosted, everything]
    policies: [{proxy: {action: {serviceEndpoint: up}}}]
  guarded:
    apiEndpoints: [protected, protectedHost]
    policies: [{terminate: {action: {statusCode: 401, message: guarded}}}]
`

// upstreamReadings are how common upstream stacks turn a request path into
// the resource they serve. A request that reached the open pipeline must
// not name /protected under any of them.
var upstreamReadings = map[string]func(string) string{
	// Go's ServeMux, nginx, most frameworks: percent-decode, then merge
	// slashes and remove dot segments.
	"decode+clean": func(p string) string { return clean(decode(p)) },
	// clean before decoding (a router that resolves dots first).
	"clean+decode": func(p string) string { return clean(decode(clean(p))) },
	// Tomcat, Jetty, Spring: strip ;parameters from every segment first.
	"servlet": func(p string) string {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			s, _, _ = strings.Cut(s, ";")
			segs[i] = s
		}
		return clean(decode(strings.Join(segs, "/")))
	},
	// IIS, Windows file servers: a backslash is a slash, also decoded.
	"backslash": func(p string) string {
		return clean(strings.ReplaceAll(decode(strings.ReplaceAll(p, `\`, "/")), `\`, "/"))
	},
	// An upstream that decodes twice.
	"double decode": func(p string) string { return clean(decode(decode(p))) },
}

func decode(p string) string {
	if d, err := url.PathUnescape(p); err == nil {
		return d
	}
	return p
}

func clean(p string) string {
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}

func underProtected(p string) bool {
	p = strings.ToLower(p)
	return p == "/protected" || strings.HasPrefix(p, "/protected/")
}

// pathPieces is the grammar: segments, dots in every spelling, escapes,
// separators.
var pathPieces = []string{
	"public", "protected", "PROTECTED", "Protected", "prot%65cted", "%70rotected", "files", "re", "api", "v1", "x",
	".", "..", "%2e", "%2E", "%2e%2e", ".%2e", "%2e.", "%2E%2E", "...", "..;", ".;", ";", ";x", "protected;x",
	"", "%2f", "%2F", "%5c", "%5C", `\`, `..\`, "%25", "%252e%252e", "%252f", "%00", "%20", "%zz", "%", "~", "%7e",
}

func randomPath(rng *rand.Rand) string {
	var b strings.Builder
	n := 1 + rng.IntN(6)
	for i := 0; i < n; i++ {
		switch rng.IntN(6) {
		case 0:
			b.WriteString("//")
		default:
			b.WriteString("/")
		}
		b.WriteString(pathPieces[rng.IntN(len(pathPieces))])
		if rng.IntN(5) == 0 {
			b.WriteString(pathPieces[rng.IntN(len(pathPieces))])
		}
	}
	if rng.IntN(4) == 0 {
		b.WriteString("/")
	}
	return b.String()
}

// TestBoundaryProperty sends generated paths to the gateway over a real
// connection, as written (no client library normalizes them), and checks
// that every one that reached the open pipeline's upstream names no
// protected resource under any upstream reading, neither as sent by the
// client nor as forwarded by the gateway.
func TestBoundaryProperty(t *testing.T) {
	forwarded := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded <- r.RequestURI
		w.Header().Set("X-Reached", "open")
	}))
	defer up.Close()
	rt, err := build(t, fmt.Sprintf(boundaryConfig, up.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	gw := httptest.NewServer(New(rt, testEnv().Logger, nil))
	defer gw.Close()

	conn, err := net.Dial("tcp", gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { conn.Close() }()
	br := bufio.NewReader(conn)
	redial := func() {
		conn.Close()
		if conn, err = net.Dial("tcp", gw.Listener.Addr().String()); err != nil {
			t.Fatal(err)
		}
		br = bufio.NewReader(conn)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 500
	}
	var open, guarded, refused int
	for i := 0; i < n; i++ {
		p := randomPath(rng)
		host := "gw.test"
		if rng.IntN(3) == 0 {
			host = "API.example.com"
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", p, host)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %q: %v", p, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.Header.Get("X-Reached") == "open":
			open++
			fwd := <-forwarded
			// Express, Node's http: the path as received, matched
			// case-insensitively.
			if underProtected(fwd) {
				t.Errorf("GET %q reached the open pipeline forwarded as %q", p, fwd)
			}
			for name, read := range upstreamReadings {
				if underProtected(read(p)) || underProtected(read(fwd)) {
					t.Errorf("GET %q (forwarded as %q) reached the open pipeline, but reads as %q (sent) / %q (forwarded) to a %s upstream",
						p, fwd, read(p), read(fwd), name)
				}
			}
		case resp.StatusCode == http.StatusUnauthorized:
			guarded++
		case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound:
			refused++
		default:
			t.Fatalf("GET %q: unexpected status %d", p, resp.StatusCode)
		}
		if resp.Close {
			redial()
		}
	}
	t.Logf("%d paths: %d open, %d guarded, %d refused", n, open, guarded, refused)
	if open < n/10 || guarded < n/50 || refused < n/10 {
		t.Errorf("the grammar no longer exercises every outcome: %d open, %d guarded, %d refused", open, guarded, refused)
	}
}
