package tarpit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// harness is a pit whose client is throttled until released, answering
// with a minimal 429 that echoes what the pit parsed.
type harness struct {
	pit       *Pit
	throttled atomic.Bool
	hold      atomic.Int64 // nanoseconds
	answered  atomic.Int64
	rejoined  chan net.Conn
}

func newHarness(t *testing.T, maxConns int) *harness {
	t.Helper()
	h := &harness{rejoined: make(chan net.Conn, 8)}
	h.throttled.Store(true)
	h.hold.Store(int64(time.Millisecond))
	pit, err := New(Options{
		LoginPath: "/login",
		MaxBody:   1024,
		Wait: func(netip.Addr) time.Duration {
			if h.throttled.Load() {
				return 30 * time.Second
			}
			return 0
		},
		Hold: func() time.Duration { return time.Duration(h.hold.Load()) },
		Answer: func(dst []byte, a Attempt, now time.Time) []byte {
			h.answered.Add(1)
			return fmt.Appendf(dst, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %d\r\nX-Request-Id: %s\r\nX-Client: %s\r\nContent-Length: 0\r\n\r\n",
				int(a.Wait/time.Second), a.RequestID, a.Client)
		},
		Rejoin:      func(c net.Conn) { h.rejoined <- c },
		Run:         func(f func()) { f() },
		MaxConns:    maxConns,
		IdleTimeout: time.Minute,
		HeadTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pit.Close)
	h.pit = pit
	return h
}

// connect opens a loopback connection and has the pit take its server
// side, as the server does after reading an attempt's head: buffered is
// what the server had read past it, body the attempt's body length.
func (h *harness) connect(t *testing.T, buffered string, body int64) (net.Conn, *bufio.Reader) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	first := Attempt{Client: netip.MustParseAddr("127.0.0.1"), RequestID: "first", Wait: 30 * time.Second, Received: time.Now()}
	if !h.pit.Take(server, []byte(buffered), body, first) {
		t.Fatal("Take refused a connection with room in the pit")
	}
	client.SetDeadline(time.Now().Add(10 * time.Second))
	return client, bufio.NewReader(client)
}

// handedBack waits for the pit to hand a connection back and checks that
// reading it gives want first.
func (h *harness) handedBack(t *testing.T, want string) net.Conn {
	t.Helper()
	var back net.Conn
	select {
	case back = <-h.rejoined:
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing was handed back; want %q", want)
	}
	t.Cleanup(func() { back.Close() })
	got := make([]byte, len(want))
	back.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(back, got); err != nil || string(got) != want {
		t.Fatalf("handed back %q (%v), want %q", got, err, want)
	}
	return back
}

func readAnswer(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func attemptWith(body, extra string) string {
	return fmt.Sprintf("POST /login HTTP/1.1\r\nHost: gw\r\n%sContent-Length: %d\r\n\r\n%s", extra, len(body), body)
}

func TestPitAnswersRepeatsAndHandsTheRestBack(t *testing.T) {
	h := newHarness(t, 4)
	// The first attempt's body is partly buffered by the server already.
	c, br := h.connect(t, "u=a&", 10)
	if resp := readAnswer(t, br); resp.StatusCode != 429 || resp.Header.Get("X-Request-Id") != "first" || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("first answer = %d %v", resp.StatusCode, resp.Header)
	}
	// The rest of that body, then a repeat whose body arrives in pieces.
	write(t, c, "p=bad!"+attemptWith("u=a&p=b", "X-Request-Id: second\r\n")[:60])
	time.Sleep(20 * time.Millisecond)
	write(t, c, attemptWith("u=a&p=b", "X-Request-Id: second\r\n")[60:])
	if resp := readAnswer(t, br); resp.StatusCode != 429 || resp.Header.Get("X-Request-Id") != "second" || resp.Header.Get("X-Client") != "127.0.0.1" {
		t.Fatalf("second answer = %d %v", resp.StatusCode, resp.Header)
	}
	// Pipelined repeats are answered in order.
	write(t, c, attemptWith("x", "X-Request-Id: p1\r\n")+attemptWith("y", "X-Request-Id: p2\r\n"))
	for _, id := range []string{"p1", "p2"} {
		if resp := readAnswer(t, br); resp.Header.Get("X-Request-Id") != id {
			t.Fatalf("pipelined answer for %s = %v", id, resp.Header)
		}
	}
	if got := h.answered.Load(); got != 4 {
		t.Errorf("answered %d attempts, want 4", got)
	}

	// Anything else goes back to the server byte for byte, followed by
	// whatever came after it.
	other := "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n" + attemptWith("z", "")
	write(t, c, other)
	back := h.handedBack(t, other)
	// The handed-back connection is the client's: it reaches the client.
	write(t, back, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	if resp := readAnswer(t, br); resp.StatusCode != 200 {
		t.Errorf("the server's answer on the handed-back connection = %d", resp.StatusCode)
	}
	eventually(t, "the pit holds nothing", func() bool { return h.pit.Held() == 0 })
}

func TestPitHoldsEachAnswer(t *testing.T) {
	h := newHarness(t, 4)
	h.hold.Store(int64(100 * time.Millisecond))
	start := time.Now()
	c, br := h.connect(t, "", 0)
	readAnswer(t, br)
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("first answer after %v, want the 100ms hold", took)
	}
	start = time.Now()
	write(t, c, attemptWith("u=a&p=b", ""))
	readAnswer(t, br)
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("repeat answered after %v, want the 100ms hold", took)
	}
}

