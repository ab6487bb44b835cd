package server

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const htmlAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// browserLogin posts the login form as a browser does and returns the
// response and the session cookie it set ("" if none).
func (f *fixture) browserLogin(t *testing.T, user, password, rd string) (*http.Response, string, string) {
	t.Helper()
	form := url.Values{"username": {user}, "password": {password}, "rd": {rd}}
	h := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {htmlAccept},
		"Origin":       {f.url},
	}
	resp, body := f.do(t, "POST", "/login", h, form.Encode())
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-authgate" {
			return resp, body, c.Value
		}
	}
	return resp, body, ""
}

func cookieHeader(session string, extra ...string) http.Header {
	return http.Header{"Cookie": {strings.Join(append([]string{"__Host-authgate=" + session}, extra...), "; ")}}
}

func noRedirects(t *testing.T, f *fixture, method, path string, h http.Header) *http.Response {
	t.Helper()
	resp, _ := f.do(t, method, path, h, "")
	return resp
}

func TestLoginPage(t *testing.T) {
	f := newFixture(t, "login_page:\n  title: Acme Intranet\n")
	tests := []struct{ rd, wantRD string }{
		{"/api/x?y=1", `value="/api/x?y=1"`},
		{"//evil.example/", `value="/"`},
		{`/"><script>alert(1)</script>`, `value="/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`},
	}
	for _, tt := range tests {
		resp, body := f.do(t, "GET", "/login?rd="+url.QueryEscape(tt.rd), http.Header{"Accept": {htmlAccept}}, "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /login = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "style-src 'nonce-"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %s", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
			t.Errorf("CSP %q allows script", csp)
		}
		if strings.Contains(body, "<script") {
			t.Errorf("the page has a script element (rd %q)", tt.rd)
		}
		for _, want := range []string{"<title>Acme Intranet</title>", `<label for="username">`, `<label for="password">`, `autocomplete="current-password"`, `role="alert"`, tt.wantRD} {
			if !strings.Contains(body, want) {
				t.Errorf("login page (rd %q) lacks %s", tt.rd, want)
			}
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("login page headers = %v", resp.Header)
		}
	}
}

func TestBrowserLoginSessionAndLogout(t *testing.T) {
	f := newFixture(t, "")
	resp, _, session := f.browserLogin(t, "alice", alicePassword, "/api/dashboard?tab=1")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/api/dashboard?tab=1" {
		t.Fatalf("browser login = %d Location %q, want 303 to rd", resp.StatusCode, resp.Header.Get("Location"))
	}
	set := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-authgate=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Domain=") || len(set) >= 1024 {
		t.Errorf("Set-Cookie %q: want host-only and well under 1 KiB", set)
	}

	// The cookie authenticates; the gateway's cookie is removed upstream,
	// other cookies pass untouched.
	_, body := f.do(t, "GET", "/api/dashboard", cookieHeader(session, "theme=dark", "csrftoken=abc"), "")
	got := echoed(t, body).Headers
	if u := got["X-Forwarded-User"]; len(u) != 1 || u[0] != "alice" {
		t.Errorf("upstream user = %q, want alice", u)
	}
	if c := strings.Join(got["Cookie"], "; "); c != "theme=dark; csrftoken=abc" {
		t.Errorf("upstream Cookie = %q, want the other cookies only", c)
	}

	// Logout: GET changes nothing; a cross-site POST is refused; a
	// same-origin POST clears the cookie and redirects.
	get := noRedirects(t, f, "GET", "/logout", cookieHeader(session))
	if get.StatusCode != 200 || get.Header.Get("Set-Cookie") != "" {
		t.Errorf("GET /logout = %d Set-Cookie %q, want a page and no change", get.StatusCode, get.Header.Get("Set-Cookie"))
	}
	h := cookieHeader(session)
	h.Set("Origin", "https://evil.example")
	if resp := noRedirects(t, f, "POST", "/logout", h); resp.StatusCode != 403 {
		t.Errorf("cross-site logout = %d, want 403", resp.StatusCode)
	}
	h.Set("Origin", f.url)
	out := noRedirects(t, f, "POST", "/logout", h)
	clear := out.Header.Get("Set-Cookie")
	if out.StatusCode != 303 || out.Header.Get("Location") != "/login" || !strings.Contains(clear, "__Host-authgate=;") || !strings.Contains(clear, "Max-Age=0") || !strings.Contains(clear, "Secure") || !strings.Contains(clear, "Path=/") {
		t.Errorf("logout = %d Location %q Set-Cookie %q", out.StatusCode, out.Header.Get("Location"), clear)
	}

	// A failed browser login shows the form again with an announced error.
	resp, body, session = f.browserLogin(t, "alice", "wrong", "/api/x")
	if resp.StatusCode != 401 || session != "" || !strings.Contains(body, "Incorrect username or password") || !strings.Contains(body, `value="alice"`) {
		t.Errorf("failed browser login = %d cookie %q", resp.StatusCode, session)
	}
	h = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {htmlAccept}, "Origin": {"https://evil.example"}}
	if resp, _ := f.do(t, "POST", "/login", h, "username=alice&password="+alicePassword); resp.StatusCode != 403 {
		t.Errorf("cross-site login form post = %d, want 403", resp.StatusCode)
	}
}

