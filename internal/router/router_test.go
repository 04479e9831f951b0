package router

import (
	"strings"
	"testing"
)

type named struct {
	name string
	spec Spec
}

// build compiles the specs in order; each value is the spec's name.
func build(t testing.TB, specs ...named) *Router[string] {
	t.Helper()
	var b Builder[string]
	for _, s := range specs {
		if err := b.Add(s.spec, s.name); err != nil {
			t.Fatalf("Add(%s %+v): %v", s.name, s.spec, err)
		}
	}
	return b.Build()
}

type probe struct {
	host, method, path string
	want               string // "" for no match
}

func check(t *testing.T, r *Router[string], probes []probe) {
	t.Helper()
	for _, p := range probes {
		method := p.method
		if method == "" {
			method = "GET"
		}
		got, ok := r.Match(p.host, method, p.path)
		if !ok {
			got = ""
		}
		if got != p.want {
			t.Errorf("Match(%q, %q, %q) = %q, %v; want %q", p.host, method, p.path, got, ok, p.want)
		}
	}
}

func TestMatchHost(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		probes []probe
	}{
		{
			name: "star matches any host and none",
			spec: Spec{Host: "*"},
			probes: []probe{
				{host: "api.example.com", path: "/", want: "x"},
				{host: "", path: "/x", want: "x"},
				{host: "[::1]:8080", path: "/x", want: "x"},
			},
		},
		{
			name: "empty host matches any host",
			spec: Spec{},
			probes: []probe{
				{host: "anything.test", path: "/", want: "x"},
				{host: "", path: "/", want: "x"},
			},
		},
		{
			name: "exact host, case-insensitive, port ignored",
			spec: Spec{Host: "api.example.com"},
			probes: []probe{
				{host: "api.example.com", path: "/", want: "x"},
				{host: "API.Example.COM", path: "/", want: "x"},
				{host: "api.example.com:8080", path: "/", want: "x"},
				{host: "Api.Example.Com:443", path: "/", want: "x"},
				{host: "api.example.com.", path: "/", want: "x"},
				{host: "www.example.com", path: "/"},
				{host: "api.example.com.evil", path: "/"},
				{host: "example.com", path: "/"},
				{host: "", path: "/"},
			},
		},
		{
			name: "exact host written in upper case with a port",
			spec: Spec{Host: "API.Example.com:9000"},
			probes: []probe{
				{host: "api.example.com", path: "/", want: "x"},
				{host: "api.example.com:1", path: "/", want: "x"},
			},
		},
		{
			name: "IPv6 literal with brackets",
			spec: Spec{Host: "[::1]"},
			probes: []probe{
				{host: "[::1]:80", path: "/", want: "x"},
				{host: "[::1]", path: "/", want: "x"},
				{host: "[::2]:80", path: "/"},
				{host: "127.0.0.1:80", path: "/"},
			},
		},
		{
			name: "IPv6 literal without brackets",
			spec: Spec{Host: "::1"},
			probes: []probe{
				{host: "[::1]:80", path: "/", want: "x"},
				{host: "[::1]", path: "/", want: "x"},
			},
		},
		{
			name: "IPv4 with port",
			spec: Spec{Host: "127.0.0.1"},
			probes: []probe{
				{host: "127.0.0.1:8080", path: "/", want: "x"},
				{host: "127.0.0.1", path: "/", want: "x"},
				{host: "127.0.0.2", path: "/"},
			},
		},
		{
			name: "wildcard is exactly one label",
			spec: Spec{Host: "*.example.com"},
			probes: []probe{
				{host: "a.example.com", path: "/", want: "x"},
				{host: "A.EXAMPLE.COM:8443", path: "/", want: "x"},
				{host: "api-v1.example.com", path: "/", want: "x"},
				{host: "example.com", path: "/"},
				{host: "a.b.example.com", path: "/"},
				{host: ".example.com", path: "/"},
				{host: "a.example.com.evil", path: "/"},
				{host: "a.example.org", path: "/"},
				{host: "aexample.com", path: "/"},
				{host: "", path: "/"},
			},
		},
		{
			name: "wildcard inside a label",
			spec: Spec{Host: "api-*.example.com"},
			probes: []probe{
				{host: "api-v1.example.com", path: "/", want: "x"},
				{host: "API-V2.example.com:80", path: "/", want: "x"},
				{host: "api-.example.com", path: "/"},
				{host: "api.example.com", path: "/"},
				{host: "web-v1.example.com", path: "/"},
				{host: "api-v1.b.example.com", path: "/"},
			},
		},
		{
			name: "wildcards at both ends of a label",
			spec: Spec{Host: "*-api-*.example.com"},
			probes: []probe{
				{host: "eu-api-v1.example.com", path: "/", want: "x"},
				{host: "a-api-api-b.example.com", path: "/", want: "x"},
				{host: "-api-v1.example.com", path: "/"},
				{host: "eu-api-.example.com", path: "/"},
			},
		},
		{
			name: "wildcard in a middle label",
			spec: Spec{Host: "api.*.example.com"},
			probes: []probe{
				{host: "api.eu.example.com", path: "/", want: "x"},
				{host: "api.example.com", path: "/"},
				{host: "api.eu.west.example.com", path: "/"},
			},
		},
		{
			name: "hostRegex is case-insensitive and sees no port",
			spec: Spec{HostRegex: `^(www|api)\.example\.(com|org)$`},
			probes: []probe{
				{host: "www.example.com", path: "/", want: "x"},
				{host: "API.EXAMPLE.ORG:8080", path: "/", want: "x"},
				{host: "ftp.example.com", path: "/"},
				{host: "www.example.net", path: "/"},
			},
		},
		{
			name: "hostRegex is not anchored unless written so (as vhost)",
			spec: Spec{HostRegex: `example`},
			probes: []probe{
				{host: "www.example.com", path: "/", want: "x"},
				{host: "other.test", path: "/"},
			},
		},
		{
			name: "hostRegex wins over host",
			spec: Spec{Host: "ignored.test", HostRegex: `^only\.test$`},
			probes: []probe{
				{host: "only.test", path: "/", want: "x"},
				{host: "ignored.test", path: "/"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, build(t, named{"x", tt.spec}), tt.probes)
		})
	}
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		probes []probe
	}{
		{
			name: "exact path is non-strict and case-insensitive",
			spec: Spec{Paths: []string{"/users"}},
			probes: []probe{
				{path: "/users", want: "x"},
				{path: "/users/", want: "x"},
				{path: "/USERS", want: "x"},
				{path: "/Users/", want: "x"},
				{path: "/users//"},
				{path: "/users/1"},
				{path: "/user"},
				{path: "/usersx"},
				{path: "/"},
				{path: ""},
			},
		},
		{
			name: "exact path written with a trailing slash",
			spec: Spec{Paths: []string{"/users/"}},
			probes: []probe{
				{path: "/users", want: "x"},
				{path: "/users/", want: "x"},
				{path: "/users/a"},
			},
		},
		{
			name: "root",
			spec: Spec{Paths: []string{"/"}},
			probes: []probe{
				{path: "/", want: "x"},
				{path: "/a"},
				{path: "//"}, // path-to-regexp: ^\/?$
			},
		},
		{
			name: "dots are literal",
			spec: Spec{Paths: []string{"/a.json"}},
			probes: []probe{
				{path: "/a.json", want: "x"},
				{path: "/aXjson"},
			},
		},
		{
			name: "prefix with star",
			spec: Spec{Paths: []string{"/api/*"}},
			probes: []probe{
				{path: "/api/", want: "x"},
				{path: "/api/x", want: "x"},
				{path: "/api/x/y", want: "x"},
				{path: "/API/X", want: "x"},
				{path: "/api"},
				{path: "/apix"},
				{path: "/ap"},
				{path: "/"},
			},
		},
		{
			name: "star alone matches everything",
			spec: Spec{Paths: []string{"*"}},
			probes: []probe{
				{path: "/", want: "x"},
				{path: "/a/b/c", want: "x"},
				{path: "", want: "x"},
			},
		},
		{
			name: "slash star matches everything",
			spec: Spec{Paths: []string{"/*"}},
			probes: []probe{
				{path: "/", want: "x"},
				{path: "/a/b/c", want: "x"},
			},
		},
		{
			name: "no paths means every path",
			spec: Spec{},
			probes: []probe{
				{path: "/", want: "x"},
				{path: "/deep/path", want: "x"},
			},
		},
		{
			name: "parameter",
			spec: Spec{Paths: []string{"/users/:id"}},
			probes: []probe{
				{path: "/users/42", want: "x"},
				{path: "/users/42/", want: "x"},
				{path: "/USERS/abc", want: "x"},
				{path: "/users/"},
				{path: "/users"},
				{path: "/users/42/posts"},
			},
		},
		{
			name: "two parameters and a literal between",
			spec: Spec{Paths: []string{"/users/:id/posts/:post"}},
			probes: []probe{
				{path: "/users/1/posts/2", want: "x"},
				{path: "/users/1/posts"},
				{path: "/users/1/comments/2"},
			},
		},
		{
			name: "optional parameter",
			spec: Spec{Paths: []string{"/users/:id?"}},
			probes: []probe{
				{path: "/users", want: "x"},
				{path: "/users/", want: "x"},
				{path: "/users/7", want: "x"},
				{path: "/users/7/8"},
			},
		},
		{
			name: "parameter with a regexp",
			spec: Spec{Paths: []string{`/:id(\d+)`}},
			probes: []probe{
				{path: "/123", want: "x"},
				{path: "/123/", want: "x"},
				{path: "/abc"},
				{path: "/12a"},
				{path: "/"},
			},
		},
		{
			name: "parameter with a format",
			spec: Spec{Paths: []string{"/files/:name.:ext"}},
			probes: []probe{
				{path: "/files/a.txt", want: "x"},
				{path: "/files/a"},
			},
		},
		{
			name: "star after a parameter",
			spec: Spec{Paths: []string{"/files/:dir/*"}},
			probes: []probe{
				{path: "/files/a/b", want: "x"},
				{path: "/files/a/b/c", want: "x"},
				{path: "/files/a"},
			},
		},
		{
			name: "star in the middle",
			spec: Spec{Paths: []string{"/a/*/c"}},
			probes: []probe{
				{path: "/a/b/c", want: "x"},
				{path: "/a/b/b/c", want: "x"},
				{path: "/a/c"},
				{path: "/a/b/d"},
			},
		},
		{
			name: "several paths",
			spec: Spec{Paths: []string{"/a", "/b/*"}},
			probes: []probe{
				{path: "/a", want: "x"},
				{path: "/b/c", want: "x"},
				{path: "/c"},
			},
		},
		{
			name: "pathRegex is case-sensitive and unanchored unless written so",
			spec: Spec{PathRegex: `^/v\d+/`},
			probes: []probe{
				{path: "/v1/users", want: "x"},
				{path: "/v22/", want: "x"},
				{path: "/V1/users"},
				{path: "/v/users"},
				{path: "/x/v1/users"},
			},
		},
		{
			name: "pathRegex wins over paths",
			spec: Spec{PathRegex: `^/only$`, Paths: []string{"/ignored"}},
			probes: []probe{
				{path: "/only", want: "x"},
				{path: "/ignored"},
			},
		},
		{
			name: "escaped path is matched as sent",
			spec: Spec{Paths: []string{"/a%20b"}},
			probes: []probe{
				{path: "/a%20b", want: "x"},
				{path: "/a b"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, build(t, named{"x", tt.spec}), tt.probes)
		})
	}
}

