package tarpit

import (
	"container/heap"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Pit holds connections of throttled clients; see the package comment.
type Pit struct {
	o      Options
	ep     int    // the pit's own epoll set
	wake   [2]int // a pipe: Take and Close write to wake the loop
	mu     sync.Mutex
	taken  []*conn // taken over, not yet adopted by the loop
	count  int     // held connections, taken ones included
	active bool    // a loop is running
	closed bool
	// stopped is closed by the loop that sees the pit closed.
	stopped chan struct{}
}

// New returns an empty Pit.
func New(o Options) (*Pit, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tarpit: epoll: %w", err)
	}
	p := &Pit{o: o, ep: ep, stopped: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(ep)
		return nil, fmt.Errorf("tarpit: pipe: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("tarpit: epoll add: %w", err)
	}
	return p, nil
}

// Room reports whether the pit would take one more connection now.
func (p *Pit) Room() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && p.count < p.o.MaxConns
}

// Take takes over c, a hijacked HTTP/1.1 connection whose current request
// is the refused attempt first. buffered holds the bytes the server had
// read past that request's head, body is the length of its body, which
// the pit discards. The answer to first is written after a hold. Take
// returns false, leaving c to the caller, if the pit is full or closed or
// c has no file descriptor to take; should the pit fill up or close
// between that check and taking c, c is closed.
func (p *Pit) Take(c net.Conn, buffered []byte, body int64, first Attempt) bool {
	if !p.Room() {
		return false
	}
	fd, unread, err := dupOf(c)
	if err != nil {
		return false
	}
	// The server's descriptor goes, so the runtime's poller no longer
	// hears of this connection; ours keeps the socket open.
	c.Close()
	cn := &conn{fd: fd, client: first.Client, buf: make([]byte, 0, max(1024, len(buffered)+len(unread))), skip: body, mayRead: true}
	cn.buf = append(append(cn.buf, buffered...), unread...)
	cn.pending, cn.attempt = true, first
	cn.due = first.Received.Add(p.o.Hold())

	p.mu.Lock()
	if p.closed || p.count >= p.o.MaxConns {
		p.mu.Unlock()
		syscall.Close(fd)
		return true // c is closed already: the client sees the connection end
	}
	p.count++
	p.taken = append(p.taken, cn)
	start := !p.active
	p.active = true
	p.mu.Unlock()
	if start {
		go p.o.Run(p.loop)
	} else {
		p.poke()
	}
	return true
}

// Close closes every held connection and stops the loop.
func (p *Pit) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	active := p.active
	p.mu.Unlock()
	if active {
		p.poke()
		<-p.stopped
	}
	p.closeFDs()
}

// Held reports how many connections the pit holds.
func (p *Pit) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

func (p *Pit) closeFDs() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.ep)
}

func (p *Pit) poke() {
	_, _ = syscall.Write(p.wake[1], []byte{0})
}

