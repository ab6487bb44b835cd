// Package gcheadroom keeps the garbage collector from running far more
// often than a small live heap warrants.
//
// Go starts a collection when the heap has grown by GOGC percent over what
// the last one found live. A gateway's live heap is a few megabytes while it
// allocates a few kilobytes per request, so at the default of 100 it
// collects dozens of times a second under load, and each cycle costs the
// same fixed work however little it frees: measured here, about 5% of the
// CPU at 17k requests per second. Headroom raises the percentage so that
// the heap may grow by at least a fixed number of bytes over the live heap
// before the next collection, and lowers it back towards 100 as the live
// heap grows (many connections), so memory stays proportional to it.
package gcheadroom

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent caps the percentage whatever the headroom.
const maxPercent = 5000

// Tuner adjusts the collector's percentage after every collection.
type Tuner struct {
	headroom uint64
	floor    int
	mu       sync.Mutex
	stopped  bool
	percent  int
	sample   []metrics.Sample
}

// Start makes every collection leave at least headroom bytes of growth above
// the live heap, never less than the percentage in effect now (GOGC, 100 by
// default). It returns nil, doing nothing, when headroom is zero. Stop
// restores the percentage.
func Start(headroom uint64) *Tuner {
	if headroom == 0 {
		return nil
	}
	floor := debug.SetGCPercent(100)
	debug.SetGCPercent(floor)
	if floor < 0 { // GOGC=off: the operator has taken over
		return nil
	}
	t := &Tuner{headroom: headroom, floor: floor, percent: floor,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.adjust()
	t.arm()
	return t
}

// Percent is the percentage last set.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// Stop ends the tuning and restores the percentage found at Start.
func (t *Tuner) Stop() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetGCPercent(t.floor)
	t.percent = t.floor
}

// arm registers a cleanup on a fresh object: it runs after the first
// collection that finds the object unreachable, that is after every
// collection, and re-arms itself.
func (t *Tuner) arm() {
	// Not a tiny allocation: objects sharing a tiny block are freed (and
	// their cleanups run) only together.
	sentinel := new([64]byte)
	runtime.AddCleanup(sentinel, func(t *Tuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets the percentage for the live heap the last collection found;
// it reports false once stopped.
func (t *Tuner) adjust() bool {
	metrics.Read(t.sample)
	live := uint64(1 << 20)
	if s := t.sample[0]; s.Value.Kind() == metrics.KindUint64 {
		live = max(s.Value.Uint64(), live)
	}
	want := percentFor(live, t.headroom, t.floor)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	// A tenth either way is noise in the live heap, not a reason to reset.
	if want < t.percent*9/10 || want > t.percent*11/10 {
		debug.SetGCPercent(want)
		t.percent = want
	}
	return true
}

// heapMinimum is the runtime's smallest heap goal at GOGC=100; it scales
// with the percentage, so a large percentage raises the goal of a small
// heap by itself.
const heapMinimum = 4 << 20

// percentFor is the percentage whose heap goal, for live bytes, is about
// live+headroom: at least floor, at most maxPercent. The runtime's goal is
// the larger of live·(1+p/100) and heapMinimum·p/100, so both must stay
// within live+headroom.
func percentFor(live, headroom uint64, floor int) int {
	live = max(live, 1)
	byGrowth := headroom * 100 / live
	byMinimum := (live + headroom) * 100 / heapMinimum
	return max(int(min(byGrowth, byMinimum, maxPercent)), floor)
}
