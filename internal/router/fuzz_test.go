package router

import (
	"regexp"
	"strings"
	"testing"
)

// fuzzRouter has one entry of every kind of host and path.
func fuzzRouter(t testing.TB) *Router[string] {
	return build(t,
		named{"exact", Spec{Host: "api.example.com", Paths: []string{"/users", "/users/:id"}}},
		named{"exact-methods", Spec{Host: "api.example.com", Paths: []string{"/items/*"}, Methods: []string{"GET", "POST"}}},
		named{"ipv6", Spec{Host: "[::1]", Paths: []string{"/"}}},
		named{"wildcard", Spec{Host: "*.example.com", Paths: []string{"/api/*"}}},
		named{"label", Spec{Host: "api-*.example.com"}},
		named{"double", Spec{Host: "*-*.test"}},
		named{"regex", Spec{HostRegex: `^(a|b)+\.test$`, PathRegex: `^/v\d+/`}},
		named{"param", Spec{Paths: []string{`/:id(\d+)`, "/files/:name.:ext", "/o/:opt?", "/s/:rest*", "/a/*/c"}}},
		named{"any", Spec{Host: "*", Paths: []string{"/*"}, Methods: []string{"DELETE"}}},
	)
}

// upperASCII upper-cases ASCII letters only: Unicode case mapping can change
// a string's bytes in ways host matching need not follow.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][3]string{
		{"api.example.com", "GET", "/users"},
		{"API.EXAMPLE.COM:8080", "HEAD", "/users/42/"},
		{"a.example.com", "GET", "/api/x/y"},
		{"api-v1.example.com.", "PUT", "/"},
		{"[::1]:80", "GET", "/"},
		{"[::1", "GET", "/"},
		{"abab.test", "GET", "/v1/x"},
		{"x-y.test", "GET", "/x"},
		{"", "DELETE", "/files/a.txt"},
		{":", "", ""},
		{"...", "GET", "/123"},
		{"*.example.com", "GET", "/a/b/c"},
		{"a.b.example.com", "POST", "/items/%2F"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	r := fuzzRouter(f)
	f.Fuzz(func(t *testing.T, host, method, path string) {
		v, ok := r.Match(host, method, path)
		if !ok && v != "" {
			t.Fatalf("miss returned a value %q", v)
		}
		// Host names are case-insensitive.
		if v2, ok2 := r.Match(upperASCII(host), method, path); v2 != v || ok2 != ok {
			t.Fatalf("Match(%q) = %q, %v but Match(%q) = %q, %v", host, v, ok, upperASCII(host), v2, ok2)
		}
		// A port is ignored.
		if host != "" && !strings.ContainsAny(host, ":[]") {
			if v2, ok2 := r.Match(host+":8080", method, path); v2 != v || ok2 != ok {
				t.Fatalf("Match(%q) = %q, %v but with a port %q, %v", host, v, ok, v2, ok2)
			}
		}
		// GET endpoints also serve HEAD.
		if method == "GET" {
			if v2, ok2 := r.Match(host, "HEAD", path); ok && (!ok2 || v2 != v) {
				t.Fatalf("GET matched %q but HEAD matched %q, %v", v, v2, ok2)
			}
		}
	})
}

func FuzzCompilePath(f *testing.F) {
	for _, s := range [][2]string{
		{"/users", "/users/"},
		{"/users/", "/USERS"},
		{"/", "/"},
		{"//", "/"},
		{"*", "/x"},
		{"/*", "/"},
		{"/api/*", "/api"},
		{"/api*", "/apix"},
		{"/users/:id", "/users/1"},
		{"/users/:id?", "/users"},
		{`/:id(\d+)`, "/12"},
		{"/:id(", "/"},
		{"/files/:name.:ext", "/files/a.b"},
		{"/s/:rest*", "/s/a/b"},
		{"/a/*/c", "/a/b/c"},
		{"/a(b)c", "/abc"},
		{"/a[b", "/a"},
		{"/(", "/"},
		{"/*?", "/"},
		{"/a.b", "/aXb"},
		{"/:", "/"},
		{"users", "users"},
		{"", ""},
		{"/\\", "/"},
		{"/{1}", "/"},
		{"/:a(*)", "/x"},
		{"/x/*/:y", "/x/a/b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		m, err := compilePath(pattern)
		re, names, perr := CompileParams(pattern)
		if perr == nil && len(names) != re.NumSubexp() {
			t.Fatalf("CompileParams(%q): %d names for %d groups", pattern, len(names), re.NumSubexp())
		}
		if perr == nil {
			re.FindStringSubmatchIndex(path)
		}
		if err != nil {
			if m != nil {
				t.Fatalf("compilePath(%q) returned a matcher and an error", pattern)
			}
			return
		}
		m.match(path)
		if m.kind == kindExact {
			for _, p := range []string{pattern, trimSlash(pattern) + "/", upperASCII(pattern)} {
				if !m.match(p) {
					t.Fatalf("exact pattern %q does not match %q", pattern, p)
				}
			}
		}
		if m.kind == kindPrefix && !m.match(m.lit) {
			t.Fatalf("prefix pattern %q does not match its prefix %q", pattern, m.lit)
		}
		// The fast paths agree with path-to-regexp on what an escaped path
		// can hold (printable ASCII starting with /).
		if m.kind != kindRegexp && printableASCII(pattern) && printableASCII(path) && strings.HasPrefix(path, "/") {
			src, _ := expressToRegexp(pattern)
			full, err := regexp.Compile(src)
			if err != nil {
				t.Fatalf("pattern %q: fast path compiled but its regexp %s does not: %v", pattern, src, err)
			}
			if got, want := m.match(path), full.MatchString(path); got != want {
				t.Fatalf("pattern %q, path %q: fast path says %v, regexp %s says %v", pattern, path, got, src, want)
			}
		}
	})
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
