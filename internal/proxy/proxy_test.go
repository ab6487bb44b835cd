package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// headerEcho answers with the request headers and path it received.
func headerEcho() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"path": r.URL.EscapedPath(), "headers": r.Header})
	}))
}

type seen struct {
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
}

// front puts a route's proxy to upstream behind a real listener; set is
// what the gateway would hand it after authentication.
func front(t *testing.T, upstream, stripPrefix string, opts Options, set http.Header) *httptest.Server {
	t.Helper()
	if set != nil {
		opts.SetHeaders = func(_ *http.Request, out http.Header) {
			for k, v := range set {
				out[k] = v
			}
		}
	}
	srv := httptest.NewServer(New(opts).To(mustURL(upstream), stripPrefix))
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, srv *httptest.Server, path string, h http.Header) (*http.Response, seen) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s seen
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &s)
	return resp, s
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestStripAndSetHeaders(t *testing.T) {
	up := headerEcho()
	defer up.Close()
	srv := front(t, up.URL, "", Options{
		Strip: NewHeaderSet([]string{"X-Forwarded-User", "Remote-User", "Authorization"}, []string{"X-Auth-Request-"}),
	}, http.Header{"X-Forwarded-User": {"alice"}})
	tests := []struct {
		name   string
		header http.Header
	}{
		{"exact", http.Header{"X-Forwarded-User": {"mallory"}}},
		{"many", http.Header{"X-Forwarded-User": {"a", "b", "c"}}},
		{"underscore", http.Header{"X_forwarded_user": {"mallory"}}},
		{"dot", http.Header{"X.Forwarded.User": {"mallory"}}},
		{"connection-nominated", http.Header{"Connection": {"X-Forwarded-User"}, "X-Forwarded-User": {"mallory"}}},
		{"prefix", http.Header{"X-Auth-Request-Email": {"m@evil"}, "X_Auth_Request_User": {"mallory"}}},
		{"authorization", http.Header{"Authorization": {"Bearer x"}}},
		{"method-override", http.Header{"X-Http-Method-Override": {"DELETE"}, "X-Original-Url": {"/admin"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := send(t, srv, "/p", tt.header)
			for name, v := range got.Headers {
				n := normalize(name)
				switch {
				case n == "x-forwarded-user":
					if name != "X-Forwarded-User" || len(v) != 1 || v[0] != "alice" {
						t.Errorf("upstream got %s: %q, want only X-Forwarded-User: alice", name, v)
					}
				case n == "remote-user", strings.HasPrefix(n, "x-auth-request-"), n == "authorization",
					n == "x-http-method-override", n == "x-original-url":
					t.Errorf("upstream got %s: %q", name, v)
				}
			}
			if got.Headers["X-Forwarded-User"] == nil {
				t.Errorf("identity header missing upstream")
			}
		})
	}
}

func TestUpgradesOtherThanWebSocketAreNotForwarded(t *testing.T) {
	up := headerEcho()
	defer up.Close()
	srv := front(t, up.URL, "", Options{}, nil)
	_, got := send(t, srv, "/", http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {"AAMAAABkAAQAAP__"}})
	for _, h := range []string{"Upgrade", "Http2-Settings"} {
		if v, ok := got.Headers[h]; ok {
			t.Errorf("upstream got %s: %q", h, v)
		}
	}
}