func TestUnauthenticatedRequestsRedirectOrRefuse(t *testing.T) {
	f := newFixture(t, "")
	alice := f.token(t, "alice")
	f.advance(-time.Hour) // a token minted an hour ago has expired
	old := f.token(t, "alice")
	f.advance(time.Hour)
	tests := []struct {
		name     string
		method   string
		header   http.Header
		want     int
		location string
	}{
		{"browser-navigation", "GET", http.Header{"Accept": {htmlAccept}}, 302, "/login?rd=%2Fapi%2Fx%3Fq%3D1"},
		{"browser-expired-session", "GET", http.Header{"Accept": {htmlAccept}, "Cookie": {"__Host-authgate=" + old}}, 302, "/login?rd=%2Fapi%2Fx%3Fq%3D1"},
		{"api-client", "GET", http.Header{"Accept": {"application/json"}}, 401, ""},
		{"xhr", "GET", http.Header{"Accept": {htmlAccept}, "X-Requested-With": {"XMLHttpRequest"}}, 401, ""},
		{"browser-post", "POST", http.Header{"Accept": {htmlAccept}}, 401, ""},
		{"bad-bearer-from-browser", "GET", http.Header{"Accept": {htmlAccept}, "Authorization": {"Bearer garbage"}}, 401, ""},
		{"bad-bearer-no-fallback-to-cookie", "GET", http.Header{"Authorization": {"Bearer garbage"}, "Cookie": {"__Host-authgate=" + alice}}, 401, ""},
		{"bearer-wins-over-garbage-cookie", "GET", http.Header{"Authorization": {"Bearer " + alice}, "Cookie": {"__Host-authgate=garbage"}}, 200, ""},
		{"duplicate-session-cookies", "GET", http.Header{"Cookie": {"__Host-authgate=" + alice + "; __Host-authgate=" + alice}}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := noRedirects(t, f, tt.method, "/api/x?q=1", tt.header)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if tt.want != 200 && resp.Header.Get("X-Authgate-Reason") == "" {
				t.Errorf("no X-Authgate-Reason on a denial")
			}
		})
	}
}

func TestCookieAuthenticatedWritesNeedSameOrigin(t *testing.T) {
	f := newFixture(t, "")
	alice := f.token(t, "alice")
	tests := []struct {
		name   string
		method string
		header http.Header
		want   int
	}{
		{"get-needs-nothing", "GET", http.Header{}, 200},
		{"post-without-origin", "POST", http.Header{}, 403},
		{"post-same-origin", "POST", http.Header{"Origin": {"SELF"}}, 200},
		{"post-cross-origin", "POST", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"delete-fetch-same-origin", "DELETE", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200},
		{"put-fetch-same-site", "PUT", http.Header{"Sec-Fetch-Site": {"same-site"}}, 403},
		{"websocket-without-origin", "GET", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, 403},
		{"websocket-cross-origin", "GET", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Origin": {"https://evil.example"}}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header.Clone()
			if h.Get("Origin") == "SELF" {
				h.Set("Origin", f.url)
			}
			h.Set("Cookie", "__Host-authgate="+alice)
			resp, _ := f.do(t, tt.method, "/api/x", h, "")
			if resp.StatusCode != tt.want {
				t.Errorf("%s with cookie = %d, want %d", tt.method, resp.StatusCode, tt.want)
			}
		})
	}
	// A bearer token is not sent by browsers on their own: no CSRF check.
	if resp, _ := f.do(t, "POST", "/api/x", bearer(alice), ""); resp.StatusCode != 200 {
		t.Errorf("bearer POST without Origin = %d, want 200", resp.StatusCode)
	}
}

