package main

// End-to-end tests. They call run() in this process as main does, with
// their own arguments, environment and output, on loopback; a gateway's
// ready hook hands them the bound addresses. TestBinary builds the binary
// once for what only a process shows: the signal wiring, the exit status
// and the version the linker stamps in.

import (
	"bufio"
	"bytes"
	"context"
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authgate/authgate/internal/server"
)

// lookupIn is a lookupEnv that sees env and nothing of the test process's
// own environment.
func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// ran is what one call of run left behind, as a shell would see it.
type ran struct {
	stdout string
	stderr string // ends with what main prints for err
	err    error  // what run returned
	code   int    // the exit status main gives for err
}

// runCommand calls run as main would with args after the program name, env
// as the whole environment and stdin as standard input, and waits for it.
func runCommand(t *testing.T, env map[string]string, stdin string, args ...string) ran {
	t.Helper()
	// Commands return by themselves; the bound stops a gateway started by
	// mistake, which the caller then sees as a success it did not want.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"authgate"}, args...), lookupIn(env), strings.NewReader(stdin), &stdout, &stderr, nil, nil)
	code := exitStatus(err, &stderr)
	return ran{stdout: stdout.String(), stderr: stderr.String(), err: err, code: code}
}

// gateway is run serving a config in this process.
type gateway struct {
	addrs  server.Addrs
	logs   *lockedBuffer // run's stderr
	path   string        // the config file
	hup    chan os.Signal
	cancel context.CancelFunc
	done   chan struct{} // closed once run has returned
	err    error         // what run returned, once done is closed
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

// startGateway writes configText to a file and calls run on it as main
// would with "-config FILE" and env as the whole environment, and returns
// once the ready hook has reported the bound addresses. When the test ends
// the gateway is stopped if it still runs, and must have returned nil.
func startGateway(t *testing.T, configText string, env map[string]string) *gateway {
	t.Helper()
	return startGatewayAt(t, writeFile(t, "gateway.yaml", configText), env)
}

// startGatewayAt is startGateway on the config file at path.
func startGatewayAt(t *testing.T, path string, env map[string]string) *gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	g := &gateway{logs: &lockedBuffer{}, path: path, hup: make(chan os.Signal, 1), cancel: cancel, done: make(chan struct{})}
	ready := make(chan server.Addrs, 1)
	go func() {
		defer close(g.done)
		g.err = run(ctx, []string{"authgate", "-config", path}, lookupIn(env), strings.NewReader(""), io.Discard, g.logs,
			g.hup, func(a server.Addrs) { ready <- a })
	}()
	t.Cleanup(func() {
		if err := g.stop(t); err != nil && !t.Failed() {
			t.Errorf("run = %v when the test ended, want nil\n%s", err, g.logs)
		}
	})
	select {
	case g.addrs = <-ready:
	case <-g.done:
		t.Fatalf("run = %v before it was ready\n%s", g.err, g.logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("run was not ready after 15s\n%s", g.logs)
	}
	return g
}

// stop ends run's context, as SIGTERM does main's, and returns what run
// returned.
func (g *gateway) stop(t *testing.T) error {
	t.Helper()
	g.cancel()
	select {
	case <-g.done:
		return g.err
	case <-time.After(15 * time.Second):
		t.Fatalf("run did not return within 15s of its context's end\n%s", g.logs)
		return nil
	}
}

func (g *gateway) url(path string) string { return "http://" + g.addrs.Gateway.String() + path }

// writeFile writes text to a new file name in the test's directory.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort returns a loopback address that was free a moment ago, for a
// listener whose address must be known before it starts.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitRefused waits until addr refuses connections: the listener is closed.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
	}
	t.Fatalf("%s still accepts connections after 10s", addr)
}

// slowUpstream answers /slow with "finished" once release is closed, and
// closes arrived when that request comes in; it holds it at most 10s, so a
// failing test cannot hang the server's Close. Any other path it answers at
// once with the X-Forwarded-User it received.
func slowUpstream(t *testing.T) (upstream *httptest.Server, arrived, release chan struct{}) {
	arrived, release = make(chan struct{}), make(chan struct{})
	upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			fmt.Fprint(w, r.Header.Get("X-Forwarded-User"))
			return
		}
		close(arrived)
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		fmt.Fprint(w, "finished")
	}))
	t.Cleanup(upstream.Close)
	return upstream, arrived, release
}

