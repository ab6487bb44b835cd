package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// apiLogin logs in as an API client and returns the decoded answer.
func (f *fixture) apiLogin(t *testing.T, user, password string) (access, refresh string) {
	t.Helper()
	resp, body := f.do(t, "POST", "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		url.Values{"username": {user}, "password": {password}}.Encode())
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login %s = %d %s", user, resp.StatusCode, body)
	}
	return out.AccessToken, out.RefreshToken
}

// refresh swaps a refresh token, as a form or as JSON.
func (f *fixture) refresh(t *testing.T, token string, asJSON bool) (status int, access, refresh string) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode()
	if asJSON {
		h.Set("Content-Type", "application/json")
		body = `{"grant_type":"refresh_token","refresh_token":"` + token + `"}`
	}
	resp, answer := f.do(t, "POST", "/token/refresh", h, body)
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal([]byte(answer), &out)
	return resp.StatusCode, out.AccessToken, out.RefreshToken
}

// works reports the status a token gets on the proxy and on /verify.
func (f *fixture) works(t *testing.T, token string) (proxy, verify int) {
	t.Helper()
	r1, _ := f.do(t, "GET", "/api/x", bearer(token), "")
	r2, _ := f.do(t, "GET", "/verify", bearer(token), "")
	return r1.StatusCode, r2.StatusCode
}

func TestLogoutRevokesTheSession(t *testing.T) {
	f := newFixture(t, "")
	first, _ := f.apiLogin(t, "alice", alicePassword)
	second, _ := f.apiLogin(t, "alice", alicePassword)
	if p, v := f.works(t, first); p != 200 || v != 200 {
		t.Fatalf("fresh token = %d/%d", p, v)
	}
	resp, _ := f.do(t, "POST", "/logout", bearer(first), "")
	if resp.StatusCode != 204 {
		t.Fatalf("API logout = %d, want 204", resp.StatusCode)
	}
	if p, v := f.works(t, first); p != 401 || v != 401 {
		t.Errorf("token after logout = proxy %d, verify %d; want 401 on both", p, v)
	}
	resp, _ = f.do(t, "GET", "/api/x", bearer(first), "")
	if got := resp.Header.Get("X-Authgate-Reason"); got != "revoked" {
		t.Errorf("reason = %q, want revoked", got)
	}
	if p, v := f.works(t, second); p != 200 || v != 200 {
		t.Errorf("another session of the same user = %d/%d, want it untouched", p, v)
	}

	// Log out everywhere ends every session issued before it.
	f.advance(2 * time.Second)
	third, _ := f.apiLogin(t, "alice", alicePassword)
	bob, _ := f.apiLogin(t, "bob", "bobpassword")
	f.advance(2 * time.Second)
	h := bearer(third)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := f.do(t, "POST", "/logout", h, "everywhere=true"); resp.StatusCode != 204 {
		t.Fatalf("logout everywhere = %d", resp.StatusCode)
	}
	for name, tok := range map[string]string{"second": second, "third": third} {
		if p, v := f.works(t, tok); p != 401 || v != 401 {
			t.Errorf("%s session after logout everywhere = %d/%d, want 401", name, p, v)
		}
	}
	if p, _ := f.works(t, bob); p != 200 {
		t.Errorf("another user's session = %d, want 200", p)
	}
	fresh, _ := f.apiLogin(t, "alice", alicePassword)
	if p, _ := f.works(t, fresh); p != 200 {
		t.Errorf("a login after logout everywhere = %d, want 200", p)
	}
}