// dupOf returns a descriptor of its own for c's socket, and the bytes a
// connection the pit handed back earlier still had to give (they come
// after whatever the server buffered).
func dupOf(c net.Conn) (int, []byte, error) {
	var unread []byte
	for {
		if pc, ok := c.(*prefixConn); ok {
			unread = pc.pending
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, nil, errors.New("tarpit: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, nil, err
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(s uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			dupErr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, nil, err
	}
	return fd, unread, dupErr
}

// conn is a held connection. Only the loop touches it once adopted.
type conn struct {
	fd     int
	client netip.Addr
	buf    []byte // read and not yet consumed
	skip   int64  // body bytes still to discard
	// mayRead is false once a read found the socket drained; the
	// edge-triggered epoll set reports when more arrives.
	mayRead bool
	// pending is set while attempt waits for its answer, due at due.
	pending bool
	attempt Attempt
	due     time.Time
	// since is when the connection last went idle or started a request,
	// for the idle and head timeouts.
	since time.Time
}

// dueHeap orders connections with a pending answer by when it is due.
type dueHeap []*conn

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(*conn)) }
func (h *dueHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// sweepEvery is how often idle and head timeouts are checked.
const sweepEvery = time.Second

// loop is the pit's thread: it runs while the pit holds connections.
type loop struct {
	p         *Pit
	conns     map[int]*conn
	due       dueHeap
	out       []byte
	nextSweep time.Time
	noPwait2  bool // the kernel has no epoll_pwait2
}

func (p *Pit) loop() {
	l := &loop{p: p, conns: map[int]*conn{}, out: make([]byte, 0, 512), nextSweep: time.Now().Add(sweepEvery)}
	events := make([]syscall.EpollEvent, 128)
	for {
		if !l.adopt() {
			return
		}
		n, err := l.wait(events, time.Now())
		if err != nil && !errors.Is(err, syscall.EINTR) {
			// Not expected with a valid epoll set; the held connections
			// are closed rather than left unserved.
			l.closeAll()
			p.mu.Lock()
			p.active = false
			p.mu.Unlock()
			return
		}
		now := time.Now()
		// Answers first: their hold is over, and new attempts only start
		// holds of their own.
		l.answerDue(now)
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == p.wake[0] {
				var b [64]byte
				_, _ = syscall.Read(fd, b[:])
				continue
			}
			c := l.conns[fd]
			if c == nil {
				continue
			}
			if ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
				l.drop(c)
				continue
			}
			c.mayRead = true
			l.advance(c, now)
		}
		if !now.Before(l.nextSweep) {
			l.sweep(now)
		}
	}
}

// adopt registers connections taken since the last call. It reports false,
// and the loop ends, when the pit holds nothing or is closed.
func (l *loop) adopt() bool {
	p := l.p
	p.mu.Lock()
	taken, closed := p.taken, p.closed
	p.taken = nil
	if closed || len(taken) == 0 && len(l.conns) == 0 {
		p.active = false
		p.mu.Unlock()
		for _, c := range taken {
			l.conns[c.fd] = c
		}
		l.closeAll()
		if closed {
			close(p.stopped)
		}
		return false
	}
	p.mu.Unlock()
	now := time.Now()
	for _, c := range taken {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(c.fd)}
		if err := syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			syscall.Close(c.fd)
			l.forget()
			continue
		}
		c.since = now
		l.conns[c.fd] = c
		heap.Push(&l.due, c)
	}
	return true
}

// sysEpollPwait2 is epoll_pwait2 (Linux 5.11), numbered alike on every
// architecture; the syscall package predates it.
const sysEpollPwait2 = 441

// wait waits for events until the next answer or sweep is due. Holds are a
// few milliseconds, so it waits with epoll_pwait2's nanoseconds where the
// kernel has it, and epoll_wait's whole milliseconds (rounded up: an answer
// is never early) where not.
func (l *loop) wait(events []syscall.EpollEvent, now time.Time) (int, error) {
	next := l.nextSweep
	if len(l.due) > 0 && l.due[0].due.Before(next) {
		next = l.due[0].due
	}
	d := max(next.Sub(now), 0)
	if !l.noPwait2 {
		ts := syscall.NsecToTimespec(int64(d))
		n, _, e := syscall.Syscall6(sysEpollPwait2, uintptr(l.p.ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)),
			uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e != syscall.ENOSYS {
			if e != 0 {
				return 0, e
			}
			return int(n), nil
		}
		l.noPwait2 = true
	}
	return syscall.EpollWait(l.p.ep, events, int((d+time.Millisecond-1)/time.Millisecond))
}

// answerDue writes the answers whose hold is over.
func (l *loop) answerDue(now time.Time) {
	for len(l.due) > 0 && !l.due[0].due.After(now) {
		c := heap.Pop(&l.due).(*conn)
		if c.fd < 0 {
			continue // dropped while held
		}
		l.out = l.p.o.Answer(l.out[:0], c.attempt, now)
		c.pending, c.since = false, now
		if n, err := writeAnswer(c.fd, l.out); err != nil || n != len(l.out) {
			// The answer is a few hundred bytes; a client whose socket
			// cannot take it is not reading, and is not kept.
			l.drop(c)
			continue
		}
		l.advance(c, now)
	}
}

// writeAnswer writes b in one call, retried only when interrupted: a
// short write means the client's socket is full.
func writeAnswer(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Write(fd, b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return n, err
	}
}

