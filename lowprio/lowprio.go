// Package lowprio runs CPU-heavy work (bcrypt comparisons) so that request
// handling gets the CPU first.
//
// Go's scheduler has no priorities: a goroutine comparing a bcrypt hash
// (70 ms at cost 10, 275 ms at cost 12) holds a P for up to 10 ms at a
// time, and on a gateway with one core every proxied request queues behind
// it; a flood of logins would add tens of milliseconds to every proxied
// request. The kernel does have priorities. Run puts the work on an OS
// thread of low priority (nice 10 on Linux), and while any such work
// runs, the runtime has one more P than its default per running function,
// so the goroutines serving requests keep a P on a normal thread and the
// kernel gives that thread most of the CPU. The extra P exists only while
// work runs: kept all the time, the idle P's spinning costs ~15% more CPU
// per proxied request on one core.
package lowprio

import (
	"runtime"
	"sync"
)

// Runner runs functions on low-priority threads. The zero value is ready
// to use; a Runner must not be copied after first use. GOMAXPROCS belongs
// to the process, so a process should have one Runner; several only
// miscount the extra Ps while their work overlaps, and whichever finishes
// last restores the default.
type Runner struct {
	mu sync.Mutex
	// running counts functions running now; base is the runtime's
	// GOMAXPROCS when the first of them started.
	running, base int
}

// Run runs f on a low-priority thread and returns when it has finished.
// Each call gets a thread of its own, which ends with it: creating one
// costs tens of microseconds, nothing beside a bcrypt comparison, and no
// thread with a lowered priority is ever handed back to other goroutines.
// Callers bound how many run at once.
func (r *Runner) Run(f func()) { r.RunAt(Background, f) }

// Priorities for RunAt, as Linux nice values: the higher, the more request
// handlers at nice 0 outweigh the work (about 9 to 1 at Background).
const (
	// Background is for work that only has to finish: bcrypt.
	Background = 10
	// Deferential is for work with a latency of its own to keep, which
	// still yields to request handlers (about 3 to 1).
	Deferential = 5
)

// RunAt is Run at the given nice level (Background or Deferential).
func (r *Runner) RunAt(nice int, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the runtime ends the thread with this goroutine.
		runtime.LockOSThread()
		lowerThreadPriority(nice)
		r.started()
		defer r.finished()
		f()
	}()
	<-done
}

func (r *Runner) started() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == 0 {
		r.base = runtime.GOMAXPROCS(0)
	}
	r.running++
	runtime.GOMAXPROCS(r.base + r.running)
}

func (r *Runner) finished() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	if r.running == 0 {
		// Back to the runtime's own choice, which follows the CPU quota
		// and affinity (and GOMAXPROCS in the environment).
		runtime.SetDefaultGOMAXPROCS()
		return
	}
	runtime.GOMAXPROCS(r.base + r.running)
}
