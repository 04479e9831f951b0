package expr

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

var expiresAt = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func exprRequest() (*http.Request, *pipeline.State) {
	r := httptest.NewRequest("GET", "http://api.example.com:8080/v1/users?id=7&x=a%20b", nil)
	r.Header.Set("X-Api-Key", "k1")
	r.Header.Add("Accept", "text/html")
	r.Header.Add("Accept", "application/json")
	st := &pipeline.State{
		RequestID: "rid",
		Route:     &pipeline.Route{APIEndpoint: "api", Scopes: []string{"read", "write"}, Pipeline: "default"},
		Identity: &pipeline.Identity{
			ConsumerID:          "c1",
			ConsumerType:        "application",
			ConsumerName:        "app1",
			UserID:              "u1",
			AuthenticatedUserID: "end-user",
			AuthType:            "oauth2",
			TokenID:             "t1",
			Scopes:              []string{"s1", "s2"},
			ExpiresAt:           expiresAt,
			Properties:          map[string]string{"email": "a@example.com", "both": "property"},
			Claims: map[string]any{
				"groups": []any{"a", "b"},
				"n":      3.0,
				"admin":  true,
				"roles":  []string{"x", "y"},
				"null":   nil,
				"both":   "claim",
				"when":   time.Date(2031, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)),
				"obj":    map[string]any{"k": "v"},
			},
		},
	}
	return pipeline.WithState(r, st), st
}

