package logpolicy

import (
	"bytes"
	"encoding/json"
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

const actionPath = "pipelines.p.policies[0].log[0].action"

func action(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Node(t, actionPath, src)
}

func TestLog(t *testing.T) {
	tests := []struct {
		name     string
		action   string
		minLevel slog.Level // the handler's level
		identity *pipeline.Identity
		want     map[string]any // nil: nothing logged
	}{
		{
			name:   "Express Gateway's example",
			action: "message: '${req.method} ${req.originalUrl}'",
			want:   map[string]any{"level": "INFO", "msg": "POST /items/7?full=1", "request_id": "rid"},
		},
		{
			name:     "consumer and literal text",
			action:   "message: 'consumer ${consumer.id} (${user.name}) on ${apiEndpoint.name}: ${req.headers.x-trace}'",
			identity: &pipeline.Identity{ConsumerID: "c1", ConsumerName: "alice"},
			want:     map[string]any{"msg": "consumer c1 (alice) on api: t-1"},
		},
		{
			name:   "anonymous consumer renders empty",
			action: "message: 'by [${consumer.id}]'",
			want:   map[string]any{"msg": "by []"},
		},
		{
			name:   "plain message",
			action: "message: hello",
			want:   map[string]any{"msg": "hello", "level": "INFO"},
		},
		{
			name:   "warn level",
			action: "{message: slow, level: warn}",
			want:   map[string]any{"msg": "slow", "level": "WARN"},
		},
		{
			name:   "level in upper case",
			action: "{message: bad, level: ERROR}",
			want:   map[string]any{"msg": "bad", "level": "ERROR"},
		},
		{
			name:     "debug is dropped by an info handler",
			action:   "{message: noisy, level: debug}",
			minLevel: slog.LevelInfo,
		},
		{
			name:     "debug reaches a debug handler",
			action:   "{message: noisy, level: debug}",
			minLevel: slog.LevelDebug,
			want:     map[string]any{"msg": "noisy", "level": "DEBUG"},
		},
		{
			name:     "info is dropped by a warn handler",
			action:   "message: quiet",
			minLevel: slog.LevelWarn,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			env := &policyenv.Env{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.minLevel}))}
			p, err := New(action(t, tt.action), env)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			r := httptest.NewRequest("POST", "/items/7?full=1", nil)
			r.Header.Set("X-Trace", "t-1")
			r = pipeline.WithState(r, &pipeline.State{RequestID: "rid", Route: &pipeline.Route{APIEndpoint: "api"}, Identity: tt.identity})
			w := httptest.NewRecorder()
			called := false
			err = p.Handle(w, r, pipeline.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				called = true
				w.WriteHeader(http.StatusAccepted)
				return nil
			}))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if !called || w.Code != http.StatusAccepted {
				t.Errorf("next called %v (status %d): log must pass the request on", called, w.Code)
			}
			out := strings.TrimSpace(buf.String())
			if tt.want == nil {
				if out != "" {
					t.Errorf("logged %s, want nothing", out)
				}
				return
			}
			if strings.Count(out, "\n") != 0 {
				t.Fatalf("logged several lines: %s", out)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(out), &line); err != nil {
				t.Fatalf("log line %q: %v", out, err)
			}
			for k, v := range tt.want {
				if line[k] != v {
					t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, out)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	at := func(line int, key, msg string) string {
		return fmt.Sprintf("gateway.config.yml:%d: %s.%s: %s", line, actionPath, key, msg)
	}
	required := `is required, e.g. "${req.method} ${req.originalUrl}"`
	tests := []struct{ action, want string }{
		{"", "gateway.config.yml: " + actionPath + ".message: " + required},
		{"level: info\n", at(1, "message", required)},
		{"message: ''\n", at(1, "message", required)},
		{"message: '${req.method'\n", at(1, "message", `template "${req.method": unterminated ${`)},
		{"\nmessage: '${consumer.id + 1}'\n", at(2, "message", `expression "consumer.id + 1": "id + 1" is not a property name`)},
		{"message: '${req.headers.x.toUpperCase()}'\n", at(1, "message", `expression "req.headers.x.toUpperCase()": "toUpperCase()" is not a property name`)},
		{"message: '${JSON.stringify(req.headers)}'\n", at(1, "message", `expression "JSON.stringify(req.headers)": "stringify(req" is not a property name`)},
		{"message: '${req.body}'\n", at(1, "message", `expression "req.body" is not supported: use a property path such as req.headers.host, consumer.id or requestID (JavaScript cannot run in Gatehouse)`)},
		{"message: x\nlevel: loud\n", at(2, "level", "must be debug, info, warn or error")},
		{"message: x\nlevels: info\n", at(2, "levels", "unknown key (expected one of: message, level)")},
	}
	for _, tt := range tests {
		env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		p, err := New(action(t, tt.action), env)
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
