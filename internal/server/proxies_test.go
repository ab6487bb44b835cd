package server

// Integration tests against the real nginx and Caddy, using the shipped
// examples/ configs. They skip, naming the Debian package, when a binary is
// missing; with AUTHGATE_REQUIRE_INTEGRATION=1 (as .ci/run sets) they fail
// instead, so CI never silently skips them.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/proxy"
)

// needBinary finds a server binary or skips (fails in CI) naming its package.
func needBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	for _, candidate := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(candidate); err == nil {
			return path
		}
	}
	if os.Getenv("AUTHGATE_REQUIRE_INTEGRATION") != "" {
		t.Fatalf("%s not found: install the Debian package %q", name, pkg)
	}
	t.Skipf("%s not found: install the Debian package %q to run this test", name, pkg)
	return ""
}

// startServer runs a server process until the test ends and waits until
// addr accepts connections.
func startServer(t *testing.T, addr string, logFile string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		out.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited before listening:\n%s", name, log)
		case <-time.After(100 * time.Millisecond):
		}
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("%s did not listen on %s:\n%s", name, addr, log)
}

// example reads a file from examples/ with its addresses replaced.
func example(t *testing.T, path string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(replace...).Replace(string(b))
}

// browserSession drives the login flow as a browser would, through a proxy
// at base, and checks the behaviour every forward-auth setup must show.
func browserSession(t *testing.T, f *fixture, base string) {
	t.Helper()
	get := func(path string, h http.Header) (*http.Response, string) {
		t.Helper()
		return proxyGet(t, base, path, h)
	}
	seenUser := func(body string) (string, map[string][]string) {
		t.Helper()
		return seenAtApp(t, body)
	}

	// 1. An unauthenticated browser is sent to the login page.
	resp, _ := get("/api/app?x=1", http.Header{"Accept": {htmlAccept}})
	want := base + "/login?rd=" + url.QueryEscape(base+"/api/app?x=1")
	if resp.StatusCode != 302 || resp.Header.Get("Location") != want {
		t.Fatalf("unauthenticated navigation = %d Location %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// 2. The login page, through the proxy.
	resp, page := get(strings.TrimPrefix(want, base), http.Header{"Accept": {htmlAccept}})
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatalf("login page through the proxy = %d", resp.StatusCode)
	}
	// 3. The form login sets the cookie and sends the browser back.
	form := url.Values{"username": {"alice"}, "password": {alicePassword}, "rd": {base + "/api/app?x=1"}}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {htmlAccept}, "Origin": {base}}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == f.gw.cookie.Name {
			cookie = c
		}
	}
	if resp.StatusCode != 303 || resp.Header.Get("Location") != base+"/api/app?x=1" || cookie == nil {
		t.Fatalf("form login = %d Location %q cookie %v", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	session := http.Header{"Accept": {htmlAccept}, "Cookie": {cookie.Name + "=" + cookie.Value}}
	// 4. Back at the app, the upstream sees the user.
	resp, body := get("/api/app?x=1", session)
	if user, _ := seenUser(body); resp.StatusCode != 200 || user != "alice" {
		t.Fatalf("after login = %d user %q, want 200 alice\n%s", resp.StatusCode, user, body)
	}
	// 4b. A WebSocket handshake with the session cookie from another
	// site's page is refused, though the proxy drops Upgrade and
	// Connection from what it asks authgate; from the app's own page it
	// passes.
	for origin, want := range map[string]int{"https://evil.example": 403, base: 200} {
		h := http.Header{"Cookie": session["Cookie"], "Origin": {origin}, "Upgrade": {"websocket"}, "Connection": {"Upgrade"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"}}
		if resp, _ := get("/api/ws", h); resp.StatusCode != want {
			t.Errorf("WebSocket handshake with the cookie from %s = %d, want %d", origin, resp.StatusCode, want)
		}
	}
	// 5. An API client with a bearer token.
	token := f.token(t, "bob")
	resp, body = get("/api/data", http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/json"}})
	if user, _ := seenUser(body); resp.StatusCode != 200 || user != "bob" {
		t.Errorf("bearer API call = %d user %q, want 200 bob", resp.StatusCode, user)
	}
	resp, _ = get("/api/data", http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != 401 {
		t.Errorf("API call without a token = %d, want 401", resp.StatusCode)
	}
	// 6. What the app sees.
	appSeesNoForgery(t, base, token, cookie.Name+"="+cookie.Value)
	// 7. Logout clears the cookie; the next visit goes back to the login page.
	req, _ = http.NewRequest("POST", base+"/logout", nil)
	req.Header = http.Header{"Cookie": session["Cookie"], "Origin": {base}}
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == cookie.Name && c.MaxAge < 0)
	}
	if resp.StatusCode != 303 || !cleared {
		t.Fatalf("logout = %d, cookie cleared %v", resp.StatusCode, cleared)
	}
	resp, _ = get("/api/app", http.Header{"Accept": {htmlAccept}})
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/login?rd=") {
		t.Errorf("after logout = %d Location %q, want a redirect to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// appSeesNoForgery checks, through a proxy at base, that neither a forged
// identity header, in any spelling, nor authgate's session cookie (own,
// "name=value", alice's) reaches the app, on protected and public routes
// alike, while other headers and cookies do; bobToken is bob's bearer
// token.
func appSeesNoForgery(t *testing.T, base, bobToken, own string) {
	t.Helper()
	family := identityFamily()
	app := func(what, path string, h http.Header, user string, cookies ...string) {
		t.Helper()
		for name, values := range forgedIdentity() {
			h[name] = values
		}
		for _, name := range innocentHeaders {
			h.Set(name, "kept")
		}
		resp, body := proxyGet(t, base, path, h)
		got, headers := seenAtApp(t, body)
		if resp.StatusCode != 200 || got != user {
			t.Errorf("%s: GET %s = %d user %q, want 200 %q", what, path, resp.StatusCode, got, user)
			return
		}
		var forged []string
		for name, values := range headers {
			if family.Contains(name) && slices.Contains(values, "forged") {
				forged = append(forged, name)
			}
		}
		if len(forged) > 0 {
			slices.Sort(forged)
			t.Errorf("%s: GET %s: %d forged identity headers reached the upstream: %s", what, path, len(forged), strings.Join(forged, " "))
		}
		for _, name := range innocentHeaders {
			if v := headers[http.CanonicalHeaderKey(name)]; !slices.Equal(v, []string{"kept"}) {
				t.Errorf("%s: GET %s: %s reached the upstream as %q, want it kept", what, path, name, v)
			}
		}
		var seen, names []string
		for _, c := range (&http.Request{Header: http.Header{"Cookie": headers["Cookie"]}}).Cookies() {
			seen, names = append(seen, c.Name+"="+c.Value), append(names, c.Name)
		}
		if !slices.Equal(seen, cookies) {
			t.Errorf("%s: GET %s: the upstream got the cookies named %q, want %q", what, path, names, cookies)
		}
	}
	app("bearer", "/api/data", http.Header{"Authorization": {"Bearer " + bobToken}, "Accept": {"application/json"}, "Cookie": {"theme=dark"}}, "bob", "theme=dark")
	app("bearer, no cookies", "/api/data", http.Header{"Authorization": {"Bearer " + bobToken}, "Accept": {"application/json"}}, "bob")
	app("session among cookies", "/api/page", http.Header{"Accept": {htmlAccept}, "Cookie": {"theme=dark; " + own + "; lang=en"}}, "alice", "theme=dark", "lang=en")
	app("session first", "/api/page", http.Header{"Accept": {htmlAccept}, "Cookie": {own + "; lang=en"}}, "alice", "lang=en")
	app("session alone", "/api/page", http.Header{"Accept": {htmlAccept}, "Cookie": {own}}, "alice")
	app("public route", "/public/page", http.Header{"Accept": {htmlAccept}, "Cookie": {"theme=dark; " + own}}, "", "theme=dark")
}

// proxyGet sends a GET through the proxy at base without following
// redirects and returns the response with its body read.
func proxyGet(t *testing.T, base, path string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header = h
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// seenAtApp decodes what the echo upstream received: the user in
// X-Forwarded-User and every header.
func seenAtApp(t *testing.T, body string) (user string, headers map[string][]string) {
	t.Helper()
	var e struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return strings.Join(e.Headers["X-Forwarded-User"], ","), e.Headers
}

// identityFamily is every identity header authgate strips in proxy mode,
// matched as an application may read it (proxy.HeaderSet).
func identityFamily() *proxy.HeaderSet {
	var names, prefixes []string
	for _, n := range config.DefaultStripHeaders {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			prefixes = append(prefixes, p)
		} else {
			names = append(names, n)
		}
	}
	return proxy.NewHeaderSet(names, prefixes)
}

// forgedIdentity is a client's forged copy ("forged") of every identity
// header authgate strips in proxy mode (config.DefaultStripHeaders, with
// the names oauth2-proxy sends for its X-Auth-Request-* prefix), in every
// spelling with "-", "_" or "." between words.
func forgedIdentity() http.Header {
	h := http.Header{}
	for _, n := range config.DefaultStripHeaders {
		for _, name := range expandPrefix(n) {
			for _, spelling := range spellings(name) {
				h[spelling] = []string{"forged"}
			}
		}
	}
	return h
}

// expandPrefix turns a prefix (X-Auth-Request-*) into the names oauth2-proxy
// sends under it; any other name stays itself.
func expandPrefix(n string) []string {
	p, ok := strings.CutSuffix(n, "*")
	if !ok {
		return []string{n}
	}
	var names []string
	for _, s := range []string{"User", "Email", "Groups", "Preferred-Username", "Access-Token"} {
		names = append(names, p+s)
	}
	return names
}

// spellings is name with each "-" written as "-", "_" or ".".
func spellings(name string) []string {
	out := []string{""}
	for i, word := range strings.Split(name, "-") {
		var next []string
		for _, prefix := range out {
			if i == 0 {
				next = append(next, word)
				continue
			}
			for _, sep := range []string{"-", "_", "."} {
				next = append(next, prefix+sep+word)
			}
		}
		out = next
	}
	return out
}

// innocentHeaders look like identity headers but are none: every proxy
// must pass them to the application.
var innocentHeaders = []string{"X-Access-Token", "X-Username", "X-Device-Name", "X-Forwarded-Prefix", "Accept-Language"}

// proxiedGatewayConfig is authgate behind a proxy on loopback, which is
// listed in trusted_proxies as the examples say: the login links /verify
// hands out name the host and scheme that proxy reports.
const proxiedGatewayConfig = `
session:
  insecure_cookie: true
trusted_proxies: [127.0.0.1/32]
`

func TestNginxAuthRequest(t *testing.T) {
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixture(t, proxiedGatewayConfig)
	browserSession(t, f, startNginx(t, nginx, f))
}

// startNginx runs nginx with the shipped example in front of f and returns
// its base URL. The browser reaches it as 127.0.0.1 on a port other than
// 80, so the server is named that and, as the example says for such a
// port, X-Forwarded-Host is $host:$server_port.
func startNginx(t *testing.T, nginx string, f *fixture) string {
	t.Helper()
	return runNginx(t, nginx, func(addr string) string {
		return nginxExample(t, f, addr, "server_name app.example.com;", "server_name 127.0.0.1;", "$host;", "$host:$server_port;")
	})
}

// nginxExample is the shipped example listening on addr in front of f,
// with the further replacements given, each of which must find its text.
func nginxExample(t *testing.T, f *fixture, addr string, replace ...string) string {
	t.Helper()
	replace = append([]string{
		"listen 80;", "listen " + addr + ";",
		"listen 80 default_server;", "listen " + addr + " default_server;",
		"http://127.0.0.1:8080", f.url,
		"http://127.0.0.1:3000", f.upstream.URL,
	}, replace...)
	shipped := example(t, "nginx/authgate.conf")
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(shipped, replace[i]) {
			t.Fatalf("examples/nginx/authgate.conf no longer contains %q", replace[i])
		}
	}
	return strings.NewReplacer(replace...).Replace(shipped)
}

// runNginx runs nginx with the server blocks servers returns for its
// listening address, and returns its base URL.
func runNginx(t *testing.T, nginx string, servers func(addr string) string) string {
	t.Helper()
	return runNginxAt(t, nginx, deadAddr(t), servers)
}

// runNginxAt is runNginx listening on addr, for a test whose config must
// name nginx's address before it starts (passkeys' origins).
func runNginxAt(t *testing.T, nginx, addr string, servers func(addr string) string) string {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, servers(addr))
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600)
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	startServer(t, addr, filepath.Join(dir, "stdout.log"), nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	return "http://" + addr
}

// TestNginxJudgesTheHostItRoutedOn sends the shipped nginx example
// requests whose Host header, request line and X-Original-URL name
// different hosts. nginx picks the server by the request line's host
// before the Host header's, and sends a Host it does not know to its
// default server; authgate must judge the host nginx picked, and only the
// example's named host may reach the protected block. 0 is nginx closing
// the connection unanswered (return 444).
func TestNginxJudgesTheHostItRoutedOn(t *testing.T) {
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixtureFrom(t, hostRoutesConfig)
	base := runNginx(t, nginx, func(addr string) string { return nginxExample(t, f, addr) })
	tokens := map[string]string{"": "", "alice": f.token(t, "alice"), "bob": f.token(t, "bob")}
	tests := []struct {
		name    string
		request string // without the Authorization header
		user    string // whose bearer token goes with it; "" none
		want    int
	}{
		{"named-host-without-token", "GET /secret HTTP/1.1\r\nHost: app.example.com\r\n", "", 401},
		{"named-host-allowed-user", "GET /secret HTTP/1.1\r\nHost: app.example.com\r\n", "alice", 200},
		{"named-host-other-user", "GET /secret HTTP/1.1\r\nHost: app.example.com\r\n", "bob", 403},
		// A client's X-Original-URL is dropped: it neither picks the rule
		// nor gets a good request refused.
		{"client-original-url-dropped", "GET /secret HTTP/1.1\r\nHost: app.example.com\r\nX-Original-URL: http://docs.example.com/other\r\n", "alice", 200},
		// (a) No Host: nginx sent no X-Forwarded-Host, and authgate took
		// the host from the client's X-Original-URL.
		{"no-host-original-url", "GET /secret HTTP/1.0\r\nX-Original-URL: http://docs.example.com/secret\r\n", "", 0},
		{"absolute-form-no-host-original-url", "GET http://app.example.com/secret HTTP/1.0\r\nX-Original-URL: http://docs.example.com/secret\r\n", "", 401},
		// (b) nginx routed on the request line, authgate was told the Host
		// header.
		{"absolute-form-other-host-header", "GET http://app.example.com/secret HTTP/1.1\r\nHost: docs.example.com\r\n", "", 401},
		// (c) No Host: authgate matched its own Host, no route, and let
		// any valid token through.
		{"no-host-other-user", "GET /secret HTTP/1.0\r\n", "bob", 0},
		{"absolute-form-no-host-other-user", "GET http://app.example.com/secret HTTP/1.0\r\n", "bob", 403},
		// (d) The protected block was the default server.
		{"other-host-header", "GET /secret HTTP/1.1\r\nHost: docs.example.com\r\n", "", 0},
		{"unknown-host-header", "GET /secret HTTP/1.1\r\nHost: unknown.example.com\r\n", "alice", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request := tt.request + "Accept: application/json\r\nConnection: close\r\n"
			if tt.user != "" {
				request += "Authorization: Bearer " + tokens[tt.user] + "\r\n"
			}
			who := "no token"
			if tt.user != "" {
				who = tt.user + "'s token"
			}
			if status, body := answer(t, base, request+"\r\n"); status != tt.want {
				t.Errorf("%q with %s = %d, want %d\n%.300s", tt.request, who, status, tt.want, body)
			}
		})
	}
}

// answer sends a raw request and returns the status of the response, or 0
// when the server closed the connection without answering.
func answer(t *testing.T, base, request string) (int, string) {
	t.Helper()
	conn := dial(t, base)
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, ""
	}
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCaddyForwardAuth(t *testing.T) {
	caddy := needBinary(t, "caddy", "caddy")
	f := newFixture(t, proxiedGatewayConfig)
	browserSession(t, f, startCaddy(t, caddy, f))
}

// startCaddy runs Caddy with the shipped example in front of f and returns
// its base URL.
func startCaddy(t *testing.T, caddy string, f *fixture) string {
	t.Helper()
	dir := t.TempDir()
	addr := deadAddr(t)
	site := example(t, "caddy/Caddyfile",
		"app.example.com {", "http://"+addr+" {",
		"127.0.0.1:8080", strings.TrimPrefix(f.url, "http://"),
		"127.0.0.1:3000", strings.TrimPrefix(f.upstream.URL, "http://"))
	conf := "{\n\tadmin off\n\tauto_https off\n}\n" + site
	path := filepath.Join(dir, "Caddyfile")
	os.WriteFile(path, []byte(conf), 0o600)
	if out, err := exec.Command(caddy, "validate", "--config", path, "--adapter", "caddyfile").CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
	startServer(t, addr, filepath.Join(dir, "caddy.log"), caddy, "run", "--config", path, "--adapter", "caddyfile")
	return "http://" + addr
}

// TestTraefikRequestShape: Traefik cannot be installed here, so this sends
// the exact request its ForwardAuth middleware makes (documented: a GET with
// the client's headers plus X-Forwarded-Method/Proto/Host/Uri/For) and
// checks the shipped Traefik examples: both point at the Traefik endpoint
// with the same settings, and their authResponseHeadersRegex takes every
// identity header, in every spelling, and nothing else, from authgate's
// answer (TestTraefikForwardAuth runs the file example through a double).
func TestTraefikRequestShape(t *testing.T) {
	// A session cookie of 15 minutes: the token f.token mints (10 minutes)
	// is then not yet due for renewal.
	f := newFixture(t, strings.Replace(proxiedGatewayConfig, "session:\n", "session:\n  ttl: 15m\n", 1))
	shape := func(extra ...string) http.Header {
		h := http.Header{
			"X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"},
			"X-Forwarded-Uri": {"/api/report?id=7"}, "X-Forwarded-For": {"198.51.100.23"}, "User-Agent": {"Mozilla/5.0"},
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	login := "https://app.example.com/login?rd=" + url.QueryEscape("https://app.example.com/api/report?id=7")
	tests := []struct {
		name     string
		header   http.Header
		want     int
		location string
		user     string
	}{
		{"browser-without-session", shape("Accept", htmlAccept), 302, login, ""},
		{"api-without-token", shape("Accept", "application/json"), 401, "", ""},
		{"api-with-token", shape("Authorization", "Bearer "+f.token(t, "bob")), 200, "", "bob"},
		{"browser-with-session", shape("Accept", htmlAccept, "Cookie", f.gw.cookie.Name+"="+f.token(t, "alice")), 200, "", "alice"},
		{"forbidden", shape("X-Forwarded-Uri", "/admin/x", "Authorization", "Bearer "+f.token(t, "bob")), 403, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.do(t, "GET", "/verify/traefik", tt.header, "")
			if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location || resp.Header.Get("X-Forwarded-User") != tt.user {
				t.Errorf("= %d Location %q user %q; want %d %q %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("X-Forwarded-User"), tt.want, tt.location, tt.user)
			}
		})
	}
	// The labels example sets what the file example does, and the regex
	// both give Traefik takes every identity header, in every spelling,
	// from authgate's answer, and nothing else.
	var conf traefikDynamic
	if err := yaml.Unmarshal([]byte(example(t, "traefik/dynamic.yaml")), &conf); err != nil {
		t.Fatal(err)
	}
	fa := conf.HTTP.Middlewares["authgate"].ForwardAuth
	if fa == nil || fa.TrustForwardHeader || !slices.Equal(fa.AuthResponseHeaders, []string{"Cookie"}) || len(fa.AddAuthCookiesToResponse) > 0 {
		t.Fatalf("traefik/dynamic.yaml forwardAuth = %+v", fa)
	}
	labels := example(t, "traefik/docker-compose.labels.yaml")
	for _, want := range []string{
		"forwardauth.address=http://authgate:8080/verify/traefik", "forwardauth.trustForwardHeader=false",
		"forwardauth.authResponseHeaders=Cookie\n", "forwardauth.authResponseHeadersRegex=" + strings.ReplaceAll(fa.AuthResponseHeadersRegex, "$", "$$") + "\n",
	} {
		if !strings.Contains(labels, want) {
			t.Errorf("traefik/docker-compose.labels.yaml lacks %s", want)
		}
	}
	if strings.Contains(labels, "addAuthCookiesToResponse") {
		t.Errorf("traefik/docker-compose.labels.yaml names cookies for addAuthCookiesToResponse")
	}
	re := regexp.MustCompile(fa.AuthResponseHeadersRegex)
	for name := range forgedIdentity() {
		if !re.MatchString(name) {
			t.Errorf("authResponseHeadersRegex does not take %s from authgate's answer", name)
		}
	}
	for _, name := range append([]string{"Cookie", "Authorization", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Uri", "X-Forwarded-Method", "User-Agent"}, innocentHeaders...) {
		if re.MatchString(name) {
			t.Errorf("authResponseHeadersRegex takes %s from authgate's answer", name)
		}
	}
}

// TestShippedExamples checks the examples no binary here can run: they
// parse, point at the right endpoints, and their authgate configs load.
func TestShippedExamples(t *testing.T) {
	read := func(path string) map[string]any {
		t.Helper()
		var docs map[string]any
		dec := yaml.NewDecoder(strings.NewReader(example(t, path)))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if docs == nil {
				docs = doc
			}
			if data, ok := doc["data"].(map[string]any); ok {
				docs["configmap"] = data
			}
		}
		if docs == nil {
			t.Fatalf("%s: no YAML document", path)
		}
		return docs
	}
	lookup := func(key string) (string, bool) {
		if key == "AUTHGATE_SECRET" {
			return "Zt7pQ2rW9xL4mN8vB3cK6yH1jF5gD0sA", true
		}
		return "", false
	}

	// The README shows the proxy examples as shipped.
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for path, lang := range map[string]string{"nginx/authgate.conf": "nginx", "caddy/Caddyfile": "caddyfile", "traefik/dynamic.yaml": "yaml"} {
		if !strings.Contains(string(readme), "```"+lang+"\n"+example(t, path)+"```") {
			t.Errorf("README.md does not show examples/%s as shipped", path)
		}
	}

	// The ingress-nginx example: an Ingress, and the ConfigMap its
	// auth-proxy-set-headers names.
	kinds := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(example(t, "nginx/ingress-nginx.yaml")))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		kind, _ := doc["kind"].(string)
		kinds[kind] = doc
	}
	ingress, configMap := kinds["Ingress"], kinds["ConfigMap"]
	if ingress == nil || configMap == nil {
		t.Fatalf("ingress-nginx example: want an Ingress and a ConfigMap, have %v", slices.Collect(maps.Keys(kinds)))
	}
	meta := func(doc map[string]any, key string) any { return doc["metadata"].(map[string]any)[key] }
	annotations := meta(ingress, "annotations").(map[string]any)
	if !strings.HasSuffix(annotations["nginx.ingress.kubernetes.io/auth-url"].(string), "/verify/nginx") {
		t.Errorf("ingress-nginx auth-url = %v, want the nginx endpoint", annotations["nginx.ingress.kubernetes.io/auth-url"])
	}
	// The example relies only on what ingress-nginx itself sends, which
	// TestIngressNginxRequestShape sends authgate, and on the host it
	// routed on, which nothing else can say: X-Forwarded-Host $host, from
	// a ConfigMap in the Ingress's namespace (the controller refuses
	// another by default).
	if v, ok := annotations["nginx.ingress.kubernetes.io/auth-snippet"]; ok {
		t.Errorf("ingress-nginx example sets auth-snippet: %v", v)
	}
	if name := annotations["nginx.ingress.kubernetes.io/auth-proxy-set-headers"]; name != meta(configMap, "name") || meta(configMap, "namespace") != meta(ingress, "namespace") {
		t.Errorf("ingress-nginx auth-proxy-set-headers = %v, want the ConfigMap %v in the Ingress's namespace", name, meta(configMap, "name"))
	}
	// Each identity header is set from authgate's answer or removed, and so
	// is Cookie (the answer's, without the session cookie). ingress-nginx
	// drops names spelled with _ or . itself; it cannot remove a prefix,
	// so X-Auth-Request-* stands for the names oauth2-proxy sends.
	listed := strings.Split(annotations["nginx.ingress.kubernetes.io/auth-response-headers"].(string), ",")
	for _, n := range append(config.DefaultStripHeaders, "Cookie") {
		for _, name := range expandPrefix(n) {
			if !slices.Contains(listed, name) {
				t.Errorf("ingress-nginx auth-response-headers lacks %s", name)
			}
		}
	}
	if data := configMap["data"]; !reflect.DeepEqual(data, map[string]any{"X-Forwarded-Host": "$host"}) {
		t.Errorf("ingress-nginx auth-proxy-set-headers ConfigMap = %v, want only X-Forwarded-Host: $host", data)
	}

	compose := read("docker-compose/docker-compose.yaml")
	if _, published := compose["services"].(map[string]any)["app"].(map[string]any)["ports"]; published {
		t.Errorf("the sidecar example publishes the app's port, bypassing authgate")
	}
	if _, err := config.Parse([]byte(example(t, "docker-compose/gateway.yaml")), t.TempDir(), lookup); err != nil {
		t.Errorf("docker-compose/gateway.yaml: %v", err)
	}

	k8s := read("kubernetes/deployment.yaml")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("alice:"+aliceHash+"\n"), 0o600)
	embedded := strings.ReplaceAll(k8s["configmap"].(map[string]any)["gateway.yaml"].(string), "/etc/authgate/users/htpasswd", filepath.Join(dir, "htpasswd"))
	if _, err := config.Parse([]byte(embedded), dir, lookup); err != nil {
		t.Errorf("kubernetes ConfigMap gateway.yaml: %v", err)
	}
}

