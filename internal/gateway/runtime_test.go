package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

func testEnv() *policyenv.Env {
	return &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func build(t *testing.T, yml string) (*Runtime, error) {
	t.Helper()
	g, err := config.ParseGateway("gateway.config.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config must parse: %v", err)
	}
	return Build(g, testEnv(), Policies(nil))
}

// TestBuildErrors covers the errors only known once policies are built,
// each with its full message and line.
func TestBuildErrors(t *testing.T) {
	const head = "http: {port: 1}\napiEndpoints:\n  a: {paths: /a}\nserviceEndpoints:\n  s: {url: 'http://127.0.0.1:1'}\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown policy in the policies list",
			yaml: head + "policies: [proxy, jscode]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies: [{proxy: {action: {serviceEndpoint: s}}}, {jscode: }]\n",
			want: []string{
				`gateway.config.yml:6: policies[1]: unknown policy "jscode" (known: ` + strings.Join(knownNames(Policies(nil)), ", ") + `)`,
				"gateway.config.yml:10: pipelines.p.policies[1].jscode: unreachable: the proxy step at line 10 always ends the pipeline, so nothing may follow it",
			},
		},
		{
			name: "unknown service endpoint",
			yaml: head + "policies: [proxy]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies:\n      - proxy:\n          action:\n            serviceEndpoint: nope\n",
			want: []string{`gateway.config.yml:13: pipelines.p.policies[0].proxy.action.serviceEndpoint: service endpoint "nope" is not declared under serviceEndpoints`},
		},
		{
			name: "proxy without serviceEndpoint",
			yaml: head + "policies: [proxy]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies:\n      - proxy:\n",
			want: []string{"gateway.config.yml:11: pipelines.p.policies[0].proxy.action.serviceEndpoint: is required: name one of serviceEndpoints"},
		},
		{
			name: "unknown action option",
			yaml: head + "policies: [proxy]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies:\n      - proxy:\n          action:\n            serviceEndpoint: s\n            followRedirects: true\n",
			want: []string{"gateway.config.yml:14: pipelines.p.policies[0].proxy.action.followRedirects: unknown key (expected one of: serviceEndpoint, changeOrigin, stripPath, strategy, xfwd, secure, auth, prependPath, ignorePath, proxyTimeout, timeout, connectTimeout, proxyUrl, preserveHeaderKeyCase, toProxy)"},
		},
		{
			name: "step after proxy",
			yaml: head + "policies: [proxy, log]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies:\n      - proxy: {action: {serviceEndpoint: s}}\n      - log: {action: {message: late}}\n",
			want: []string{"gateway.config.yml:12: pipelines.p.policies[1].log: unreachable: the proxy step at line 11 always ends the pipeline, so nothing may follow it"},
		},
		{
			name: "javascript expression condition",
			yaml: head + "policies: [proxy]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies:\n      - proxy:\n          - condition:\n              name: expression\n              expression: req.url.length > 5\n            action: {serviceEndpoint: s}\n",
			want: []string{"gateway.config.yml:13: pipelines.p.policies[0].proxy[0].condition.name: the expression condition runs JavaScript, which Gatehouse cannot run: use pathExact, pathMatch, method, hostMatch, authenticated or anonymous, combined with allOf, oneOf and not"},
		},
		{
			name: "bad path pattern",
			yaml: "http: {port: 1}\napiEndpoints:\n  a:\n    paths: '/x/:id(['\nserviceEndpoints:\n  s: {url: 'http://127.0.0.1:1'}\npolicies: [proxy]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies: [{proxy: {action: {serviceEndpoint: s}}}]\n",
			want: []string{"gateway.config.yml:4: apiEndpoints.a: path \"/x/:id([\" is not a valid pattern: missing closing ]"},
		},
		{
			name: "errors of several pipelines together",
			yaml: head + "policies: [proxy, terminate]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies: [{terminate: {action: {statusCode: 99}}}]\n  q:\n    apiEndpoints: [a2]\n    policies: [{proxy: {action: {serviceEndpoint: zz}}}]\n",
			want: []string{
				"gateway.config.yml:10: pipelines.p.policies[0].terminate.action.statusCode: must be a final HTTP status between 200 and 599, got 99",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := config.ParseGateway("gateway.config.yml", []byte(tt.yaml), func(string) (string, bool) { return "", false })
			if err != nil {
				if tt.name == "errors of several pipelines together" {
					return // a2 is undeclared: config checks catch it first; covered in config tests
				}
				t.Fatalf("config must parse: %v", err)
			}
			_, err = Build(g, testEnv(), Policies(nil))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n got: %q\nwant: %q", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestUnusedUnknownPolicyIsAWarning(t *testing.T) {
	rt, err := build(t, "http: {port: 1}\napiEndpoints: {a: {}}\npolicies: [terminate, request-transformer]\npipelines:\n  p: {apiEndpoints: [a], policies: [{terminate: }]}\n")
	if err != nil {
		t.Fatalf("a declared but unused unknown policy must not fail the load: %v", err)
	}
	want := `gateway.config.yml:3: policies[1]: policy "request-transformer" is not available in Gatehouse; no pipeline uses it, so it is ignored`
	if len(rt.Warnings) != 1 || rt.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", rt.Warnings, want)
	}
}

