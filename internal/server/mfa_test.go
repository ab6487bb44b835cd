package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/pquerna/otp/totp"
)

// totpSecret is alice's TOTP secret in mfaConfig (base32, 160 bits).
const totpSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// mfaConfig gives alice TOTP and adds carol, who must use a second
// factor and has none, and a route that requires one.
var mfaConfig = strings.NewReplacer(
	"  - username: alice\n    password_hash: \""+aliceHash+"\"\n",
	"  - username: alice\n    password_hash: \""+aliceHash+"\"\n    totp_secret: "+totpSecret+"\n"+
		"  - username: carol\n    password_hash: \""+aliceHash+"\"\n    require_mfa: true\n",
	"routes:\n", "routes:\n  - path: /mfa/\n    upstream: UPSTREAM\n    require_mfa: true\n",
).Replace(baseConfig)

// code is alice's code at the fixture's clock moved by steps of 30s.
func (f *fixture) code(t *testing.T, steps int) string {
	t.Helper()
	c, err := totp.GenerateCode(totpSecret, f.now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiLogin posts a form login and returns the status, the error code and
// the access token.
func (f *fixture) otpLogin(t *testing.T, fields url.Values) (int, string, string) {
	t.Helper()
	resp, body := f.do(t, "POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, fields.Encode())
	var out struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(body), &out)
	return resp.StatusCode, out.Error, out.AccessToken
}

// TestTOTPLoginAPI: an API client with TOTP sends otp beside its
// password. A wrong code is answered as a wrong password, a missing one
// with otp_required only once the password was right, a code is accepted
// once and one step either side of now, and the token carries amr
// [pwd otp], which a require_mfa route wants and a password alone lacks.
func TestTOTPLoginAPI(t *testing.T) {
	f := newFixtureFrom(t, mfaConfig+"login:\n  throttle:\n    user: {burst: 50, interval: 1s}\n    client: {burst: 50, interval: 1s}\n")
	creds := func(user, password, otp string) url.Values {
		v := url.Values{"username": {user}, "password": {password}}
		if otp != "" {
			v.Set("otp", otp)
		}
		return v
	}
	wrongPassword, _ := f.do(t, "POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, creds("alice", "nope", f.code(t, 0)).Encode())
	_, wrongPasswordBody := f.do(t, "POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, creds("alice", "nope", "000000").Encode())
	_, wrongCodeBody := f.do(t, "POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, creds("alice", alicePassword, "000000").Encode())
	if wrongPassword.StatusCode != 401 || wrongCodeBody != wrongPasswordBody {
		t.Errorf("wrong code answered %q, wrong password %d %q: want the same 401", wrongCodeBody, wrongPassword.StatusCode, wrongPasswordBody)
	}
	for _, c := range []struct {
		name       string
		fields     url.Values
		want       int
		wantError  string
		wantTokens bool
	}{
		{"password-without-code", creds("alice", alicePassword, ""), 401, "otp_required", false},
		{"wrong-password-without-code", creds("alice", "nope", ""), 401, "invalid_credentials", false},
		{"code-two-steps-old", creds("alice", alicePassword, f.code(t, -2)), 401, "invalid_credentials", false},
		{"code-one-step-old", creds("alice", alicePassword, f.code(t, -1)), 200, "", true},
		{"code-now", creds("alice", alicePassword, f.code(t, 0)), 200, "", true},
		{"code-now-replayed", creds("alice", alicePassword, f.code(t, 0)), 401, "invalid_credentials", false},
		{"code-one-step-ahead", creds("alice", alicePassword, f.code(t, 1)), 200, "", true},
		{"require-mfa-without-factor", creds("carol", alicePassword, ""), 403, "mfa_not_enrolled", false},
		{"no-factor-password-only", creds("bob", "bobpassword", ""), 200, "", true},
	} {
		got, code, token := f.otpLogin(t, c.fields)
		if got != c.want || code != c.wantError || (token != "") != c.wantTokens {
			t.Errorf("%s: POST /login = %d %q token=%v, want %d %q token=%v", c.name, got, code, token != "", c.want, c.wantError, c.wantTokens)
		}
	}
	if want := `authgate_second_factor_attempts_total{factor="totp",outcome="replayed"} 1`; !strings.Contains(metricsText(f), want) {
		t.Errorf("metrics lack %s", want)
	}

	// JSON, and the require_mfa route in proxy mode and forward-auth.
	f.advance(90 * time.Second)
	resp, body := f.do(t, "POST", "/login", http.Header{"Content-Type": {"application/json"}},
		`{"username":"alice","password":"`+alicePassword+`","otp":"`+f.code(t, 0)+`"}`)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal([]byte(body), &out); resp.StatusCode != 200 || out.AccessToken == "" {
		t.Fatalf("JSON login with otp = %d %s", resp.StatusCode, body)
	}
	id, err := f.gw.verifier.Verify(t.Context(), out.AccessToken)
	if err != nil || strings.Join(id.AMR, " ") != "pwd otp" {
		t.Errorf("token amr = %v (%v), want [pwd otp]", id.AMR, err)
	}
	_, _, bobToken := f.otpLogin(t, creds("bob", "bobpassword", ""))
	for _, c := range []struct {
		name, token string
		want        int
		reason      string
	}{
		{"with-second-factor", out.AccessToken, 200, ""},
		{"password-only", bobToken, 403, "mfa_required"},
	} {
		resp, _ := f.do(t, "GET", "/mfa/x", bearer(c.token), "")
		if resp.StatusCode != c.want || resp.Header.Get("X-Authgate-Reason") != c.reason {
			t.Errorf("proxy %s: GET /mfa/x = %d %q, want %d %q", c.name, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), c.want, c.reason)
		}
		h := bearer(c.token)
		h.Set("X-Original-Uri", "/mfa/x")
		h.Set("X-Forwarded-Host", "gw.test")
		resp, _ = f.do(t, "GET", "/verify/nginx", h, "")
		if resp.StatusCode != c.want || resp.Header.Get("X-Authgate-Reason") != c.reason {
			t.Errorf("nginx %s: /verify/nginx for /mfa/x = %d %q, want %d %q", c.name, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), c.want, c.reason)
		}
	}
}

// TestTOTPWrongCodesThrottled: wrong codes after the right password
// drain the account's bucket as wrong passwords do, and a right password
// does not refill it; then even the right code is refused.
func TestTOTPWrongCodesThrottled(t *testing.T) {
	f := newFixtureFrom(t, mfaConfig+"login:\n  throttle:\n    user: {burst: 4, interval: 1h}\n")
	var codes []int
	for range 5 {
		got, _, _ := f.otpLogin(t, url.Values{"username": {"alice"}, "password": {alicePassword}, "otp": {"000000"}})
		codes = append(codes, got)
	}
	if codes[len(codes)-1] != 429 {
		t.Errorf("statuses of right password and wrong code five times = %v, want to end with 429", codes)
	}
	if got, _, _ := f.otpLogin(t, url.Values{"username": {"alice"}, "password": {alicePassword}, "otp": {f.code(t, 0)}}); got != 429 {
		t.Errorf("right code while throttled = %d, want 429", got)
	}
}

// TestTOTPBrowserSteps: a browser's right password leads to the code
// step (a pending cookie, no session); a wrong code asks again, the right
// one starts a session with [pwd otp] that a require_mfa route admits.
// A password-only session is sent to the login page with mfa=1 in proxy
// mode and through /verify/nginx (a 401 with the login URL, which nginx's
// error_page follows). A pending step expires.
func TestTOTPBrowserSteps(t *testing.T) {
	f := newFixtureFrom(t, mfaConfig)
	resp, body, session := f.browserLogin(t, "alice", alicePassword, "/mfa/x")
	var pending string
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-authgate_mfa" {
			pending = c.Value
		}
	}
	if resp.StatusCode != 200 || session != "" || pending == "" || !strings.Contains(body, `name="otp"`) {
		t.Fatalf("password step = %d session=%q pending=%v, want 200, the code form, no session", resp.StatusCode, session, pending != "")
	}
	step := func(code string) (*http.Response, string, string) {
		h := http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {htmlAccept}, "Origin": {f.url},
			"Cookie": {"__Host-authgate_mfa=" + pending},
		}
		resp, body := f.do(t, "POST", "/login", h, url.Values{"otp": {code}, "rd": {"/ignored"}}.Encode())
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-authgate" {
				return resp, body, c.Value
			}
		}
		return resp, body, ""
	}
	if resp, body, s := step("123456"); resp.StatusCode != 401 || s != "" || !strings.Contains(body, "Incorrect code") {
		t.Errorf("wrong code = %d session=%v, want 401 and the code form again", resp.StatusCode, s != "")
	}
	resp, _, session = step(f.code(t, 0))
	if resp.StatusCode != 303 || session == "" || resp.Header.Get("Location") != "/mfa/x" {
		t.Fatalf("right code = %d %q session=%v, want 303 to /mfa/x with a session", resp.StatusCode, resp.Header.Get("Location"), session != "")
	}
	nav := func(s string) http.Header {
		h := cookieHeader(s)
		h.Set("Accept", htmlAccept)
		h.Set("Sec-Fetch-Mode", "navigate")
		return h
	}
	if resp, _ := f.do(t, "GET", "/mfa/x", nav(session), ""); resp.StatusCode != 200 {
		t.Errorf("session with a second factor on /mfa/x = %d, want 200", resp.StatusCode)
	}
	_, _, bob := f.browserLogin(t, "bob", "bobpassword", "/")
	resp, _ = f.do(t, "GET", "/mfa/x", nav(bob), "")
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.Contains(loc, "mfa=1") || resp.Header.Get("X-Authgate-Reason") != "mfa_required" {
		t.Errorf("password-only session on /mfa/x = %d %q, want 302 to the login page with mfa=1", resp.StatusCode, loc)
	}
	h := nav(bob)
	h.Set("X-Original-Uri", "/mfa/x")
	h.Set("X-Forwarded-Host", "gw.test")
	resp, _ = f.do(t, "GET", "/verify/nginx", h, "")
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("X-Authgate-Login-Url"), "mfa=1") || resp.Header.Get("X-Authgate-Reason") != "mfa_required" {
		t.Errorf("password-only session through /verify/nginx = %d %q %q, want 401 mfa_required with the login URL", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), resp.Header.Get("X-Authgate-Login-Url"))
	}
	h = nav(session)
	h.Set("X-Original-Uri", "/mfa/x")
	h.Set("X-Forwarded-Host", "gw.test")
	if resp, _ = f.do(t, "GET", "/verify/nginx", h, ""); resp.StatusCode != 200 {
		t.Errorf("session with a second factor through /verify/nginx = %d, want 200", resp.StatusCode)
	}
	if resp, body := f.do(t, "GET", "/login?mfa=1&rd=/mfa/x", nav(bob), ""); resp.StatusCode != 200 || !strings.Contains(body, "requires a second factor") {
		t.Errorf("login page for a password-only session with mfa=1 = %d, want the form saying why", resp.StatusCode)
	}

	f.advance(6 * time.Minute)
	if resp, body, s := step(f.code(t, 0)); resp.StatusCode != 401 || s != "" || !strings.Contains(body, "took too long") {
		t.Errorf("code step after the pending step expired = %d session=%v, want 401", resp.StatusCode, s != "")
	}
}

