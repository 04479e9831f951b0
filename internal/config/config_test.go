package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const validGateway = `http:
  port: ${PORT:-8080}
apiEndpoints:
  api:
    host: '*.example.com'
    paths: ['/api/*', '/v1/:id']
    methods: GET, post
    scopes: [read, {scope: write, verbs: [POST]}]
  other:
    - paths: /a
    - pathRegex: '^/b'
serviceEndpoints:
  backend:
    url: http://127.0.0.1:3000
  pool:
    urls: [http://a:1, https://b:2/base]
policies: [proxy, log]
pipelines:
  main:
    apiEndpoints: [api]
    policies:
      - log:
          action: {message: hi}
      - proxy:
          - condition: {name: always}
            action: {serviceEndpoint: backend}
  second:
    apiEndpoint: other
    policies:
      - proxy:
`

func TestParseGatewayValid(t *testing.T) {
	g, err := ParseGateway("gateway.config.yml", []byte(validGateway), env(map[string]string{"PORT": "9999"}))
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if g.HTTP.PortOr(0) != 9999 {
		t.Errorf("port = %d, want 9999 from ${PORT}", g.HTTP.PortOr(0))
	}
	api, _ := g.APIEndpoints.Get("api")
	if len(api) != 1 || api[0].Host != "*.example.com" || len(api[0].Paths) != 2 {
		t.Fatalf("api endpoint decoded wrong: %+v", api)
	}
	if got := strings.Join(api[0].Methods, ","); got != "GET,POST" {
		t.Errorf("methods = %s, want GET,POST", got)
	}
	if got := strings.Join(api[0].Scopes, ","); got != "read,write" {
		t.Errorf("scopes = %s, want read,write (legacy objects reduced to their scope)", got)
	}
	other, _ := g.APIEndpoints.Get("other")
	if len(other) != 2 || other[1].PathRegex != "^/b" {
		t.Errorf("list-form endpoint decoded wrong: %+v", other)
	}
	if names := strings.Join(g.Pipelines.Names(), ","); names != "main,second" {
		t.Errorf("pipelines order = %s, want file order", names)
	}
	main, _ := g.Pipelines.Get("main")
	if len(main.Policies) != 2 || main.Policies[1].Name != "proxy" || len(main.Policies[1].Steps) != 1 {
		t.Fatalf("main policies decoded wrong: %+v", main.Policies)
	}
	step := main.Policies[1].Steps[0]
	if step.Condition.IsZero() || step.Action.Line() != 26 {
		t.Errorf("step condition/action not kept with positions: cond zero=%v action line=%d", step.Condition.IsZero(), step.Action.Line())
	}
	if step.Action.Path != "pipelines.main.policies[1].proxy[0].action" {
		t.Errorf("action path = %q", step.Action.Path)
	}
	second, _ := g.Pipelines.Get("second")
	if len(second.Endpoints()) != 1 || len(second.Policies[0].Steps) != 1 || !second.Policies[0].Steps[0].Action.IsZero() {
		t.Errorf("null policy value must give one step without action: %+v", second)
	}
}

