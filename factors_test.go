package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
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

// TestTOTPEnroll: totp-enroll writes a secret file of mode 0600 and never
// over an existing one, prints the otpauth:// URI with a QR code, and the
// file it wrote is a second factor the gateway asks for at login.
func TestTOTPEnroll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "alice.totp")
	enroll := func() (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), []string{"authgate", "totp-enroll", "-user", "alice", "-out", file}, lookupIn(nil), strings.NewReader(""), &stdout, &stderr, nil, nil)
		return stdout.String(), err
	}
	out, err := enroll()
	if err != nil {
		t.Fatalf("totp-enroll = %v", err)
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v, want 0600", err, info)
	}
	secret, _ := os.ReadFile(file)
	uri := out[strings.Index(out, "otpauth://"):]
	if !strings.Contains(uri, "secret="+strings.TrimSpace(string(secret))) || !strings.Contains(out, "█") {
		t.Errorf("totp-enroll printed %q, want a QR code and the URI with the file's secret", out)
	}
	if _, err := enroll(); err == nil {
		t.Error("a second totp-enroll to the same file succeeded, want it refused")
	}
	if again, _ := os.ReadFile(file); string(again) != string(secret) {
		t.Error("the second totp-enroll changed the secret file")
	}

	g := startGateway(t, bySignal+`
users:
  - username: alice
    password_hash: "`+aliceHash+`"
    totp_secret_file: `+file+`
routes:
  - {path: /api, upstream: "`+okUpstream(t).URL+`"}
`, nil)
	post := func(fields url.Values) int {
		resp, err := http.PostForm(g.url("/login"), fields)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	code, _ := totp.GenerateCode(strings.TrimSpace(string(secret)), time.Now())
	if got := post(url.Values{"username": {"alice"}, "password": {"alicepassword"}}); got != 401 {
		t.Errorf("password alone = %d, want 401", got)
	}
	if got := post(url.Values{"username": {"alice"}, "password": {"alicepassword"}, "otp": {code}}); got != 200 {
		t.Errorf("password and code = %d, want 200", got)
	}

	// A secret file others can read is refused.
	os.Chmod(file, 0o644)
	var stdout bytes.Buffer
	err = run(t.Context(), []string{"authgate", "check", "-config", g.path}, lookupIn(nil), strings.NewReader(""), &stdout, io.Discard, nil, nil)
	if err == nil || !strings.Contains(stdout.String(), "users[0].totp_secret_file") || !strings.Contains(stdout.String(), "chmod 600") {
		t.Errorf("check with a 0644 secret file = %v\n%s", err, stdout.String())
	}
}
