package server

import (
	"bytes"
	"context"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authgate/authgate/internal/testcert"
	"github.com/authgate/authgate/internal/tlsconf"
)

// TestRealBrowserThroughNginx drives headless Chromium through nginx in
// front of authgate: the protected app sends it to the login page, a wrong
// password is announced, the right one lands on the app showing the user,
// and signing out sends it back to the login page.
//
// AUTHGATE_SCREENSHOTS=DIR also saves the login page as DIR/login.png and
// DIR/login-phone.png (how docs/ is refreshed).
func TestRealBrowserThroughNginx(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixture(t, proxiedGatewayConfig+"login_page:\n  title: Sign in to Example Corp\n")
	base := startNginx(t, nginx, f)

	ctx := chromiumContext(t, chromium)

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	value := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	focusedID := func() string { return value("focused element", chromedp.Evaluate[string](`document.activeElement.id`)) }
	screenshot := func() []byte {
		t.Helper()
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		return shot
	}

	step("open the app", chromedp.Navigate(base+"/api/app"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc, focused := value("location", chromedp.Location()), focusedID(); !strings.HasPrefix(loc, base+"/login?rd=") || focused != "username" {
		t.Fatalf("landed on %q with focus on %q, want the login page focused on the username", loc, focused)
	}
	desktop := screenshot()
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	phone := screenshot()
	step("desktop viewport", chromedp.EmulateViewport(1000, 760))
	for name, shot := range map[string][]byte{"login.png": desktop, "login-phone.png": phone} {
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil || img.Bounds().Dx() < 300 {
			t.Fatalf("screenshot %s is not a page: %v", name, err)
		}
		if dir := os.Getenv("AUTHGATE_SCREENSHOTS"); dir != "" {
			if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	step("wrong password",
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	if alert, focused := value("alert", chromedp.Text(chromedp.CSS("[role=alert]"))), focusedID(); !strings.Contains(alert, "Incorrect username or password") || focused != "password" {
		t.Errorf("after a wrong password: alert %q, focus %q; want the error announced and focus on the password", alert, focused)
	}

	step("log in",
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitNotPresent(chromedp.ID("password")))
	loc, text := value("location", chromedp.Location()), value("app page", chromedp.Text(chromedp.CSS("body")))
	if loc != base+"/api/app" || !strings.Contains(text, `"X-Forwarded-User": [`) || !strings.Contains(text, `"alice"`) {
		t.Fatalf("after login at %q the app shows:\n%s", loc, text)
	}

	step("log out",
		chromedp.Navigate(base+"/logout"),
		chromedp.WaitVisible(chromedp.CSS("button[type=submit]")),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.Navigate(base+"/api/app"),
		chromedp.WaitVisible(chromedp.ID("username")))
	if loc := value("location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login?rd=") {
		t.Errorf("after logout the app is at %q, want the login page", loc)
	}
}

// chromiumContext starts headless Chromium for the test, with the flags given
// besides the usual ones, and returns its context, bounded in time.
func chromiumContext(t *testing.T, chromium string, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 760),
	}, flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelCtx)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRealBrowserExplainsTheLoopOverPlainHTTP: the shipped nginx example
// over plain HTTP, reached by a name that is not this machine's
// (app.example.com, resolved to 127.0.0.1 by Chromium alone), with the
// default Secure cookie. Chromium drops the cookie, so a correct password
// lands back on the login page, which now says why and names the fix.
func TestRealBrowserExplainsTheLoopOverPlainHTTP(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixture(t, "trusted_proxies: [127.0.0.1/32]\n")
	base := runNginx(t, nginx, func(addr string) string {
		return nginxExample(t, f, addr, "$host;", "$host:$server_port;")
	})
	site := "http://app.example.com:" + base[strings.LastIndexByte(base, ':')+1:]
	ctx := chromiumContext(t, chromium,
		chromedp.Flag("host-resolver-rules", "MAP app.example.com 127.0.0.1"),
		// Chromium would first try https for a plain-HTTP address.
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"))
	explained := func(when string) {
		t.Helper()
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("cookie-problem")?.innerText ?? ""`))
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.HasPrefix(loc, site+"/login?rd=") || !strings.Contains(text, "Signing in cannot work here.") ||
			!strings.Contains(text, site+" is plain HTTP") || !strings.Contains(text, "session.insecure_cookie: true") {
			t.Errorf("%s: at %q the page explains %q; want the login page saying the Secure cookie is dropped over plain HTTP", when, loc, text)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(site+"/api/app"), chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
		t.Fatalf("open the app: %v", err)
	}
	explained("before signing in")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Submit(chromedp.ID("password"))); err != nil {
		t.Fatalf("log in: %v", err)
	}
	// The page the browser lands on looks like the one it left, but for
	// the username typed into the old one.
	const landed = `(() => { const u = document.getElementById("username"); return document.readyState === "complete" && u !== null && u.value === ""; })()`
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](landed)); err == nil && done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser did not land on a fresh login page after signing in")
		}
	}
	explained("after a correct password")
	if dir := os.Getenv("AUTHGATE_SCREENSHOTS"); dir != "" {
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(filepath.Join(dir, "login-loop.png"), shot, 0o644)
		}
	}
	if !strings.Contains(f.logs.String(), `"msg":"login succeeded"`) {
		t.Errorf("the password was not accepted; the test shows nothing")
	}
}

// TestRealBrowserOverHTTPS: headless Chromium, trusting a test CA through
// its certificate store (an NSS database in its home), signs in over the
// gateway's own HTTPS listener on HTTP/2: the Secure __Host- session cookie
// is kept, the app shows the user, and the page names no cookie problem.
func TestRealBrowserOverHTTPS(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	certutil := needBinary(t, "certutil", "libnss3-tools")
	f := newFixture(t, "")
	ca := testcert.NewCA(t, "browser CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t).Write(t, dir, "serving")
	caFile := filepath.Join(dir, "ca.pem")
	testcert.WriteFile(t, caFile, ca.PEM)
	home := t.TempDir()
	nssdb := "sql:" + filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-N", "-d", nssdb, "--empty-password"}, {"-A", "-d", nssdb, "-t", "C,,", "-n", "authgate test CA", "-i", caFile}} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	certs, err := tlsconf.New(tlsconf.Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := f.gw.httpServer(f.gw.Handler())
	srv.TLSConfig = certs.TLSConfig()
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	base := "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	ctx := chromiumContext(t, chromium, chromedp.Env("HOME="+home))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/api/app"), chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
		t.Fatalf("open the app over HTTPS: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitNotPresent(chromedp.ID("password"))); err != nil {
		t.Fatalf("log in: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	proto, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].nextHopProtocol`))
	if loc != base+"/api/app" || !strings.Contains(text, `"alice"`) {
		t.Fatalf("after login at %q the app shows:\n%s", loc, text)
	}
	if proto != "h2" {
		t.Errorf("Chromium's protocol = %q, want h2", proto)
	}
	if strings.Contains(f.logs.String(), "session cookie cannot work") {
		t.Errorf("the gateway saw a login loop over HTTPS:\n%s", f.logs)
	}
}

// TestRealBrowserSessionSlidesThroughCaddy: a real Chromium behind the
// shipped Caddy example follows authgate's 307, keeps the renewed cookie
// and stays signed in past session.ttl, for page loads and for a page's
// scripts, until session.max_lifetime; the gateway's clock is moved
// instead of waiting.
func TestRealBrowserSessionSlidesThroughCaddy(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	caddy := needBinary(t, "caddy", "caddy")
	f := newFixture(t, slidingConfig)
	base := startCaddy(t, caddy, f)
	ctx := chromiumContext(t, chromium)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	page := func(when, path string) {
		t.Helper()
		run(when, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("body")))
		if loc, body := text(when, chromedp.Location()), text(when, chromedp.Text(chromedp.CSS("body"))); loc != base+path || !strings.Contains(body, `"alice"`) {
			t.Fatalf("%s: %s landed on %s showing:\n%.300s", when, path, loc, body)
		}
	}
	script := func(when, path string) {
		t.Helper()
		got := text(when, chromedp.Evaluate[string](`fetch("`+path+`").then(async r => r.status + " " + r.url + "\n" + await r.text())`, chromedp.EvalAwaitPromise))
		if !strings.HasPrefix(got, "200 "+base+path+"\n") || !strings.Contains(got, `"alice"`) {
			t.Fatalf("%s: a script's fetch of %s got:\n%.300s", when, path, got)
		}
	}

	run("log in",
		chromedp.Navigate(base+"/api/app"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitNotPresent(chromedp.ID("password")))
	page("just signed in", "/api/app")
	f.advance(6 * time.Minute)
	page("6m after login", "/api/app?at=6m")
	f.advance(5 * time.Minute)
	script("11m after login, past session.ttl", "/api/data?at=11m")
	f.advance(6 * time.Minute)
	script("17m after login", "/api/data?at=17m")
	f.advance(7 * time.Minute)
	page("24m after login", "/api/app?at=24m")
	f.advance(90 * time.Second)
	run("past session.max_lifetime", chromedp.Navigate(base+"/api/app?at=25m30s"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc := text("location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login?rd=") {
		t.Errorf("past session.max_lifetime the app is at %q, want the login page", loc)
	}
}