func TestMatchMethods(t *testing.T) {
	r := build(t,
		named{"read", Spec{Paths: []string{"/items"}, Methods: []string{"GET"}}},
		named{"write", Spec{Paths: []string{"/items"}, Methods: []string{"post", "PUT"}}},
		named{"delete", Spec{Paths: []string{"/items"}, Methods: []string{"DELETE"}}},
	)
	check(t, r, []probe{
		{method: "GET", path: "/items", want: "read"},
		{method: "HEAD", path: "/items", want: "read"},
		{method: "POST", path: "/items", want: "write"},
		{method: "PUT", path: "/items", want: "write"},
		{method: "DELETE", path: "/items", want: "delete"},
		{method: "PATCH", path: "/items"},
		{method: "OPTIONS", path: "/items"},
		{method: "get", path: "/items"}, // methods are case-sensitive tokens
	})

	// HEAD is not a GET: an endpoint for HEAD only does not answer GET.
	head := build(t, named{"head", Spec{Methods: []string{"HEAD"}}})
	check(t, head, []probe{
		{method: "HEAD", path: "/", want: "head"},
		{method: "GET", path: "/"},
	})

	// a method miss falls through to the next candidate.
	fall := build(t,
		named{"exact-post", Spec{Paths: []string{"/x"}, Methods: []string{"POST"}}},
		named{"any", Spec{Paths: []string{"*"}}},
	)
	check(t, fall, []probe{
		{method: "POST", path: "/x", want: "exact-post"},
		{method: "GET", path: "/x", want: "any"},
	})
}

func TestMatchPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		specs  []named
		probes []probe
	}{
		{
			name: "exact host before wildcard before hostRegex before any host",
			// declared in the reverse order of precedence
			specs: []named{
				{"any", Spec{Host: "*"}},
				{"regex", Spec{HostRegex: `example\.com$`}},
				{"wildcard", Spec{Host: "*.example.com"}},
				{"exact", Spec{Host: "api.example.com"}},
			},
			probes: []probe{
				{host: "api.example.com", path: "/", want: "exact"},
				{host: "API.example.com:8080", path: "/", want: "exact"},
				{host: "www.example.com", path: "/", want: "wildcard"},
				{host: "a.b.example.com", path: "/", want: "regex"},
				{host: "example.com", path: "/", want: "regex"},
				{host: "other.test", path: "/", want: "any"},
				{host: "", path: "/", want: "any"},
			},
		},
		{
			name: "an exact host whose path misses falls through to the next rank",
			specs: []named{
				{"exact-admin", Spec{Host: "api.example.com", Paths: []string{"/admin"}}},
				{"wildcard-users", Spec{Host: "*.example.com", Paths: []string{"/users"}}},
				{"any", Spec{}},
			},
			probes: []probe{
				{host: "api.example.com", path: "/admin", want: "exact-admin"},
				{host: "api.example.com", path: "/users", want: "wildcard-users"},
				{host: "api.example.com", path: "/other", want: "any"},
			},
		},
		{
			name: "wildcard with more literal characters first",
			specs: []named{
				{"short", Spec{Host: "*.com"}},
				{"long", Spec{Host: "*.example.com"}},
				{"label", Spec{Host: "api-*.example.com"}},
			},
			probes: []probe{
				{host: "api-v1.example.com", path: "/", want: "label"},
				{host: "www.example.com", path: "/", want: "long"},
				{host: "example.com", path: "/", want: "short"},
			},
		},
		{
			name: "exact path before prefix, longer literal prefix first",
			specs: []named{
				{"all", Spec{Paths: []string{"*"}}},
				{"slashstar", Spec{Paths: []string{"/*"}}},
				{"api", Spec{Paths: []string{"/api/*"}}},
				{"param", Spec{Paths: []string{"/api/users/:id"}}},
				{"users", Spec{Paths: []string{"/api/users/*"}}},
				{"exact", Spec{Paths: []string{"/api/users/me"}}},
			},
			probes: []probe{
				{path: "/api/users/me", want: "exact"},
				{path: "/API/USERS/ME/", want: "exact"},
				// "/api/users/:id" and "/api/users/*" have the same literal
				// prefix: the one declared first wins.
				{path: "/api/users/42", want: "param"},
				{path: "/api/users/42/x", want: "users"},
				{path: "/api/other", want: "api"},
				{path: "/other", want: "all"},
			},
		},
		{
			name: "exact path beats a longer parameter pattern",
			specs: []named{
				{"param", Spec{Paths: []string{"/a/very/long/literal/:id"}}},
				{"exact", Spec{Paths: []string{"/a/very/long/literal/x"}}},
			},
			probes: []probe{
				{path: "/a/very/long/literal/x", want: "exact"},
				{path: "/a/very/long/literal/y", want: "param"},
			},
		},
		{
			name: "same specificity keeps config order",
			specs: []named{
				{"first", Spec{Paths: []string{"/items/:id"}}},
				{"second", Spec{Paths: []string{"/items/:name"}}},
				{"third", Spec{Paths: []string{"/items/*"}}},
			},
			probes: []probe{
				{path: "/items/1", want: "first"},
			},
		},
		{
			name: "same exact path keeps config order",
			specs: []named{
				{"first", Spec{Paths: []string{"/same"}}},
				{"second", Spec{Paths: []string{"/same"}}},
			},
			probes: []probe{
				{path: "/same", want: "first"},
			},
		},
		{
			name: "pathRegex ranks after literal prefixes and before star",
			specs: []named{
				{"any", Spec{Paths: []string{"*"}}},
				{"regex", Spec{PathRegex: `^/`}},
				{"prefix", Spec{Paths: []string{"/p/*"}}},
			},
			probes: []probe{
				{path: "/p/x", want: "prefix"},
				{path: "/q", want: "regex"},
			},
		},
		{
			name: "exact host with an unmatched path does not hide exact path on any host",
			specs: []named{
				{"host-any-path", Spec{Host: "api.example.com"}},
				{"any-host-exact", Spec{Paths: []string{"/health"}}},
			},
			probes: []probe{
				// host precedence comes first, even against an exact path
				{host: "api.example.com", path: "/health", want: "host-any-path"},
				{host: "other", path: "/health", want: "any-host-exact"},
				{host: "other", path: "/x"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, build(t, tt.specs...), tt.probes)
		})
	}
}

