package gateway

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
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

// propertyRig is the gateway of boundaryConfig in front of an upstream
// that records the request target it receives.
type propertyRig struct {
	gw        *Gateway
	forwarded chan string
}

func newPropertyRig(t testing.TB) *propertyRig {
	rig := &propertyRig{forwarded: make(chan string, 1)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.forwarded <- r.RequestURI
		w.Header().Set("X-Reached", "open")
	}))
	t.Cleanup(up.Close)
	g, err := config.ParseGateway("gateway.config.yml", []byte(fmt.Sprintf(boundaryConfig, up.URL)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Build(g, testEnv(), Policies(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	rig.gw = New(rt, testEnv().Logger, nil)
	return rig
}

type outcome int

const (
	reachedOpen outcome = iota
	ranGuarded
	refused
)

// check sends "GET p" as a client would write it on the wire, parsed by
// net/http's own request parser, and fails t when it reached the open
// pipeline's upstream while naming the protected prefix under any upstream
// reading, of the path as sent or as forwarded.
func (rig *propertyRig) check(t testing.TB, p, host string) outcome {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + p + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")))
	if err != nil {
		return refused // net/http's server refuses it the same way
	}
	w := httptest.NewRecorder()
	rig.gw.ServeHTTP(w, req)
	switch {
	case w.Header().Get("X-Reached") == "open":
		fwd := <-rig.forwarded
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
		return reachedOpen
	case w.Code == http.StatusUnauthorized:
		return ranGuarded
	case w.Code == http.StatusBadRequest || w.Code == http.StatusNotFound:
		return refused
	}
	t.Fatalf("GET %q: unexpected status %d %s", p, w.Code, w.Body)
	return refused
}

// TestBoundaryProperty sends paths generated from the grammar (3,000 in a
// normal run) and checks that every one that reached the open pipeline's
// upstream names no protected resource under any upstream reading.
// FuzzBoundaryProperty explores beyond the grammar.
func TestBoundaryProperty(t *testing.T) {
	rig := newPropertyRig(t)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 500
	}
	var count [3]int
	for i := 0; i < n; i++ {
		host := "gw.test"
		if rng.IntN(3) == 0 {
			host = "API.example.com"
		}
		count[rig.check(t, randomPath(rng), host)]++
	}
	open, guarded, refusedN := count[reachedOpen], count[ranGuarded], count[refused]
	t.Logf("%d paths: %d open, %d guarded, %d refused", n, open, guarded, refusedN)
	if open < n/10 || guarded < n/50 || refusedN < n/10 {
		t.Errorf("the grammar no longer exercises every outcome: %d open, %d guarded, %d refused", open, guarded, refusedN)
	}
}

// FuzzBoundaryProperty checks the same property on paths the fuzzer
// builds from the grammar's pieces: go test -fuzz FuzzBoundaryProperty.
func FuzzBoundaryProperty(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 64; i++ {
		f.Add(randomPath(rng), i%3 == 0)
	}
	for _, p := range []string{"/public/../protected/x", "/public/%2e%2e/protected", "/files/a/..%2f..%2fprotected", "/re/../protected"} {
		f.Add(p, false)
	}
	rig := newPropertyRig(f)
	f.Fuzz(func(t *testing.T, p string, apiHost bool) {
		if p == "" || p[0] != '/' || strings.ContainsAny(p, " \r\n?#") {
			return // not one request target on the wire
		}
		host := "gw.test"
		if apiHost {
			host = "api.example.com"
		}
		rig.check(t, p, host)
	})
}
