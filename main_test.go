package main

// End-to-end tests: they build the authgate binary once and drive its public
// surface — command line, config file, HTTP, signals — over loopback.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/bcrypt"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "authgate")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build authgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gateway is a running authgate process.
type gateway struct {
	cmd    *exec.Cmd
	addr   string
	logs   *lockedBuffer
	exited chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listeningLine = regexp.MustCompile(`msg=listening listener=gateway addr=(\S+)`)

// startGateway runs the binary on configText and waits until it listens.
func startGateway(t *testing.T, configText string, env ...string) *gateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-config", path)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	g := &gateway{cmd: cmd, logs: &lockedBuffer{}, exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			g.logs.Write([]byte(line + "\n"))
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		g.exited <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-g.exited
	})
	select {
	case g.addr = <-found:
	case err := <-g.exited:
		g.exited <- err
		t.Fatalf("gateway exited before listening: %v\n%s", err, g.logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("gateway did not start listening\n%s", g.logs)
	}
	return g
}

func (g *gateway) url(path string) string { return "http://" + g.addr + path }

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func login(t *testing.T, g *gateway, user, password string) string {
	t.Helper()
	resp, err := http.PostForm(g.url("/login"), url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.TokenType != "Bearer" {
		t.Fatalf("login = %d %+v %v", resp.StatusCode, body, err)
	}
	return body.AccessToken
}

func get(t *testing.T, rawURL, token string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestShippedDemoWalkthrough runs the shipped gateway.yaml (on free ports)
// through the README's curl walkthrough: login, protected call, forward-auth.
func TestShippedDemoWalkthrough(t *testing.T) {
	shipped, err := os.ReadFile("gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gwAddr, echoAddr, metricsAddr := freePort(t), freePort(t), freePort(t)
	text := strings.NewReplacer("127.0.0.1:8080", gwAddr, "127.0.0.1:8081", echoAddr, "127.0.0.1:9090", metricsAddr).Replace(string(shipped))
	g := startGateway(t, text)
	if !strings.Contains(g.logs.String(), "DEMO") {
		t.Errorf("the demo config did not announce itself as a demo:\n%s", g.logs)
	}

	resp, _ := get(t, g.url("/hello"), "")
	if resp.StatusCode != 401 {
		t.Fatalf("without a token: %d, want 401", resp.StatusCode)
	}
	token := login(t, g, "user1", "testpassword")
	resp, body := get(t, g.url("/hello"), token, "X-Forwarded-User", "admin")
	if resp.StatusCode != 200 {
		t.Fatalf("with a token: %d %s", resp.StatusCode, body)
	}
	var seen struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatal(err)
	}
	if u := seen.Headers["X-Forwarded-User"]; len(u) != 1 || u[0] != "user1" {
		t.Errorf("echo upstream saw X-Forwarded-User %q, want [user1]", u)
	}
	resp, _ = get(t, g.url("/verify"), token)
	if resp.StatusCode != 200 || resp.Header.Get("X-Forwarded-User") != "user1" {
		t.Errorf("verify = %d user %q, want 200 user1", resp.StatusCode, resp.Header.Get("X-Forwarded-User"))
	}
	resp, _ = get(t, g.url("/public/x"), "")
	if resp.StatusCode != 200 {
		t.Errorf("public route = %d, want 200", resp.StatusCode)
	}
	resp, body = get(t, "http://"+metricsAddr+"/metrics", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "authgate_login_attempts_total") {
		t.Errorf("metrics listener = %d, lacks authgate metrics", resp.StatusCode)
	}
	// The demo's catch-all route proxies /metrics to the echo upstream;
	// authgate's own metrics must not be what answers.
	if _, body := get(t, g.url("/metrics"), token); strings.Contains(body, "authgate_") {
		t.Errorf("authgate's metrics are served on the public listener")
	}
	if out, err := exec.Command(binary, "healthcheck", "-url", g.url("/healthz")).CombinedOutput(); err != nil {
		t.Errorf("healthcheck: %v %s", err, out)
	}
	if strings.Contains(g.logs.String(), token) || strings.Contains(g.logs.String(), "testpassword") {
		t.Errorf("logs contain the token or the password")
	}
}

// TestGracefulShutdown sends SIGTERM while a request is in flight: the
// request completes, new connections are refused, the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	arrived := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		time.Sleep(time.Second)
		fmt.Fprint(w, "finished")
	}))
	defer upstream.Close()
	g := startGateway(t, `
listen: 127.0.0.1:0
metrics_listen: ""
server:
  shutdown_grace: 10s
routes:
  - path: /
    upstream: `+upstream.URL+`
    public: true
`)
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(g.url("/slow"))
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the upstream")
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request = %d %q %v, want 200 finished", r.status, r.body, r.err)
	}
	select {
	case err := <-g.exited:
		g.exited <- err
		if err != nil {
			t.Fatalf("exit: %v, want status 0\n%s", err, g.logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not exit after SIGTERM")
	}
	if c, err := net.DialTimeout("tcp", g.addr, time.Second); err == nil {
		c.Close()
		t.Error("gateway still accepts connections after shutdown")
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte(`
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
`), 0o600)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(binary, tt.args...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "short\"") {
				t.Errorf("output echoes the secret:\n%s", out)
			}
		})
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:0\ntoken:\n  secret: \"${AUTHGATE_TEST_UNSET}\"\n"), 0o600)
	cmd := exec.Command(binary, "-config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit = %v, want non-zero\n%s", err, out)
	}
	if !strings.Contains(string(out), "token.secret: environment variable AUTHGATE_TEST_UNSET is not set") {
		t.Errorf("output lacks a precise message:\n%s", out)
	}
}

