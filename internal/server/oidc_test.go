package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/store"
)

const opSecret = "op-client-secret-0123456789abcdef"

// providerUsers are the test OP's people.
var providerUsers = []opUser{
	{ID: "u-carol", Username: "carol", Password: "carol-pw", Email: "carol@example.com", EmailVerified: true, Groups: []string{"staff", "ops"}},
	{ID: "u-dave", Username: "dave", Password: "dave-pw", Email: "dave@other.org", EmailVerified: true, Groups: []string{"guests"}},
	{ID: "u-erin", Username: "erin", Password: "erin-pw", Email: "erin@example.com", EmailVerified: false, Groups: []string{"staff"}},
	{ID: "u-alice", Username: "alice", Password: "alice-at-op", Email: "alice@example.com", EmailVerified: true, Groups: []string{"ops"}},
	{ID: "u-huge", Username: "huge", Password: "huge-pw", Email: "huge@example.com", EmailVerified: true, Groups: hugeGroups()},
}

// hugeGroups is a provider's answer that no cookie could hold: 400 long
// group names, with the one a route admits last.
func hugeGroups() []string {
	var gs []string
	for i := range 399 {
		gs = append(gs, fmt.Sprintf("a-very-long-directory-group-name-number-%03d-of-the-organisation-%s", i, strings.Repeat("x", 40)))
	}
	return append(gs, "staff")
}

// opFixture is a gateway with local users alice and bob and the
// providers extra configures, in front of the example OP, which has a
// confidential client "authgate" and a public one "authgate-public" for
// each provider id in ids.
type opFixture struct {
	*fixture
	op *testOP
}

func newOPFixture(t *testing.T, st *State, extra func(issuer string) string, ids ...string) *opFixture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var clients []*storage.Client
	var redirects []string
	for _, id := range ids {
		redirects = append(redirects, base+"/login/"+id+"/callback")
	}
	clients = append(clients, storage.WebClient("authgate", opSecret, redirects...), storage.WebClient("other-client", opSecret, redirects...),
		storage.NativeClient("authgate-public", redirects...))
	op := startOP(t, providerUsers, clients...)
	doc := strings.Replace(baseConfig, "routes:\n", "upstream_headers:\n  groups: X-Forwarded-Groups\nroutes:\n  - path: /staff/\n    upstream: UPSTREAM\n    allowed_groups: [staff]\n", 1) + "session:\n  insecure_cookie: true\n" + extra(op.issuer)
	f := newFixtureOn(t, doc, st, ln)
	f.gw.start(t.Context())
	pf := &opFixture{fixture: f, op: op}
	for _, p := range f.gw.providerList {
		deadline := time.Now().Add(10 * time.Second)
		for p.found.Load() == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return pf
}

// corp is a provider section for the test OP.
func corp(id, client string, more ...string) func(string) string {
	return func(issuer string) string {
		s := "  - id: " + id + "\n    name: Corp " + id + "\n    issuer: " + issuer + "\n    client_id: " + client + "\n"
		if client != "authgate-public" {
			s += "    client_secret: " + opSecret + "\n"
		}
		s += "    scopes: [openid, profile, email, groups]\n    groups_claim: groups\n"
		for _, m := range more {
			s += "    " + m + "\n"
		}
		return s
	}
}

func providers(sections ...func(string) string) func(string) string {
	return func(issuer string) string {
		s := "providers:\n"
		for _, sec := range sections {
			s += sec(issuer)
		}
		return s
	}
}

// signIn runs a whole sign-in through provider id as username and returns
// the gateway's answer to the callback.
func (pf *opFixture) signIn(t *testing.T, b *opBrowser, id, username, password, rd string) (*http.Response, string) {
	t.Helper()
	start := pf.url + "/login/" + id
	if rd != "" {
		start += "?rd=" + url.QueryEscape(rd)
	}
	callback := b.signInAtOP(start, username, password)
	return b.get(callback)
}

// signins is authgate_provider_signins_total{provider=id,outcome=outcome}.
func (pf *opFixture) signins(id, outcome string) string {
	line := fmt.Sprintf("authgate_provider_signins_total{outcome=%q,provider=%q} ", outcome, id)
	for _, l := range strings.Split(metricsText(pf.fixture), "\n") {
		if v, ok := strings.CutPrefix(l, line); ok {
			return v
		}
	}
	return "0"
}