func TestSessionSlidesUntilItsAbsoluteLimit(t *testing.T) {
	f := newFixture(t, "session:\n  ttl: 10m\n  max_lifetime: 25m\n")
	_, _, session := f.browserLogin(t, "alice", alicePassword, "/")
	if session == "" {
		t.Fatal("no session cookie")
	}
	visit := func() (int, string) {
		resp, _ := f.do(t, "GET", "/api/x", cookieHeader(session), "")
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-authgate" {
				return resp.StatusCode, c.Value
			}
		}
		return resp.StatusCode, ""
	}
	steps := []struct {
		advance     time.Duration
		wantStatus  int
		wantRefresh bool
	}{
		{3 * time.Minute, 200, false}, // t=3m: more than half the life left
		{3 * time.Minute, 200, true},  // t=6m: past half; re-issued until 16m
		{8 * time.Minute, 200, true},  // t=14m: re-issued until 24m
		{8 * time.Minute, 200, true},  // t=22m: re-issued, but only until 25m
		{2 * time.Minute, 200, false}, // t=24m: cannot extend past 25m
		{2 * time.Minute, 401, false}, // t=26m: over the absolute limit
	}
	for i, s := range steps {
		f.advance(s.advance)
		status, refreshed := visit()
		if status != s.wantStatus || (refreshed != "") != s.wantRefresh {
			t.Fatalf("step %d: status %d refreshed %v, want %d %v", i, status, refreshed != "", s.wantStatus, s.wantRefresh)
		}
		if refreshed != "" {
			session = refreshed
		}
	}
}

func TestForwardAuthModes(t *testing.T) {
	f := newFixture(t, trustLoopback)
	alice, bob := f.token(t, "alice"), f.token(t, "bob")
	orig := func(kv ...string) http.Header {
		h := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"}, "X-Forwarded-Method": {"GET"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	login := "https://app.example.com/login?rd=" + url.QueryEscape("https://app.example.com/api/x?y=1")
	tests := []struct {
		name       string
		path       string
		header     http.Header
		want       int
		wantHeader string
		wantValue  string
	}{
		{"nginx-no-token", "/verify/nginx", orig("X-Original-Uri", "/api/x?y=1"), 401, "X-Authgate-Login-Url", login},
		{"nginx-malformed-is-401", "/verify/nginx", orig("X-Original-Uri", "/public/../api"), 401, "X-Authgate-Reason", "bad_forwarded_request"},
		{"nginx-duplicate-is-401", "/verify/nginx", orig("X-Original-Uri", "/api/x", "X-Forwarded-Uri", "/public/x"), 401, "X-Authgate-Reason", "bad_forwarded_request"},
		{"nginx-forbidden", "/verify/nginx", orig("X-Original-Uri", "/admin/x", "Authorization", "Bearer "+bob), 403, "X-Authgate-Reason", "forbidden"},
		{"nginx-ok", "/verify/nginx", orig("X-Original-Uri", "/api/x", "Authorization", "Bearer "+alice), 200, "X-Forwarded-User", "alice"},
		{"nginx-cookie", "/verify/nginx", orig("X-Original-Uri", "/api/x", "Cookie", "__Host-authgate="+alice), 200, "Remote-User", "alice"},
		{"traefik-browser", "/verify/traefik", orig("X-Forwarded-Uri", "/api/x?y=1", "Accept", htmlAccept), 302, "Location", login},
		{"traefik-api", "/verify/traefik", orig("X-Forwarded-Uri", "/api/x?y=1", "Accept", "application/json"), 401, "X-Authgate-Reason", "no_credentials"},
		{"traefik-expired-reason", "/verify/traefik", orig("X-Forwarded-Uri", "/api/x", "Authorization", "Bearer garbage"), 401, "X-Authgate-Reason", "malformed_token"},
		{"caddy-browser", "/verify/caddy", orig("X-Forwarded-Uri", "/api/x?y=1", "Accept", htmlAccept), 302, "Location", login},
		{"caddy-browser-post-is-401", "/verify/caddy", orig("X-Forwarded-Uri", "/api/x?y=1", "Accept", htmlAccept, "X-Forwarded-Method", "POST"), 401, "", ""},
		{"caddy-forbidden", "/verify/caddy", orig("X-Forwarded-Uri", "/admin/x", "Authorization", "Bearer "+bob, "Accept", htmlAccept), 403, "X-Authgate-Reason", "forbidden"},
		{"caddy-public", "/verify/caddy", orig("X-Forwarded-Uri", "/public/x"), 200, "", ""},
		{"cookie-post-cross-site", "/verify/caddy", orig("X-Forwarded-Uri", "/api/x", "X-Forwarded-Method", "POST", "Cookie", "__Host-authgate="+alice, "Origin", "https://evil.example"), 403, "X-Authgate-Reason", "cross_origin"},
		{"cookie-post-same-site", "/verify/caddy", orig("X-Forwarded-Uri", "/api/x", "X-Forwarded-Method", "POST", "Cookie", "__Host-authgate="+alice, "Origin", "https://app.example.com"), 200, "X-Forwarded-User", "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := noRedirects(t, f, "GET", tt.path, tt.header)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s = %d (reason %q), want %d", tt.path, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), tt.want)
			}
			if tt.wantHeader != "" && resp.Header.Get(tt.wantHeader) != tt.wantValue {
				t.Errorf("%s = %q, want %q", tt.wantHeader, resp.Header.Get(tt.wantHeader), tt.wantValue)
			}
		})
	}
	if !strings.Contains(f.logs.String(), `"msg":"forward-auth rule matched","rule":"/admin"`) {
		t.Errorf("no debug line names the matched rule")
	}
}