// TestNginxOverPlainHTTPExplainsTheLoop: the shipped nginx example as
// shipped (listen 80, plain HTTP) in front of authgate with the default
// Secure cookie. A browser on a name other than localhost drops the cookie
// after a correct password and is back at the login page; the page now
// says why and how to fix it, and the log says so once.
func TestNginxOverPlainHTTPExplainsTheLoop(t *testing.T) {
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixture(t, "trusted_proxies: [127.0.0.1/32]\n")
	base := runNginx(t, nginx, func(addr string) string {
		return nginxExample(t, f, addr, "$host;", "$host:$server_port;")
	})
	host := "app.example.com:" + base[strings.LastIndexByte(base, ':')+1:]
	send := func(method, path string, h http.Header, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Host = host
		req.Header = h
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// What a browser does that has no cookie: the app sends it to the
	// login page, which now explains.
	loginPage := func(when string) {
		t.Helper()
		resp, _ := send("GET", "/api/app", http.Header{"Accept": {htmlAccept}}, "")
		login, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || err != nil || login.Host != host || login.Path != "/login" {
			t.Fatalf("%s: the app = %d Location %q, want a redirect to the login page on %s", when, resp.StatusCode, resp.Header.Get("Location"), host)
		}
		resp, page := send("GET", login.RequestURI(), http.Header{"Accept": {htmlAccept}}, "")
		shown := cookieProblemShown(page)
		if resp.StatusCode != 200 || !strings.Contains(shown, "http://"+host+" is plain HTTP") || !strings.Contains(shown, "session.insecure_cookie") {
			t.Errorf("%s: the login page = %d, explains %q; want why the Secure cookie is dropped over plain HTTP", when, resp.StatusCode, shown)
		}
	}
	loginPage("before signing in")
	form := url.Values{"username": {"alice"}, "password": {alicePassword}, "rd": {"http://" + host + "/api/app"}}
	resp, _ := send("POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {htmlAccept}, "Origin": {"http://" + host}}, form.Encode())
	secure := false
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == f.gw.cookie.Name && c.Secure)
	}
	if resp.StatusCode != 303 || !secure {
		t.Fatalf("correct password = %d, Secure session cookie %v; want 303 with one", resp.StatusCode, secure)
	}
	// The browser dropped the Secure cookie on a plain-HTTP page.
	loginPage("after a correct password")
	if n := strings.Count(f.logs.String(), `"cause":"secure_cookie_over_http"`); n != 1 {
		t.Errorf("the cause is logged %d times, want once", n)
	}
}

