package gcheadroom

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name     string
		live     uint64
		headroom uint64
		floor    int
		want     int
	}{
		{"small heap gets the headroom", 2 * mib, 32 * mib, 100, 1600},
		{"large heap keeps the floor", 200 * mib, 32 * mib, 100, 100},
		{"headroom just above the floor", 30 * mib, 32 * mib, 100, 106},
		{"operator's GOGC is the floor", 64 * mib, 32 * mib, 200, 200},
		{"capped for a nearly empty heap", 1, 32 * mib, 100, maxPercent},
		{"zero live heap does not divide by zero", 0, 32 * mib, 100, maxPercent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentFor(tt.live, tt.headroom, tt.floor); got != tt.want {
				t.Errorf("percentFor(%d, %d, %d) = %d, want %d", tt.live, tt.headroom, tt.floor, got, tt.want)
			}
		})
	}
}

// TestFollowsTheLiveHeap drives the real collector: with a small live heap
// the percentage rises, with a live heap bigger than the headroom it falls
// back to the floor, and Stop restores the original setting.
func TestFollowsTheLiveHeap(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	tuner := Start(64 << 20)
	if tuner == nil {
		t.Fatal("Start returned nil")
	}
	runtime.GC()
	waitFor(t, "percentage to rise over a small heap", func() bool { return tuner.Percent() > 1000 })

	ballast := make([][]byte, 0, 256)
	for range 256 {
		ballast = append(ballast, make([]byte, 1<<20)) // 256 MiB live
	}
	waitFor(t, "percentage to fall over a large heap", func() bool {
		runtime.GC()
		return tuner.Percent() < 150
	})
	runtime.KeepAlive(ballast)

	tuner.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Stop the percentage is %d, want 100 restored", got)
	}
	runtime.GC() // a cleanup after Stop must not set it again
	time.Sleep(10 * time.Millisecond)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("a collection after Stop set the percentage to %d", got)
	}
}

func TestOffWhenGOGCIsOffOrNoHeadroom(t *testing.T) {
	if Start(0) != nil {
		t.Error("Start(0) tuned the collector")
	}
	before := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(before)
	if Start(32<<20) != nil {
		t.Error("Start with GOGC=off tuned the collector")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
