package cors

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

const actionPath = "pipelines.p.policies[0].cors[0].action"

// action parses src as a step's action; line 1 of src is line 1 of the file.
// An empty src is an absent action.
func action(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Node(t, actionPath, src)
}

func env() *policyenv.Env {
	return &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func build(t *testing.T, src string) pipeline.Policy {
	t.Helper()
	p, err := New(action(t, src), env())
	if err != nil {
		t.Fatalf("New(%s): %v", src, err)
	}
	return p
}

type call struct {
	method  string
	header  map[string]string
	status  int               // expected status; 0: next answered (200)
	next    bool              // next must be called
	want    map[string]string // expected response headers; "" means absent
	vary    []string          // expected Vary values, in order
	reason  string
	nocheck bool // do not check Vary
}

func run(t *testing.T, p pipeline.Policy, c call) {
	t.Helper()
	method := c.method
	if method == "" {
		method = "GET"
	}
	r := httptest.NewRequest(method, "/x", nil)
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	st := &pipeline.State{Route: &pipeline.Route{}}
	r = pipeline.WithState(r, st)
	w := httptest.NewRecorder()
	called := false
	err := p.Handle(w, r, pipeline.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		called = true
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	if err != nil {
		t.Errorf("%s %v: error %v", method, c.header, err)
	}
	if called != c.next {
		t.Errorf("%s %v: next called = %v, want %v", method, c.header, called, c.next)
	}
	want := c.status
	if want == 0 {
		want = http.StatusOK
	}
	if w.Code != want {
		t.Errorf("%s %v: status %d, want %d", method, c.header, w.Code, want)
	}
	for k, v := range c.want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s %v: %s = %q, want %q", method, c.header, k, got, v)
		}
	}
	if !c.nocheck && strings.Join(w.Header().Values("Vary"), "|") != strings.Join(c.vary, "|") {
		t.Errorf("%s %v: Vary = %q, want %q", method, c.header, w.Header().Values("Vary"), c.vary)
	}
	if st.Record.Reason != c.reason {
		t.Errorf("%s %v: reason %q, want %q", method, c.header, st.Record.Reason, c.reason)
	}
}

const defaultMethods = "GET,HEAD,PUT,PATCH,POST,DELETE"

func preflight(origin, method string) map[string]string {
	h := map[string]string{"Access-Control-Request-Method": method}
	if origin != "" {
		h["Origin"] = origin
	}
	return h
}