// advance works through what c has sent until it must wait: for an answer's
// hold, or for more bytes.
func (l *loop) advance(c *conn, now time.Time) {
	o := &l.p.o
	for !c.pending {
		if c.skip > 0 {
			n := int(min(c.skip, int64(len(c.buf))))
			c.consume(n)
			c.skip -= int64(n)
			if c.skip > 0 {
				if !l.read(c) {
					return
				}
				continue
			}
		}
		v, h := frame(c.buf, o.LoginPath, o.MaxBody)
		switch v {
		case attempt:
			wait := o.Wait(c.client)
			if wait <= 0 {
				l.rejoin(c)
				return
			}
			c.attempt = Attempt{Client: c.client, RequestID: string(h.requestID), Wait: wait, Received: now}
			c.consume(h.size)
			c.skip = h.contentLength
			c.pending, c.due = true, now.Add(o.Hold())
			heap.Push(&l.due, c)
		case handBack:
			l.rejoin(c)
			return
		default:
			if len(c.buf) == 0 && c.skip == 0 {
				c.since = now // idle from here
			}
			if !l.read(c) {
				return
			}
		}
	}
}

func (c *conn) consume(n int) {
	rest := copy(c.buf, c.buf[n:])
	c.buf = c.buf[:rest]
}

// read reads what c's socket has. It reports false when there is nothing
// now (or the connection ended and was dropped).
func (l *loop) read(c *conn) bool {
	if !c.mayRead {
		return false
	}
	if len(c.buf) == cap(c.buf) {
		// Only an incomplete head under maxHead gets here (frame hands
		// longer ones back), so there is always room to grow.
		grown := make([]byte, len(c.buf), max(min(2*cap(c.buf), maxHead), len(c.buf)+1))
		copy(grown, c.buf)
		c.buf = grown
	}
	space := c.buf[len(c.buf):cap(c.buf)]
	for {
		n, err := syscall.Read(c.fd, space)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			c.mayRead = false
			return false
		case err != nil || n == 0:
			l.drop(c)
			return false
		}
		// A short read on a stream socket means it is drained.
		c.mayRead = n == len(space)
		c.buf = c.buf[:len(c.buf)+n]
		return true
	}
}

// sweep closes connections stuck in a request head or idle too long, and
// hands idle ones back once their client is no longer throttled: the pit
// (and the extra P its thread brings) is for the length of a flood.
func (l *loop) sweep(now time.Time) {
	l.nextSweep = now.Add(sweepEvery)
	o := &l.p.o
	for _, c := range l.conns {
		switch {
		case c.pending:
		case len(c.buf) > 0 || c.skip > 0:
			if o.HeadTimeout > 0 && now.Sub(c.since) > o.HeadTimeout {
				l.drop(c)
			}
		case o.IdleTimeout > 0 && now.Sub(c.since) > o.IdleTimeout:
			l.drop(c)
		case o.Wait(c.client) <= 0:
			l.rejoin(c)
		}
	}
}

// rejoin hands c back to the server with the bytes it has not consumed.
func (l *loop) rejoin(c *conn) {
	_ = syscall.EpollCtl(l.p.ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
	delete(l.conns, c.fd)
	f := os.NewFile(uintptr(c.fd), "tarpit")
	nc, err := net.FileConn(f) // a descriptor of its own, on the runtime's poller
	f.Close()
	c.fd = -1
	l.forget()
	if err != nil {
		return
	}
	l.p.o.Rejoin(&prefixConn{Conn: nc, pending: append([]byte(nil), c.buf...)})
}

// drop closes c.
func (l *loop) drop(c *conn) {
	if c.fd < 0 {
		return
	}
	delete(l.conns, c.fd)
	syscall.Close(c.fd) // also leaves the epoll set: no other descriptor shares it
	c.fd = -1
	l.forget()
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		l.drop(c)
	}
}

// forget counts one connection fewer.
func (l *loop) forget() {
	l.p.mu.Lock()
	l.p.count--
	l.p.mu.Unlock()
}

// epollET is EPOLLET as the unsigned event mask it is (the syscall
// package declares it as a negative int).
const epollET = 1 << 31