func TestStripPrefixAndUpstreamPath(t *testing.T) {
	up := headerEcho()
	defer up.Close()
	tests := []struct {
		upstream, strip, path, want string
	}{
		{up.URL, "", "/api/x", "/api/x"},
		{up.URL, "/api", "/api/x", "/x"},
		{up.URL, "/api", "/api", "/"},
		{up.URL + "/base", "/api", "/api/x", "/base/x"},
		{up.URL + "/base/", "", "/y", "/base/y"},
	}
	for _, tt := range tests {
		srv := front(t, tt.upstream, tt.strip, Options{}, nil)
		if _, got := send(t, srv, tt.path, nil); got.Path != tt.want {
			t.Errorf("upstream %s strip %q path %s: upstream saw %q, want %q", tt.upstream, tt.strip, tt.path, got.Path, tt.want)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	tests := []struct {
		name     string
		upstream string
		want     int
		kind     string
	}{
		{"refused", dead, 502, "unavailable"},
		{"response-header-timeout", hang.URL, 504, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var kinds []string
			srv := front(t, tt.upstream, "", Options{
				Transport: NewTransport(TransportOptions{ResponseHeaderTimeout: 200 * time.Millisecond}),
				OnError: func(r *http.Request, kind string) {
					mu.Lock()
					kinds = append(kinds, kind)
					mu.Unlock()
				},
			}, nil)
			resp, err := http.Get(srv.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "dial") || strings.Contains(string(body), "timeout awaiting") {
				t.Errorf("body leaks detail: %q", body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(kinds) != 1 || kinds[0] != tt.kind {
				t.Errorf("OnError kinds = %q, want [%s]", kinds, tt.kind)
			}
		})
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	canceled := make(chan struct{})
	arrived := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(5 * time.Second):
		}
	}))
	defer up.Close()
	srv := front(t, up.URL, "", Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	go func() {
		<-arrived
		cancel()
	}()
	http.DefaultClient.Do(req)
	select {
	case <-canceled:
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream request was not canceled when the client went away")
	}
}

// TestHalfClosedClientGetsNoAnswer: net/http cancels a request whose
// client half-closes (CloseWrite) its side, which cancels the upstream
// exchange. The client can still read, so the proxy must close the
// connection unanswered rather than leave net/http to send an empty 200.
func TestHalfClosedClientGetsNoAnswer(t *testing.T) {
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer up.Close()
	var mu sync.Mutex
	var kinds []string
	srv := front(t, up.URL, "", Options{OnError: func(r *http.Request, kind string) {
		mu.Lock()
		kinds = append(kinds, kind)
		mu.Unlock()
	}}, nil)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: app\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	conn.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("half-closed client got %q, want the connection closed without an answer", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) != 1 || kinds[0] != "canceled" {
		t.Errorf("OnError kinds = %q, want [canceled]", kinds)
	}
}

func TestHeaderSet(t *testing.T) {
	s := NewHeaderSet([]string{"X-Forwarded-User"}, []string{"X-Auth-Request-"})
	for name, want := range map[string]bool{
		"X-Forwarded-User": true, "x-forwarded-user": true, "X_FORWARDED_USER": true, "X.Forwarded_User": true,
		"X-Forwarded-Users": false, "X-Forwarded": false, "X-Auth-Request-Anything": true, "X-Auth-Request": false,
		strings.Repeat("X", 100): false,
	} {
		if got := s.Contains(name); got != want {
			t.Errorf("Contains(%q) = %v, want %v", name, got, want)
		}
	}
	var none *HeaderSet
	if none.Contains("X-Forwarded-User") {
		t.Errorf("a nil set contains something")
	}
}

// TestWithoutCookie: every cookie of the names given goes, in every
// spelling net/http reads as that name; every other cookie stays as sent.
func TestWithoutCookie(t *testing.T) {
	for _, tt := range []struct {
		lines, want []string
	}{
		{[]string{"a=1; s=tok; b=2"}, []string{"a=1; b=2"}},
		{[]string{"s =tok; a=1", "s=2; f=3"}, []string{"a=1"}},
		{[]string{" s\t=tok"}, nil},
		{[]string{"ss=1; s2=2; S=3"}, []string{"ss=1; s2=2; S=3"}},
		{[]string{"a=1;;b=2"}, []string{"a=1; b=2"}},
	} {
		if got := WithoutCookie(tt.lines, "s", "f"); !slices.Equal(got, tt.want) {
			t.Errorf("WithoutCookie(%q) = %q, want %q", tt.lines, got, tt.want)
		}
	}
}
