package main

// Tests of the commands other than serving: they call run() through the
// harness in main_test.go, with their own arguments, environment, stdin and
// output buffers.

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// filesUnder lists every file below dir, relative to it.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestKeygenWritesOnlyPlainFileNamesInsideOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		id        string
		wantFiles []string // below the test's root; -out is root/out
	}{
		{"plain", "2026-11.a_b", []string{"out/2026-11.a_b.pem", "out/2026-11.a_b.pub.pem"}},
		{"parent", "../x", nil},
		{"deeper-parent", "../../x", nil},
		{"dot-dot", "..", nil},
		{"dot-dot-inside", "a..b", nil},
		{"separator", "sub/x", nil},
		{"backslash", `sub\x`, nil},
		{"absolute", "/tmp/x", nil},
		{"leading-dot", ".hidden", nil},
		{"leading-dash", "-x", nil},
		{"space", "a b", nil},
		{"nul", "a\x00b", nil},
		{"newline", "a\nb", nil},
		{"non-ascii", "ключ", nil},
		{"too-long", strings.Repeat("k", 65), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			out := filepath.Join(root, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			r := runCommand(t, nil, "", "keygen", "--alg", "EdDSA", "-id", tt.id, "-out", out)
			if tt.wantFiles == nil && (r.err == nil || !strings.Contains(r.err.Error(), "-id")) {
				t.Errorf("keygen -id %q = %v, want an error about -id", tt.id, r.err)
			}
			if tt.wantFiles != nil && r.err != nil {
				t.Errorf("keygen -id %q = %v, want success\n%s", tt.id, r.err, r.stderr)
			}
			got := filesUnder(t, root)
			if strings.Join(got, " ") != strings.Join(tt.wantFiles, " ") {
				t.Errorf("files written = %q, want %q", got, tt.wantFiles)
			}
		})
	}
}

// TestKeygenPrintsAnAbsoluteKeyFile: the config resolves a relative
// key_file against its own folder, so the line keygen suggests must not
// depend on where keygen ran.
func TestKeygenPrintsAnAbsoluteKeyFile(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, out) // -out as an operator might type it
	if err != nil {
		t.Fatal(err)
	}
	r := runCommand(t, nil, "", "keygen", "-id", "k1", "-out", rel)
	if r.err != nil {
		t.Fatalf("keygen without --alg = %v, want EdDSA by default\n%s", r.err, r.stderr)
	}
	want := "key_file: " + filepath.Join(out, "k1.pem")
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "algorithm: EdDSA") {
		t.Errorf("keygen printed %q, want %q and algorithm: EdDSA", r.stderr, want)
	}
}

