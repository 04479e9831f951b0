package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupRoot is where the container's cgroup is mounted: with its own
// cgroup namespace (Docker, Kubernetes), the files at its top are the
// container's.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupMemoryLimit is the memory limit of the cgroup mounted at root:
// cgroup v2's memory.max, or else cgroup v1's memory/memory.limit_in_bytes.
// ok is false when there is none, or no finite one.
func cgroupMemoryLimit(root string) (limit int64, ok bool) {
	for _, name := range []string{"memory.max", "memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, false
		}
		return parseCgroupLimit(string(b))
	}
	return 0, false
}

// parseCgroupLimit reads a limit file's content: a number of bytes, or
// "max" (v2's no limit). cgroup v1 says no limit with the largest page
// multiple below 2^63 (9223372036854771712): a limit that large, like
// anything unparsable, is none.
func parseCgroupLimit(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}

// setMemoryLimit gives the Go runtime a soft memory limit of 90 % of the
// container's (runtime/debug.SetMemoryLimit), unless GOMEMLIMIT is set:
// the collector then works harder as the heap nears the limit instead of
// letting the kernel kill the process. The other 10 % is for what the
// runtime does not count (thread stacks, the binary, page cache charged
// to the cgroup). It returns the limit set, 0 when none.
func setMemoryLimit(getenv func(string) string, root string, log *slog.Logger) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit, ok := cgroupMemoryLimit(root)
	if !ok {
		return 0
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	log.Info("memory limit from the cgroup", "cgroup_bytes", limit, "gomemlimit_bytes", soft)
	return soft
}
