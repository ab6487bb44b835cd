package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
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

// TestRealBrowserPasskeyStep drives Chromium, through real nginx
// auth_request and straight through the gateway, with passkeys.sign_in
// both and alice's passkey (a line the operator added, its key put in
// Chromium's virtual authenticator): her password leads to the passkey
// step, "Use your passkey" lands on a require_mfa route; then, signed
// out, the passkey alone lands there too.
func TestRealBrowserPasskeyStep(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	nginx := needBinary(t, "nginx", "nginx")
	alice := newSoftKey(t, "alice")
	gwLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nginxAddr := deadAddr(t)
	_, nginxPort, _ := net.SplitHostPort(nginxAddr)
	gwPort := gwLn.Addr().(*net.TCPAddr).Port
	port, _ := strconv.Atoi(nginxPort)
	doc := passkeyConfig([]int{port, gwPort}, "    passkeys:\n      "+alice.line(t)+"\n") + "  sign_in: both\ntrusted_proxies: [127.0.0.1/32]\n"
	f := newFixtureOn(t, doc, nil, gwLn)
	viaNginx := runNginxAt(t, nginx, nginxAddr, func(addr string) string {
		return nginxExample(t, f, addr, "server_name app.example.com;", "server_name localhost;", "$host;", "$host:$server_port;")
	})
	pkcs8, err := x509.MarshalPKCS8PrivateKey(alice.key)
	if err != nil {
		t.Fatal(err)
	}
	// One key in two browsers: the second starts its signature counter
	// past where the first left it, else it would be a clone.
	for _, c := range []struct {
		name, base string
		count      int
	}{
		{"nginx", strings.Replace(viaNginx, "127.0.0.1", "localhost", 1), 0},
		{"gateway", fmt.Sprintf("http://localhost:%d", gwPort), 1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := chromiumContext(t, chromium)
			err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
					return err
				}
				a, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
					Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21, Transport: cdpwebauthn.AuthenticatorTransportInternal,
					HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
				}})
				if err != nil {
					return err
				}
				params := addCredentialParams{AuthenticatorID: a.AuthenticatorID}
				params.Credential.ID, params.Credential.Resident, params.Credential.RPID = alice.id, true, "localhost"
				params.Credential.PrivateKey, params.Credential.UserHandle, params.Credential.SignCount = pkcs8, userHandle("alice"), c.count
				_, err = cdp.Call(ctx, tg, addCredential, params)
				return err
			}))
			if err != nil {
				t.Fatalf("virtual authenticator: %v", err)
			}
			step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				if err := chromedp.Do(ctx, actions...); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			app := c.base + "/mfa/app"
			// The page navigates away under the script: ask until it has landed.
			landed := func(what string) {
				t.Helper()
				loc := ""
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && loc != app; time.Sleep(50 * time.Millisecond) {
					loc, _ = chromedp.Run(ctx, chromedp.Location())
				}
				text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
				if loc != app || !strings.Contains(text, `"alice"`) {
					t.Fatalf("%s: at %q the page shows:\n%s\n%s", what, loc, text, f.logs)
				}
			}
			step("password",
				chromedp.Navigate(app),
				chromedp.WaitVisible(chromedp.ID("username")),
				chromedp.SetValue(chromedp.ID("username"), "alice"),
				chromedp.SetValue(chromedp.ID("password"), alicePassword),
				chromedp.Submit(chromedp.ID("password")),
				chromedp.WaitVisible(chromedp.ID("passkey-step")),
				chromedp.Click(chromedp.ID("passkey-step")))
			landed("password then passkey")

			step("sign out", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
				return err
			}))
			step("passkey alone",
				chromedp.Navigate(app),
				chromedp.WaitVisible(chromedp.ID("passkey")),
				chromedp.Click(chromedp.ID("passkey")))
			landed("passkey alone")
		})
	}
}

// addCredential is WebAuthn.addCredential with only the fields this
// Chromium knows: cdproto's Credential always sends fields of newer
// versions, which it refuses ("CMTG is not supported").
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: cdpwebauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID cdpwebauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      struct {
		ID         []byte `json:"credentialId"`
		Resident   bool   `json:"isResidentCredential"`
		RPID       string `json:"rpId"`
		PrivateKey []byte `json:"privateKey"`
		UserHandle []byte `json:"userHandle"`
		SignCount  int    `json:"signCount"`
	} `json:"credential"`
}
