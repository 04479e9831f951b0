// Package e2e runs the real gateway (app.Start, or the built binary) on
// 127.0.0.1:0 in front of httptest upstreams and drives it with real HTTP
// clients.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/echo"
)

// syncBuffer is a log sink that tests read while the gateway writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// flush, when set, writes out what the writer still holds before a
	// read: the access log is written asynchronously.
	flush func()
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	if s.flush != nil {
		s.flush()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type gatewayUnderTest struct {
	app  *app.App
	dir  string
	base string // http://127.0.0.1:port
	logs *syncBuffer
	acc  *syncBuffer
}

// writeConfig writes gateway.config.yml (and an empty system.config.yml) to
// dir.
func writeConfig(t *testing.T, dir, gatewayYAML string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "gateway.config.yml"), []byte(gatewayYAML), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startGateway starts the app on a config whose http port is 0.
func startGateway(t *testing.T, gatewayYAML string, opts ...func(*app.Options)) *gatewayUnderTest {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, dir, gatewayYAML)
	logs, acc := &syncBuffer{}, &syncBuffer{}
	o := app.Options{
		ConfigDir:      dir,
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		AccessLog:      acc,
		ReloadInterval: 50 * time.Millisecond,
		Lookup:         func(string) (string, bool) { return "", false },
	}
	for _, f := range opts {
		f(&o)
	}
	a, err := app.Start(o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	acc.flush = a.FlushAccessLog
	g := &gatewayUnderTest{app: a, dir: dir, logs: logs, acc: acc}
	if addr := a.Addr("http"); addr != nil {
		g.base = "http://" + addr.String()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return g
}

// echoServer is an upstream that answers with what it saw.
func echoServer(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(echo.Handler(name))
	t.Cleanup(s.Close)
	return s
}

func decodeEcho(t *testing.T, resp *http.Response) echo.Request {
	t.Helper()
	defer resp.Body.Close()
	var e echo.Request
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("upstream answer is not the echo JSON (status %d): %s", resp.StatusCode, body)
	}
	return e
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

type appOptions = app.Options
