// Package logbuf gathers log lines in memory and writes them out together.
//
// A gateway logs a line per request; written one by one, that is a write
// system call per request, which on a busy single core costs about as much
// as the rest of the access log. Like nginx's "access_log ... buffer= flush=",
// lines wait a bounded time in a bounded buffer instead.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Writer is an io.Writer that holds whole writes (log lines) and passes
// them to the underlying writer when the buffer would overflow, when Flush
// or Close is called, and at least every interval. A write is never split.
// It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Writer in front of out holding up to size bytes for at most
// interval. Close it to write out the rest and stop its timer.
func New(out io.Writer, size int, interval time.Duration) *Writer {
	w := &Writer{out: out, buf: make([]byte, 0, size), stop: make(chan struct{}), done: make(chan struct{})}
	go w.flushEvery(interval)
	return w
}

func (w *Writer) flushEvery(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write buffers p, first writing out what is held if p would not fit; a p
// larger than the whole buffer is written straight through.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(p) > cap(w.buf) {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(w.buf) {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush writes out whatever is held.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	// On an error the lines are dropped: holding them would only grow the
	// backlog against a writer that is failing, and logging must never
	// block or fail requests.
	w.buf = w.buf[:0]
	return err
}

// Close stops the timer and writes out what is held. Writes after Close
// still work; they wait for the next Flush or Close.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return w.Flush()
}