func TestMatchMiss(t *testing.T) {
	var empty Builder[int]
	r := empty.Build()
	if v, ok := r.Match("a", "GET", "/"); ok || v != 0 {
		t.Errorf("empty router matched: %v, %v", v, ok)
	}
	if r.Len() != 0 {
		t.Errorf("Len = %d", r.Len())
	}

	r2 := build(t,
		named{"a", Spec{Host: "a.test", Paths: []string{"/a"}, Methods: []string{"GET"}}},
	)
	check(t, r2, []probe{
		{host: "b.test", path: "/a"},
		{host: "a.test", path: "/b"},
		{host: "a.test", method: "POST", path: "/a"},
		{host: "a.test", path: "/a", want: "a"},
	})
}

func TestLen(t *testing.T) {
	var b Builder[int]
	for i, s := range []Spec{
		{Paths: []string{"/a", "/b", "/c"}},
		{PathRegex: "^/x", Paths: []string{"/ignored", "/too"}},
		{},
	} {
		if err := b.Add(s, i); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Build().Len(); n != 5 {
		t.Errorf("Len = %d, want 5 (one per path pattern)", n)
	}
}

func TestAddErrors(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{HostRegex: "("}, `hostRegex "(": error parsing regexp: missing closing ): ` + "`(?i)(`"},
		{Spec{PathRegex: "[a-"}, `pathRegex "[a-": error parsing regexp: missing closing ]: ` + "`[a-`"},
		{Spec{Host: "api.example.com/v1"}, `host "api.example.com/v1" is not a host name`},
		{Spec{Host: "user@api.example.com"}, `host "user@api.example.com" is not a host name`},
		{Spec{Host: "api example.com"}, `host "api example.com" is not a host name`},
		{Spec{Host: "api.example.com?x"}, `host "api.example.com?x" is not a host name`},
		{Spec{Host: "api.example.com#x"}, `host "api.example.com#x" is not a host name`},
		{Spec{Host: "*..example.com"}, `host "*..example.com" has an empty label`},
		{Spec{Host: "*.example.com."}, `host "*.example.com." has an empty label`},
		{Spec{Paths: []string{"users"}}, `path "users" must start with /`},
		{Spec{Paths: []string{""}}, `empty path`},
		{Spec{Paths: []string{"/ok", `/:id(\d+`}}, `path "/:id(\\d+" is not a valid pattern: missing closing )`},
		{Spec{Paths: []string{"/a[b"}}, `path "/a[b" is not a valid pattern: missing closing ]`},
	}
	for _, tt := range tests {
		var b Builder[int]
		err := b.Add(tt.spec, 1)
		if err == nil {
			t.Errorf("Add(%+v) = nil, want %q", tt.spec, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Add(%+v) = %q\nwant %q", tt.spec, err, tt.want)
		}
		if n := b.Build().Len(); n != 0 {
			t.Errorf("Add(%+v) failed but kept %d entries", tt.spec, n)
		}
	}
}

