package lowprio

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestFunctionsRunToCompletion(t *testing.T) {
	var r Runner
	n := 0
	for range 5 {
		r.Run(func() { n++ })
	}
	if n != 5 {
		t.Errorf("ran %d times, want 5", n)
	}
}

// niceOfThisThread reads the calling thread's nice value from /proc.
func niceOfThisThread(t *testing.T) int {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Skipf("no /proc/thread-self: %v", err)
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	n, _ := strconv.Atoi(fields[16]) // field 19 of the whole line
	return n
}

func TestRunsOnALowPriorityThreadWithAnExtraP(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are set on Linux only")
	}
	var r Runner
	before := runtime.GOMAXPROCS(0)
	var nice, procs, tid int
	r.Run(func() {
		nice, procs, tid = niceOfThisThread(t), runtime.GOMAXPROCS(0), syscall.Gettid()
	})
	if nice != Background {
		t.Errorf("nice inside Run = %d, want %d", nice, Background)
	}
	if procs != before+1 {
		t.Errorf("GOMAXPROCS inside Run = %d, want %d", procs, before+1)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS after Run = %d, want %d restored", got, before)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if syscall.Gettid() != tid && niceOfThisThread(t) != 0 {
		t.Errorf("the caller's thread was lowered too")
	}
}

func TestConcurrentRunsEachGetAP(t *testing.T) {
	const workers = 3
	var r Runner
	before := runtime.GOMAXPROCS(0)
	inside := make(chan int, workers)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(func() {
				inside <- runtime.GOMAXPROCS(0)
				<-release
			})
		}()
	}
	var peak int
	for range workers {
		peak = max(peak, <-inside)
	}
	close(release)
	wg.Wait()
	if peak != before+workers {
		t.Errorf("GOMAXPROCS with %d running = %d, want %d", workers, peak, before+workers)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS after all finished = %d, want %d", got, before)
	}
}
