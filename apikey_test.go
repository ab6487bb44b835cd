package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// newAPIKey runs "authgate apikey new" as an operator does and returns
// the key it printed and the config line it asked for.
func newAPIKey(t *testing.T, args ...string) (key, line string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), append([]string{"authgate", "apikey", "new"}, args...), lookupIn(nil), strings.NewReader(""), &stdout, &stderr, nil, nil); err != nil {
		t.Fatalf("apikey new %v = %v\n%s", args, err, stderr.String())
	}
	key = strings.TrimSpace(stdout.String())
	for l := range strings.SplitSeq(stderr.String(), "\n") {
		if s := strings.TrimSpace(l); strings.HasPrefix(s, "- {name:") {
			line = s
		}
	}
	if !strings.HasPrefix(key, "ag_") || len(key) < 3+43 || line == "" {
		t.Fatalf("apikey new printed key %q and line %q", key, line)
	}
	if strings.Contains(stderr.String(), key) {
		t.Fatal("apikey new printed the key in the config line")
	}
	return key, line
}

// TestAPIKeys: keys made by "authgate apikey new" sign a machine in as
// their user (Authorization: Bearer or api_keys.header), never reach the
// upstream, are limited to their routes and methods, stop at their
// expiry, are counted by name, and stop working as soon as their line is
// deleted and the config reloaded.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		fmt.Fprint(w, r.Header.Get("X-Forwarded-User"))
	}))
	t.Cleanup(up.Close)
	full, fullLine := newAPIKey(t, "-user", "alice", "-name", "deploy")
	limited, limitedLine := newAPIKey(t, "-user", "alice", "-name", "reader", "-expires", "90d")
	expired, expiredLine := newAPIKey(t, "-user", "alice", "-name", "old")
	expiredLine = strings.TrimSuffix(expiredLine, "}") + ", expires: 2020-01-01}"
	limitedLine = strings.TrimSuffix(limitedLine, "}") + ", routes: [ro], methods: [GET]}"
	config := func(keys ...string) string {
		return bySignal + `
api_keys:
  header: X-Api-Key
users:
  - username: alice
    password_hash: "` + aliceHash + `"
    api_keys:
` + "      " + strings.Join(keys, "\n      ") + `
routes:
  - {path: /api, upstream: "` + up.URL + `"}
  - {name: ro, path: /ro, upstream: "` + up.URL + `"}
`
	}
	g := startGateway(t, config(fullLine, limitedLine, expiredLine), nil)
	do := func(method, path string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, g.url(path), nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Authgate-Reason")
	}
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	for _, c := range []struct {
		name, method, path string
		header             []string
		want               int
		reason             string
	}{
		{"bearer-key", "GET", "/api", bearer(full), 200, ""},
		{"header-key", "POST", "/api", []string{"X-Api-Key", full}, 200, ""},
		{"limited-key-on-its-route", "GET", "/ro", bearer(limited), 200, ""},
		{"limited-key-on-another-route", "GET", "/api", bearer(limited), 403, "api_key_not_allowed"},
		{"limited-key-with-another-method", "POST", "/ro", bearer(limited), 403, "api_key_not_allowed"},
		{"expired-key", "GET", "/api", bearer(expired), 401, "api_key_expired"},
		{"unknown-key", "GET", "/api", bearer("ag_" + strings.Repeat("A", 43)), 401, "api_key_invalid"},
		{"header-not-a-key", "GET", "/api", []string{"X-Api-Key", "hunter2"}, 401, "malformed_credentials"},
	} {
		got, reason := do(c.method, c.path, c.header...)
		if got != c.want || reason != c.reason {
			t.Errorf("%s: %s %s = %d %q, want %d %q", c.name, c.method, c.path, got, reason, c.want, c.reason)
		}
	}
	mu.Lock()
	n := len(seen)
	for _, h := range seen {
		if h.Get("X-Forwarded-User") != "alice" || h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" {
			t.Errorf("upstream got user %q, Authorization %q, X-Api-Key %q; want alice and no key", h.Get("X-Forwarded-User"), h.Get("Authorization"), h.Get("X-Api-Key"))
		}
	}
	mu.Unlock()
	if n != 3 {
		t.Errorf("upstream saw %d requests, want 3", n)
	}
	for series, want := range map[string]float64{
		`authgate_api_key_requests_total{key="deploy",outcome="admitted"}`:    2,
		`authgate_api_key_requests_total{key="reader",outcome="not_allowed"}`: 2,
		`authgate_api_key_requests_total{key="old",outcome="expired"}`:        1,
		`authgate_token_rejections_total{reason="api_key_invalid"}`:           1,
		`authgate_token_rejections_total{reason="api_key_not_allowed"}`:       2,
	} {
		if got := g.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if strings.Contains(g.logs.String(), full) || strings.Contains(g.logs.String(), strings.TrimPrefix(full, "ag_")) {
		t.Error("the log holds an API key")
	}

	// Revoked by deleting its line.
	replace(t, g.path, config(limitedLine))
	g.reload(t)
	if got, reason := do("GET", "/api", bearer(full)...); got != 401 || reason != "api_key_invalid" {
		t.Errorf("a key whose line was deleted = %d %q, want 401 api_key_invalid", got, reason)
	}
	if got, _ := do("GET", "/ro", bearer(limited)...); got != 200 {
		t.Errorf("a key still configured after the reload = %d, want 200", got)
	}
}