type result struct {
	status int
	body   string
	err    error
}

// getAsync sends GET rawURL, with token if not empty, in the background.
func getAsync(rawURL, token string) <-chan result {
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", rawURL, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	return done
}

func login(t *testing.T, loginURL, user, password string) string {
	t.Helper()
	resp, err := http.PostForm(loginURL, url.Values{"username": {user}, "password": {password}})
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

const (
	testSecret = "Zt7pQ2rW9xL4mN8vB3cK6yH1jF5gD0sA"
	// aliceHash is "alicepassword" at bcrypt's cost 10.
	aliceHash = "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
)

// TestShippedDemoWalkthrough runs the shipped gateway.yaml (on free ports)
// through the README's curl walkthrough: login, protected call, forward-auth.
func TestShippedDemoWalkthrough(t *testing.T) {
	t.Parallel()
	shipped, err := os.ReadFile("gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The routes name the echo upstream, so its port is chosen first. The
	// other two listeners take port 0; config refuses metrics_listen
	// spelled the same as listen, so the two are spelled differently.
	echoAddr := freePort(t)
	text := strings.NewReplacer("127.0.0.1:8080", "127.0.0.1:0", "127.0.0.1:8081", echoAddr, "127.0.0.1:9090", "localhost:0").Replace(string(shipped))
	g := startGateway(t, text, nil)
	if g.addrs.Echo == nil || g.addrs.Echo.String() != echoAddr {
		t.Errorf("ready reported the echo listener at %v, want %s", g.addrs.Echo, echoAddr)
	}
	if g.addrs.Metrics == nil {
		t.Fatal("ready reported no metrics listener, want one")
	}
	if !strings.Contains(g.logs.String(), "DEMO") {
		t.Errorf("the demo config did not announce itself as a demo:\n%s", g.logs)
	}

	resp, _ := get(t, g.url("/hello"), "")
	if resp.StatusCode != 401 {
		t.Fatalf("without a token: %d, want 401", resp.StatusCode)
	}
	token := login(t, g.url("/login"), "user1", "testpassword")
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
	resp, body = get(t, "http://"+g.addrs.Metrics.String()+"/metrics", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "authgate_login_attempts_total") {
		t.Errorf("metrics listener = %d, lacks authgate metrics", resp.StatusCode)
	}
	// The demo's catch-all route proxies /metrics to the echo upstream;
	// authgate's own metrics must not be what answers.
	if _, body := get(t, g.url("/metrics"), token); strings.Contains(body, "authgate_") {
		t.Errorf("authgate's metrics are served on the public listener")
	}
	if r := runCommand(t, nil, "", "healthcheck", "-url", g.url("/healthz")); r.code != 0 {
		t.Errorf("healthcheck = exit %d, want 0\n%s", r.code, r.stderr)
	}
	if strings.Contains(g.logs.String(), token) || strings.Contains(g.logs.String(), "testpassword") {
		t.Errorf("logs contain the token or the password")
	}
}

// TestGracefulShutdown ends run's context, as SIGTERM does main's, while a
// request is in flight: the listener closes, the request completes, run
// returns nil.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	upstream, arrived, release := slowUpstream(t)
	g := startGateway(t, `
listen: 127.0.0.1:0
metrics_listen: ""
server:
  shutdown_grace: 10s
users:
  - username: alice
    password_hash: "`+aliceHash+`"
routes:
  - path: /
    upstream: `+upstream.URL+`
    public: true
`, nil)
	done := getAsync(g.url("/slow"), "")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the upstream")
	}
	g.cancel()
	waitRefused(t, g.addrs.Gateway.String())
	select {
	case <-g.done:
		t.Errorf("run = %v while a request was in flight, want it to wait", g.err)
	default:
	}
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request = %d %q %v, want 200 finished", r.status, r.body, r.err)
	}
	if err := g.stop(t); err != nil {
		t.Fatalf("run = %v, want nil\n%s", err, g.logs)
	}
	if c, err := net.DialTimeout("tcp", g.addrs.Gateway.String(), time.Second); err == nil {
		c.Close()
		t.Error("gateway still accepts connections after shutdown")
	}
}