// TestPipelineWithoutPoliciesIsAWarning: Express Gateway loads a pipeline
// whose policies list is empty or null; its routes answer 404.
func TestPipelineWithoutPoliciesIsAWarning(t *testing.T) {
	for _, policies := range []string{"[]", "null", "", "~"} {
		t.Run("policies: "+policies, func(t *testing.T) {
			rt, err := build(t, "http: {port: 1}\napiEndpoints: {a: {paths: /a}}\npolicies: [terminate]\npipelines:\n  p:\n    apiEndpoints: [a]\n    policies: "+policies+"\n")
			if err != nil {
				t.Fatalf("a pipeline without policies must load: %v", err)
			}
			want := `gateway.config.yml:5: pipelines.p.policies: pipeline "p" has no policies; the requests routed to it answer 404`
			if len(rt.Warnings) != 1 || rt.Warnings[0] != want {
				t.Errorf("warnings %q, want %q", rt.Warnings, want)
			}
			rec := httptest.NewRecorder()
			New(rt, testEnv().Logger, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/a", nil))
			if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"not_found"`) {
				t.Errorf("got %d %s, want 404 not_found", rec.Code, rec.Body)
			}
		})
	}
}

func TestServeRoutesAndStripsIdentityHeaders(t *testing.T) {
	var seen http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.WriteHeader(http.StatusTeapot)
	}))
	defer up.Close()
	rt, err := build(t, `http: {port: 1}
apiEndpoints:
  a: {host: api.test, paths: '/a/*'}
  b: {paths: /b, methods: POST}
serviceEndpoints:
  s: {url: '`+up.URL+`'}
policies: [proxy, terminate]
pipelines:
  p:
    apiEndpoints: [a]
    policies: [{proxy: {action: {serviceEndpoint: s}}}]
  q:
    apiEndpoints: [b]
    policies: [{terminate: {action: {statusCode: 202, message: accepted}}}]
`)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	gw := New(rt, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)

	req := httptest.NewRequest("GET", "http://api.test/a/x", nil)
	req.Header.Set("eg-consumer-id", "spoofed")
	req.Header.Set("EG-Token-Scopes", "admin")
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, req)
	if rec.Code != http.StatusTeapot {
		t.Fatalf("proxied status = %d, want 418 from upstream", rec.Code)
	}
	if seen.Get("Eg-Consumer-Id") != "" || seen.Get("Eg-Token-Scopes") != "" {
		t.Errorf("client-sent eg-* headers reached the upstream: %v", seen)
	}
	if id := seen.Get("Eg-Request-Id"); len(id) != 22 || id != rec.Header().Get("Eg-Request-Id") {
		t.Errorf("eg-request-id upstream %q, response %q: want the same 22-char id", id, rec.Header().Get("Eg-Request-Id"))
	}

	for _, c := range []struct {
		method, url string
		status      int
	}{
		{"GET", "http://other.test/a/x", 404}, // host mismatch
		{"POST", "http://x/b", 202},
		{"GET", "http://x/b", 404}, // method not allowed falls through to 404, as Express Gateway
	} {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(c.method, c.url, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.url, rec.Code, c.status)
		}
		if c.status == 404 && !strings.Contains(rec.Body.String(), `"error":"not_found"`) {
			t.Errorf("404 body = %s, want JSON not_found", rec.Body.String())
		}
	}
}

type panicPolicy struct{}

func (panicPolicy) Handle(http.ResponseWriter, *http.Request, pipeline.Handler) error { panic("boom") }

func TestPanicBecomes500(t *testing.T) {
	g, err := config.ParseGateway("gateway.config.yml", []byte("http: {port: 1}\napiEndpoints: {a: {}}\npolicies: [boom]\npipelines:\n  p: {apiEndpoints: [a], policies: [{boom: }]}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := map[string]policyenv.Factory{"boom": {New: func(policyenv.Decoder, *policyenv.Env) (pipeline.Policy, error) { return panicPolicy{}, nil }}}
	rt, err := Build(g, testEnv(), f)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	gw := New(rt, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"error":"internal_error"`) {
		t.Errorf("panic gave %d %s, want 500 internal_error", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "panic") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestAccessLogSampling(t *testing.T) {
	rt, err := build(t, "http: {port: 1}\napiEndpoints: {a: {paths: /ok}}\npolicies: [terminate]\npipelines:\n  p: {apiEndpoints: [a], policies: [{terminate: {action: {statusCode: 200}}}]}\n")
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	access := accesslog.New(&buf, accesslog.Options{Format: accesslog.Text})
	defer access.Close()
	gw := New(rt, slog.New(slog.NewTextHandler(io.Discard, nil)), access)
	gw.AccessSample = 0.05
	for i := 0; i < 400; i++ {
		gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ok", nil))
	}
	access.Flush()
	ok := strings.Count(buf.String(), "status=200")
	if ok == 0 || ok > 60 {
		t.Errorf("%d of 400 successful requests logged at a 5%% sample", ok)
	}
	for i := 0; i < 50; i++ {
		gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/missing", nil))
	}
	access.Flush()
	if n := strings.Count(buf.String(), "status=404"); n != 50 {
		t.Errorf("%d of 50 refusals logged, want all", n)
	}
}