func TestCompile(t *testing.T) {
	tests := []struct{ src, want string }{
		{"req.method", "GET"},
		{"req.url", "/v1/users?id=7&x=a%20b"},
		{"req.originalUrl", "/v1/users?id=7&x=a%20b"},
		{"req.path", "/v1/users"},
		{"req.ip", "192.0.2.1"},
		{"req.hostname", "api.example.com"},
		{"req.protocol", "http"},
		{"req.headers.x-api-key", "k1"},
		{"req.headers['x-api-key']", "k1"},
		{`req.headers["X-Api-Key"]`, "k1"},
		{"req.headers.accept", "text/html, application/json"},
		{"req.headers.host", "api.example.com:8080"},
		{"req.headers['Host']", "api.example.com:8080"},
		{"req.headers.missing", ""},
		{"req.query.id", "7"},
		{"req.query.x", "a b"},
		{"req.query['id']", "7"},
		{"req.query.missing", ""},
		{"requestID", "rid"},
		{"pipeline", "default"},
		{"apiEndpoint.name", "api"},
		{"apiEndpoint.apiEndpointName", "api"},
		{"apiEndpoint.scopes", "read, write"},
		{"consumer.id", "c1"},
		{"user.id", "c1"},
		{"egContext.consumer.id", "c1"},
		{"egContext.user.id", "c1"},
		{"egContext.requestID", "rid"},
		{"egContext.req.method", "GET"},
		{"egContext.apiEndpoint.name", "api"},
		{"consumer.type", "application"},
		{"consumer.name", "app1"},
		{"consumer.username", "app1"},
		{"consumer.userId", "u1"},
		{"consumer.scopes", "s1, s2"},
		{"consumer.authorizedScopes", "s1, s2"},
		{"consumer.token.id", "t1"},
		{"consumer.token.scopes", "s1, s2"},
		{"consumer.token.authType", "oauth2"},
		{"consumer.token.consumerId", "c1"},
		{"consumer.token.authenticatedUserId", "end-user"},
		{"consumer.token.expiresAt", "1893553445000"},
		{"consumer.email", "a@example.com"},
		{"consumer['email']", "a@example.com"},
		{"consumer.both", "property"}, // properties before claims
		{"consumer.groups", "a, b"},
		{"consumer.roles", "x, y"},
		{"consumer.n", "3"},
		{"consumer.admin", "true"},
		{"consumer.null", ""},
		{"consumer.when", "2030-12-31T23:00:00Z"},
		{"consumer.obj", `{"k":"v"}`}, // compact JSON, as claimsToHeaders (headervalue.FromClaim)
		{"consumer.missing", ""},
		{"consumer.token", ""}, // a property named token
		{"user.email", "a@example.com"},
		{"'single'", "single"},
		{`"double"`, "double"},
		{"`back`", "back"},
		{"' spaced '", " spaced "},
		{"''", ""},
		{`"it's"`, "it's"},
		{"  req.method  ", "GET"},
		{"`${consumer.id}-${req.method}`", "c1-GET"},
		{"`$${requestID}`", "$rid"},
	}
	r, st := exprRequest()
	for _, tt := range tests {
		e, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%s): %v", tt.src, err)
			continue
		}
		if got := e(r, st); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestCompileTLSAndAddresses(t *testing.T) {
	r := httptest.NewRequest("GET", "https://[::1]:8443/", nil)
	r.TLS = &tls.ConnectionState{}
	r.RemoteAddr = "[2001:db8::1]:5555"
	for src, want := range map[string]string{
		"req.protocol": "https",
		"req.ip":       "2001:db8::1",
		"req.hostname": "::1",
	} {
		e, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := e(r, &pipeline.State{}); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	// an address without a port is used as it is
	r.RemoteAddr = "pipe"
	r.Host = "bare.test"
	for src, want := range map[string]string{"req.ip": "pipe", "req.hostname": "bare.test"} {
		e, _ := Compile(src)
		if got := e(r, &pipeline.State{}); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
}

func TestCompileAnonymous(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	st := &pipeline.State{}
	for _, src := range []string{
		"consumer.id", "consumer.type", "consumer.name", "consumer.userId", "consumer.scopes",
		"consumer.token.id", "consumer.token.scopes", "consumer.token.authType", "consumer.token.expiresAt",
		"consumer.email", "user.id",
	} {
		e, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := e(r, st); got != "" {
			t.Errorf("%s without identity = %q, want empty", src, got)
		}
	}
	// zero expiry renders empty, not 1970 or year 1
	e, _ := Compile("consumer.token.expiresAt")
	if got := e(r, &pipeline.State{Identity: &pipeline.Identity{ConsumerID: "x"}}); got != "" {
		t.Errorf("zero expiresAt = %q, want empty", got)
	}
}

const jsRefused = "(JavaScript cannot run in Gatehouse)"

func TestCompileRefused(t *testing.T) {
	unsupported := func(src string) string {
		return `expression "` + src + `" is not supported: use a property path such as req.headers.host, consumer.id or requestID ` + jsRefused
	}
	tests := []struct{ src, want string }{
		{"consumer.id + 1", `expression "consumer.id + 1": "id + 1" is not a property name`},
		{"req.headers.x.toUpperCase()", `expression "req.headers.x.toUpperCase()": "toUpperCase()" is not a property name`},
		{"req.headers.x.toUpperCase", unsupported("req.headers.x.toUpperCase")},
		{"'a' + 'b'", `expression "'a' + 'b'": "'a' + 'b'" is not a property name`},
		{`"a" + consumer.id + "b"`, `expression "\"a\" + consumer.id + \"b\"": "\"a\" + consumer" is not a property name`},
		{"req.headers['a' + 'b']", `expression "req.headers['a' + 'b']": bad [...] in property path`},
		{"req.method.", `expression "req.method.": "" is not a property name`},
		{"req..method", `expression "req..method": "" is not a property name`},
		{"req['headers']x", `expression "req['headers']x": unexpected "x" after [...]`},
		{"req.['headers']", `expression "req.['headers']": "" is not a property name`},
		{"consumer.scopes[0]", `expression "consumer.scopes[0]": bad [...] in property path`},
		{"req.headers[x]", `expression "req.headers[x]": bad [...] in property path`},
		{"req.headers['x'", `expression "req.headers['x'": bad [...] in property path`},
		{"", `expression "": empty expression`},
		{"   ", `expression "   ": empty expression`},
		{"egContext", `expression "egContext" names nothing`},
		{"'unterminated", `expression "'unterminated": "'unterminated" is not a property name`},
		{"Date.now()", `expression "Date.now()": "now()" is not a property name`},
		{"1 + 1", `expression "1 + 1": "1 + 1" is not a property name`},
		{"!consumer", `expression "!consumer": "!consumer" is not a property name`},
		{"consumer?.id", `expression "consumer?.id": "consumer?" is not a property name`},
		{"req", unsupported("req")},
		{"req.headers", unsupported("req.headers")},
		{"req.query", unsupported("req.query")},
		{"req.body", unsupported("req.body")},
		{"req.headers.a.b", unsupported("req.headers.a.b")},
		{"consumer", unsupported("consumer")},
		{"consumer.token.foo", unsupported("consumer.token.foo")},
		{"consumer.a.b", unsupported("consumer.a.b")},
		{"apiEndpoint", unsupported("apiEndpoint")},
		{"apiEndpoint.paths", unsupported("apiEndpoint.paths")},
		{"requestID.length", unsupported("requestID.length")},
		{"pipeline.name", unsupported("pipeline.name")},
		{"process.env.SECRET", unsupported("process.env.SECRET")},
		{"egContext.egContext.requestID", unsupported("egContext.egContext.requestID")},
		{"`${consumer.id + 1}`", `expression "consumer.id + 1": "id + 1" is not a property name`},
	}
	for _, tt := range tests {
		e, err := Compile(tt.src)
		if err == nil {
			t.Errorf("Compile(%s) accepted it", tt.src)
			continue
		}
		if e != nil {
			t.Errorf("Compile(%s) returned an Expr with its error", tt.src)
		}
		if err.Error() != tt.want {
			t.Errorf("Compile(%s):\n got %s\nwant %s", tt.src, err, tt.want)
		}
	}
}

func TestCompileTemplate(t *testing.T) {
	tests := []struct{ src, want string }{
		{"${req.method} ${req.originalUrl}", "GET /v1/users?id=7&x=a%20b"},
		{"plain text", "plain text"},
		{"", ""},
		{"a${requestID}b${pipeline}c", "aridbdefaultc"},
		{"${ requestID }", "rid"},
		{"$${requestID}", "$rid"},
		{"${requestID}${requestID}", "ridrid"},
		{"}{$", "}{$"},
		{"${egContext.consumer.id} (${user.name})", "c1 (app1)"},
		{"${'lit'}", "lit"},
		{"${req.headers['x-api-key']}", "k1"},
	}
	r, st := exprRequest()
	for _, tt := range tests {
		tpl, err := CompileTemplate(tt.src)
		if err != nil {
			t.Errorf("CompileTemplate(%q): %v", tt.src, err)
			continue
		}
		if got := tpl.Render(r, st); got != tt.want {
			t.Errorf("CompileTemplate(%q).Render = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestCompileTemplateRefused(t *testing.T) {
	tests := []struct{ src, want string }{
		{"${", `template "${": unterminated ${`},
		{"ok ${req.method", `template "ok ${req.method": unterminated ${`},
		{"${}", `expression "": empty expression`},
		{"${consumer.id + 1}", `expression "consumer.id + 1": "id + 1" is not a property name`},
		{"${req.headers.x.toUpperCase()}", `expression "req.headers.x.toUpperCase()": "toUpperCase()" is not a property name`},
		{"${'}'}", `expression "'": "'" is not a property name`},
		{"a ${req.body} b", `expression "req.body" is not supported: use a property path such as req.headers.host, consumer.id or requestID ` + jsRefused},
	}
	for _, tt := range tests {
		tpl, err := CompileTemplate(tt.src)
		if err == nil {
			t.Errorf("CompileTemplate(%q) accepted it", tt.src)
			continue
		}
		if tpl != nil {
			t.Errorf("CompileTemplate(%q) returned a template with its error", tt.src)
		}
		if err.Error() != tt.want {
			t.Errorf("CompileTemplate(%q):\n got %s\nwant %s", tt.src, err, tt.want)
		}
	}
}

func FuzzCompileTemplate(f *testing.F) {
	for _, s := range []string{
		"${req.method} ${req.originalUrl}",
		"${consumer.token.expiresAt}",
		"${req.headers['x-a']}${req.query.q}",
		"${egContext.user.id}",
		"${'a'}${\"b\"}${`c`}",
		"${`${requestID}`}",
		"${consumer.id + 1}",
		"${[''']}",
		"${a.['b']}",
		"$${${",
		"}${]",
		"plain",
		"",
	} {
		f.Add(s)
	}
	full, st := exprRequest()
	bare := httptest.NewRequest("GET", "/", nil)
	bare.Host = ""
	bare.RemoteAddr = ""
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := CompileTemplate(src)
		if err != nil {
			if tpl != nil {
				t.Fatalf("template and error for %q", src)
			}
			return
		}
		got := tpl.Render(full, st)
		tpl.Render(bare, &pipeline.State{})
		tpl.Render(bare, &pipeline.State{Identity: &pipeline.Identity{}})
		if !strings.Contains(src, "${") && got != src {
			t.Fatalf("template without expressions %q rendered as %q", src, got)
		}
		// An expression alone compiles the same way inside a template.
		if e, err := Compile(src); err == nil {
			e(full, st)
			e(bare, &pipeline.State{})
		}
	})
}
