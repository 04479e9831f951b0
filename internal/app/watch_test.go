package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatcherSettled: a file caught between truncation and rewrite is not
// settled, so the poller neither loads nor reports it; a file left alone is.
func TestWatcherSettled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.config.yml")
	write := func(s string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	write("http: {port: 8080}\n", base)
	w, err := newWatcher(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, data, err := w.read()
	if err != nil || data == nil {
		t.Fatalf("first read = %v, %q", err, data)
	}
	w.accept(g)

	tests := []struct {
		name    string
		seen    string // what the poll read
		after   string // what the file holds by the time it is confirmed
		settled bool
	}{
		{"truncated then written", "", "http: {port: 9090}\n", false},
		{"half written", "http: {po", "http: {port: 9090}\n", false},
		{"same size, rewritten", "http: {port: 7070}\n", "http: {port: 9090}\n", false},
		{"finished", "http: {port: 9090}\n", "http: {port: 9090}\n", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mod := base.Add(time.Duration(i+1) * time.Minute)
			write(tc.seen, mod)
			g, data, err := w.read()
			if err != nil || string(data) != tc.seen || !w.changed(g) {
				t.Fatalf("read = %v %q changed=%v", err, data, w.changed(g))
			}
			if tc.after != tc.seen {
				write(tc.after, mod.Add(time.Second))
			}
			if got := w.settled(g); got != tc.settled {
				t.Errorf("settled = %v, want %v", got, tc.settled)
			}
		})
	}
}
