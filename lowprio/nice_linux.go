package lowprio

import "syscall"

// lowerThreadPriority sets the calling thread (a Linux task of its own) to
// nice. Raising one's own niceness needs no privilege; should it fail, the
// work runs at normal priority, which is only slower for others.
//
// Not lower than Background: Go's garbage collector must briefly stop
// every P, the one running the work included, and the more a thread is
// starved the longer those stops wait on it. Under a login flood,
// SCHED_IDLE (no CPU at all while handlers are busy) stalled proxied
// requests for up to 140 ms and nice 19 for up to 70 ms, where nice 10
// kept them under 20 ms.
func lowerThreadPriority(nice int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
