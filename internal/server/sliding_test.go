package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// slidingConfig is authgate behind a proxy on loopback (see
// proxiedGatewayConfig) with a session cookie that lives 10 minutes and a
// session that ends 25 minutes after its login; the tests move the
// gateway's clock instead of waiting.
const slidingConfig = `
session:
  insecure_cookie: true
  ttl: 10m
  max_lifetime: 25m
trusted_proxies: [127.0.0.1/32]
`

// browser is a client that keeps cookies and follows redirects as a
// browser does, and describes its requests with the headers a browser
// sends for a page load or a script's request.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// pageHeaders are a page load's; scriptHeaders a same-origin fetch()'s.
var (
	pageHeaders   = http.Header{"Accept": {htmlAccept}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"none"}, "Sec-Fetch-Dest": {"document"}}
	scriptHeaders = http.Header{"Accept": {"*/*"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Dest": {"empty"}}
)

// visit asks for path with the given headers, follows every redirect, and
// returns where it landed, the status there and the body.
func (b *browser) visit(path string, h http.Header) (landed string, status int, body string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return strings.TrimPrefix(resp.Request.URL.String(), b.base), resp.StatusCode, string(data)
}

// login signs in as alice through the login form, as a browser sent to it
// from path.
func (b *browser) login(path string) {
	b.t.Helper()
	landed, _, _ := b.visit(path, pageHeaders)
	if !strings.HasPrefix(landed, "/login?rd=") {
		b.t.Fatalf("before login, %s landed on %s, want the login page", path, landed)
	}
	form := url.Values{"username": {"alice"}, "password": {alicePassword}, "rd": {b.base + path}}
	req, _ := http.NewRequest("POST", b.base+"/login", strings.NewReader(form.Encode()))
	req.Header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {htmlAccept}, "Origin": {b.base}}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if got := strings.TrimPrefix(resp.Request.URL.String(), b.base); got != path {
		b.t.Fatalf("login landed on %s, want %s", got, path)
	}
}

// slidingSession shows, through a proxy at base in front of f (built from
// slidingConfig), that a session slides for a user who keeps using the
// app, with page loads and with a page's scripts, until
// session.max_lifetime, while a user who stops is sent to the login page
// once session.ttl has passed.
func slidingSession(t *testing.T, f *fixture, base string) {
	t.Helper()
	active, idle := newBrowser(t, base), newBrowser(t, base)
	active.login("/api/app")
	idle.login("/api/app")
	signedIn := func(b *browser, when, path string, h http.Header) {
		t.Helper()
		landed, status, body := b.visit(path, h)
		if landed != path || status != 200 || !strings.Contains(body, `"alice"`) {
			t.Fatalf("%s: %s landed on %s (%d), want the app with alice signed in:\n%.400s", when, path, landed, status, body)
		}
	}
	signedOut := func(b *browser, when, path string) {
		t.Helper()
		if landed, _, _ := b.visit(path, pageHeaders); !strings.HasPrefix(landed, "/login?rd=") {
			t.Fatalf("%s: %s landed on %s, want the login page", when, path, landed)
		}
	}
	f.advance(6 * time.Minute)
	signedIn(active, "6m after login, past half the cookie's life", "/api/app?at=6m", pageHeaders)
	f.advance(5 * time.Minute)
	signedIn(active, "11m after login, past session.ttl", "/api/data?at=11m", scriptHeaders)
	signedOut(idle, "11m after login, idle since, past session.ttl", "/api/app")
	f.advance(6 * time.Minute)
	signedIn(active, "17m after login", "/api/app?at=17m", pageHeaders)
	f.advance(7 * time.Minute)
	signedIn(active, "24m after login, the cookie capped at session.max_lifetime", "/api/app?at=24m", pageHeaders)
	f.advance(90 * time.Second)
	signedOut(active, "25m30s after login, past session.max_lifetime", "/api/app")
}

// TestSessionSlidesInProxyMode: the same without a proxy in front.
func TestSessionSlidesInProxyMode(t *testing.T) {
	f := newFixture(t, slidingConfig)
	slidingSession(t, f, f.url)
}

func TestSessionSlidesThroughNginx(t *testing.T) {
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixture(t, slidingConfig)
	slidingSession(t, f, startNginx(t, nginx, f))
}

func TestSessionSlidesThroughCaddy(t *testing.T) {
	caddy := needBinary(t, "caddy", "caddy")
	f := newFixture(t, slidingConfig)
	slidingSession(t, f, startCaddy(t, caddy, f))
}
