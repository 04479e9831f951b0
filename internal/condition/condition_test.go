package condition

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// node parses src as the condition at x.condition of gateway.config.yml;
// line 1 of src is line 1 of the file.
func node(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Node(t, "x.condition", src)
}

func compile(t *testing.T, src string) pipeline.Condition {
	t.Helper()
	c, err := Compile(node(t, src))
	if err != nil {
		t.Fatalf("Compile(%s): %v", src, err)
	}
	if c == nil {
		t.Fatalf("Compile(%s) returned a nil condition", src)
	}
	return c
}

type req struct {
	method, target, host string
	identity             bool
	tls                  *tls.ConnectionState
}

func (q req) build() *http.Request {
	method := q.method
	if method == "" {
		method = "GET"
	}
	target := q.target
	if target == "" {
		target = "/"
	}
	r := httptest.NewRequest(method, target, nil)
	if q.host != "" {
		r.Host = q.host
	}
	r.TLS = q.tls
	if q.identity {
		r = pipeline.WithState(r, &pipeline.State{Identity: &pipeline.Identity{ConsumerID: "u1", AuthType: "basic-auth"}})
	} else {
		r = pipeline.WithState(r, &pipeline.State{Route: &pipeline.Route{}})
	}
	return r
}

func TestConditions(t *testing.T) {
	verified := &tls.ConnectionState{
		PeerCertificates: []*x509.Certificate{{}},
		VerifiedChains:   [][]*x509.Certificate{{{}}},
	}
	unverified := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
	tests := []struct {
		name  string
		cond  string
		match []req
		miss  []req
	}{
		{
			name:  "always",
			cond:  "name: always",
			match: []req{{}, {method: "POST", target: "/x?y=1"}},
		},
		{
			name: "never",
			cond: "name: never",
			miss: []req{{}, {identity: true}},
		},
		{
			name:  "pathExact compares the path",
			cond:  "{name: pathExact, path: /admin}",
			match: []req{{target: "/admin"}, {target: "/admin?x=1"}, {method: "POST", target: "/admin"}},
			miss:  []req{{target: "/admin/"}, {target: "/ADMIN"}, {target: "/admin/x"}, {target: "/"}},
		},
		{
			name:  "pathExact on a percent-encoded path sees it decoded",
			cond:  "{name: pathExact, path: /a b}",
			match: []req{{target: "/a%20b"}},
		},
		{
			name:  "pathMatch is a regexp on path and query",
			cond:  `{name: pathMatch, pattern: '^/v[0-9]+/users'}`,
			match: []req{{target: "/v1/users"}, {target: "/v22/users/7?a=b"}},
			miss:  []req{{target: "/users"}, {target: "/x/v1/users"}, {target: "/V1/users"}},
		},
		{
			name:  "pathMatch sees the query string, like req.url",
			cond:  `{name: pathMatch, pattern: 'debug=1'}`,
			match: []req{{target: "/x?debug=1"}},
			miss:  []req{{target: "/x?debug=0"}, {target: "/debug=0"}},
		},
		{
			name:  "method with one method",
			cond:  "{name: method, methods: POST}",
			match: []req{{method: "POST"}},
			miss:  []req{{method: "GET"}, {method: "PUT"}},
		},
		{
			name:  "method with a list, written in any case",
			cond:  "{name: method, methods: [get, Put]}",
			match: []req{{method: "GET"}, {method: "PUT"}},
			miss:  []req{{method: "HEAD"}, {method: "POST"}},
		},
		{
			name:  "method with a comma-separated string",
			cond:  "{name: method, methods: 'GET, DELETE'}",
			match: []req{{method: "GET"}, {method: "DELETE"}},
			miss:  []req{{method: "POST"}},
		},
		{
			name: "hostMatch is a glob on the Host header, with or without port",
			cond: "{name: hostMatch, pattern: '*.example.com'}",
			match: []req{
				{host: "a.example.com"},
				{host: "a.example.com:8080"},
				{host: "API.Example.COM"},
				{host: "a.b.example.com"}, // minimatch's * crosses dots
			},
			miss: []req{{host: "example.com"}, {host: "a.example.org"}, {host: "a.example.com.evil:80"}},
		},
		{
			name:  "hostMatch with a port in the pattern",
			cond:  "{name: hostMatch, pattern: 'localhost:*'}",
			match: []req{{host: "localhost:3000"}},
			miss:  []req{{host: "localhost"}},
		},
		{
			name:  "hostMatch on an IPv6 literal",
			cond:  `{name: hostMatch, pattern: '\[::1\]'}`,
			match: []req{{host: "[::1]:8080"}, {host: "[::1]"}},
			miss:  []req{{host: "[::2]:8080"}},
		},
		{
			name:  "authenticated",
			cond:  "name: authenticated",
			match: []req{{identity: true}},
			miss:  []req{{}},
		},
		{
			name:  "anonymous",
			cond:  "name: anonymous",
			match: []req{{}},
			miss:  []req{{identity: true}},
		},
		{
			name:  "tlsClientAuthenticated needs a verified client certificate",
			cond:  "name: tlsClientAuthenticated",
			match: []req{{tls: verified}},
			miss:  []req{{}, {tls: &tls.ConnectionState{}}, {tls: unverified}},
		},
		{
			name: "allOf needs every condition",
			cond: `
name: allOf
conditions:
  - {name: method, methods: GET}
  - {name: pathExact, path: /x}
`,
			match: []req{{target: "/x"}},
			miss:  []req{{method: "POST", target: "/x"}, {target: "/y"}},
		},
		{
			name: "oneOf needs one condition",
			cond: `
name: oneOf
conditions:
  - {name: method, methods: POST}
  - {name: pathExact, path: /x}
`,
			match: []req{{target: "/x"}, {method: "POST", target: "/y"}},
			miss:  []req{{target: "/y"}},
		},
		{
			name:  "not inverts",
			cond:  "{name: not, condition: {name: pathExact, path: /public}}",
			match: []req{{target: "/private"}},
			miss:  []req{{target: "/public"}},
		},
		{
			name: "nested: anonymous callers may only GET /public",
			cond: `
name: allOf
conditions:
  - name: anonymous
  - name: not
    condition:
      name: oneOf
      conditions:
        - {name: pathExact, path: /public}
        - {name: method, methods: [OPTIONS]}
`,
			match: []req{{target: "/private"}},
			miss:  []req{{target: "/public"}, {method: "OPTIONS", target: "/x"}, {identity: true, target: "/private"}},
		},
		{
			name:  "YAML anchors and merge keys are followed",
			cond:  "&c {<<: {name: pathExact}, path: /m}",
			match: []req{{target: "/m"}},
			miss:  []req{{target: "/n"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compile(t, tt.cond)
			for _, q := range tt.match {
				if !c.Match(q.build()) {
					t.Errorf("%+v: no match, want a match", q)
				}
			}
			for _, q := range tt.miss {
				if c.Match(q.build()) {
					t.Errorf("%+v: match, want none", q)
				}
			}
		})
	}
}

// A request that did not come through the gateway has no state: it is
// anonymous.
func TestAuthenticatedWithoutState(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if compile(t, "name: authenticated").Match(r) {
		t.Error("authenticated matched a request without state")
	}
	if !compile(t, "name: anonymous").Match(r) {
		t.Error("anonymous did not match a request without state")
	}
}

const known = "allOf, always, anonymous, authenticated, expression, hostMatch, json-schema, method, never, not, oneOf, pathExact, pathMatch, tlsClientAuthenticated"

func TestNames(t *testing.T) {
	if got := strings.Join(Names(), ", "); got != known {
		t.Errorf("Names() = %s\nwant %s", got, known)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cond string
		want string
	}{
		{
			name: "absent",
			cond: "",
			want: "gateway.config.yml: x.condition: a condition needs a name",
		},
		{
			name: "null",
			cond: "~",
			want: "gateway.config.yml:1: x.condition: a condition needs a name",
		},
		{
			name: "a bare name is not a condition",
			cond: "always",
			want: `gateway.config.yml:1: x.condition: expected a mapping, got "always"`,
		},
		{
			name: "no name",
			cond: "\npath: /x\n",
			want: "gateway.config.yml:2: x.condition.name: a condition needs a name (one of: " + known + ")",
		},
		{
			name: "name is not a string",
			cond: "\n\nname: [pathExact]\n",
			want: "gateway.config.yml:3: x.condition.name: expected a string, got a list",
		},
		{
			name: "unknown name",
			cond: "\nname: pathPrefix\npath: /x\n",
			want: `gateway.config.yml:2: x.condition.name: unknown condition "pathPrefix" (known: ` + known + ")",
		},
		{
			name: "expression runs JavaScript",
			cond: "\nname: expression\nexpression: \"req.url === '/x'\"\n",
			want: "gateway.config.yml:2: x.condition.name: the expression condition runs JavaScript, which Gatehouse cannot run: " +
				"use pathExact, pathMatch, method, hostMatch, authenticated or anonymous, combined with allOf, oneOf and not",
		},
		{
			name: "json-schema",
			cond: "name: json-schema\nschema: {}\n",
			want: "gateway.config.yml:1: x.condition.name: the json-schema condition is not supported yet: validate request bodies in the upstream service",
		},
		{
			name: "pathExact without path",
			cond: "\nname: pathExact\n",
			want: "gateway.config.yml:2: x.condition.path: is required",
		},
		{
			name: "pathMatch without pattern",
			cond: "name: pathMatch",
			want: "gateway.config.yml:1: x.condition.pattern: is required",
		},
		{
			name: "pathMatch with a bad regexp",
			cond: "name: pathMatch\npattern: '^/(a'\n",
			want: "gateway.config.yml:2: x.condition.pattern: invalid regular expression: error parsing regexp: missing closing ): `^/(a`",
		},
		{
			name: "pathMatch with a JavaScript-only lookahead",
			cond: "name: pathMatch\npattern: '^/(?!admin)'\n",
			want: "gateway.config.yml:2: x.condition.pattern: invalid regular expression: error parsing regexp: invalid or unsupported Perl syntax: `(?!`",
		},
		{
			name: "method without methods",
			cond: "name: method",
			want: "gateway.config.yml:1: x.condition.methods: is required",
		},
		{
			name: "method that is not a token",
			cond: "name: method\nmethods: 'GE T'\n",
			want: `gateway.config.yml:2: x.condition.methods: "GE T" is not an HTTP method`,
		},
		{
			name: "hostMatch without pattern",
			cond: "name: hostMatch",
			want: "gateway.config.yml:1: x.condition.pattern: is required",
		},
		{
			name: "hostMatch with a bad glob",
			cond: "name: hostMatch\npattern: 'a[.example.com'\n",
			want: "gateway.config.yml:2: x.condition.pattern: invalid pattern: syntax error in pattern",
		},
		{
			name: "parameters on a condition that takes none",
			cond: "name: authenticated\n\nscopes: [admin]\n",
			want: "gateway.config.yml:3: x.condition.scopes: unknown key (expected one of: name)",
		},
		{
			name: "unknown parameter",
			cond: "name: pathExact\npath: /x\npaths: [/y]\n",
			want: "gateway.config.yml:3: x.condition.paths: unknown key (expected one of: name, path)",
		},
		{
			name: "allOf without conditions",
			cond: "name: allOf",
			want: "gateway.config.yml:1: x.condition.conditions: is required",
		},
		{
			name: "oneOf with an empty list",
			cond: "name: oneOf\nconditions: []\n",
			want: "gateway.config.yml:2: x.condition.conditions: needs at least one condition",
		},
		{
			name: "allOf with conditions that is not a list",
			cond: "name: allOf\nconditions: {name: always}\n",
			want: "gateway.config.yml:2: x.condition.conditions: expected a list, got a mapping",
		},
		{
			name: "every nested error of allOf, each at its line",
			cond: `name: allOf
conditions:
  - name: always
  - name: nope
  - name: pathExact
  - name: expression
    expression: 'true'
`,
			want: `gateway.config.yml:4: x.condition.conditions[1].name: unknown condition "nope" (known: ` + known + ")\n" +
				"gateway.config.yml:5: x.condition.conditions[2].path: is required\n" +
				"gateway.config.yml:6: x.condition.conditions[3].name: the expression condition runs JavaScript, which Gatehouse cannot run: " +
				"use pathExact, pathMatch, method, hostMatch, authenticated or anonymous, combined with allOf, oneOf and not",
		},
		{
			name: "errors nested in oneOf inside allOf",
			cond: `name: allOf
conditions:
  - name: oneOf
    conditions:
      - {name: method}
      - {name: pathMatch, pattern: '('}
`,
			want: "gateway.config.yml:5: x.condition.conditions[0].conditions[0].methods: is required\n" +
				"gateway.config.yml:6: x.condition.conditions[0].conditions[1].pattern: invalid regular expression: error parsing regexp: missing closing ): `(`",
		},
		{
			name: "not without condition",
			cond: "name: not\n",
			want: "gateway.config.yml:1: x.condition.condition: is required",
		},
		{
			name: "not with a null condition",
			cond: "name: not\ncondition: ~\n",
			want: "gateway.config.yml:2: x.condition.condition: a condition needs a name",
		},
		{
			name: "not with a bad condition",
			cond: "name: not\ncondition:\n  name: sometimes\n",
			want: `gateway.config.yml:3: x.condition.condition.name: unknown condition "sometimes" (known: ` + known + ")",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile(node(t, tt.cond))
			if err == nil {
				t.Fatalf("Compile succeeded (%v), want error:\n%s", c, tt.want)
			}
			if c != nil {
				t.Errorf("Compile returned a condition with its error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
			// every error is a positioned config error
			for _, e := range config.AsErrors(err) {
				if e.File != "gateway.config.yml" || e.Path == "" {
					t.Errorf("error without position: %#v", e)
				}
			}
		})
	}
}
