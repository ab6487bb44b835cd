package server

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestRealBrowserTOTP drives headless Chromium to a require_mfa route,
// through real nginx auth_request and straight through the gateway: a
// password-only session (bob, who has no second factor) is sent back to
// the login page, which says why; alice's password leads to the code
// step, a wrong code is refused there, and the right one (computed here
// as her authenticator app would) lands on the app.
func TestRealBrowserTOTP(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	nginx := needBinary(t, "nginx", "nginx")
	f := newFixtureFrom(t, mfaConfig+proxiedGatewayConfig)
	for _, c := range []struct{ name, base string }{
		{"nginx", startNginx(t, nginx, f)},
		{"gateway", f.url},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Each run its own step of 30 seconds: a code is accepted once.
			f.advance(time.Minute)
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
			signIn := func(user, password string) {
				t.Helper()
				step("sign in as "+user,
					chromedp.WaitVisible(chromedp.ID("username")),
					chromedp.SetValue(chromedp.ID("username"), user),
					chromedp.SetValue(chromedp.ID("password"), password),
					chromedp.Submit(chromedp.ID("password")))
			}
			app := c.base + "/mfa/app"

			step("open the app", chromedp.Navigate(app))
			signIn("bob", "bobpassword")
			step("back at the login page", chromedp.WaitVisible(chromedp.ID("mfa-needed")))
			if loc := value("location", chromedp.Location()); !strings.Contains(loc, "/login?rd=") || !strings.Contains(loc, "mfa=1") {
				t.Fatalf("a password-only session landed on %q, want the login page with mfa=1", loc)
			}

			signIn("alice", alicePassword)
			step("code step", chromedp.WaitVisible(chromedp.ID("otp")))
			step("wrong code",
				chromedp.SendKeys(chromedp.ID("otp"), "000000"),
				chromedp.Submit(chromedp.ID("otp")),
				chromedp.WaitVisible(chromedp.CSS(".error")))
			if alert := value("alert", chromedp.Text(chromedp.CSS("[role=alert]"))); !strings.Contains(alert, "Incorrect code") {
				t.Errorf("after a wrong code the page says %q", alert)
			}
			step("right code",
				chromedp.SetValue(chromedp.ID("otp"), f.code(t, 0)),
				chromedp.Submit(chromedp.ID("otp")),
				chromedp.WaitNotPresent(chromedp.ID("otp")))
			loc, text := value("location", chromedp.Location()), value("app page", chromedp.Text(chromedp.CSS("body")))
			if loc != app || !strings.Contains(text, `"alice"`) {
				t.Fatalf("after the code at %q the app shows:\n%s", loc, text)
			}
		})
	}
}