// TestKeygenNeverOverwritesAKey: two ids' file names can meet ("a.pub"'s
// private key and "a"'s public key are both a.pub.pem); keygen refuses
// rather than replace a private key with a public one.
func TestKeygenNeverOverwritesAKey(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	if r := runCommand(t, nil, "", "keygen", "--alg", "EdDSA", "-id", "a.pub", "-out", out); r.err != nil {
		t.Fatalf("keygen -id a.pub = %v\n%s", r.err, r.stderr)
	}
	private, err := os.ReadFile(filepath.Join(out, "a.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if r := runCommand(t, nil, "", "keygen", "--alg", "EdDSA", "-id", "a", "-out", out); r.err == nil {
		t.Errorf("keygen -id a over a.pub's private key succeeded, want an error")
	}
	if after, _ := os.ReadFile(filepath.Join(out, "a.pub.pem")); !bytes.Equal(after, private) {
		t.Errorf("a.pub.pem changed: the private key of a.pub was overwritten")
	}
	if _, err := os.Stat(filepath.Join(out, "a.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused keygen left a.pem behind (%v)", err)
	}
}

// TestConfigErrorsNeverEchoSecrets: `authgate check` and start-up report a
// value of the wrong type by file, path, line and expected type, and print
// nothing of the value, here a secret from the environment.
func TestConfigErrorsNeverEchoSecrets(t *testing.T) {
	t.Parallel()
	const secret = "Kq7vR2xW9pL4mZ8nB3cD6fH1jT5yG0sQ"
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"string-where-mapping-belongs", "listen: 127.0.0.1:0\ntoken: \"${AUTHGATE_SECRET}\"\n", "gateway.yaml:2:8: token: must be a mapping, not text"},
		{"string-where-list-belongs", "routes: ${AUTHGATE_SECRET}\n", "gateway.yaml:1:9: routes: must be a list, not text"},
		{"string-where-int-belongs", "server:\n  max_connections: ${AUTHGATE_SECRET}\n", "gateway.yaml:2:20: server.max_connections: must be a whole number, not text"},
		{"string-where-bool-belongs", "default_deny: ${AUTHGATE_SECRET}\n", "gateway.yaml:1:15: default_deny: must be true or false, not text"},
		{"string-where-duration-belongs", "server:\n  idle_timeout: ${AUTHGATE_SECRET}\n", "gateway.yaml:2:17: server.idle_timeout: must be a duration"},
		{"mapping-where-string-belongs", "token:\n  secret:\n    s: ${AUTHGATE_SECRET}\n", "gateway.yaml:3:5: token.secret: must be text, not a mapping"},
	}
	env := map[string]string{"AUTHGATE_SECRET": secret}
	leaks := func(s string) string {
		for i := 0; i+4 <= len(secret); i++ {
			if strings.Contains(s, secret[i:i+4]) {
				return secret[i : i+4]
			}
		}
		return ""
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "gateway.yaml", tt.doc)

			r := runCommand(t, env, "", "check", "-config", path)
			if r.err == nil {
				t.Errorf("check succeeded, want a failure")
			}
			if !strings.Contains(r.stdout, path+" is invalid") || !strings.Contains(r.stdout, tt.want) {
				t.Errorf("check printed %q, want the file and %q", r.stdout, tt.want)
			}
			if s := leaks(r.stdout + r.stderr); s != "" {
				t.Errorf("check echoes the secret (%q):\n%s%s", s, r.stdout, r.stderr)
			}

			r = runCommand(t, env, "", "-config", path)
			if r.err == nil {
				t.Fatalf("start succeeded, want a failure")
			}
			if !strings.Contains(r.err.Error(), path) || !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("start = %q, want the file and %q", r.err, tt.want)
			}
			if s := leaks(r.stdout + r.stderr); s != "" {
				t.Errorf("start echoes the secret (%q):\n%s%s", s, r.stdout, r.stderr)
			}
		})
	}
}

func TestCheckCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := writeFile(t, "broken.yaml", `
listen: "nonsense"
token:
  secret: "short"
  ttl: forever
users:
  - username: "bad user"
    password_hash: "$2a$12$..."
routes:
  - path: api
    upstream: ftp://example.com
  - path: /x/
    upstream: http://127.0.0.1:1
    surprise: true
`)
	loop := writeFile(t, "loop.yaml", "token:\n  secret: \"Zt7pQ2rW9xL4mN8vB3cK6yH1jF5gD0sA\"\n"+
		"session:\n  login_url: https://auth.example.com/login\n"+
		"users:\n  - username: alice\n    password_hash: \""+aliceHash+"\"\n")
	nobody := writeFile(t, "nobody.yaml", "\nlisten: 127.0.0.1:8080\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"shipped-demo-is-valid", []string{"check", "-config", "gateway.yaml"}, 0, []string{"is valid"}},
		{"broken-reports-every-problem", []string{"check", "-config", broken}, 1, []string{
			"listen:", "token.secret:", "token.ttl:", "users[0].username:", "routes[0].path:", "routes[0].upstream:", "routes[1].surprise: unknown key",
		}},
		{"missing-file", []string{"check", "-config", filepath.Join(dir, "absent.yaml")}, 1, []string{"absent.yaml"}},
		{"login-loop-warned", []string{"check", "-config", loop}, 0, []string{
			"warning: session.login_url is on auth.example.com and session.cookie_domain is not set", "is valid",
		}},
		{"no-way-to-sign-in", []string{"check", "-config", nobody}, 1, []string{nobody + ":2:1: no way to sign in is configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCommand(t, nil, "", tt.args...)
			out := r.stdout + r.stderr
			if r.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\n%s", r.code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "short\"") {
				t.Errorf("output echoes the secret:\n%s", out)
			}
		})
	}
}

