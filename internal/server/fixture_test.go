package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/echo"
	"github.com/authgate/authgate/internal/metrics"
)

// Test users; their hashes are real bcrypt at the lowest cost config accepts.
const (
	alicePassword = "alicepassword"
	aliceHash     = "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
	bobHash       = "$2a$10$ivkXKd3Mmz5I45t3KcWhX.6NcNTFzKZcKd6Rh.7n4A17F1wCPoFNO"
	testSecret    = "k3V9q2LmX8rT5wZ1yB7nC4dF6gH0jQ2s"
)

// baseConfig routes to the placeholders UPSTREAM, DEAD and SLOW.
const baseConfig = `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  secret: "` + testSecret + `"
  ttl: 10m
  leeway: 5s
users:
  - username: alice
    password_hash: "` + aliceHash + `"
  - username: bob
    password_hash: "` + bobHash + `"
routes:
  - path: /api/
    upstream: UPSTREAM
  - path: /public/
    upstream: UPSTREAM
    public: true
  - path: /admin/
    upstream: UPSTREAM
    allowed_users: [alice]
  - path: /strip/
    upstream: UPSTREAM/base
    strip_prefix: true
  - path: /dead/
    upstream: DEAD
  - path: /slow/
    upstream: SLOW
  - path: /stream/
    upstream: STREAM
  - path: /
    host: Other.Example.COM.
    upstream: UPSTREAM
    public: true
transport:
  response_header_timeout: 300ms
`

// fixture is a gateway on a real loopback listener in front of the echo
// upstream.
type fixture struct {
	gw       *Gateway
	url      string
	upstream *httptest.Server
	logs     *syncBuffer
	metrics  *metrics.Metrics

	mu    sync.Mutex
	paths []string // what the echo upstream was asked for
	skew  time.Duration
}

// now is the gateway's clock: real time moved by advance.
func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Add(f.skew)
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.skew += d
	f.mu.Unlock()
}

func (f *fixture) upstreamPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newFixture(t testing.TB, extra string) *fixture {
	t.Helper()
	return newFixtureFrom(t, baseConfig+extra)
}

// newFixtureFrom is newFixture with a whole config document; it may use the
// same placeholders as baseConfig.
func newFixtureFrom(t testing.TB, doc string) *fixture {
	t.Helper()
	return newFixtureOver(t, doc, nil)
}

// newFixtureOver is newFixtureFrom over the given state (nil: its own), as
// a gateway built from a reloaded config would be.
func newFixtureOver(t testing.TB, doc string, st *State) *fixture {
	t.Helper()
	return newFixtureOn(t, doc, st, nil)
}

// newFixtureOn is newFixtureOver serving on ln (nil: a listener of its
// own), for a test that must know the gateway's address before its config.
func newFixtureOn(t testing.TB, doc string, st *State, ln net.Listener) *fixture {
	t.Helper()
	f := &fixture{logs: &syncBuffer{}}
	echoHandler := echo.Handler()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		f.mu.Unlock()
		echoHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)
	f.upstream = upstream
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	stream := httptest.NewServer(streamHandler())
	t.Cleanup(stream.Close)
	yaml := strings.NewReplacer("UPSTREAM", upstream.URL, "DEAD", "http://"+deadAddr(t), "SLOW", slow.URL, "STREAM", stream.URL).Replace(doc)
	cfg, err := config.Parse([]byte(yaml), t.TempDir(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if !strings.Contains(doc, "shed_delay") {
		// Throttled answers are held up to a second by default; tests that
		// are not about the hold get theirs at once.
		cfg.Login.ShedDelay = 0
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.metrics = metrics.New("test")
	f.gw, err = New(cfg, Options{Logger: logger, AccessLog: slog.New(slog.NewJSONHandler(f.logs, nil)), Metrics: f.metrics, Now: f.now, State: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Config = f.gw.httpServer(f.gw.Handler())
	srv.Start()
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// token mints a valid token for user.
func (f *fixture) token(t *testing.T, user string) string {
	t.Helper()
	a, ok := f.gw.users.Lookup(user)
	if !ok {
		a = auth.Account{Username: user}
	}
	issued, err := f.gw.tokens.Issue(subject(a, "", time.Time{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return issued.Token
}

// do sends a request and returns the response with its body read.
func (f *fixture) do(t *testing.T, method, path string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// echoed decodes what the echo upstream saw.
func echoed(t *testing.T, body string) echo.Request {
	t.Helper()
	var got echo.Request
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return got
}

// noFollow shows redirects to the test instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// rawRequest writes request bytes as they are, so tests can send request
// targets and header spellings that net/http's client would clean up.
func rawRequest(t *testing.T, baseURL, request string) (int, string) {
	t.Helper()
	conn := dial(t, baseURL)
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func headerLines(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	return b.String()
}

// dial opens a raw connection to the gateway at baseURL, closed when the
// test ends, with a deadline so that no test can hang on it.
func dial(t *testing.T, baseURL string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(baseURL, "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	return conn
}