func TestPitHandsBackOnceTheClientMayTryAgain(t *testing.T) {
	h := newHarness(t, 4)
	c, br := h.connect(t, "", 0)
	readAnswer(t, br)
	h.throttled.Store(false)
	write(t, c, attemptWith("u=a&p=right", ""))
	h.handedBack(t, attemptWith("u=a&p=right", ""))
	if got := h.answered.Load(); got != 1 {
		t.Errorf("answered %d, want only the first", got)
	}
}

func TestPitHandsBackIdleConnectionsWhenTheThrottleEnds(t *testing.T) {
	h := newHarness(t, 4)
	_, br := h.connect(t, "", 0)
	readAnswer(t, br)
	h.throttled.Store(false)
	select {
	case back := <-h.rejoined:
		back.Close()
	case <-time.After(3 * sweepEvery):
		t.Fatal("an idle connection was kept after its client's throttle ended")
	}
}

func TestPitDropsClosedConnectionsAndClosesOnShutdown(t *testing.T) {
	h := newHarness(t, 2)
	c1, br1 := h.connect(t, "", 0)
	readAnswer(t, br1)
	c2, br2 := h.connect(t, "", 0)
	readAnswer(t, br2)
	if h.pit.Room() {
		t.Error("Room with 2 of 2 held")
	}
	c1.Close()
	eventually(t, "the closed connection is dropped", func() bool { return h.pit.Held() == 1 })
	if !h.pit.Room() {
		t.Error("no Room with 1 of 2 held")
	}
	h.pit.Close()
	if _, err := br2.ReadByte(); err != io.EOF {
		t.Errorf("after Close the client reads %v, want EOF", err)
	}
	if h.pit.Room() {
		t.Error("a closed pit has Room")
	}
	c2.Close()
}

func TestPitClosesAClientThatDoesNotFinishItsHead(t *testing.T) {
	h := newHarness(t, 2)
	h.pit.o.HeadTimeout = 10 * time.Millisecond
	c, br := h.connect(t, "", 0)
	readAnswer(t, br)
	write(t, c, strings.TrimSuffix(attemptWith("", ""), "\r\n"))
	c.SetReadDeadline(time.Now().Add(3 * sweepEvery))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("a stalled head got %v, want the connection closed", err)
	}
}

// TestWaitNeverReturnsEarly: the loop's wait, with epoll_pwait2 and with
// the epoll_wait fallback (whole milliseconds, rounded up), does not come
// back before the next answer is due.
func TestWaitNeverReturnsEarly(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		h := newHarness(t, 1)
		l := &loop{p: h.pit, noPwait2: fallback}
		due := time.Now().Add(2500 * time.Microsecond)
		l.nextSweep = due.Add(time.Hour)
		l.due = dueHeap{{due: due}}
		events := make([]syscall.EpollEvent, 4)
		for {
			n, err := l.wait(events, time.Now())
			if err == syscall.EINTR {
				continue // the runtime's signals interrupt waits
			}
			if err != nil || n != 0 {
				t.Fatalf("wait (fallback %v) = %d, %v; want a timeout", fallback, n, err)
			}
			break
		}
		if early := time.Until(due); early > 0 {
			t.Errorf("wait (fallback %v) returned %v before the answer was due", fallback, early)
		}
	}
}
