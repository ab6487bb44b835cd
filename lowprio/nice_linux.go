package lowprio

import "syscall"

// lowerThreadPriority sets the calling thread (a Linux task of its own) to
// nice 19, where a request-handling thread at nice 0 outweighs it about
// 70 to 1. Not SCHED_IDLE, which gets no CPU at all while handlers are
// busy: Go's garbage collector must briefly stop every P, the one running
// the comparison included, and under a login flood those stops waited on
// the starved thread, stalling proxied requests for up to 140 ms (nice 19:
// 20 ms). Raising one's own niceness needs no privilege; should it fail,
// the work runs at normal priority, which is only slower for others.
func lowerThreadPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}
