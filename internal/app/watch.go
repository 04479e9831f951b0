package app

import (
	"crypto/sha256"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// watcher notices changes to gateway.config.yml by polling its modification
// time and size, and confirms them with a hash of the content, so that a
// touch without a change does not rebuild and an edit that keeps the size
// and time stamp is still seen when the file is read for another reason.
type watcher struct {
	path     string
	accepted generation
}

type generation struct {
	mod  time.Time
	size int64
	hash [sha256.Size]byte
}

func newWatcher(dir string) (*watcher, error) {
	p, err := config.FindFile(dir, config.GatewayBase)
	if err != nil {
		return nil, err
	}
	return &watcher{path: p}, nil
}

// read returns the file's content and generation.
func (w *watcher) read() (generation, []byte, error) {
	fi, err := os.Stat(w.path)
	if err != nil {
		return generation{}, nil, err
	}
	g := generation{mod: fi.ModTime(), size: fi.Size()}
	if g.mod.Equal(w.accepted.mod) && g.size == w.accepted.size {
		g.hash = w.accepted.hash
		return g, nil, nil // unchanged on disk; content not needed
	}
	return w.readContent(g)
}

// settled rereads a changed file after a short pause and reports whether it
// still holds what g was read from. An editor (or os.WriteFile) truncates
// the file and then writes it: a poll that lands in between sees an empty
// or half-written file, which must be neither loaded nor reported; the
// next poll sees the finished one.
func (w *watcher) settled(g generation) bool {
	time.Sleep(settlePause)
	fi, err := os.Stat(w.path)
	if err != nil {
		return false
	}
	again, _, err := w.readContent(generation{mod: fi.ModTime(), size: fi.Size()})
	return err == nil && again.hash == g.hash && again.size == g.size && again.mod.Equal(g.mod)
}

// settlePause is long enough for a write in progress to finish and short
// enough not to be noticed next to the poll interval.
const settlePause = 20 * time.Millisecond

func (w *watcher) readContent(g generation) (generation, []byte, error) {
	data, err := config.ReadFile(w.path)
	if err != nil {
		return generation{}, nil, err
	}
	g.hash = sha256.Sum256(data)
	return g, data, nil
}

// changed reports whether g differs in content from the accepted file.
func (w *watcher) changed(g generation) bool { return g.hash != w.accepted.hash }

// accept records g as the generation now loaded (or rejected).
func (w *watcher) accept(g generation) { w.accepted = g }
