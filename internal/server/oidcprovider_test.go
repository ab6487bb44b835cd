package server

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// opDir holds the independent provider the real-browser test signs in
// with: panva/node-oidc-provider under Node, installed by `npm ci` there.
const opDir = "testdata/oidc-provider"

// startNodeOP runs node-oidc-provider on addr with one confidential client
// whose redirect URIs are given, until the test ends.
func startNodeOP(t *testing.T, addr, clientID, secret string, redirects ...string) {
	t.Helper()
	node := needBinary(t, "node", "nodejs")
	if _, err := os.Stat(filepath.Join(opDir, "node_modules", "oidc-provider")); err != nil {
		msg := "the npm package oidc-provider is not installed: run `npm ci` in internal/server/" + opDir
		if os.Getenv("AUTHGATE_REQUIRE_INTEGRATION") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, port, _ := net.SplitHostPort(addr)
	abs, _ := filepath.Abs(filepath.Join(opDir, "server.js"))
	startServer(t, addr, filepath.Join(t.TempDir(), "op.log"), node, append([]string{abs, port, clientID, secret}, redirects...)...)
}

// TestRealBrowserProviderSignIn: Chromium opens a protected page through
// real nginx (auth_request) and real Caddy (forward_auth), lands on the
// login page, chooses the provider's button, signs in on the provider's
// own form (node-oidc-provider, which we did not write), consents, and is
// back on the page it asked for; the app sees the provider's username and
// groups. Signing out sends it back to the login page.
func TestRealBrowserProviderSignIn(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	for _, proxy := range []string{"nginx", "caddy"} {
		t.Run(proxy, func(t *testing.T) {
			bin := needBinary(t, proxy, proxy)
			opAddr := deadAddr(t)
			const secret = "e2e-client-secret-0123456789abcdef"
			f := newFixture(t, proxiedGatewayConfig+"upstream_headers:\n  groups: X-Forwarded-Groups\nproviders:\n"+
				"  - {id: corp, name: Corporate sign-in, issuer: \"http://"+opAddr+"\", client_id: authgate, client_secret: "+secret+
				", scopes: [openid, profile, email, groups], groups_claim: groups}\n")
			var base string
			if proxy == "nginx" {
				base = startNginx(t, bin, f)
			} else {
				base = startCaddy(t, bin, f)
			}
			startNodeOP(t, opAddr, "authgate", secret, base+"/login/corp/callback")
			f.gw.start(t.Context())
			for deadline := time.Now().Add(20 * time.Second); f.gw.providers["corp"].found.Load() == nil; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the gateway never loaded the provider's discovery:\n%s", f.logs)
				}
			}
			ctx := chromiumContext(t, chromium)
			step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				if err := chromedp.Do(ctx, actions...); err != nil {
					loc, _ := chromedp.Run(ctx, chromedp.Location())
					body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
					t.Fatalf("%s: %v (at %s showing %.500s)\n%s", what, err, loc, body, f.logs)
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
			step("open the app", chromedp.Navigate(base+"/api/app"), chromedp.WaitVisible(chromedp.CSS("a.provider")))
			if loc := value("location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login?rd=") {
				t.Fatalf("the app sent the browser to %q, want the login page", loc)
			}
			step("choose the provider", chromedp.Click(chromedp.CSS("a.provider")), chromedp.WaitVisible(chromedp.CSS(`input[name=login]`)))
			if loc := value("location", chromedp.Location()); !strings.HasPrefix(loc, "http://"+opAddr+"/") {
				t.Fatalf("the button led to %q, want the provider", loc)
			}
			step("sign in at the provider",
				chromedp.SendKeys(chromedp.CSS(`input[name=login]`), "carol"),
				chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "any password"),
				chromedp.Submit(chromedp.CSS(`input[name=password]`)))
			// The provider asks for consent once (its development form).
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				if strings.HasPrefix(loc, base+"/api/app") {
					break
				}
				if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("button[autofocus], form button[type=submit]").length`)); n > 0 && strings.HasPrefix(loc, "http://"+opAddr+"/") {
					chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("form button[type=submit]")))
				}
				if time.Now().After(deadline) {
					body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
					t.Fatalf("never back on the app; at %q showing %.500s\n%s", loc, body, f.logs)
				}
			}
			step("the app", chromedp.WaitVisible(chromedp.CSS("body")))
			text := value("app page", chromedp.Text(chromedp.CSS("body")))
			if !strings.Contains(text, `"X-Forwarded-User": [`) || !strings.Contains(text, `"carol"`) {
				t.Fatalf("after signing in the app shows:\n%s", text)
			}
			if proxy == "nginx" && !strings.Contains(text, `"staff,ops"`) {
				t.Errorf("the app does not see the provider's groups:\n%s", text)
			}
			step("log out",
				chromedp.Navigate(base+"/logout"),
				chromedp.WaitVisible(chromedp.CSS("button[type=submit]")),
				chromedp.Click(chromedp.CSS("button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS("a.provider")),
				chromedp.Navigate(base+"/api/app"),
				chromedp.WaitVisible(chromedp.CSS("a.provider")))
			if loc := value("location", chromedp.Location()); !strings.HasPrefix(loc, base+"/login?rd=") {
				t.Errorf("after logout the app is at %q, want the login page", loc)
			}
		})
	}
}
