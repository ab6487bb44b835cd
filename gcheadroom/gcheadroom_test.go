package gcheadroom

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestPercentFor checks the heap goal the runtime derives from the
// percentage: about live+headroom, never below GOGC's own.
func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	goal := func(live uint64, p int) uint64 {
		return max(live*uint64(100+p)/100, heapMinimum*uint64(p)/100)
	}
	tests := []struct {
		name     string
		live     uint64
		headroom uint64
		floor    int
		wantGoal uint64 // within 10%
	}{
		{"small heap gets the headroom", 2 * mib, 32 * mib, 100, 34 * mib},
		{"just started", 0, 32 * mib, 100, 32 * mib},
		{"medium heap", 16 * mib, 32 * mib, 100, 48 * mib},
		{"large heap keeps GOGC's goal", 200 * mib, 32 * mib, 100, 400 * mib},
		{"operator's GOGC is the floor", 64 * mib, 32 * mib, 200, 192 * mib},
		{"huge headroom is capped", 1 * mib, 4096 * mib, 100, heapMinimum * maxPercent / 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := percentFor(tt.live, tt.headroom, tt.floor)
			if got := goal(tt.live, p); got < tt.wantGoal*9/10 || got > tt.wantGoal*11/10 {
				t.Errorf("percentFor(%d MiB, %d MiB, %d) = %d: goal %d MiB, want about %d MiB",
					tt.live/mib, tt.headroom/mib, tt.floor, p, got/mib, tt.wantGoal/mib)
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