func TestCORS(t *testing.T) {
	app := "https://app.example.com"
	tests := []struct {
		name   string
		action string
		calls  []call
	}{
		{
			name:   "no action: any origin",
			action: "",
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, want: map[string]string{
					"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "", "Access-Control-Expose-Headers": ""}},
				// the cors module sends * even without an Origin
				{next: true, want: map[string]string{"Access-Control-Allow-Origin": "*"}},
				{method: "OPTIONS", header: preflight(app, "PUT"), status: 204, reason: "cors_preflight", want: map[string]string{
					"Access-Control-Allow-Origin":  "*",
					"Access-Control-Allow-Methods": defaultMethods,
					"Access-Control-Allow-Headers": "",
					"Access-Control-Max-Age":       "",
					"Content-Length":               "0",
				}},
			},
		},
		{
			name:   "origin '*' written out",
			action: "origin: '*'",
			calls: []call{
				{header: map[string]string{"Origin": "https://evil.test"}, next: true, want: map[string]string{"Access-Control-Allow-Origin": "*"}},
			},
		},
		{
			name:   "origin true reflects the request's origin",
			action: "origin: true",
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": app}},
				{next: true, vary: []string{"Origin"}, want: map[string]string{"Access-Control-Allow-Origin": ""}},
			},
		},
		{
			name:   "origin false: no CORS at all, preflights go on down the pipeline",
			action: "origin: false",
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, want: map[string]string{"Access-Control-Allow-Origin": ""}},
				{method: "OPTIONS", header: preflight(app, "PUT"), next: true, want: map[string]string{
					"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
			},
		},
		{
			name:   "one origin",
			action: "origin: https://app.example.com",
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": app}},
				{header: map[string]string{"Origin": "https://evil.test"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": ""}},
			},
		},
		{
			name:   "a list of origins",
			action: "origin: [https://a.example.com, 'http://localhost:3000']",
			calls: []call{
				{header: map[string]string{"Origin": "https://a.example.com"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": "https://a.example.com"}},
				{header: map[string]string{"Origin": "http://localhost:3000"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": "http://localhost:3000"}},
				{header: map[string]string{"Origin": "http://localhost:3001"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": ""}},
				{header: map[string]string{"Origin": "https://a.example.com.evil.test"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": ""}},
				// a refused preflight is answered, without CORS headers
				{method: "OPTIONS", header: preflight("https://evil.test", "DELETE"), status: 204, reason: "cors_preflight", vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
			},
		},
		{
			name:   "a wildcard origin",
			action: "origin: 'https://*.example.com'",
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": app}},
				{header: map[string]string{"Origin": "https://APP.Example.com"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": "https://APP.Example.com"}},
				{header: map[string]string{"Origin": "https://example.com"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": ""}},
				{header: map[string]string{"Origin": "http://app.example.com"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": ""}},
				{header: map[string]string{"Origin": "https://app.example.com.evil.test"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": ""}},
				{header: map[string]string{"Origin": "https://evil.test/.example.com"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": ""}},
			},
		},
		{
			name: "credentials with listed origins",
			action: `
origin: [https://app.example.com]
credentials: true
`,
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": app, "Access-Control-Allow-Credentials": "true"}},
				{header: map[string]string{"Origin": "https://evil.test"}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": ""}},
				{method: "OPTIONS", header: preflight(app, "POST"), status: 204, reason: "cors_preflight", vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": app, "Access-Control-Allow-Credentials": "true"}},
			},
		},
		{
			name:   "credentials with reflected origins",
			action: "{origin: true, credentials: 'true'}",
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, vary: []string{"Origin"},
					want: map[string]string{"Access-Control-Allow-Origin": app, "Access-Control-Allow-Credentials": "true"}},
			},
		},
		{
			name: "preflight with configured methods, headers and max age",
			action: `
methods: [get, post]
allowedHeaders: [Content-Type, Authorization]
headers: X-Extra
maxAge: 600
`,
			calls: []call{
				{method: "OPTIONS", header: map[string]string{"Origin": app, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-other"},
					status: 204, reason: "cors_preflight", want: map[string]string{
						"Access-Control-Allow-Origin":  "*",
						"Access-Control-Allow-Methods": "GET,POST",
						"Access-Control-Allow-Headers": "Content-Type,Authorization,X-Extra",
						"Access-Control-Max-Age":       "600",
					}},
				// not a preflight: an OPTIONS request without Access-Control-Request-Method
				{method: "OPTIONS", header: map[string]string{"Origin": app}, next: true, want: map[string]string{
					"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "", "Access-Control-Max-Age": ""}},
			},
		},
		{
			name:   "preflight methods as a comma-separated string",
			action: "methods: 'GET,PUT'",
			calls: []call{
				{method: "OPTIONS", header: preflight(app, "PUT"), status: 204, reason: "cors_preflight",
					want: map[string]string{"Access-Control-Allow-Methods": "GET,PUT"}},
			},
		},
		{
			name:   "preflight reflects the requested headers when none are configured",
			action: "origin: true",
			calls: []call{
				{method: "OPTIONS", header: map[string]string{"Origin": app, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "X-A, X-B"},
					status: 204, reason: "cors_preflight", vary: []string{"Origin", "Access-Control-Request-Headers"},
					want: map[string]string{"Access-Control-Allow-Origin": app, "Access-Control-Allow-Headers": "X-A, X-B"}},
			},
		},
		{
			name:   "maxAge 0 is sent",
			action: "maxAge: 0",
			calls: []call{
				{method: "OPTIONS", header: preflight(app, "GET"), status: 204, reason: "cors_preflight",
					want: map[string]string{"Access-Control-Max-Age": "0"}},
			},
		},
		{
			name:   "preflightContinue passes the preflight on",
			action: "{preflightContinue: true, maxAge: 60}",
			calls: []call{
				{method: "OPTIONS", header: preflight(app, "DELETE"), next: true, want: map[string]string{
					"Access-Control-Allow-Origin":  "*",
					"Access-Control-Allow-Methods": defaultMethods,
					"Access-Control-Max-Age":       "60",
				}},
			},
		},
		{
			name:   "optionsSuccessStatus",
			action: "optionsSuccessStatus: 200",
			calls: []call{
				{method: "OPTIONS", header: preflight(app, "GET"), status: 200, reason: "cors_preflight",
					want: map[string]string{"Access-Control-Allow-Methods": defaultMethods}},
			},
		},
		{
			name:   "exposed headers on actual requests only",
			action: "exposedHeaders: [X-Request-Id, X-Total]",
			calls: []call{
				{header: map[string]string{"Origin": app}, next: true, want: map[string]string{
					"Access-Control-Expose-Headers": "X-Request-Id,X-Total"}},
				{method: "OPTIONS", header: preflight(app, "GET"), status: 204, reason: "cors_preflight", want: map[string]string{
					"Access-Control-Expose-Headers": ""}},
			},
		},
		{
			name:   "exposed headers not sent to a refused origin",
			action: "{origin: [https://app.example.com], exposedHeaders: X-Total}",
			calls: []call{
				{header: map[string]string{"Origin": "https://evil.test"}, next: true, vary: []string{"Origin"}, want: map[string]string{
					"Access-Control-Expose-Headers": ""}},
				{header: map[string]string{"Origin": app}, next: true, vary: []string{"Origin"}, want: map[string]string{
					"Access-Control-Expose-Headers": "X-Total"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := build(t, tt.action)
			for _, c := range tt.calls {
				run(t, p, c)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	at := func(line int, key, msg string) string {
		return fmt.Sprintf("gateway.config.yml:%d: %s.%s: %s", line, actionPath, key, msg)
	}
	tests := []struct{ action, want string }{
		{"origin: '*'\ncredentials: true\n", at(2, "credentials",
			`credentials: true with origin "*" is refused by browsers; list the allowed origins (or origin: true to reflect any)`)},
		{"credentials: true\n", at(1, "credentials",
			`credentials: true with origin "*" is refused by browsers; list the allowed origins (or origin: true to reflect any)`)},
		{"\norigin: 5\n", at(2, "origin", `must be "*", true, false, an origin or a list of origins`)},
		{"origin: {a: b}\n", at(1, "origin", `must be "*", true, false, an origin or a list of origins`)},
		{"origin: [https://a.test, 7]\n", at(1, "origin", "list entries must be origins such as https://app.example.com")},
		{"origin: 'https://[.example.com'\n", at(1, "origin", `bad origin pattern "https://[.example.com": syntax error in pattern`)},
		{"maxAge: -1\n", at(1, "maxAge", "must not be negative")},
		{"maxAge: soon\n", at(1, "maxAge", `expected a whole number, got "soon"`)},
		{"optionsSuccessStatus: 404\n", at(1, "optionsSuccessStatus", "must be a 2xx status, got 404")},
		{"credentials: maybe\n", at(1, "credentials", `expected true or false, got "maybe"`)},
		{"origins: '*'\n", at(1, "origins", "unknown key (expected one of: origin, methods, allowedHeaders, headers, exposedHeaders, credentials, maxAge, preflightContinue, optionsSuccessStatus)")},
	}
	for _, tt := range tests {
		p, err := New(action(t, tt.action), env())
		if err == nil {
			t.Errorf("New(%q) accepted it", tt.action)
			continue
		}
		if p != nil {
			t.Errorf("New(%q) returned a policy with its error", tt.action)
		}
		if err.Error() != tt.want {
			t.Errorf("New(%q):\n got %s\nwant %s", tt.action, err, tt.want)
		}
	}
}

// The gateway's CORS headers win over the upstream's: two values of
// Access-Control-Allow-Origin make browsers refuse the response.
func TestCORSReplacesUpstreamHeaders(t *testing.T) {
	p := build(t, "{origin: [https://app.example.com], credentials: true, exposedHeaders: X-Total}")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://app.example.com")
	w := httptest.NewRecorder()
	err := p.Handle(w, r, pipeline.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Add("Access-Control-Allow-Origin", "*")
		w.Header().Add("Access-Control-Allow-Credentials", "false")
		w.Header().Add("Access-Control-Expose-Headers", "X-Other")
		_, err := w.Write([]byte("body"))
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example.com",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "X-Total",
	} {
		if got := w.Header().Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want only %q", k, got, v)
		}
	}
}

// A later step that refuses the request (an auth policy's 401) still gets
// the CORS headers on the error the gateway writes, so that the browser lets
// the page read the refusal, as with the cors module that sets them first.
func TestCORSHeadersOnRefusals(t *testing.T) {
	for _, src := range []string{"", "{origin: true, credentials: true, exposedHeaders: X-Total}"} {
		p := build(t, src)
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Origin", "https://app.example.com")
		w := httptest.NewRecorder()
		err := p.Handle(w, r, pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return pipeline.Reject(http.StatusUnauthorized, "unauthorized", "no credentials")
		}))
		if err == nil {
			t.Fatal("the refusal was lost")
		}
		pipeline.WriteError(w, r, err, slog.New(slog.DiscardHandler))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%q: status %d", src, w.Code)
		}
		want := "*"
		if src != "" {
			want = "https://app.example.com"
			if got := w.Header().Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("%q: Access-Control-Allow-Credentials = %q on the refusal", src, got)
			}
			if got := w.Header().Get("Access-Control-Expose-Headers"); got != "X-Total" {
				t.Errorf("%q: Access-Control-Expose-Headers = %q on the refusal", src, got)
			}
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("%q: Access-Control-Allow-Origin = %q on the refusal, want %q", src, got, want)
		}
	}
}
