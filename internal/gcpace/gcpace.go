// Package gcpace sets the garbage collector's pace (GOGC) of a gateway
// process from the size of its live heap.
//
// A proxy's heap is mostly short-lived garbage around a small live set:
// there GOGC 200 (collect half as often as Go's default) saves CPU per
// request for a few megabytes. But the memory store keeps every opaque
// token in the process until it expires, and with a live heap of
// gigabytes GOGC 200 lets the heap grow to three times that before the
// next collection (issue #14's 10-minute issuing run: 5.1 GB of RSS for
// 1.7 GB of live tokens). The store's tokens are pointer-free (marking
// them costs almost nothing), so a large heap can be collected more often
// for little CPU. The pacer therefore keeps the headroom (the heap the
// collector lets grow past the live heap) at 128 MiB or half the live
// heap, whichever is larger, and never more than GOGC 200 nor less than
// GOGC 50:
//
//	live heap      ≤ 64 MiB   128 MiB   256 MiB   1 GiB     4 GiB
//	GOGC             200       100       50        50        50
//	heap goal      ≤ 3×live   256 MiB   384 MiB   1.5 GiB   6 GiB
//
// The pace is re-read after every collection (a finalizer that re-arms
// itself, the one hook the runtime gives for "a cycle ended"). A GOGC set
// in the environment is the operator's choice and wins: Start does
// nothing then. GOMEMLIMIT (or the cgroup's limit, cmd/gatehouse) still
// applies on top: near the limit the collector works harder whatever the
// pace.
package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The pacer's bounds (see the package comment).
const (
	MaxPercent = 200
	MinPercent = 50
	Headroom   = 128 << 20
)

// Percent is the GOGC for a live heap of live bytes: the one that gives a
// headroom of max(Headroom, live/2), within [MinPercent, MaxPercent].
func Percent(live uint64) int {
	return percent(live, Headroom)
}

func percent(live, headroom uint64) int {
	if live == 0 || live <= headroom*100/MaxPercent {
		return MaxPercent
	}
	p := int(headroom * 100 / live)
	return max(p, MinPercent)
}

// Pacer adjusts GOGC after each collection until Stop.
type Pacer struct {
	headroom uint64
	stopped  atomic.Bool
	current  atomic.Int64
	sample   []metrics.Sample // only the finalizer goroutine uses it
}

// Start sets GOGC to MaxPercent and keeps adjusting it from the live heap
// after every collection, unless GOGC is set in the environment (getenv
// is os.Getenv in production): then it returns nil and changes nothing.
// Stop on a nil *Pacer does nothing.
func Start(getenv func(string) string) *Pacer {
	if getenv("GOGC") != "" {
		return nil
	}
	return start(Headroom)
}

func start(headroom uint64) *Pacer {
	p := &Pacer{headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.set(MaxPercent)
	p.arm()
	return p
}

// Stop ends the adjustments (the GOGC last set stays).
func (p *Pacer) Stop() {
	if p != nil {
		p.stopped.Store(true)
	}
}

// Percent is the GOGC the pacer last set.
func (p *Pacer) Percent() int { return int(p.current.Load()) }

func (p *Pacer) set(percent int) {
	if int64(percent) != p.current.Load() {
		debug.SetGCPercent(percent)
		p.current.Store(int64(percent))
	}
}

// sentinel is garbage as soon as arm returns; its finalizer runs after
// the next collection has found it unreachable.
type sentinel struct{ p *Pacer }

func (p *Pacer) arm() {
	runtime.SetFinalizer(&sentinel{p: p}, func(s *sentinel) {
		if s.p.stopped.Load() {
			return
		}
		s.p.adjust()
		s.p.arm()
	})
}

func (p *Pacer) adjust() {
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() != metrics.KindUint64 {
		return // not this runtime's metric: keep the pace
	}
	p.set(percent(p.sample[0].Value.Uint64(), p.headroom))
}
