package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLoginThrottling(t *testing.T) {
	f := newFixture(t, `
trusted_proxies: [127.0.0.1/32]
login:
  throttle:
    user: {burst: 3, interval: 1h}
    client: {burst: 6, interval: 1h}
`)
	login := func(user, password, clientIP string) (*http.Response, string) {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if clientIP != "" {
			h.Set("X-Forwarded-For", clientIP)
		}
		return f.do(t, "POST", "/login", h, "username="+user+"&password="+password)
	}
	for i := range 3 {
		if resp, _ := login("alice", "wrong", "198.51.100.1"); resp.StatusCode != 401 {
			t.Fatalf("failure %d = %d, want 401", i, resp.StatusCode)
		}
	}
	locked, lockedBody := login("alice", "wrong", "198.51.100.2")
	if locked.StatusCode != 429 || locked.Header.Get("Retry-After") == "" {
		t.Fatalf("after the burst = %d Retry-After %q, want 429 with Retry-After", locked.StatusCode, locked.Header.Get("Retry-After"))
	}
	right, rightBody := login("alice", alicePassword, "198.51.100.3")
	if right.StatusCode != 429 || rightBody != lockedBody {
		t.Errorf("the right password during a lock = %d %q, want the same 429 %q", right.StatusCode, rightBody, lockedBody)
	}
	for _, variant := range []string{"ALICE", "%20alice", "al%E2%80%8Bice", "%EF%BD%81%EF%BD%8C%EF%BD%89%EF%BD%83%EF%BD%85"} {
		if resp, _ := login(variant, "wrong", "198.51.100.4"); resp.StatusCode != 429 {
			t.Errorf("variant %q opened a fresh bucket: %d, want 429", variant, resp.StatusCode)
		}
	}
	// No global lockout: another user, from another client, logs in.
	if resp, body := login("bob", "wrong", "198.51.100.5"); resp.StatusCode != 401 {
		t.Errorf("bob = %d %s, want 401 (not throttled by alice's lock)", resp.StatusCode, body)
	}

	// Per client: one address failing on many names is stopped too.
	for i := range 6 {
		login(fmt.Sprintf("nobody%d", i), "wrong", "203.0.113.7")
	}
	if resp, _ := login("bob", "wrong", "203.0.113.7"); resp.StatusCode != 429 {
		t.Errorf("client over its burst = %d, want 429", resp.StatusCode)
	}
	if resp, _ := login("bob", "wrong", "203.0.113.8"); resp.StatusCode != 401 {
		t.Errorf("a different client = %d, want 401", resp.StatusCode)
	}
}

// TestHammeringALockedAccountThrottlesTheClient: attempts refused for the
// account's lock count against the client, so a client that keeps trying
// is refused before its body is read, whatever name it tries next.
func TestHammeringALockedAccountThrottlesTheClient(t *testing.T) {
	f := newFixture(t, `
trusted_proxies: [127.0.0.1/32]
login:
  shed_delay: 0s
  throttle:
    user: {burst: 1, interval: 1h}
    client: {burst: 3, interval: 1h}
`)
	login := func(user, clientIP string) int {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {clientIP}}
		resp, _ := f.do(t, "POST", "/login", h, "username="+user+"&password=wrong")
		return resp.StatusCode
	}
	got := []int{login("alice", "198.51.100.9")} // 401, and alice is locked
	for range 3 {
		got = append(got, login("alice", "198.51.100.10"))
	}
	got = append(got, login("bob", "198.51.100.10"), login("bob", "198.51.100.11"))
	if want := []int{401, 429, 429, 429, 429, 401}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v (bob from the hammering client throttled, from another client not)", got, want)
	}
}

// TestShedAnswersAreHeld: a throttled client's answer is held until it
// may retry, at most login.shed_delay, so a client retrying at once sends
// about one attempt per shed_delay; Retry-After says what is left.
func TestShedAnswersAreHeld(t *testing.T) {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	t.Run("held-for-shed-delay", func(t *testing.T) {
		f := newFixture(t, `
login:
  shed_delay: 300ms
  throttle:
    client: {burst: 1, interval: 1h}
`)
		f.do(t, "POST", "/login", h, "username=nobody&password=wrong") // uses the burst
		start := time.Now()
		resp, _ := f.do(t, "POST", "/login", h, "username=nobody&password=wrong")
		if took := time.Since(start); resp.StatusCode != 429 || took < 300*time.Millisecond || took > 3*time.Second {
			t.Errorf("throttled answer = %d after %v, want 429 after 300ms (the shed delay)", resp.StatusCode, took)
		}
		// An hour less what has passed since the burst was used.
		if got := resp.Header.Get("Retry-After"); got != "3600" && got != "3599" {
			t.Errorf("Retry-After = %q, want about 3600", got)
		}
		if !strings.Contains(f.logs.String(), `"deny_reason":"throttled"`) {
			t.Errorf("the held answer was not logged as throttled")
		}
	})
	t.Run("held-until-retry", func(t *testing.T) {
		const interval = 3 * time.Second
		f := newFixture(t, `
login:
  shed_delay: 10s
  throttle:
    client: {burst: 1, interval: 3s}
`)
		start := time.Now()
		f.do(t, "POST", "/login", h, "username=nobody&password=wrong") // uses the burst
		resp, _ := f.do(t, "POST", "/login", h, "username=nobody&password=wrong")
		// Held until the burst came back, interval after it was used.
		if took := time.Since(start); resp.StatusCode != 429 || took < interval-100*time.Millisecond || took > interval+2*time.Second {
			t.Errorf("throttled answer = %d %v after the first attempt, want 429 once the client may retry, about %v", resp.StatusCode, took, interval)
		}
		if got := resp.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
	})
}

