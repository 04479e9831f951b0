//go:build linux

package pageout

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := `00400000-00b71000 r-xp 00000000 08:01 123 /usr/bin/gatehouse
00f71000-01ace000 r--p 00b71000 08:01 123 /usr/bin/gatehouse
01acf000-01b5b000 rw-p 016cf000 08:01 123 /usr/bin/gatehouse
01b5b000-03ba3000 rw-p 00000000 00:00 0
c000000000-c004000000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 08:01 456 /usr/bin/gatehouse-other
7f0000002000-7f0000003000 r--p 00000000 08:01 789 /tmp/old build (deleted)
7f0000004000-7f0000003000 r--p 00000000 08:01 123 /usr/bin/gatehouse
zz-7f0000005000 r--p 00000000 08:01 123 /usr/bin/gatehouse
`
	got := readOnlyMappings([]byte(maps), "/usr/bin/gatehouse")
	want := []mapping{{0x400000, 0xb71000}, {0xf71000, 0x1ace000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("readOnlyMappings = %#v, want text and rodata only (not data, anonymous, other files, empty or bad ranges): %#v", got, want)
	}
	if got := readOnlyMappings([]byte(maps), "/tmp/old build (deleted)"); len(got) != 1 || got[0].start != 0x7f0000002000 {
		t.Errorf("a replaced binary (name with spaces and \" (deleted)\"): %#v", got)
	}
}

// fileRSS is the resident file-backed memory of the process, in kB.
func fileRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no smaps_rollup: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss_File:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Skip("smaps_rollup has no Pss_File (kernel older than 5.14)")
	return 0
}

// The test binary is a Go binary too: its start-up pages are resident,
// and after Executable most of them are not.
func TestExecutableReleasesPages(t *testing.T) {
	before := fileRSS(t)
	res, err := Executable()
	if errors.Is(err, unix.EINVAL) {
		t.Skip("kernel without MADV_PAGEOUT (before 5.4)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Mappings < 2 || res.Bytes <= 0 {
		t.Errorf("advised %d mappings, %d bytes: want at least text and rodata", res.Mappings, res.Bytes)
	}
	after := fileRSS(t)
	if after >= before*3/4 {
		t.Errorf("file-backed RSS %d kB -> %d kB after Executable: want it down by a quarter at least", before, after)
	}
}
