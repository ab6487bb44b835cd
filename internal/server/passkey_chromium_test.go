package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// passkeyConfig is baseConfig with passkeys for localhost on the given
// ports, plain-HTTP cookies and a route that requires a second factor;
// extra goes under alice.
func passkeyConfig(ports []int, alice string) string {
	var origins []string
	for _, p := range ports {
		origins = append(origins, fmt.Sprintf("http://localhost:%d", p))
	}
	doc := strings.NewReplacer(
		"  - username: alice\n    password_hash: \""+aliceHash+"\"\n", "  - username: alice\n    password_hash: \""+aliceHash+"\"\n"+alice,
		"routes:\n", "routes:\n  - path: /mfa/\n    upstream: UPSTREAM\n    require_mfa: true\n",
	).Replace(baseConfig)
	return doc + "session:\n  insecure_cookie: true\npasskeys:\n  rp_id: localhost\n  origins: [" + strings.Join(origins, ", ") + "]\n"
}

// TestRealBrowserPasskey drives Chromium with a virtual authenticator
// (the DevTools WebAuthn domain): a password-only session is refused a
// require_mfa route; the signed-in user registers a passkey at the
// account page, which shows the line for the config; once the line is
// in the config, signing in with the passkey alone lands on the route.
// A signature counter that does not grow (a cloned authenticator) is
// refused.
func TestRealBrowserPasskey(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	var lns []net.Listener
	var ports []int
	for range 4 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	before := newFixtureOn(t, passkeyConfig(ports[:2], ""), nil, lns[0])
	ctx := chromiumContext(t, chromium)
	authenticator, err := chromedp.Run(ctx, chromedp.Action[cdpwebauthn.AddVirtualAuthenticatorResult](func(ctx context.Context, tg *chromedp.Target) (cdpwebauthn.AddVirtualAuthenticatorResult, error) {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return cdpwebauthn.AddVirtualAuthenticatorResult{}, err
		}
		return cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	}))
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	_ = authenticator
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
	base := fmt.Sprintf("http://localhost:%d", ports[0])
	step("password sign-in",
		chromedp.Navigate(base+"/mfa/app"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SetValue(chromedp.ID("username"), "alice"),
		chromedp.SetValue(chromedp.ID("password"), alicePassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("mfa-needed")))
	step("register a passkey",
		chromedp.Navigate(base+"/login/account"),
		chromedp.WaitVisible(chromedp.ID("register")),
		chromedp.Click(chromedp.ID("register")),
		chromedp.WaitVisible(chromedp.ID("line")))
	line := value("the line", chromedp.Text(chromedp.ID("line")))
	if !strings.HasPrefix(line, "- {name: ") || !strings.Contains(line, "public_key: ") {
		t.Fatalf("the account page shows %q, want a passkeys line", line)
	}

	// The operator adds the line; the new config serves on the second
	// port, over the same state.
	after := newFixtureOn(t, passkeyConfig(ports[:2], "    passkeys:\n      "+line+"\n"), before.gw.State(), lns[1])
	base = fmt.Sprintf("http://localhost:%d", ports[1])
	signIn := func() {
		t.Helper()
		step("passkey sign-in",
			chromedp.Navigate(base+"/login?rd=/mfa/app"),
			chromedp.WaitVisible(chromedp.ID("passkey")),
			chromedp.Click(chromedp.ID("passkey")))
	}
	signIn()
	// The page navigates away under the script: ask until it has landed.
	landed := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.HasSuffix(landed, "/mfa/app"); time.Sleep(50 * time.Millisecond) {
		landed, _ = chromedp.Run(ctx, chromedp.Location())
	}
	if !strings.HasSuffix(landed, "/mfa/app") {
		t.Fatalf("the passkey sign-in is at %q, want /mfa/app\n%s", landed, after.logs)
	}
	if text := value("app page", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(text, `"alice"`) {
		t.Fatalf("after the passkey sign-in the app shows:\n%s", text)
	}

	// A cloned authenticator: the store's counter is ahead of it.
	cred := after.gw.passkeys.byName["alice"].creds[0]
	if err := after.gw.store.Set(t.Context(), counterKey(cred.ID), []byte("1000000"), counterTTL); err != nil {
		t.Fatal(err)
	}
	step("forget the session", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}))
	signIn()
	step("refused", chromedp.WaitVisible(chromedp.CSS(".error")))
	if want := `authgate_token_rejections_total{reason="passkey_cloned"} 1`; !strings.Contains(metricsText(after), want) {
		t.Errorf("metrics lack %s", want)
	}

	// Refused: a page on an origin the config does not list, and the
	// passkey under another user's name.
	for i, c := range []struct{ name, doc string }{
		{"origin-not-listed", passkeyConfig(ports[:2], "    passkeys:\n      "+line+"\n")},
		{"another-users-passkey", strings.Replace(passkeyConfig(ports, ""), "  - username: bob\n    password_hash: \""+bobHash+"\"\n",
			"  - username: bob\n    password_hash: \""+bobHash+"\"\n    passkeys:\n      "+line+"\n", 1)},
	} {
		f := newFixtureOn(t, c.doc, nil, lns[2+i])
		base = fmt.Sprintf("http://localhost:%d", ports[2+i])
		step(c.name+": forget the session", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
			return err
		}))
		signIn()
		step(c.name+": refused", chromedp.WaitVisible(chromedp.CSS(".error")))
		if want := `authgate_token_rejections_total{reason="passkey_invalid"} 1`; !strings.Contains(metricsText(f), want) {
			t.Errorf("%s: metrics lack %s", c.name, want)
		}
	}
}