func TestForgedClientAddressesShareOneBucket(t *testing.T) {
	// No trusted proxies: X-Forwarded-For is ignored, so rotating it does
	// not give an attacker fresh client buckets (caddy-security's bypass).
	f := newFixture(t, `
login:
  throttle:
    user: {burst: 100, interval: 1h}
    client: {burst: 3, interval: 1h}
`)
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	statuses := []int{}
	for i := range 4 {
		h.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
		resp, _ := f.do(t, "POST", "/login", h, fmt.Sprintf("username=user%d&password=wrong", i))
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[3] != 429 {
		t.Errorf("statuses = %v, want the 4th throttled despite forged X-Forwarded-For", statuses)
	}
}

func TestGatewaySetHeadersSurviveConnectionNomination(t *testing.T) {
	f := newFixture(t, "")
	h := bearer(f.token(t, "alice"))
	h.Set("Connection", "X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Request-Id, X-Forwarded-User")
	_, body := f.do(t, "GET", "/api/x", h, "")
	got := echoed(t, body).Headers
	for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id", "X-Forwarded-User"} {
		if len(got[name]) != 1 {
			t.Errorf("upstream %s = %q, want the gateway's single value", name, got[name])
		}
	}
}

func TestRequestSmugglingCannotReachTheUpstream(t *testing.T) {
	smuggle := "GET /api/secret HTTP/1.1\r\nHost: x\r\n\r\n"
	payloads := []struct {
		name string
		req  string
	}{
		{"cl-te", "POST /public/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggle},
		{"te-cl", "POST /public/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n" + smuggle},
		{"obfuscated-te", "POST /public/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggle},
		{"te-list", "POST /public/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggle},
		{"te-with-space", "POST /public/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggle},
		{"duplicate-cl", "POST /public/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n" + smuggle},
		{"bare-lf", "POST /public/a HTTP/1.1\nHost: gw\nContent-Length: 0\n\n" + smuggle},
	}
	for _, p := range payloads {
		t.Run(p.name, func(t *testing.T) {
			f := newFixture(t, "")
			conn := dial(t, f.url)
			io.WriteString(conn, p.req)
			// Half-close: the gateway answers what it parsed, then hangs up.
			conn.(*net.TCPConn).CloseWrite()
			br := bufio.NewReader(conn)
			for range 3 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			for _, path := range f.upstreamPaths() {
				if path != "/public/a" {
					t.Errorf("upstream received smuggled path %q", path)
				}
			}
		})
	}
}

func TestExpectContinueOnProtectedRouteIsRefusedUnread(t *testing.T) {
	f := newFixture(t, "")
	conn := dial(t, f.url)
	io.WriteString(conn, "POST /api/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 401 {
		t.Errorf("status = %d, want 401 before any body was sent (no 100 Continue)", resp.StatusCode)
	}
}

func TestEveryRequestOnAKeptAliveConnectionIsAuthenticated(t *testing.T) {
	f := newFixture(t, "")
	tok := f.token(t, "alice")
	conn := dial(t, f.url)
	br := bufio.NewReader(conn)
	for i, tt := range []struct {
		auth string
		want int
	}{{"Authorization: Bearer " + tok + "\r\n", 200}, {"", 401}, {"Authorization: Bearer " + tok + "\r\n", 200}} {
		fmt.Fprintf(conn, "GET /api/x HTTP/1.1\r\nHost: gw\r\n%s\r\n", tt.auth)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("request %d on the same connection = %d, want %d", i, resp.StatusCode, tt.want)
		}
	}
}

func TestOversizedHeadersGet431(t *testing.T) {
	f := newFixture(t, "server:\n  max_header_bytes: 8192\n")
	status, _ := rawRequest(t, f.url, "GET /public/x HTTP/1.1\r\nHost: gw\r\nX-Big: "+strings.Repeat("a", 70000)+"\r\nConnection: close\r\n\r\n")
	if status != 431 {
		t.Errorf("status = %d, want 431", status)
	}
}

func TestSlowClientsAreCutOff(t *testing.T) {
	f := newFixture(t, "server:\n  read_header_timeout: 300ms\n  read_timeout: 300ms\n")
	tests := []struct {
		name  string
		start string
	}{
		{"slow-headers", "GET /public/x HTTP/1.1\r\nHost: gw\r\n"},
		{"slow-body", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, f.url)
			io.WriteString(conn, tt.start)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			io.Copy(io.Discard, conn) // returns when the gateway closes the connection
			if time.Since(start) >= 5*time.Second {
				t.Errorf("the gateway kept a stalled client for 5s")
			}
		})
	}
}

func TestNothingInternalOnThePublicListener(t *testing.T) {
	f := newFixture(t, "")
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/vars"} {
		resp, body := f.do(t, "GET", path, nil, "")
		if resp.StatusCode != 404 || strings.Contains(body, "go_goroutines") || strings.Contains(body, "profile") {
			t.Errorf("GET %s = %d %q, want a plain 404", path, resp.StatusCode, body)
		}
	}
	// A CR/LF smuggled into the path cannot forge a log line.
	rawRequest(t, f.url, "GET /api/%0d%0amsg=forged HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.HasPrefix(line, "msg=forged") || strings.Contains(line, "\nmsg=forged") {
			t.Errorf("log injection: %q", line)
		}
	}
}

func TestPanicsAreRecoveredWithoutDetail(t *testing.T) {
	f := newFixture(t, "")
	h := f.gw.front(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom: secret detail")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") || strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("panic answer = %d %q, want a bare 500", rec.Code, rec.Body.String())
	}
	if strings.Contains(f.logs.String(), "secret detail") {
		t.Errorf("the panic value was logged")
	}
	if !strings.Contains(f.logs.String(), "handler panicked") {
		t.Errorf("the panic was not logged")
	}
}