func TestSecretFromEnvironment(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  secret: "${AUTHGATE_SECRET}"
users:
  - username: alice
    password_hash: "`+aliceHash+`"
`, map[string]string{"AUTHGATE_SECRET": testSecret})
	token := login(t, g.url("/login"), "alice", "alicepassword")
	if strings.Contains(g.logs.String(), "random secret") {
		t.Errorf("gateway generated a secret although one was configured")
	}
	resp, _ := get(t, g.url("/verify"), token)
	if resp.StatusCode != 200 {
		t.Errorf("verify = %d, want 200", resp.StatusCode)
	}
}

// TestKeysJWKSAndRotation generates EdDSA keys with the keygen command,
// verifies a token against the published JWKS with go-jose (a JOSE library
// authgate itself does not use), and rotates keys across restarts: tokens
// of the old key keep working while it is listed, then stop.
func TestKeysJWKSAndRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, id := range []string{"old", "new"} {
		r := runCommand(t, nil, "", "keygen", "--alg", "EdDSA", "-id", id, "-out", dir)
		if r.err != nil || !strings.Contains(r.stdout, `"kid": "`+id+`"`) {
			t.Fatalf("keygen %s: %v %s", id, r.err, r.stdout)
		}
	}
	if r := runCommand(t, nil, "", "keygen", "--alg", "EdDSA", "-id", "old", "-out", dir); r.code == 0 {
		t.Fatalf("keygen overwrote an existing key: %s%s", r.stdout, r.stderr)
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
    password_hash: "`+aliceHash+`"
`, nil)
	}
	stop := func(g *gateway) {
		if err := g.stop(t); err != nil {
			t.Fatalf("run = %v, want nil", err)
		}
	}
	key := func(id, file string) string {
		return "    - id: " + id + "\n      key_file: " + filepath.Join(dir, file) + "\n"
	}

	g := start(key("old", "old.pem"))
	oldToken := login(t, g.url("/login"), "alice", "alicepassword")

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
	newToken := login(t, g.url("/login"), "alice", "alicepassword")
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
	t.Parallel()
	g := startGateway(t, `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  secret: "`+testSecret+`"
login:
  shed_delay: 5ms
  throttle:
    client: {burst: 3, interval: 1h}
users:
  - username: alice
    password_hash: "`+aliceHash+`"
`, nil)
	c, err := net.Dial("tcp", g.addrs.Gateway.String())
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
	g.cancel()
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection outlived the gateway's shutdown")
	}
	if err := g.stop(t); err != nil {
		t.Errorf("run = %v, want nil", err)
	}
	if got := strings.Count(g.logs.String(), "deny_reason=throttled"); got != 48 {
		t.Errorf("%d access-log lines for throttled attempts, want 48", got)
	}
}