// TestCheckFetchesNothing: checking a config with an identity provider
// does not contact it; the provider's own problems show when the gateway
// runs (its button says so).
func TestCheckFetchesNothing(t *testing.T) {
	t.Parallel()
	var asked atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Add(1) }))
	defer idp.Close()
	path := writeFile(t, "gateway.yaml", "providers:\n  - {id: corp, issuer: \""+idp.URL+"\", client_id: authgate}\n")
	r := runCommand(t, nil, "", "check", "-config", path)
	if r.code != 0 || !strings.Contains(r.stdout, "is valid: 0 routes, 0 users, 1 identity providers (not contacted)") {
		t.Fatalf("check: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("check sent the provider %d requests", n)
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "gateway.yaml", "listen: 127.0.0.1:0\ntoken:\n  secret: \"${AUTHGATE_TEST_UNSET}\"\n")
	r := runCommand(t, nil, "", "-config", path)
	if r.code != 1 {
		t.Fatalf("exit code = %d (%v), want 1\n%s", r.code, r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "token.secret: environment variable AUTHGATE_TEST_UNSET is not set") {
		t.Errorf("stderr lacks a precise message:\n%s", r.stderr)
	}
}

func TestHashPasswordAndVersion(t *testing.T) {
	t.Parallel()
	r := runCommand(t, nil, "correct horse\n", "hash-password", "-cost", "10")
	if r.err != nil {
		t.Fatal(r.err)
	}
	hash := strings.TrimSpace(r.stdout)
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")); err != nil {
		t.Errorf("hash-password output %q does not verify: %v", hash, err)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != 10 {
		t.Errorf("cost = %d, want 10", cost)
	}
	if r := runCommand(t, nil, strings.Repeat("x", 73), "hash-password"); r.code == 0 {
		t.Errorf("hash-password accepted a 73-byte password")
	}
	if r := runCommand(t, nil, "", "version"); r.err != nil || !strings.HasPrefix(r.stdout, "authgate ") {
		t.Errorf("version = %q, %v", r.stdout, r.err)
	}
}

// TestHealthcheckFollowsTheConfiguredListener: `healthcheck -config`
// probes the health endpoint of the listener the config names, so a
// container's health check need not repeat the port. (The test binds
// loopback only; TestHealthURL covers a listener on all interfaces.)
func TestHealthcheckFollowsTheConfiguredListener(t *testing.T) {
	t.Parallel()
	_, p, _ := net.SplitHostPort(freePort(t))
	doc := "listen: \"127.0.0.1:" + p + "\"\nmetrics_listen: \"\"\npaths:\n  healthz: /alive\ntoken:\n  secret: \"Zt7pQ2rW9xL4mN8vB3cK6yH1jF5gD0sA\"\n" +
		"users:\n  - username: alice\n    password_hash: \"" + aliceHash + "\"\n"
	path := writeFile(t, "gateway.yaml", doc)
	g := startGateway(t, doc, nil)
	if r := runCommand(t, nil, "", "healthcheck", "-config", path); r.code != 0 {
		t.Errorf("healthcheck -config while serving = exit %d, want 0\n%s", r.code, r.stderr)
	}
	if err := g.stop(t); err != nil {
		t.Fatal(err)
	}
	if r := runCommand(t, nil, "", "healthcheck", "-config", path); r.code == 0 {
		t.Errorf("healthcheck -config after stopping = exit 0, want a failure")
	}
}

func TestHealthURL(t *testing.T) {
	tests := []struct{ listen, path, want string }{
		{"0.0.0.0:8080", "/healthz", "http://127.0.0.1:8080/healthz"},
		{":9000", "/alive", "http://127.0.0.1:9000/alive"},
		{"127.0.0.2:8080", "/healthz", "http://127.0.0.2:8080/healthz"},
		{"[::]:8080", "/healthz", "http://[::1]:8080/healthz"},
		{"[::1]:8443", "/healthz", "http://[::1]:8443/healthz"},
	}
	for _, tt := range tests {
		if got := healthURL(tt.listen, tt.path); got != tt.want {
			t.Errorf("healthURL(%q, %q) = %q, want %q", tt.listen, tt.path, got, tt.want)
		}
	}
}
