package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// serve runs the fixture's gateway with Run, as the binary does (the
// tarpit exists only there), and returns its public address.
func (f *fixture) serve(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- f.gw.Run(ctx, http.NotFoundHandler(), func(a net.Addr) { addrs <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-addrs:
		return a.String()
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not start listening")
	}
	return ""
}

// rawClient is a kept-alive connection sending requests as written.
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawClient{c: c, br: bufio.NewReader(c)}
}

// do writes raw and reads one response with its body.
func (rc *rawClient) do(t *testing.T, raw string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(rc.c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func rawLogin(password, extraHeaders string) string {
	body := "username=alice&password=" + password
	return fmt.Sprintf("POST /login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\n%sContent-Length: %d\r\n\r\n%s", extraHeaders, len(body), body)
}

// TestThrottledKeepAliveClientGetsTheSameAnswers: once a client is
// throttled, its kept-alive connection is answered by the tarpit; the
// answers, log lines and metrics are those net/http gives, and any other
// request on that connection is served as before.
func TestThrottledKeepAliveClientGetsTheSameAnswers(t *testing.T) {
	f := newFixture(t, `
login:
  shed_delay: 1ms
  throttle:
    user: {burst: 100, interval: 1h}
    client: {burst: 2, interval: 1h}
`)
	addr := f.serve(t)
	c := dialRaw(t, addr)
	for i := range 2 {
		if resp, _ := c.do(t, rawLogin("wrong", "")); resp.StatusCode != 401 {
			t.Fatalf("attempt %d = %d, want 401", i, resp.StatusCode)
		}
	}
	// net/http's own answer, on a connection the pit does not take.
	ref, refBody := dialRaw(t, addr).do(t, rawLogin("wrong", "Connection: close\r\n"))
	if ref.StatusCode != 429 {
		t.Fatalf("reference = %d, want 429", ref.StatusCode)
	}
	same := func(resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != ref.StatusCode || body != refBody {
			t.Errorf("answer = %d %q, want %d %q", resp.StatusCode, body, ref.StatusCode, refBody)
		}
		for _, h := range []http.Header{resp.Header, ref.Header} {
			if h.Get("Date") == "" || h.Get("X-Request-Id") == "" {
				t.Errorf("answer lacks Date or X-Request-Id: %v", h)
			}
		}
		strip := func(h http.Header) http.Header {
			h = h.Clone()
			for _, k := range []string{"Date", "X-Request-Id", "Connection"} {
				h.Del(k)
			}
			return h
		}
		if got, want := fmt.Sprint(strip(resp.Header)), fmt.Sprint(strip(ref.Header)); got != want {
			t.Errorf("headers = %s, want %s", got, want)
		}
	}
	var ids []string
	for i := range 4 {
		resp, body := c.do(t, rawLogin("wrong", fmt.Sprintf("X-Request-Id: try-%d\r\n", i)))
		same(resp, body)
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	if want := []string{"try-0", "try-1", "try-2", "try-3"}; !slices.Equal(ids, want) {
		t.Errorf("request IDs = %v, want the client's %v", ids, want)
	}
	// A request ID unfit for a log line is replaced, as by net/http.
	if resp, _ := c.do(t, rawLogin("wrong", "X-Request-Id: a\"b\r\n")); resp.Header.Get("X-Request-Id") == `a"b` {
		t.Errorf("the pit echoed an unsafe request ID")
	}
	if pit := f.gw.pit.Load(); runtime.GOOS == "linux" && pit.Held() != 1 {
		t.Errorf("the pit holds %d connections, want the throttled one", pit.Held())
	}

	// Anything but a repeat is served by the gateway as usual, even the
	// right password (still throttled, as before), and repeats after it
	// are answered alike again.
	if resp, body := c.do(t, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("GET /healthz on the throttled connection = %d %q", resp.StatusCode, body)
	}
	same(c.do(t, rawLogin(alicePassword, "")))
	same(c.do(t, rawLogin("wrong", "")))

	logs := f.logs.String()
	if got := strings.Count(logs, `"deny_reason":"throttled"`); got != 8 {
		t.Errorf("%d access-log lines for throttled attempts, want 8:\n%s", got, logs)
	}
	if strings.Contains(logs, "wrong") || strings.Contains(logs, alicePassword) {
		t.Errorf("a password reached the log")
	}
	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`authgate_login_attempts_total{outcome="throttled"} 8`,
		`authgate_http_requests_total{code="4xx",route="login"} 10`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestThrottledConnectionIsServedAgainWhenTheThrottleEnds: the pit keeps a
// connection only while its client is throttled.
func TestThrottledConnectionIsServedAgainWhenTheThrottleEnds(t *testing.T) {
	f := newFixture(t, `
login:
  shed_delay: 1ms
  throttle:
    user: {burst: 100, interval: 1h}
    client: {burst: 1, interval: 1h}
`)
	c := dialRaw(t, f.serve(t))
	if resp, _ := c.do(t, rawLogin("wrong", "")); resp.StatusCode != 401 {
		t.Fatalf("first attempt = %d, want 401", resp.StatusCode)
	}
	if resp, _ := c.do(t, rawLogin("wrong", "")); resp.StatusCode != 429 {
		t.Fatalf("second attempt = %d, want 429", resp.StatusCode)
	}
	f.advance(time.Hour)
	if resp, body := c.do(t, rawLogin(alicePassword, "")); resp.StatusCode != 200 || !strings.Contains(body, "access_token") {
		t.Errorf("the right password after the throttle = %d %q, want a token", resp.StatusCode, body)
	}
}