// TestGatewayErrors has one case per kind of config error, each asserting
// the whole message with its line number.
func TestGatewayErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{
			name: "unknown top-level key",
			yaml: "http:\n  port: 8080\nfoo: 1\n",
			want: []string{"gateway.config.yml:3: foo: unknown key (expected one of: http, https, admin, apiEndpoints, serviceEndpoints, policies, pipelines, methodOverride)"},
		},
		{
			name: "unknown nested key",
			yaml: "http:\n  port: 8080\napiEndpoints:\n  api:\n    paht: /x\n",
			want: []string{"gateway.config.yml:5: apiEndpoints.api.paht: unknown key (expected one of: host, hostRegex, paths, path, pathRegex, methods, scopes, allowEncodedSlashes, allowPathParameters, maxBodyBytes)"},
		},
		{
			name: "wrong type",
			yaml: "http:\n  port: eighty\n",
			want: []string{`gateway.config.yml:2: http.port: expected a whole number, got "eighty"`},
		},
		{
			name: "mapping where a string is expected",
			yaml: "http:\n  port: 1\n  host: {a: b}\n",
			want: []string{"gateway.config.yml:3: http.host: expected a string, got a mapping"},
		},
		{
			name: "port out of range",
			yaml: "http:\n  port: 70000\n",
			want: []string{"gateway.config.yml:2: http.port: must be between 0 and 65535, got 70000"},
		},
		{
			name: "client limits below -1",
			yaml: "http:\n  port: 1\n  maxBodyBytes: -2\n  maxConnections: -5\nadmin:\n  maxConnectionsPerClient: -3\n",
			want: []string{
				"gateway.config.yml:2: http.maxBodyBytes: must be -1 (no limit), 0 (the default) or a positive number, got -2",
				"gateway.config.yml:2: http.maxConnections: must be -1 (no limit), 0 (the default) or a positive number, got -5",
				"gateway.config.yml:6: admin.maxConnectionsPerClient: must be -1 (no limit), 0 (the default) or a positive number, got -3",
			},
		},
		{
			name: "negative client timeout",
			yaml: "http:\n  port: 1\n  sendTimeout: -1\n",
			want: []string{"gateway.config.yml:3: http.sendTimeout: must not be negative"},
		},
		{
			name: "yaml syntax",
			yaml: "http:\n  port: 1\n bad\n",
			want: []string{"gateway.config.yml:2: did not find expected key"},
		},
		{
			name: "unset variable without default",
			yaml: "http:\n  port: ${NOPE}\n",
			want: []string{"gateway.config.yml:2: http.port: environment variable NOPE is not set and ${NOPE} has no default (write ${NOPE:-value}, or $${NOPE} for a literal ${NOPE})"},
		},
		{
			// The unset url decodes as absent; the entry's "url must start
			// with http://" check would report it a second time, falsely.
			name: "unset variable reported once",
			yaml: "http: {port: 1}\nserviceEndpoints:\n  s:\n    urls: ['http://a', '${NOPE}']\n  t:\n    url: ftp://x\n",
			want: []string{
				"gateway.config.yml:4: serviceEndpoints.s.urls[1]: environment variable NOPE is not set and ${NOPE} has no default (write ${NOPE:-value}, or $${NOPE} for a literal ${NOPE})",
				`gateway.config.yml:5: serviceEndpoints.t: url "ftp://x" must start with http:// or https://`,
			},
		},
		{
			name: "undeclared policy",
			yaml: "http: {port: 1}\napiEndpoints:\n  a: {}\nserviceEndpoints:\n  s: {url: 'http://x'}\npolicies: [log]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies:\n      - proxy: {action: {serviceEndpoint: s}}\n",
			want: []string{`gateway.config.yml:11: pipelines.p.policies[0].proxy: policy "proxy" is not declared in the top-level policies list`},
		},
		{
			name: "missing apiEndpoint",
			yaml: "http: {port: 1}\npolicies: [log]\npipelines:\n  p:\n    apiEndpoints:\n      - nope\n    policies:\n      - log: {action: {message: x}}\n",
			want: []string{`gateway.config.yml:6: pipelines.p.apiEndpoints: apiEndpoint "nope" is not declared under apiEndpoints`},
		},
		{
			// No policies is not an error (Express Gateway loads such a
			// pipeline; gateway.Build warns of it); no apiEndpoints is.
			name: "pipeline without apiEndpoints or policies",
			yaml: "http: {port: 1}\npipelines:\n  p: {}\n",
			want: []string{
				"gateway.config.yml:3: pipelines.p.apiEndpoints: is required: name at least one apiEndpoint",
			},
		},
		{
			name: "apiEndpoint served twice",
			yaml: "http: {port: 1}\napiEndpoints:\n  a: {}\npolicies: [log]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies: [{log: {action: {message: x}}}]\n  q:\n    apiEndpoints: [a]\n    policies: [{log: {action: {message: x}}}]\n",
			want: []string{`gateway.config.yml:10: pipelines.q.apiEndpoints: apiEndpoint "a" is already served by pipeline "p"`},
		},
		{
			name: "service endpoint proxy that is not http",
			yaml: "http: {port: 1}\nserviceEndpoints:\n  s:\n    url: http://x\n    proxy: socks5://u:pw@p:1080\n",
			want: []string{`gateway.config.yml:3: serviceEndpoints.s.proxy: proxy "socks5://u:xxxxx@p:1080" must start with http:// (only http proxies are supported)`},
		},
		{
			name: "service endpoint without url",
			yaml: "http: {port: 1}\nserviceEndpoints:\n  s: {}\n",
			want: []string{"gateway.config.yml:3: serviceEndpoints.s: needs url or urls"},
		},
		{
			name: "service endpoint with both and bad scheme",
			yaml: "http: {port: 1}\nserviceEndpoints:\n  s:\n    url: ftp://x\n    urls: [http://y]\n",
			want: []string{"gateway.config.yml:3: serviceEndpoints.s: set url or urls, not both"},
		},
		{
			name: "bad upstream url",
			yaml: "http: {port: 1}\nserviceEndpoints:\n  s:\n    url: ftp://x\n",
			want: []string{`gateway.config.yml:3: serviceEndpoints.s: url "ftp://x" must start with http:// or https://`},
		},
		{
			name: "policy item with two names",
			yaml: "http: {port: 1}\napiEndpoints: {a: {}}\npolicies: [log]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies:\n      - log: {}\n        proxy: {}\n",
			want: []string{"gateway.config.yml:8: pipelines.p.policies[0]: expected a mapping with one policy name, such as `- proxy: {action: {serviceEndpoint: backend}}`, got a mapping"},
		},
		{
			name: "bad method",
			yaml: "http: {port: 1}\napiEndpoints:\n  a:\n    methods: 'GET, PO ST'\n",
			want: []string{`gateway.config.yml:4: apiEndpoints.a.methods: "PO ST" is not an HTTP method`},
		},
		{
			name: "host and hostRegex",
			yaml: "http: {port: 1}\napiEndpoints:\n  a:\n    host: x\n    hostRegex: y\n",
			want: []string{"gateway.config.yml:4: apiEndpoints.a: host and hostRegex cannot both be set"},
		},
		{
			name: "no listener",
			yaml: "apiEndpoints: {}\n",
			want: []string{"gateway.config.yml: http: neither http nor https is configured: the gateway would not listen anywhere"},
		},
		{
			name: "several errors reported together in line order",
			yaml: "http:\n  port: x\nfoo: 1\nserviceEndpoints:\n  s: {}\n",
			want: []string{
				`gateway.config.yml:2: http.port: expected a whole number, got "x"`,
				"gateway.config.yml:3: foo: unknown key (expected one of: http, https, admin, apiEndpoints, serviceEndpoints, policies, pipelines, methodOverride)",
				"gateway.config.yml:5: serviceEndpoints.s: needs url or urls",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGateway("gateway.config.yml", []byte(tt.yaml), env(tt.env))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func TestParseSystem(t *testing.T) {
	s, err := ParseSystem("system.config.yml", []byte(`db:
  redis:
    emulate: ${EG_DB_EMULATE:-true}
    host: localhost
    port: 6379
    namespace: EG
crypto:
  cipherKey: sensitiveKey
  algorithm: aes256
  saltRounds: 10
session:
  secret: keyboard cat
  resave: false
  saveUninitialized: false
accessTokens:
  timeToExpiry: 7200000
refreshTokens:
  timeToExpiry: 7200000
authorizationCodes:
  timeToExpiry: 300000
`), env(nil))
	if err != nil {
		t.Fatalf("Express Gateway's shipped system.config.yml must load: %v", err)
	}
	if !s.DB.Redis.Emulate || s.DB.Redis.Namespace != "EG" {
		t.Errorf("redis block decoded wrong: %+v", s.DB.Redis)
	}
	if got := s.AuthorizationCodes.Lifetime(time.Hour); got != 5*time.Minute {
		t.Errorf("code lifetime = %v, want 5m from 300000 ms", got)
	}
	if got := (*Expiry)(nil).Lifetime(time.Hour); got != time.Hour {
		t.Errorf("default lifetime = %v", got)
	}
	_, err = ParseSystem("system.config.yml", []byte("accessTokens:\n  tokenType: paseto\n"), env(nil))
	if err == nil || err.Error() != `system.config.yml: accessTokens.tokenType: must be opaque or jwt, got "paseto"` {
		t.Errorf("tokenType error = %v", err)
	}
}

func TestExpand(t *testing.T) {
	vars := env(map[string]string{"A": "1", "EMPTY": ""})
	tests := []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "1"},
		{in: "x${A}y${A}", want: "x1y1"},
		{in: "${B:-def}", want: "def"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${EMPTY}", want: ""},
		{in: "${A:-def}", want: "1"},
		{in: "$${A}", want: "${A}"},
		{in: "${req.method} ${A}", want: "${req.method} 1"},
		{in: "${B}", err: "environment variable B is not set and ${B} has no default (write ${B:-value}, or $${B} for a literal ${B})"},
		{in: "${A", err: `unterminated ${ in "${A"`},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, vars)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"${A}", "$${A}", "${A:-x}", "${", "a${b.c}d", "${A:-${B}}"} {
		f.Add(s)
	}
	vars := env(map[string]string{"A": "1"})
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Expand(s, vars)
		if err == nil && !strings.Contains(s, "${") && out != s {
			t.Fatalf("text without ${ changed: %q -> %q", s, out)
		}
	})
}