func TestSecretFromEnvironment(t *testing.T) {
	secret := "Zt7pQ2rW9xL4mN8vB3cK6yH1jF5gD0sA"
	g := startGateway(t, `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  secret: "${AUTHGATE_SECRET}"
users:
  - username: alice
    password_hash: "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
`, "AUTHGATE_SECRET="+secret)
	token := login(t, g, "alice", "alicepassword")
	if strings.Contains(g.logs.String(), "random secret") {
		t.Errorf("gateway generated a secret although one was configured")
	}
	resp, _ := get(t, g.url("/verify"), token)
	if resp.StatusCode != 200 {
		t.Errorf("verify = %d, want 200", resp.StatusCode)
	}
}

func TestHashPasswordAndVersion(t *testing.T) {
	cmd := exec.Command(binary, "hash-password", "-cost", "10")
	cmd.Stdin = strings.NewReader("correct horse\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(string(out))
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")); err != nil {
		t.Errorf("hash-password output %q does not verify: %v", hash, err)
	}
	if cost, _ := bcrypt.Cost([]byte(hash)); cost != 10 {
		t.Errorf("cost = %d, want 10", cost)
	}
	cmd = exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader(strings.Repeat("x", 73))
	if err := cmd.Run(); err == nil {
		t.Errorf("hash-password accepted a 73-byte password")
	}
	out, err = exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "authgate ") {
		t.Errorf("version = %q, %v", out, err)
	}
}