func TestCustomLoginTemplate(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.html")
	os.WriteFile(page, []byte(`<!DOCTYPE html><title>{{.Title}}</title><form method="post" action="{{.Action}}"><input name="rd" value="{{.RD}}">{{.Error}}</form>`), 0o600)
	f := newFixture(t, "login_page:\n  title: Custom\n  template_file: "+page+"\n")
	resp, body := f.do(t, "GET", "/login?rd=/api/x", nil, "")
	if resp.StatusCode != 200 || body != `<!DOCTYPE html><title>Custom</title><form method="post" action="/login"><input name="rd" value="/api/x"></form>` {
		t.Errorf("custom page = %d %q", resp.StatusCode, body)
	}
}

// TestLoginPageShowsTheConfiguredMethods: the password form appears only
// when the config defines local users to check it against. A gateway
// without them trusts an identity provider's tokens (a config with no
// way to sign in at all is refused).
func TestLoginPageShowsTheConfiguredMethods(t *testing.T) {
	withoutUsers := baseConfig[:strings.Index(baseConfig, "users:")] + baseConfig[strings.Index(baseConfig, "routes:"):]
	for _, tc := range []struct {
		name     string
		fixture  func(t *testing.T) *fixture
		password bool
	}{
		{"local-users", func(t *testing.T) *fixture { return newFixtureFrom(t, baseConfig) }, true},
		{"trusted-issuers-only", func(t *testing.T) *fixture { return providerFixture(t, newIDP(t), withoutUsers) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fixture(t)
			resp, body := f.do(t, "GET", "/login", http.Header{"Accept": {"text/html"}}, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /login = %d", resp.StatusCode)
			}
			if got := strings.Contains(body, `type="password"`); got != tc.password {
				t.Errorf("the page has a password field = %v, want %v", got, tc.password)
			}
			if got := strings.Contains(body, "No way to sign in"); got == tc.password {
				t.Errorf("the page says no way to sign in = %v, want %v", got, !tc.password)
			}
		})
	}
}

// TestPageHeadings: the sign-out page says what it does; it said "Sign in".
func TestPageHeadings(t *testing.T) {
	f := newFixture(t, "")
	for _, tc := range []struct{ path, want string }{
		{"/login", `<h1 id="heading">Sign in</h1>`},
		{"/logout", `<h1 id="heading">Sign out</h1>`},
	} {
		resp, body := f.do(t, "GET", tc.path, http.Header{"Accept": {"text/html"}}, "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) || !strings.Contains(body, "<title>"+strings.TrimSuffix(strings.TrimPrefix(tc.want, `<h1 id="heading">`), "</h1>")+"</title>") {
			t.Errorf("GET %s = %d, want a page with %s and the same title", tc.path, resp.StatusCode, tc.want)
		}
	}
}
