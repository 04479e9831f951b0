package configedit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "gateway.config.yml")
	if err := os.WriteFile(p, []byte("a: 1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	base := Hash([]byte("a: 1\n"))
	if err := WriteFile(p, base, []byte("a: 2\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "a: 2\n" {
		t.Fatalf("content %q", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old file's 0640", fi.Mode().Perm())
	}
	// The compare-and-swap: base is no longer the content.
	if err := WriteFile(p, base, []byte("a: 3\n")); !errors.Is(err, ErrChanged) {
		t.Fatalf("stale write: %v, want ErrChanged", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "a: 2\n" {
		t.Fatalf("a stale write changed the file: %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	// A symbolic link is followed, not replaced.
	real := filepath.Join(dir, "real.yml")
	os.WriteFile(real, []byte("b: 1\n"), 0o644)
	link := filepath.Join(dir, "link.yml")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	if err := WriteFile(link, Hash([]byte("b: 1\n")), []byte("b: 2\n")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if got, _ := os.ReadFile(real); string(got) != "b: 2\n" {
		t.Errorf("target %q", got)
	}
}