// TestKeysJWKSAndRotation generates EdDSA keys with the keygen command,
// verifies a token against the published JWKS with go-jose (a JOSE library
// authgate itself does not use), and rotates keys across restarts: tokens
// of the old key keep working while it is listed, then stop.
func TestKeysJWKSAndRotation(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"old", "new"} {
		out, err := exec.Command(binary, "keygen", "--alg", "EdDSA", "-id", id, "-out", dir).Output()
		if err != nil || !strings.Contains(string(out), `"kid": "`+id+`"`) {
			t.Fatalf("keygen %s: %v %s", id, err, out)
		}
	}
	if out, err := exec.Command(binary, "keygen", "--alg", "EdDSA", "-id", "old", "-out", dir).CombinedOutput(); err == nil {
		t.Fatalf("keygen overwrote an existing key: %s", out)
	}
	start := func(keys string) *gateway {
		return startGateway(t, `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  algorithm: EdDSA
  keys:
`+keys+`
users:
  - username: alice
    password_hash: "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
`)
	}
	stop := func(g *gateway) {
		g.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-g.exited; err != nil {
			t.Fatalf("exit: %v", err)
		}
		g.exited <- nil
	}
	key := func(id, file string) string {
		return "    - id: " + id + "\n      key_file: " + filepath.Join(dir, file) + "\n"
	}

	g := start(key("old", "old.pem"))
	oldToken := login(t, g, "alice", "alicepassword")

	resp, body := get(t, g.url("/.well-known/openid-configuration"), "")
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(body), &meta); err != nil || resp.StatusCode != 200 || meta.Issuer != "authgate" {
		t.Fatalf("openid-configuration = %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, meta.JWKSURI, "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("jwks = %d Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("go-jose cannot read the JWKS %s: %v", body, err)
	}
	parsed, err := josejwt.ParseSigned(oldToken, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	matching := set.Key(parsed.Headers[0].KeyID)
	var claims josejwt.Claims
	if len(matching) != 1 || parsed.Claims(matching[0].Key, &claims) != nil || claims.Subject != "alice" {
		t.Fatalf("go-jose could not verify the token with the published key (kid %q)", parsed.Headers[0].KeyID)
	}
	stop(g)

	g = start(key("new", "new.pem") + key("old", "old.pub.pem"))
	if resp, _ := get(t, g.url("/verify"), oldToken); resp.StatusCode != 200 {
		t.Errorf("old-key token during rotation = %d, want 200", resp.StatusCode)
	}
	newToken := login(t, g, "alice", "alicepassword")
	if parsed, _ := josejwt.ParseSigned(newToken, []jose.SignatureAlgorithm{jose.EdDSA}); parsed == nil || parsed.Headers[0].KeyID != "new" {
		t.Errorf("new tokens are not signed by the new key")
	}
	stop(g)

	g = start(key("new", "new.pem"))
	if resp, _ := get(t, g.url("/verify"), oldToken); resp.StatusCode != 401 {
		t.Errorf("old-key token after removal = %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(t, g.url("/verify"), newToken); resp.StatusCode != 200 {
		t.Errorf("new-key token = %d, want 200", resp.StatusCode)
	}
}

// TestLoginFloodOnOneConnection hammers /login with wrong passwords on one
// kept-alive connection, as brute-force tools do: once the client is
// throttled every attempt gets 429 with Retry-After, other requests on the
// connection are still served, and shutdown ends the connection.
func TestLoginFloodOnOneConnection(t *testing.T) {
	g := startGateway(t, `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  secret: "Zt7pQ2rW9xL4mN8vB3cK6yH1jF5gD0sA"
login:
  shed_delay: 5ms
  throttle:
    client: {burst: 3, interval: 1h}
users:
  - username: alice
    password_hash: "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
`)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	send := func(raw string) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const body = "username=alice&password=not-the-password"
	attempt := fmt.Sprintf("POST /login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	var statuses []int
	for range 50 {
		resp := send(attempt)
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After: %v", resp.Header)
		}
	}
	if statuses[0] != 401 || statuses[2] != 401 || statuses[3] != 429 || statuses[49] != 429 {
		t.Errorf("statuses = %v, want 3 × 401 then 429", statuses)
	}
	if resp := send("GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); resp.StatusCode != 200 {
		t.Errorf("GET /healthz on the flooding connection = %d", resp.StatusCode)
	}
	if resp := send(attempt); resp.StatusCode != 429 {
		t.Errorf("attempt after /healthz = %d, want 429", resp.StatusCode)
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection outlived the gateway's shutdown")
	}
	select {
	case err := <-g.exited:
		g.exited <- err
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not exit after SIGTERM")
	}
	// Log lines are flushed at exit; the test's reader may lag a little.
	got := 0
	for deadline := time.Now().Add(5 * time.Second); got != 48 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = strings.Count(g.logs.String(), "deny_reason=throttled")
	}
	if got != 48 {
		t.Errorf("%d access-log lines for throttled attempts, want 48", got)
	}
}
