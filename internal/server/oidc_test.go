package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
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

func newOPFixture(t *testing.T, extra func(issuer string) string, ids ...string) *opFixture {
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
	f := newFixtureOn(t, doc, nil, ln)
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
			pf := newOPFixture(t, providers(corp("corp", client)), "corp")
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
