package lowprio

import "golang.org/x/sys/unix"

// lowerThreadPriority puts the calling thread (a Linux task of its own) in
// the SCHED_IDLE class: it runs only when nothing else wants the CPU, and a
// waking request handler preempts it at once, where a nice 19 thread would
// keep its time slice. Entering SCHED_IDLE needs no privilege; should it
// fail anyway, nice 19 is the fallback, and failing that the work runs at
// normal priority, which is only slower for others.
func lowerThreadPriority() {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if unix.SchedSetAttr(0, &attr, 0) == nil {
		return
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}
