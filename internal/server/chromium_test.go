package server

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// chromiumContext starts a headless Chromium for the test, stopped when it
// ends, and returns the context that drives it, bounded to 90 seconds.
func chromiumContext(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
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
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelCtx)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
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
