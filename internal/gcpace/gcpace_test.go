package gcpace

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 200},
		{10 * mib, 200},
		{64 * mib, 200},  // headroom 128 MiB = 2 × live
		{128 * mib, 100}, // headroom 128 MiB
		{200 * mib, 64},
		{256 * mib, 50}, // from here on, headroom live/2
		{1 << 30, 50},
		{1 << 40, 50},
	} {
		if got := Percent(c.live); got != c.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", c.live/mib, got, c.want)
		}
	}
}

// TestStartKeepsOperatorsGOGC: GOGC in the environment wins.
func TestStartKeepsOperatorsGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if p := Start(func(k string) string { return map[string]string{"GOGC": "100"}[k] }); p != nil {
		t.Fatal("Start with GOGC set returned a pacer")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC = %d after Start with GOGC=100 in the environment, want it untouched", got)
	}
}

// TestPacerFollowsLiveHeap: with a small headroom (1 MiB) a live heap of
// 16 MiB brings GOGC down to MinPercent after a collection, and back to
// MaxPercent once it is garbage.
func TestPacerFollowsLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	p := start(1 << 20)
	defer p.Stop()
	if p.Percent() != MaxPercent {
		t.Fatalf("start: GOGC %d, want %d", p.Percent(), MaxPercent)
	}
	live := make([]byte, 16<<20)
	for i := range live {
		live[i] = byte(i)
	}
	waitPercent(t, p, MinPercent)
	runtime.KeepAlive(live)
	live = nil
	waitPercent(t, p, MaxPercent)
}

func waitPercent(t *testing.T, p *Pacer, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.Percent() != want {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC stayed %d, want %d", p.Percent(), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := debug.SetGCPercent(want); got != want {
		t.Errorf("the runtime's GOGC is %d, the pacer says %d", got, want)
	}
}
