package main

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestCgroupMemoryLimit reads the limit files of both cgroup versions, as
// a container would have them, from a temporary cgroup root.
func TestCgroupMemoryLimit(t *testing.T) {
	const v2, v1 = "memory.max", "memory/memory.limit_in_bytes"
	tests := []struct {
		name  string
		files map[string]string
		want  int64
		ok    bool
	}{
		{"v2 limit", map[string]string{v2: "536870912\n"}, 512 << 20, true},
		{"v2 max", map[string]string{v2: "max\n"}, 0, false},
		{"v2 wins over v1", map[string]string{v2: "max\n", v1: "1048576\n"}, 0, false},
		{"v1 limit", map[string]string{v1: "268435456\n"}, 256 << 20, true},
		{"v1 no limit", map[string]string{v1: "9223372036854771712\n"}, 0, false},
		{"beyond int64", map[string]string{v2: "18446744073709551615\n"}, 0, false},
		{"garbage", map[string]string{v2: "lots\n"}, 0, false},
		{"empty", map[string]string{v2: ""}, 0, false},
		{"zero", map[string]string{v2: "0\n"}, 0, false},
		{"negative", map[string]string{v1: "-1\n"}, 0, false},
		{"no whitespace", map[string]string{v2: "1000"}, 1000, true},
		{"no cgroup files", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := cgroupMemoryLimit(root)
			if got != tt.want || ok != tt.ok {
				t.Errorf("cgroupMemoryLimit = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestSetMemoryLimit: 90 % of the cgroup's limit, logged once; nothing
// when GOMEMLIMIT is set or there is no limit.
func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64) // no limit, whatever the test's environment says
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "memory.max"), []byte("1000000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))

	if got := setMemoryLimit(func(k string) string {
		if k == "GOMEMLIMIT" {
			return "64MiB"
		}
		return ""
	}, root, log); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set: limit %d set anyway", got)
	}
	if got := setMemoryLimit(noEnv, t.TempDir(), log); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("no cgroup limit: limit %d set", got)
	}
	if logs.Len() != 0 {
		t.Errorf("logged without setting a limit: %s", logs.String())
	}
	if got := setMemoryLimit(noEnv, root, log); got != 900000000 || debug.SetMemoryLimit(-1) != 900000000 {
		t.Errorf("limit %d (runtime %d), want 900000000", got, debug.SetMemoryLimit(-1))
	}
	if n := strings.Count(logs.String(), "memory limit from the cgroup"); n != 1 || !strings.Contains(logs.String(), "gomemlimit_bytes=900000000") {
		t.Errorf("log: %s", logs.String())
	}
}