func TestCompileParams(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		names   []string
		values  []string // nil: no match
	}{
		{"/users/:id", "/users/42", []string{"id"}, []string{"42"}},
		{"/users/:id", "/users/42/", []string{"id"}, []string{"42"}},
		{"/users/:id", "/users", []string{"id"}, nil},
		{"/u/:a/:b", "/u/x/y", []string{"a", "b"}, []string{"x", "y"}},
		{`/n/:id(\d+)`, "/n/12", []string{"id"}, []string{"12"}},
		{`/n/:id(\d+)`, "/n/ab", []string{"id"}, nil},
		{"/o/:id?", "/o", []string{"id"}, []string{""}},
		{"/o/:id?", "/o/5", []string{"id"}, []string{"5"}},
		{"/f/:name.:ext", "/f/a.txt", []string{"name", "ext"}, []string{"a", "txt"}},
		{"/s/:path*", "/s/a/b/c", []string{"path", ""}, []string{"a", "/b/c"}},
		{"/static/*", "/static/a/b", []string{""}, []string{"a/b"}},
		{"/a(b)c/:id", "/abc/9", []string{"", "id"}, []string{"b", "9"}},
		{`/:id(?:a|b)/:x`, "/a/9", []string{"id", "x"}, []string{"a", "9"}},
		{"/x/*/:id", "/x/a/b/7", []string{"", "id"}, []string{"a/b", "7"}},
		{"/plain", "/PLAIN", nil, []string{}},
	}
	for _, tt := range tests {
		re, names, err := CompileParams(tt.pattern)
		if err != nil {
			t.Errorf("CompileParams(%q): %v", tt.pattern, err)
			continue
		}
		if strings.Join(names, ",") != strings.Join(tt.names, ",") || len(names) != len(tt.names) {
			t.Errorf("CompileParams(%q) names = %q, want %q", tt.pattern, names, tt.names)
		}
		m := re.FindStringSubmatch(tt.path)
		if tt.values == nil {
			if m != nil {
				t.Errorf("%q matched %q: %q", tt.pattern, tt.path, m)
			}
			continue
		}
		if m == nil {
			t.Errorf("%q did not match %q (regexp %s)", tt.pattern, tt.path, re)
			continue
		}
		if len(m)-1 != len(tt.values) {
			t.Errorf("%q on %q: groups %q, want %q", tt.pattern, tt.path, m[1:], tt.values)
			continue
		}
		for i, v := range tt.values {
			if m[i+1] != v {
				t.Errorf("%q on %q: group %d = %q, want %q", tt.pattern, tt.path, i+1, m[i+1], v)
			}
		}
	}
	if _, _, err := CompileParams(`/:id(\d+`); err == nil {
		t.Error("CompileParams accepted an unclosed group")
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"a.test":             "a.test",
		"a.test:80":          "a.test",
		"a.test.":            "a.test",
		"a.test.:80":         "a.test",
		"[::1]:80":           "::1",
		"[::1]":              "::1",
		"[fe80::1%25en0]:80": "fe80::1%25en0",
		"::1":                "::1",
		"[broken":            "[broken",
		".":                  ".",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}
