//go:build linux

package pageout

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Executable advises MADV_PAGEOUT (Linux 5.4) on every read-only mapping
// of the running executable: the kernel reclaims their resident pages now,
// instead of under memory pressure. Writable mappings (data, bss) are left
// alone: their pages may be dirty, and reclaiming them would mean swap.
// On a kernel without MADV_PAGEOUT it returns the error (EINVAL) and
// nothing changed.
func Executable() (Result, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return Result{}, err
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, m := range readOnlyMappings(maps, exe) {
		// The raw system call: the mapping is the program's own code, which
		// no Go slice may stand for.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_PAGEOUT); errno != 0 {
			return res, fmt.Errorf("madvise(MADV_PAGEOUT) on %#x-%#x: %w", m.start, m.end, errno)
		}
		res.Mappings++
		res.Bytes += int64(m.end - m.start)
	}
	return res, nil
}

type mapping struct{ start, end uintptr }

// readOnlyMappings returns the mappings in a /proc/self/maps listing
// (proc(5): "start-end perms offset dev inode pathname") that are of the
// file exe and not writable. A binary replaced on disk while it runs is
// listed with " (deleted)" after its name, as /proc/self/exe names it.
func readOnlyMappings(maps []byte, exe string) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || strings.Join(f[5:], " ") != exe || len(f[1]) < 2 || f[1][1] == 'w' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end)})
	}
	return out
}
