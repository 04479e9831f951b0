//go:build unix

package configedit

import (
	"os"
	"syscall"
)

// lockDir holds an exclusive flock(2) on the directory while the content
// is compared and the new file renamed in, so that two cooperating
// writers (two gatehouse processes on one config directory) cannot both
// pass the comparison and the second overwrite the first.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