// TestAPIKeyNeverForwardedEvenWithForwardAuthorization: with
// forward_authorization: true (bearer tokens passed on to an API that
// checks them too), an API key sent as Authorization: Bearer ag_… still
// never reaches the upstream: it is a password, not a token.
func TestAPIKeyNeverForwardedEvenWithForwardAuthorization(t *testing.T) {
	key, hash := auth.NewAPIKey()
	line := config.APIKeyHashPrefix + base64.RawURLEncoding.EncodeToString(hash[:])
	doc := strings.Replace(baseConfig, `  - username: bob
`, `  - username: bob
    api_keys:
      - {name: ci, hash: "`+line+`"}
`, 1) + "forward_authorization: true\n"
	f := newFixtureFrom(t, doc)
	resp, body := f.do(t, "GET", "/api/x", http.Header{"Authorization": {"Bearer " + key}}, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for name, values := range echoed(t, body).Headers {
		for _, v := range values {
			if strings.Contains(v, key) {
				t.Errorf("the upstream received the API key in %s", name)
			}
		}
	}
}

// TestPendingStepIsSingleUse: the pending code step is used up in the
// store when it opens a session, not only cleared in the browser: the same
// sealed cookie, replayed by whoever copied it, opens no second session,
// even with the next code.
func TestPendingStepIsSingleUse(t *testing.T) {
	f := newFixtureFrom(t, mfaConfig)
	resp, _, _ := f.browserLogin(t, "alice", alicePassword, "/mfa/x")
	var pending string
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-authgate_mfa" {
			pending = c.Value
		}
	}
	step := func(code string) string {
		h := http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {htmlAccept}, "Origin": {f.url},
			"Cookie": {"__Host-authgate_mfa=" + pending},
		}
		resp, _ := f.do(t, "POST", "/login", h, url.Values{"otp": {code}}.Encode())
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-authgate" && c.Value != "" {
				return c.Value
			}
		}
		return ""
	}
	if step(f.code(t, 0)) == "" {
		t.Fatal("the right code did not sign in")
	}
	if step(f.code(t, 1)) != "" {
		t.Error("a pending cookie already used opened a second session")
	}
}