// TestIngressNginxExampleStripsIdentity runs, on the real nginx, the
// locations ingress-nginx's template (rootfs/etc/nginx/template/nginx.tmpl,
// buildAuthResponseHeaders) makes of the shipped Ingress's annotations:
// the auth subrequest with the headers the controller always sets and the
// auth-proxy-set-headers ConfigMap's, and on the protected location an
// auth_request_set and a proxy_set_header for each auth-response-headers
// name. The app gets the identity headers from authgate's answer only and
// the Cookie answer without the session cookie, which needs
// upstream_headers.forward_auth_cookie, as the example says.
func TestIngressNginxExampleStripsIdentity(t *testing.T) {
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixture(t, "upstream_headers:\n  forward_auth_cookie: true\n")
	var ingress, configMap map[string]any
	dec := yaml.NewDecoder(strings.NewReader(example(t, "nginx/ingress-nginx.yaml")))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc["kind"] {
		case "Ingress":
			ingress = doc
		case "ConfigMap":
			configMap = doc
		}
	}
	annotations := ingress["metadata"].(map[string]any)["annotations"].(map[string]any)
	var setHeaders, responseHeaders strings.Builder
	for name, value := range configMap["data"].(map[string]any) {
		// Clients reach this nginx on a port other than 80 or 443: as the
		// example says, the host then names the port.
		value = strings.ReplaceAll(value.(string), "$host", "$host:$server_port")
		fmt.Fprintf(&setHeaders, "            proxy_set_header '%s' '%s';\n", name, value)
	}
	for i, name := range strings.Split(annotations["nginx.ingress.kubernetes.io/auth-response-headers"].(string), ",") {
		fmt.Fprintf(&responseHeaders, "            auth_request_set $authHeader%d $upstream_http_%s;\n            proxy_set_header '%s' $authHeader%d;\n",
			i, strings.ReplaceAll(strings.ToLower(name), "-", "_"), name, i)
	}
	base := runNginx(t, nginx, func(addr string) string {
		return fmt.Sprintf(`
    server {
        listen %[1]s;
        location = /_external-auth {
            internal;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Proto "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Sent-From "nginx-ingress-controller";
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Auth-Request-Redirect $request_uri;
%[2]s            proxy_pass %[3]s/verify/nginx;
        }
        location / {
            auth_request /_external-auth;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            add_header Set-Cookie $auth_cookie;
%[4]s            proxy_set_header Host $host;
            proxy_pass %[5]s;
        }
    }
`, addr, setHeaders.String(), f.url, responseHeaders.String(), f.upstream.URL)
	})
	appSeesNoForgery(t, base, f.token(t, "bob"), f.gw.cookie.Name+"="+f.token(t, "alice"))
}
