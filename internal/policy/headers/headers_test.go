package headers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

const actionPath = "pipelines.p.policies[0].headers[0].action"

func action(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Node(t, actionPath, src)
}

func env() *policyenv.Env {
	return &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// run sends a request with the client headers in, through the policy, and
// returns the headers the next step saw.
func run(t *testing.T, p pipeline.Policy, in http.Header, id *pipeline.Identity) http.Header {
	t.Helper()
	r := httptest.NewRequest("GET", "/items?q=find", nil)
	for k, v := range in {
		r.Header[k] = v
	}
	r = pipeline.WithState(r, &pipeline.State{RequestID: "rid", Route: &pipeline.Route{APIEndpoint: "api"}, Identity: id})
	var seen http.Header
	err := p.Handle(httptest.NewRecorder(), r, pipeline.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		seen = r.Header.Clone()
		return nil
	}))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if seen == nil {
		t.Fatal("next was not called")
	}
	return seen
}

func TestHeaders(t *testing.T) {
	id := &pipeline.Identity{
		ConsumerID: "c1", ConsumerName: "alice",
		Claims: map[string]any{
			"evil":  "a\r\nX-Injected: 1",
			"ctl":   "tab\there\x00nul\x7fdel\x1bend",
			"roles": []any{"admin", "ops"},
		},
	}
	tests := []struct {
		name   string
		action string
		in     http.Header
		id     *pipeline.Identity
		want   map[string]string // "" means absent
	}{
		{
			name: "prefix and expressions",
			action: `
headersPrefix: eg-
forwardHeaders:
  consumer-id: consumer.id
  consumer-name: user.name
  request-id: egContext.requestID
  endpoint: apiEndpoint.name
  query: req.query.q
  fixed: "'v1'"
`,
			id: id,
			want: map[string]string{
				"Eg-Consumer-Id":   "c1",
				"Eg-Consumer-Name": "alice",
				"Eg-Request-Id":    "rid",
				"Eg-Endpoint":      "api",
				"Eg-Query":         "find",
				"Eg-Fixed":         "v1",
			},
		},
		{
			name:   "no prefix",
			action: "forwardHeaders: {X-User: consumer.id, x-roles: consumer.roles}",
			id:     id,
			want:   map[string]string{"X-User": "c1", "X-Roles": "admin, ops"},
		},
		{
			name:   "a value replaces what the client sent",
			action: "forwardHeaders: {x-user: consumer.id}",
			in:     http.Header{"X-User": {"forged", "twice"}},
			id:     id,
			want:   map[string]string{"X-User": "c1"},
		},
		{
			name:   "an empty value removes what the client sent",
			action: "{headersPrefix: x-, forwardHeaders: {user: consumer.id}}",
			in:     http.Header{"X-User": {"forged"}, "X-Other": {"kept"}},
			want:   map[string]string{"X-User": "", "X-Other": "kept"},
		},
		{
			name:   "control characters are stripped, tab kept",
			action: "forwardHeaders: {x-evil: consumer.evil, x-ctl: consumer.ctl}",
			id:     id,
			want:   map[string]string{"X-Evil": "aX-Injected: 1", "X-Injected": "", "X-Ctl": "tab\therenuldelend"},
		},
		{
			name:   "a client header copied to another name",
			action: "forwardHeaders: {x-forwarded-key: \"req.headers['x-api-key']\"}",
			in:     http.Header{"X-Api-Key": {"k"}},
			want:   map[string]string{"X-Forwarded-Key": "k", "X-Api-Key": "k"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(action(t, tt.action), env())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			seen := run(t, p, tt.in, tt.id)
			for k, v := range tt.want {
				got := seen.Values(k)
				switch {
				case v == "" && len(got) != 0:
					t.Errorf("%s = %q, want absent", k, got)
				case v != "" && (len(got) != 1 || got[0] != v):
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	at := func(line int, key, msg string) string {
		return fmt.Sprintf("gateway.config.yml:%d: %s.%s: %s", line, actionPath, key, msg)
	}
	required := "is required: a map of header name to expression, e.g. {consumer-id: consumer.id}"
	tests := []struct{ action, want string }{
		{"", "gateway.config.yml: " + actionPath + ".forwardHeaders: " + required},
		{"headersPrefix: x-\n", at(1, "forwardHeaders", required)},
		{"\nforwardHeaders: {}\n", at(2, "forwardHeaders", required)},
		{"forwardHeaders: {bad name: consumer.id}\n", at(1, "forwardHeaders", `"bad name" is not a valid header name`)},
		{"headersPrefix: 'x '\nforwardHeaders: {a: consumer.id}\n", at(2, "forwardHeaders", `"x a" is not a valid header name`)},
		{"forwardHeaders: {'x:y': consumer.id}\n", at(1, "forwardHeaders", `"x:y" is not a valid header name`)},
		{"forwardHeaders: {'x(y)': consumer.id}\n", at(1, "forwardHeaders", `"x(y)" is not a valid header name`)},
		{"forwardHeaders: {'x/y': consumer.id}\n", at(1, "forwardHeaders", `"x/y" is not a valid header name`)},
		{"forwardHeaders: {'é': consumer.id}\n", at(1, "forwardHeaders", `"é" is not a valid header name`)},
		{"forwardHeaders: {'': consumer.id}\n", at(1, "forwardHeaders", `"" is not a valid header name`)},
		{"forwardHeaders:\n  id: consumer.id + 1\n", at(1, "forwardHeaders", `id: expression "consumer.id + 1": "id + 1" is not a property name`)},
		{"forwardHeaders:\n  up: req.headers.x.toUpperCase()\n", at(1, "forwardHeaders", `up: expression "req.headers.x.toUpperCase()": "toUpperCase()" is not a property name`)},
		{"forwardHeaders: {a: [x]}\n", at(1, "forwardHeaders.a", "expected a string, got a list")},
		{"forwardHeaders: [a]\n", at(1, "forwardHeaders", "expected a mapping, got a list")},
		{"forwardHeader: {a: consumer.id}\n", at(1, "forwardHeader", "unknown key (expected one of: headersPrefix, forwardHeaders)")},
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

// Every header name the policy accepts is one net/http will send upstream,
// and the other way round.
func TestAcceptedNamesAreSendable(t *testing.T) {
	errDial := errors.New("header names passed")
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errDial }}
	defer tr.CloseIdleConnections()
	for c := 0x21; c < 0x7f; c++ {
		name := "x" + string(rune(c)) + "y"
		ok := validHeaderName(name)
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		req.Header[name] = []string{"v"}
		_, err := tr.RoundTrip(req)
		sendable := errors.Is(err, errDial)
		if ok != sendable {
			t.Errorf("%q: accepted at load = %v, but net/http sends it = %v (%v)", name, ok, sendable, err)
		}
	}
}