func TestRefreshTokensRotateAndReuseRevokesTheFamily(t *testing.T) {
	f := newFixtureFrom(t, strings.Replace(baseConfig, "  leeway: 5s\n", "  leeway: 5s\n  refresh:\n    enabled: true\n", 1))
	_, r1 := f.apiLogin(t, "alice", alicePassword)
	if r1 == "" {
		t.Fatal("login returned no refresh_token")
	}
	status, a2, r2 := f.refresh(t, r1, false)
	if status != 200 || a2 == "" || r2 == "" || r2 == r1 {
		t.Fatalf("refresh = %d, new refresh token %v", status, r2 != r1)
	}
	status, a3, r3 := f.refresh(t, r2, true)
	if status != 200 {
		t.Fatalf("JSON refresh = %d", status)
	}
	if p, _ := f.works(t, a3); p != 200 {
		t.Fatalf("refreshed access token = %d", p)
	}
	// r1 again: a replay. The whole session dies.
	if status, _, _ := f.refresh(t, r1, false); status != 400 {
		t.Errorf("reused refresh token = %d, want 400", status)
	}
	if status, _, _ := f.refresh(t, r3, false); status != 400 {
		t.Errorf("the latest refresh token after a reuse = %d, want 400 (family revoked)", status)
	}
	for name, tok := range map[string]string{"a2": a2, "a3": a3} {
		if p, v := f.works(t, tok); p != 401 || v != 401 {
			t.Errorf("access token %s after reuse = %d/%d, want 401", name, p, v)
		}
	}
	if !strings.Contains(f.logs.String(), "security incident: a refresh token was used twice") {
		t.Errorf("the reuse was not logged as an incident")
	}

	// Logout revokes the refresh family too.
	a, r := f.apiLogin(t, "alice", alicePassword)
	f.do(t, "POST", "/logout", bearer(a), "")
	if status, _, _ := f.refresh(t, r, false); status != 400 {
		t.Errorf("refresh after logout = %d, want 400", status)
	}
	for _, bad := range []string{"", "garbage", strings.Repeat("a", 300)} {
		if status, _, _ := f.refresh(t, bad, false); status != 400 {
			t.Errorf("refresh(%q) = %d, want 400", bad, status)
		}
	}
	resp, _ := f.do(t, "POST", "/token/refresh", http.Header{"Content-Type": {"application/json"}}, `{"refresh_token":"x","REFRESH_TOKEN":"y"}`)
	if resp.StatusCode != 400 {
		t.Errorf("case-variant JSON key = %d, want 400", resp.StatusCode)
	}
}

