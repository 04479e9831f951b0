package terminate

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

const actionPath = "pipelines.p.policies[0].terminate[0].action"

func action(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Node(t, actionPath, src)
}

func env() *policyenv.Env {
	return &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestTerminate(t *testing.T) {
	tests := []struct {
		name   string
		action string
		status int
		body   string
	}{
		{"no action: Express Gateway's defaults", "", 400, "Terminated"},
		{"null action", "~", 400, "Terminated"},
		{"status code", "statusCode: 403", 403, "Terminated"},
		{"message", "message: Gone fishing", 400, "Gone fishing"},
		{"both", "{statusCode: 503, message: 'Down for maintenance'}", 503, "Down for maintenance"},
		{"status as a string, as ${VAR} gives", "statusCode: '418'", 418, "Terminated"},
		{"empty message", "{statusCode: 404, message: ''}", 404, ""},
		{"lowest final status", "statusCode: 200", 200, "Terminated"},
		{"highest status", "statusCode: 599", 599, "Terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(action(t, tt.action), env())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			st := &pipeline.State{Route: &pipeline.Route{}}
			r := pipeline.WithState(httptest.NewRequest("POST", "/x", nil), st)
			w := httptest.NewRecorder()
			called := false
			err = p.Handle(w, r, pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				called = true
				return nil
			}))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if called {
				t.Error("terminate called the next step")
			}
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tt.status, tt.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if st.Record.Reason != "terminated" {
				t.Errorf("reason %q", st.Record.Reason)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	at := func(line int, key, msg string) string {
		return fmt.Sprintf("gateway.config.yml:%d: %s.%s: %s", line, actionPath, key, msg)
	}
	status := func(n int) string { return fmt.Sprintf("must be a final HTTP status between 200 and 599, got %d", n) }
	tests := []struct{ action, want string }{
		{"statusCode: 0\n", at(1, "statusCode", status(0))},
		{"statusCode: 99\n", at(1, "statusCode", status(99))},
		{"statusCode: 100\n", at(1, "statusCode", status(100))},
		{"statusCode: 101\n", at(1, "statusCode", status(101))},
		{"message: x\nstatusCode: 600\n", at(2, "statusCode", status(600))},
		{"statusCode: -1\n", at(1, "statusCode", status(-1))},
		{"statusCode: teapot\n", at(1, "statusCode", `expected a whole number, got "teapot"`)},
		{"statusCode: 400.5\n", at(1, "statusCode", `expected a whole number, got "400.5"`)},
		{"message: [a]\n", at(1, "message", "expected a string, got a list")},
		{"status: 400\n", at(1, "status", "unknown key (expected one of: statusCode, message)")},
		{"400\n", "gateway.config.yml:1: " + actionPath + `: expected a mapping, got "400"`},
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
