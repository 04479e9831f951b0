package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRestartWarningFollowsRunningListeners: a reload that changes a
// listener setting warns that a restart is needed; one that puts the
// running setting back says no restart is needed (and does not warn); an
// unrelated edit warns nothing.
func TestRestartWarningFollowsRunningListeners(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.config.yml")
	running := "http: {host: 127.0.0.1, port: 0}\n"
	changed := "http: {host: 127.0.0.1, port: 0, readTimeout: 7s}\n"
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(running)
	var buf lockedBuffer
	a, err := Start(Options{ConfigDir: dir, DataDir: t.TempDir(), ReloadInterval: -1, BcryptCost: 4,
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(context.Background())

	steps := []struct {
		name, file string
		warn, back bool
	}{
		{"port block changed", changed, true, false},
		{"unrelated edit after it", changed + "# a comment\n", false, false},
		{"put back", running, false, true},
		{"unrelated edit", running + "# another\n", false, false},
	}
	for _, s := range steps {
		buf.Reset()
		write(s.file)
		if err := a.Reload(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		out := buf.String()
		if got := strings.Contains(out, "restart gatehouse to apply"); got != s.warn {
			t.Errorf("%s: restart warning %v, want %v:\n%s", s.name, got, s.warn, out)
		}
		if got := strings.Contains(out, "no restart needed"); got != s.back {
			t.Errorf("%s: 'no restart needed' %v, want %v:\n%s", s.name, got, s.back, out)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *lockedBuffer) Reset()         { l.mu.Lock(); defer l.mu.Unlock(); l.b.Reset() }
