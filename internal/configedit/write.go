package configedit

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrChanged is returned by WriteFile when the file no longer holds what
// the edit was made on: someone (an editor, another process) wrote it in
// the meantime. The caller rereads it and makes the edit again.
var ErrChanged = errors.New("the file changed while the edit was made")

// Hash is the content hash WriteFile compares.
func Hash(data []byte) [sha256.Size]byte { return sha256.Sum256(data) }

// WriteFile replaces path with data, atomically and only while the file
// still hashes to base (compare-and-swap on the content). The new content
// is written to a temporary file in the same directory, synced, given the
// old file's permissions and renamed over it, then the directory is
// synced: a crash leaves the old file or the new one, never half of one.
// A symbolic link is followed: its target is replaced, the link stays.
//
// The content is compared right before the rename, under an exclusive
// lock on the directory (lock_unix.go) that every WriteFile takes, so two
// processes writing through WriteFile never lose each other's change. A
// writer that does not take part (an editor saving at that very moment)
// can still land between the check and the rename.
func WriteFile(path string, base [sha256.Size]byte, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(target)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return fmt.Errorf("cannot write next to %s: %w", target, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := os.ReadFile(target)
	if err != nil {
		return err
	}
	if sha256.Sum256(cur) != base {
		return ErrChanged
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return nil
}
