package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// accessEntry is the part of an access-log line these tests read.
type accessEntry struct {
	Msg        string `json:"msg"`
	Path       string `json:"path"`
	Status     int    `json:"status"`
	DenyReason string `json:"deny_reason"`
}

// accessEntries returns the access-log lines for path.
func accessEntries(f *fixture, path string) []accessEntry {
	var out []accessEntry
	for line := range strings.SplitSeq(f.logs.String(), "\n") {
		var e accessEntry
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "request" && e.Path == path {
			out = append(out, e)
		}
	}
	return out
}

// metricsText is the fixture's Prometheus exposition.
func metricsText(f *fixture) string {
	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestHalfClosedClientGetsNoFalseAnswer sends a request over real TCP and
// half-closes the connection (CloseWrite) while the upstream holds the
// request. net/http reads the EOF as the client going away and cancels the
// request; the gateway must then close the connection without an answer
// rather than let net/http complete an empty 200, and the access log and
// metrics must record a client cancel.
func TestHalfClosedClientGetsNoFalseAnswer(t *testing.T) {
	arrived := make(chan struct{}, 1)
	canceled := make(chan struct{}, 1)
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			canceled <- struct{}{}
		case <-time.After(5 * time.Second):
			io.WriteString(w, "done")
		}
	}))
	t.Cleanup(hold.Close)
	doc := strings.Replace(baseConfig, "routes:\n", "routes:\n  - path: /hold/\n    upstream: "+hold.URL+"\n", 1)
	doc = strings.Replace(doc, "response_header_timeout: 300ms", "response_header_timeout: 10s", 1)
	f := newFixtureFrom(t, doc)
	tok := f.token(t, "alice")

	conn := dial(t, f.url)
	io.WriteString(conn, "GET /hold/x HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("half-closed client got %q, want the connection closed without an answer", got)
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Error("the upstream request was not canceled")
	}

	// front logs before the abort reaches net/http, which only then
	// closes the connection: the line is there by the time of the EOF.
	entries := accessEntries(f, "/hold/x")
	if len(entries) != 1 || entries[0].Status != 499 || entries[0].DenyReason != "client_canceled" {
		t.Errorf("access log = %+v, want one line with status 499 and deny_reason client_canceled", entries)
	}
	exposition := metricsText(f)
	for _, want := range []string{
		`authgate_http_requests_total{code="2xx",route="/hold"} 0`,
		`authgate_http_requests_total{code="4xx",route="/hold"} 1`,
		`authgate_upstream_errors_total{kind="canceled",route="/hold"} 1`,
	} {
		if !strings.Contains(exposition, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCanceledRequestsAreNeverAnsweredAsDone covers every handler behind
// front, not only the proxy: one that gives up when its client goes away
// and writes nothing (as login does while waiting for a bcrypt slot) must
// not have net/http complete its silence as a 200.
func TestCanceledRequestsAreNeverAnsweredAsDone(t *testing.T) {
	f := newFixture(t, "")
	started := make(chan struct{}, 1)
	h := f.gw.front(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
			io.WriteString(w, "done")
		}
	}))
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = f.gw.httpServer(h)
	srv.Start()
	t.Cleanup(srv.Close)

	conn := dial(t, srv.URL)
	io.WriteString(conn, "GET /wait HTTP/1.1\r\nHost: gw\r\n\r\n")
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never ran")
	}
	conn.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("half-closed client got %q, want the connection closed without an answer", got)
	}
	entries := accessEntries(f, "/wait")
	if len(entries) != 1 || entries[0].Status != 499 || entries[0].DenyReason != "client_canceled" {
		t.Errorf("access log = %+v, want one line with status 499 and deny_reason client_canceled", entries)
	}
}

// TestUpstreamFailuresSayWhatHappened: a client that is still there when
// the upstream fails gets 502 or 504, and the access log says which side
// failed.
func TestUpstreamFailuresSayWhatHappened(t *testing.T) {
	f := newFixture(t, "")
	tok := f.token(t, "alice")
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantReason string
	}{
		{"unreachable", "/dead/x", http.StatusBadGateway, "upstream_unavailable"},
		{"no-answer-in-time", "/slow/x", http.StatusGatewayTimeout, "upstream_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.do(t, "GET", tt.path, bearer(tok), "")
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
			}
			entries := accessEntries(f, tt.path)
			if len(entries) != 1 || entries[0].Status != tt.wantStatus || entries[0].DenyReason != tt.wantReason {
				t.Errorf("access log = %+v, want one line with status %d and deny_reason %s", entries, tt.wantStatus, tt.wantReason)
			}
		})
	}
}