func TestDisabledUsersAndPasswordChanges(t *testing.T) {
	before := newFixture(t, "")
	aliceToken := before.token(t, "alice")
	bobToken := before.token(t, "bob")

	// The same gateway restarted with alice's password changed and bob
	// disabled (the secret is the same, so the signatures still verify).
	changed := strings.NewReplacer(
		aliceHash, bobHash,
		"  - username: bob\n    password_hash: \""+bobHash+"\"", "  - username: bob\n    password_hash: \""+bobHash+"\"\n    disabled: true",
	).Replace(baseConfig)
	after := newFixtureFrom(t, changed)
	for name, tok := range map[string]string{"alice (password changed)": aliceToken, "bob (disabled)": bobToken} {
		if p, v := after.works(t, tok); p != 401 || v != 401 {
			t.Errorf("%s: old token = %d/%d, want 401", name, p, v)
		}
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	resp, body := after.do(t, "POST", "/login", form, "username=bob&password=bobpassword")
	_, unknown := after.do(t, "POST", "/login", form, "username=nobody&password=bobpassword")
	if resp.StatusCode != 401 || body != unknown {
		t.Errorf("disabled user's login = %d %q, want the unknown-user answer %q", resp.StatusCode, body, unknown)
	}
}

const groupsConfig = `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  secret: "` + testSecret + `"
users:
  - username: alice
    password_hash: "` + aliceHash + `"
    groups: [admins, staff]
    email: alice@example.com
  - username: bob
    password_hash: "` + bobHash + `"
    groups: [staff]
default_deny: true
upstream_headers:
  token: X-Authgate-Token
  assertion: X-Authgate-Assertion
routes:
  - path: /admin/
    upstream: UPSTREAM
    allowed_groups: [admins]
  - path: /reports/
    upstream: UPSTREAM
    allowed_groups: [staff]
    methods: [GET, HEAD]
  - path: /ops/
    upstream: UPSTREAM
    allowed_users: [bob]
    allowed_groups: [admins]
  - path: /public/
    upstream: UPSTREAM
    public: true
    methods: [GET]
`

func TestGroupPolicyInProxyAndForwardAuth(t *testing.T) {
	f := newFixtureFrom(t, groupsConfig)
	alice, bob := f.token(t, "alice"), f.token(t, "bob")
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		want   int
	}{
		{"admin-group-member", "GET", "/admin/x", alice, 200},
		{"not-in-admin-group", "GET", "/admin/x", bob, 403},
		{"staff-get", "GET", "/reports/x", bob, 200},
		{"staff-post-not-allowed", "POST", "/reports/x", bob, 403},
		{"method-is-case-exact", "get", "/reports/x", bob, 403},
		{"user-or-group-user", "GET", "/ops/x", bob, 200},
		{"user-or-group-group", "GET", "/ops/x", alice, 200},
		{"public", "GET", "/public/x", "", 200},
		{"public-method-rule", "POST", "/public/x", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h http.Header
			if tt.token != "" {
				h = bearer(tt.token)
			}
			resp, _ := f.do(t, tt.method, tt.path, h, "")
			if resp.StatusCode != tt.want {
				t.Errorf("proxy %s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
			vh := h.Clone()
			if vh == nil {
				vh = http.Header{}
			}
			vh.Set("X-Forwarded-Method", tt.method)
			vh.Set("X-Forwarded-Uri", tt.path)
			resp, _ = f.do(t, "GET", "/verify/nginx", vh, "")
			if resp.StatusCode != tt.want {
				t.Errorf("forward-auth %s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		})
	}
	// default_deny: forward-auth refuses what no route covers.
	resp, _ := f.do(t, "GET", "/verify", http.Header{"Authorization": {"Bearer " + alice}, "X-Forwarded-Uri": {"/elsewhere"}}, "")
	if resp.StatusCode != 403 || resp.Header.Get("X-Authgate-Reason") != "no_matching_route" {
		t.Errorf("unmatched with default_deny = %d %q, want 403 no_matching_route", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}

	// Identity headers beyond the username, on both surfaces.
	h := bearer(alice)
	h.Set("X-Forwarded-Groups", "root")
	h.Set("X-Authgate-Assertion", "forged")
	_, body := f.do(t, "GET", "/admin/x", h, "")
	got := echoed(t, body).Headers
	if g := strings.Join(got["X-Forwarded-Groups"], "|"); g != "admins,staff" {
		t.Errorf("upstream X-Forwarded-Groups = %q, want admins,staff", g)
	}
	if e := strings.Join(got["X-Forwarded-Email"], "|"); e != "alice@example.com" {
		t.Errorf("upstream X-Forwarded-Email = %q", e)
	}
	if tok := strings.Join(got["X-Authgate-Token"], "|"); tok != alice {
		t.Errorf("upstream X-Authgate-Token is not the verified token")
	}
	assertion := strings.Join(got["X-Authgate-Assertion"], "|")
	if assertion == "" || assertion == "forged" {
		t.Fatalf("upstream X-Authgate-Assertion = %q", assertion)
	}
	// The assertion is for the upstream only: authgate refuses it as a bearer token.
	if resp, _ := f.do(t, "GET", "/admin/x", bearer(assertion), ""); resp.StatusCode != 401 {
		t.Errorf("an upstream replaying the assertion = %d, want 401", resp.StatusCode)
	}
	vh := bearer(alice)
	vh.Set("X-Forwarded-Uri", "/admin/x")
	resp, _ = f.do(t, "GET", "/verify", vh, "")
	if resp.Header.Get("X-Forwarded-Groups") != "admins,staff" || resp.Header.Get("Remote-Groups") != "admins,staff" || resp.Header.Get("Remote-Email") != "alice@example.com" {
		t.Errorf("verify headers = %v", resp.Header)
	}
}

func TestLogoutBodyIsBounded(t *testing.T) {
	f := newFixture(t, "")
	h := bearer(f.token(t, "alice"))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := f.do(t, "POST", "/logout", h, "everywhere=true&pad="+strings.Repeat("a", 1<<20))
	// The oversized body is not parsed: the logout still happens, but
	// "everywhere" was never read.
	if resp.StatusCode != 204 {
		t.Errorf("logout with an oversized body = %d", resp.StatusCode)
	}
}