// TestProviderSignIn: a person signs in at the provider and comes back to
// the page they asked for, with a session like a password login's: the
// upstream sees the provider's username and groups, the cookie stays
// small, and logout ends it.
func TestProviderSignIn(t *testing.T) {
	for _, client := range []string{"authgate", "authgate-public"} {
		t.Run(client, func(t *testing.T) {
			pf := newOPFixture(t, nil, providers(corp("corp", client)), "corp")
			b := newOPBrowser(t)
			resp, body := b.get(pf.url + "/login?rd=/staff/x")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="/login/corp?rd=%2Fstaff%2Fx"`) || !strings.Contains(body, "Sign in with Corp corp") ||
				!strings.Contains(body, `name="password"`) {
				t.Fatalf("login page %d lacks the provider button or the password form:\n%s", resp.StatusCode, body)
			}
			resp, _ = pf.signIn(t, b, "corp", "carol", "carol-pw", "/staff/x")
			if resp.StatusCode != http.StatusSeeOther || location(t, resp) != pf.url+"/staff/x" {
				t.Fatalf("callback: status %d, reason %q, Location %q; want 303 to /staff/x", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), resp.Header.Get("Location"))
			}
			c := b.cookie(pf.url, pf.gw.cfg.Session.CookieName)
			if c == nil || len(c.Name)+1+len(c.Value) >= 1024 {
				t.Fatalf("session cookie %v", c)
			}
			if b.cookie(pf.url, pf.gw.flow.name) != nil {
				t.Error("the flow cookie outlived the callback")
			}
			resp, body = b.get(pf.url + "/staff/x")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /staff/x with the session: %d %s", resp.StatusCode, body)
			}
			got := echoed(t, body)
			if u := got.Headers["X-Forwarded-User"]; len(u) != 1 || u[0] != "carol" {
				t.Errorf("upstream saw user %q", u)
			}
			if g := got.Headers["X-Forwarded-Groups"]; len(g) != 1 || g[0] != "staff,ops" {
				t.Errorf("upstream saw groups %q", g)
			}
			id, err := pf.gw.tokens.Verify(c.Value)
			if err != nil || id.Provider != "corp" || len(id.AMR) != 1 || id.AMR[0] != "corp" {
				t.Errorf("session token: %+v %v; want idp and amr corp", id, err)
			}
			if n := pf.signins("corp", "success"); n != "1" {
				t.Errorf("authgate_provider_signins_total{outcome=success} = %v", n)
			}
			// Logout ends the session.
			req, _ := http.NewRequest(http.MethodPost, pf.url+"/logout", nil)
			req.AddCookie(c)
			if resp, err := noFollow.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout: %v %v", resp, err)
			}
			resp, _ = pf.do(t, http.MethodGet, "/staff/x", http.Header{"Cookie": {c.Name + "=" + c.Value}}, "")
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Authgate-Reason") != "revoked" {
				t.Errorf("after logout: %d %q", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
			}
		})
	}
}

// reforge re-signs the OP's ID token with its key after change, or with
// alg none or HS256 keyed with the client secret.
func (pf *opFixture) reforge(t *testing.T, alg string, change func(c map[string]any)) func(string) string {
	return func(raw string) string {
		c := claimsOf(t, raw)
		change(c)
		return pf.op.sign(t, c, alg, opSecret)
	}
}

// TestProviderRefusals: every way a sign-in through a provider is refused
// ends on a page that says so, with the reason in X-Authgate-Reason and in
// authgate_provider_signins_total, and never with a session.
func TestProviderRefusals(t *testing.T) {
	keep := func(map[string]any) {}
	tests := []struct {
		name     string
		options  []string
		user     string
		password string
		rd       string
		// forge, when set, replaces the OP's ID token.
		forge func(pf *opFixture) func(string) string
		// callback, when set, changes the callback URL the OP sent.
		callback func(u *url.URL)
		fresh    bool // the callback comes to a browser without the flow cookie
		status   int
		reason   string
		message  string
	}{
		{name: "wrong state", callback: func(u *url.URL) {
			q := u.Query()
			q.Set("state", "not-the-state")
			u.RawQuery = q.Encode()
		}, status: 400, reason: "oidc_state", message: "expired or was already used"},
		{name: "no state", callback: func(u *url.URL) {
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
		}, status: 400, reason: "oidc_state"},
		{name: "callback in another browser", fresh: true, status: 400, reason: "oidc_state"},
		{name: "provider error", callback: func(u *url.URL) {
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			q.Set("error_description", "<script>the user said no</script>")
			u.RawQuery = q.Encode()
		}, status: 403, reason: "provider_error", message: "did not sign you in"},
		{name: "answer from another issuer (RFC 9207)", callback: func(u *url.URL) {
			q := u.Query()
			q.Set("iss", "https://idp.attacker.example")
			u.RawQuery = q.Encode()
		}, status: 401, reason: "id_token_issuer"},
		{name: "alg none", forge: func(pf *opFixture) func(string) string { return pf.reforge(t, "none", keep) }, status: 401, reason: "id_token_algorithm"},
		{name: "HS256 keyed with the client secret", forge: func(pf *opFixture) func(string) string { return pf.reforge(t, "HS256", keep) }, status: 401, reason: "id_token_algorithm"},
		{name: "signature", forge: func(pf *opFixture) func(string) string {
			return func(raw string) string {
				parts := strings.Split(raw, ".")
				c := claimsOf(t, raw)
				c["preferred_username"] = "admin"
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, c)) + "." + parts[2]
			}
		}, status: 401, reason: "id_token_signature"},
		{name: "another audience", forge: func(pf *opFixture) func(string) string {
			return pf.reforge(t, "RS256", func(c map[string]any) { c["aud"] = []string{"other-client"}; c["azp"] = "other-client" })
		}, status: 401, reason: "id_token_audience"},
		{name: "several audiences, azp another client", forge: func(pf *opFixture) func(string) string {
			return pf.reforge(t, "RS256", func(c map[string]any) { c["aud"] = []string{"authgate", "other-client"}; c["azp"] = "other-client" })
		}, status: 401, reason: "id_token_audience"},
		{name: "several audiences, no azp", forge: func(pf *opFixture) func(string) string {
			return pf.reforge(t, "RS256", func(c map[string]any) { c["aud"] = []string{"authgate", "other-client"}; delete(c, "azp") })
		}, status: 401, reason: "id_token_audience"},
		{name: "expired", forge: func(pf *opFixture) func(string) string {
			return pf.reforge(t, "RS256", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
		}, status: 401, reason: "id_token_expired"},
		{name: "another issuer (mix-up)", forge: func(pf *opFixture) func(string) string {
			return pf.reforge(t, "RS256", func(c map[string]any) { c["iss"] = "https://idp.attacker.example" })
		}, status: 401, reason: "id_token_issuer"},
		{name: "nonce of another sign-in", forge: func(pf *opFixture) func(string) string {
			return pf.reforge(t, "RS256", func(c map[string]any) { c["nonce"] = "a-nonce-from-another-flow" })
		}, status: 401, reason: "id_token_nonce"},
		{name: "iat in the future", forge: func(pf *opFixture) func(string) string {
			return pf.reforge(t, "RS256", func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })
		}, status: 401, reason: "id_token_claims"},
		{name: "email not verified", options: []string{"allowed_email_domains: [example.com]"}, user: "erin", status: 403, reason: "email_unverified", message: "may not sign in here"},
		{name: "email domain not allowed", options: []string{"allowed_email_domains: [example.com]"}, user: "dave", status: 403, reason: "email_domain_not_allowed"},
		{name: "not in an allowed group", options: []string{"allowed_groups: [staff]"}, user: "dave", status: 403, reason: "group_not_allowed"},
		{name: "named like a local user", user: "alice", status: 401, reason: "shadows_local_user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pf := newOPFixture(t, nil, providers(corp("corp", "authgate", tc.options...)), "corp")
			if tc.forge != nil {
				pf.op.setTamper(tc.forge(pf))
			}
			user, password := "carol", "carol-pw"
			if tc.user != "" {
				user = tc.user
				for _, u := range providerUsers {
					if u.Username == user {
						password = u.Password
					}
				}
			}
			b := newOPBrowser(t)
			cb := b.signInAtOP(pf.url+"/login/corp?rd=%2Fstaff%2F", user, password)
			u, _ := url.Parse(cb)
			if tc.callback != nil {
				tc.callback(u)
			}
			if tc.fresh {
				b = newOPBrowser(t)
			}
			resp, body := b.get(u.String())
			if resp.StatusCode != tc.status || resp.Header.Get("X-Authgate-Reason") != tc.reason {
				t.Fatalf("callback: %d %q, want %d %q\n%s", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), tc.status, tc.reason, pf.logs)
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `class="error"`) ||
				tc.message != "" && !strings.Contains(body, tc.message) || strings.Contains(body, "<script>") {
				t.Errorf("refusal page:\n%s", body)
			}
			if c := b.cookie(pf.url, pf.gw.cfg.Session.CookieName); c != nil {
				t.Errorf("a refused sign-in set a session cookie")
			}
			if n := pf.signins("corp", tc.reason); n != "1" {
				t.Errorf("authgate_provider_signins_total{outcome=%q} = %s, want 1", tc.reason, n)
			}
		})
	}
}

// TestProviderReplayedCallback: the provider's answer is accepted once.
// The flow cookie is cleared by the first callback, and its state is
// recorded in the State store, so sending the same callback with the same
// cookie again (a stolen or re-played redirect) is refused, on any replica
// sharing the store.
func TestProviderReplayedCallback(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate")), "corp")
	b := newOPBrowser(t)
	cb := b.signInAtOP(pf.url+"/login/corp", "carol", "carol-pw")
	flowCookie := b.cookie(pf.url, pf.gw.flow.name)
	if flowCookie == nil {
		t.Fatal("no flow cookie")
	}
	if resp, _ := b.get(cb); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback: %d %q", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
	// A second replica over the same store.
	other := newFixtureOver(t, baseConfig+"session:\n  insecure_cookie: true\n"+providers(corp("corp", "authgate"))(pf.op.issuer), pf.gw.State())
	other.gw.start(t.Context())
	for range 500 {
		if other.gw.providers["corp"].found.Load() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, base := range []string{pf.url, other.url} {
		u, _ := url.Parse(cb)
		target, _ := url.Parse(base)
		u.Host = target.Host
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		req.AddCookie(&http.Cookie{Name: flowCookie.Name, Value: flowCookie.Value})
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Authgate-Reason") != "oidc_replayed" {
			t.Errorf("replay at %s: %d %q, want 400 oidc_replayed", base, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
		}
		if len(resp.Cookies()) != 1 || resp.Cookies()[0].Name != flowCookie.Name || resp.Cookies()[0].MaxAge >= 0 {
			t.Errorf("replay at %s set cookies %v; want only the flow cookie cleared", base, resp.Cookies())
		}
	}
}

// TestProviderStartRefusals: an rd outside the allow-list and an unknown
// provider id are refused before the browser is sent anywhere.
func TestProviderStartRefusals(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate")), "corp")
	for _, tc := range []struct {
		path   string
		status int
		reason string
	}{
		{"/login/corp?rd=" + url.QueryEscape("https://evil.example/"), 400, "unsafe_redirect"},
		{"/login/corp?rd=" + url.QueryEscape("//evil.example/"), 400, "unsafe_redirect"},
		{"/login/nope", 404, "provider_unknown"},
		{"/login/nope/callback?code=x&state=y", 404, "provider_unknown"},
		{"/login/corp/callback?code=x&state=y", 400, "oidc_state"},
	} {
		b := newOPBrowser(t)
		resp, body := b.get(pf.url + tc.path)
		if resp.StatusCode != tc.status || resp.Header.Get("X-Authgate-Reason") != tc.reason || !strings.Contains(body, `class="error"`) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), tc.status, tc.reason)
		}
		if len(resp.Cookies()) > 0 && resp.Cookies()[0].MaxAge >= 0 {
			t.Errorf("GET %s set %v", tc.path, resp.Cookies())
		}
	}
}

// TestProviderUserNamedLikeALocalUser: by default a provider's "alice" is
// refused while a local alice exists (TestProviderRefusals); with
// map_to_local: true she signs in as the local alice, with the local
// account's groups and revocation.
func TestProviderMapToLocal(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate", "map_to_local: true")), "corp")
	b := newOPBrowser(t)
	resp, _ := pf.signIn(t, b, "corp", "alice", "alice-at-op", "/api/x")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %q", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
	id, err := pf.gw.tokens.Verify(b.cookie(pf.url, pf.gw.cfg.Session.CookieName).Value)
	if err != nil || id.Provider != "" || id.Username != "alice" || len(id.Groups) != 0 || id.AMR[0] != "corp" {
		t.Errorf("session %+v %v; want the local alice (no idp, her local groups), amr corp", id, err)
	}
	if resp, _ := b.get(pf.url + "/admin/"); resp.StatusCode != http.StatusOK {
		t.Errorf("the local alice's route: %d", resp.StatusCode)
	}
}

// TestProviderUserShadowedLater: a provider user's session stops working
// once a local user of the same name is added (a reload), unless the
// provider maps to local users.
func TestProviderUserShadowedLater(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate")), "corp")
	b := newOPBrowser(t)
	if resp, _ := pf.signIn(t, b, "corp", "carol", "carol-pw", "/api/x"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %q", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
	cookie := b.cookie(pf.url, pf.gw.cfg.Session.CookieName)
	doc := strings.Replace(baseConfig, "users:\n", "users:\n  - username: carol\n    password_hash: \""+bobHash+"\"\n", 1) +
		"session:\n  insecure_cookie: true\n" + providers(corp("corp", "authgate"))(pf.op.issuer)
	reloaded := newFixtureOver(t, doc, pf.gw.State())
	resp, _ := reloaded.do(t, http.MethodGet, "/api/x", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Authgate-Reason") != "shadows_local_user" {
		t.Errorf("provider carol's session beside a local carol: %d %q, want 401 shadows_local_user", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
}

// TestProviderHugeClaims: a user with 400 long groups still signs in; the
// session cookie stays under 1 KiB, keeping the groups routes name first,
// so the route admitting "staff" (the provider's last group) admits them.
func TestProviderHugeClaims(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate")), "corp")
	b := newOPBrowser(t)
	resp, _ := pf.signIn(t, b, "corp", "huge", "huge-pw", "/staff/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %q", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
	c := b.cookie(pf.url, pf.gw.cfg.Session.CookieName)
	if n := len(c.Name) + 1 + len(c.Value); n >= 1024 {
		t.Errorf("session cookie is %d bytes", n)
	}
	resp, body := b.get(pf.url + "/staff/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/staff/: %d", resp.StatusCode)
	}
	if g := echoed(t, body).Headers["X-Forwarded-Groups"]; len(g) != 1 || !strings.HasPrefix(g[0], "staff,a-very-long") {
		t.Errorf("groups upstream %q; want staff first, then as many as fit", g)
	}
	if !strings.Contains(pf.logs.String(), "groups cut to fit the session cookie") {
		t.Error("cutting the groups was not logged")
	}
}

// TestProviderDown: a provider that cannot be reached does not stop the
// gateway: its button says so, choosing it explains, discovery errors are
// counted, and the password form keeps working.
func TestProviderDown(t *testing.T) {
	dead := "http://" + deadAddr(t)
	doc := baseConfig + "session:\n  insecure_cookie: true\nproviders:\n  - {id: corp, name: Corp, issuer: " + dead + ", client_id: a}\n"
	f := newFixtureFrom(t, doc)
	f.gw.start(t.Context())
	p := f.gw.providers["corp"]
	for range 500 {
		if p.failing.Load() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, body := f.do(t, http.MethodGet, "/login", http.Header{"Accept": {"text/html"}}, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "cannot be reached right now") || !strings.Contains(body, `name="password"`) {
		t.Fatalf("login page while the provider is down: %d\n%s", resp.StatusCode, body)
	}
	resp, body = f.do(t, http.MethodGet, "/login/corp", http.Header{"Accept": {"text/html"}}, "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Authgate-Reason") != "provider_unavailable" || !strings.Contains(body, "cannot be reached") {
		t.Errorf("/login/corp: %d %q", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
	if !strings.Contains(metricsText(f), `authgate_provider_discovery_errors_total{provider="corp"} `) {
		t.Error("no discovery error counted")
	}
	resp, _ = f.do(t, http.MethodPost, "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"text/html"}},
		"username=alice&password="+alicePassword)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("password login while the provider is down: %d", resp.StatusCode)
	}
}

// TestProviderRevocationIsPerProvider: two providers that both know a
// "carol" keep separate sessions: logging one out everywhere leaves the
// other's signed in.
func TestProviderRevocationIsPerProvider(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate"), corp("corp2", "authgate-public")), "corp", "corp2")
	session := func(id string) *http.Cookie {
		b := newOPBrowser(t)
		if resp, _ := pf.signIn(t, b, id, "carol", "carol-pw", "/api/x"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s callback: %d %q", id, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
		}
		return b.cookie(pf.url, pf.gw.cfg.Session.CookieName)
	}
	one, two := session("corp"), session("corp2")
	status := func(c *http.Cookie) int {
		resp, _ := pf.do(t, http.MethodGet, "/api/x", http.Header{"Cookie": {c.Name + "=" + c.Value}}, "")
		return resp.StatusCode
	}
	resp, _ := pf.do(t, http.MethodPost, "/logout", http.Header{"Cookie": {one.Name + "=" + one.Value}, "Content-Type": {"application/x-www-form-urlencoded"}}, "everywhere=true")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if s := status(one); s != http.StatusUnauthorized {
		t.Errorf("corp's carol after logging out everywhere: %d", s)
	}
	if s := status(two); s != http.StatusOK {
		t.Errorf("corp2's carol after corp's carol logged out everywhere: %d, want 200", s)
	}
}

// addFailingStore is a store whose Add fails, as a shared store's would
// while it is unreachable.
type addFailingStore struct{ store.Store }

func (addFailingStore) Add(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, errors.New("store unreachable")
}

// TestProviderSignInFailsClosedWithoutTheStore: when the store cannot
// record the answer's state, nobody can tell whether it was used before:
// the sign-in is refused (500, reason error), never given a session.
func TestProviderSignInFailsClosedWithoutTheStore(t *testing.T) {
	st := NewState(config.Login{ThrottleSlots: 16, User: config.Throttle{Burst: 5, Interval: time.Second}, Client: config.Throttle{Burst: 5, Interval: time.Second}}, nil)
	st.Store = addFailingStore{st.Store}
	pf := newOPFixture(t, st, providers(corp("corp", "authgate")), "corp")
	b := newOPBrowser(t)
	resp, _ := pf.signIn(t, b, "corp", "carol", "carol-pw", "/api/x")
	if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-Authgate-Reason") != "error" {
		t.Errorf("callback with the store down: %d %q, want 500 error", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
	if b.cookie(pf.url, pf.gw.cfg.Session.CookieName) != nil {
		t.Error("a session was begun")
	}
}

// TestProviderDiscoveryCarriesOverAReload: a reloaded config that keeps a
// provider's issuer and client_id keeps what was discovered, so the button
// works from the first request on the new gateway; one that changes them
// discovers anew.
func TestProviderDiscoveryCarriesOverAReload(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate")), "corp")
	same := *pf.gw.cfg
	next, err := New(&same, Options{Previous: pf.gw, State: pf.gw.State()})
	if err != nil {
		t.Fatal(err)
	}
	if next.providers["corp"].found.Load() == nil {
		t.Error("an unchanged provider was not carried over")
	}
	changed := *pf.gw.cfg
	changed.Providers = slices.Clone(changed.Providers)
	changed.Providers[0].ClientID = "authgate-public"
	next, err = New(&changed, Options{Previous: pf.gw, State: pf.gw.State()})
	if err != nil {
		t.Fatal(err)
	}
	if next.providers["corp"].found.Load() != nil {
		t.Error("a provider with another client_id kept the old discovery")
	}
}
