package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder records each Write it gets.
type recorder struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.writes, "")
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		lines      []string
		wantWrites int // before Close
	}{
		{"held until flushed", 64, []string{"a\n", "b\n", "c\n"}, 0},
		{"overflow writes what is held first", 8, []string{"aaaa\n", "bbbb\n", "cc\n"}, 1},
		{"a line larger than the buffer goes straight through", 4, []string{"a\n", "bbbbbbbb\n", "c\n"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out recorder
			w := New(&out, tt.size, time.Hour)
			for _, l := range tt.lines {
				if n, err := w.Write([]byte(l)); n != len(l) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", l, n, err)
				}
			}
			if got := out.count(); got != tt.wantWrites {
				t.Errorf("writes before Close = %d, want %d", got, tt.wantWrites)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := out.all(), strings.Join(tt.lines, ""); got != want {
				t.Errorf("written %q, want %q", got, want)
			}
		})
	}
}

func TestFlushedWithinInterval(t *testing.T) {
	var out recorder
	w := New(&out, 1<<10, 10*time.Millisecond)
	defer w.Close()
	w.Write([]byte("line\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.all() != "line\n" {
		if time.Now().After(deadline) {
			t.Fatal("line not written by the timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrentLinesStayWhole: lines from many goroutines come out whole
// and all of them, however the buffer fills.
func TestConcurrentLinesStayWhole(t *testing.T) {
	var out recorder
	w := New(&out, 100, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				fmt.Fprintf(w, "goroutine %d line %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	w.Close()
	lines := strings.Split(strings.TrimSuffix(out.all(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, l := range lines {
		var g, i int
		if n, err := fmt.Sscanf(l, "goroutine %d line %d", &g, &i); n != 2 || err != nil {
			t.Fatalf("torn line %q", l)
		}
	}
}

func TestWriteErrorDropsAndReports(t *testing.T) {
	out := &recorder{err: errors.New("disk full")}
	w := New(out, 8, time.Hour)
	w.Write([]byte("aaaa\n"))
	if _, err := w.Write([]byte("bbbb\n")); err == nil {
		t.Error("Write after a failed flush = nil error, want the writer's error")
	}
	out.err = nil
	w.Write([]byte("c\n"))
	w.Close()
	if got := out.all(); got != "c\n" {
		t.Errorf("after the error, written %q, want only the later line", got)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func BenchmarkWrite(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 200)
	w := New(discard{}, 64<<10, 100*time.Millisecond)
	defer w.Close()
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