func FuzzParseGateway(f *testing.F) {
	f.Add(validGateway)
	f.Add("http: {port: 1}\npipelines: {p: {policies: [{proxy: [{action: 1}]}]}}")
	f.Add("apiEndpoints: &a {x: *a}")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseGateway("gateway.config.yml", []byte(s), env(nil)) // must not panic
	})
}

func TestDuplicateKeys(t *testing.T) {
	_, err := ParseGateway("gateway.config.yml", []byte("http:\n  port: 1\napiEndpoints:\n  a: {}\n  a: {paths: /x}\nhttp:\n  port: 2\n"), env(nil))
	want := "gateway.config.yml:5: apiEndpoints.a: duplicate key (first written at line 4)\ngateway.config.yml:6: http: duplicate key (first written at line 1)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestListenerClientLimits: the client limits decode on every listener
// block, durations in milliseconds or Go syntax.
func TestListenerClientLimits(t *testing.T) {
	g, err := ParseGateway("gateway.config.yml", []byte(`http:
  port: 1
  maxBodyBytes: 1048576
  bodyReadTimeout: 5s
  minBodyRate: 200
  sendTimeout: 15000
  maxConnections: 500
  maxIdleConnections: -1
  maxConnectionsPerClient: 50
https:
  port: 2
  maxBodyBytes: -1
  tls: {default: {key: k, cert: c}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := g.HTTP
	if h.MaxBodyBytes != 1<<20 || time.Duration(h.BodyReadTimeout) != 5*time.Second || h.MinBodyRate != 200 ||
		time.Duration(h.SendTimeout) != 15*time.Second || h.MaxConnections != 500 || h.MaxIdleConnections != -1 ||
		h.MaxConnectionsPerClient != 50 {
		t.Errorf("http: %+v", *h)
	}
	if g.HTTPS.MaxBodyBytes != -1 {
		t.Errorf("https.maxBodyBytes = %d", g.HTTPS.MaxBodyBytes)
	}
}