// TestBinary is the one test of the built binary, for what only a process
// shows: the version the linker stamps in, the exit status and message of
// a refused config, SIGHUP's reload (the process lives on), and SIGTERM's
// graceful shutdown with exit status 0. A
// process reports readiness only on /readyz, so the test chooses the port
// and polls it, as an orchestrator's probe does.
func TestBinary(t *testing.T) {
	t.Parallel()
	binary := filepath.Join(t.TempDir(), "authgate")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.9.9-test", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("version-from-the-linker", func(t *testing.T) {
		out, err := exec.Command(binary, "version").Output()
		if err != nil || string(out) != "authgate v9.9.9-test\n" {
			t.Errorf("version = %q, %v, want \"authgate v9.9.9-test\\n\"", out, err)
		}
	})

	t.Run("refuses-an-invalid-config", func(t *testing.T) {
		path := writeFile(t, "gateway.yaml", "listen: 127.0.0.1:0\ntoken:\n  secret: \"${AUTHGATE_TEST_UNSET}\"\n")
		cmd := exec.Command(binary, "-config", path)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit = %v, want status 1\n%s", err, &stderr)
		}
		if !strings.Contains(stderr.String(), "authgate: invalid config "+path) ||
			!strings.Contains(stderr.String(), "token.secret: environment variable AUTHGATE_TEST_UNSET is not set") {
			t.Errorf("stderr lacks the file and a precise message:\n%s", &stderr)
		}
		if stdout.Len() != 0 {
			t.Errorf("stdout = %q, want nothing", &stdout)
		}
	})

	t.Run("reloads-on-sighup", func(t *testing.T) {
		up := okUpstream(t)
		addr := freePort(t)
		config := func(routes string) string {
			return `
listen: ` + addr + `
metrics_listen: ""
reload:
  watch: false
users:
  - {username: alice, password_hash: "` + aliceHash + `"}
routes:
  - {path: /a, upstream: "` + up.URL + `", public: true}
` + routes
		}
		path := writeFile(t, "gateway.yaml", config(""))
		p := startBinary(t, binary, path)
		p.waitFor(t, "http://"+addr+"/readyz", "/readyz did not answer 200")
		replace(t, path, config("  - {path: /b, upstream: \""+up.URL+"\", public: true}\n"))
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		p.waitFor(t, "http://"+addr+"/b", "the route added before SIGHUP did not serve")
		if resp, _ := get(t, "http://"+addr+"/a", ""); resp.StatusCode != 200 {
			t.Errorf("GET /a after the reload = %d, want 200", resp.StatusCode)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := <-p.exited; err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\n%s", err, p.logs)
		}
		p.exited <- nil
	})

	t.Run("serves-then-stops-on-sigterm", func(t *testing.T) {
		upstream, arrived, release := slowUpstream(t)
		addr := freePort(t)
		path := writeFile(t, "gateway.yaml", `
listen: `+addr+`
metrics_listen: ""
server:
  shutdown_grace: 10s
token:
  secret: "${AUTHGATE_SECRET}"
users:
  - username: alice
    password_hash: "`+aliceHash+`"
routes:
  - path: /
    upstream: `+upstream.URL+`
`)
		p := startBinary(t, binary, path, "AUTHGATE_SECRET="+testSecret)
		cmd, logs, exited := p.cmd, p.logs, p.exited
		base := "http://" + addr
		p.waitFor(t, base+"/readyz", "/readyz did not answer 200")

		token := login(t, base+"/login", "alice", "alicepassword")
		if resp, body := get(t, base+"/whoami", token, "X-Forwarded-User", "admin"); resp.StatusCode != 200 || body != "alice" {
			t.Errorf("proxied request = %d, upstream saw X-Forwarded-User %q, want 200 alice", resp.StatusCode, body)
		}
		done := getAsync(base+"/slow", token)
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("the proxied request never reached the upstream")
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitRefused(t, addr)
		close(release)
		r := <-done
		if r.err != nil || r.status != 200 || r.body != "finished" {
			t.Errorf("in-flight proxied request = %d %q %v, want 200 finished", r.status, r.body, r.err)
		}
		select {
		case err := <-exited:
			exited <- err
			if err != nil {
				t.Fatalf("exit: %v, want status 0\n%s", err, logs)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("authgate did not exit within 15s of SIGTERM\n%s", logs)
		}
		if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "alicepassword") {
			t.Errorf("logs contain the token or the password")
		}
	})
}

// process is the built binary serving a config.
type process struct {
	cmd  *exec.Cmd
	logs *lockedBuffer // its stderr
	// exited receives what Wait returned; a reader that does not end the
	// test puts it back.
	exited chan error
}

// startBinary starts binary on the config at path with env (beside PATH)
// as its whole environment; it is killed when the test ends.
func startBinary(t *testing.T, binary, path string, env ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary, "-config", path), logs: &lockedBuffer{}, exited: make(chan error, 1)}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitFor polls rawURL until it answers 200, as an orchestrator's probe
// does; it fails the test with what, when the process exits first or 15s
// pass.
func (p *process) waitFor(t *testing.T, rawURL, what string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(rawURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("%s: authgate exited: %v\n%s", what, err, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s within 15s\n%s", what, p.logs)
		}
	}
}
