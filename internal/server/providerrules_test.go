package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestProviderCaseVariantOfALocalUserIsRefused: a provider user whose
// username differs from a local user's only in case ("Alice" beside the
// local "alice") is refused (shadows_local_user), even with map_to_local,
// which maps exact names only: a case-insensitive upstream would read
// X-Forwarded-User: Alice as the local alice. (The config refuses two
// local users that differ only by names.Fold, for the same reason.)
func TestProviderCaseVariantOfALocalUserIsRefused(t *testing.T) {
	for _, opt := range []string{"map_to_local: false", "map_to_local: true"} {
		t.Run(opt, func(t *testing.T) {
			pf := newOPFixture(t, nil, providers(corp("corp", "authgate", opt)), "corp")
			pf.op.setTamper(pf.reforge(t, "RS256", func(c map[string]any) { c["preferred_username"] = "Alice" }))
			b := newOPBrowser(t)
			resp, _ := pf.signIn(t, b, "corp", "carol", "carol-pw", "/api/x")
			if reason := resp.Header.Get("X-Authgate-Reason"); resp.StatusCode == http.StatusSeeOther || reason != "shadows_local_user" {
				id, _ := pf.gw.tokens.Verify(b.cookie(pf.url, pf.gw.cfg.Session.CookieName).Value)
				t.Errorf("provider user %q (idp %q) got a session beside the local alice; want shadows_local_user (or the local alice with map_to_local)", id.Username, id.Provider)
			}
		})
	}
}

// TestProviderUnverifiedEmailIsNoUsername: with username_claim: email, an
// address the provider has not verified (erin, email_verified false) may
// be anyone's: the sign-in is refused (email_unverified), even without
// allowed_email_domains.
func TestProviderUnverifiedEmailIsNoUsername(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate", "username_claim: email")), "corp")
	b := newOPBrowser(t)
	resp, _ := pf.signIn(t, b, "corp", "erin", "erin-pw", "/api/x")
	if resp.StatusCode == http.StatusSeeOther || resp.Header.Get("X-Authgate-Reason") != "email_unverified" {
		id, _ := pf.gw.tokens.Verify(b.cookie(pf.url, pf.gw.cfg.Session.CookieName).Value)
		t.Errorf("unverified email became the username %q; want the sign-in refused (email_unverified)", id.Username)
	}
}

// TestProviderRulesTightenedByReloadEndSessions: sessions carry a
// fingerprint of their provider's admission rules (issuer, client,
// claims, allowed_groups, allowed_email_domains, map_to_local); a reload
// that changes them ends the sessions admitted under the old rules, as
// removing the provider does, instead of leaving them until they expire.
func TestProviderRulesTightenedByReloadEndSessions(t *testing.T) {
	pf := newOPFixture(t, nil, providers(corp("corp", "authgate")), "corp")
	b := newOPBrowser(t)
	if resp, _ := pf.signIn(t, b, "corp", "dave", "dave-pw", "/api/x"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %q", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
	}
	cookie := b.cookie(pf.url, pf.gw.cfg.Session.CookieName)
	doc := baseConfig + "session:\n  insecure_cookie: true\n" + providers(corp("corp", "authgate", "allowed_groups: [staff]"))(pf.op.issuer)
	reloaded := newFixtureOver(t, doc, pf.gw.State())
	resp, _ := reloaded.do(t, http.MethodGet, "/api/x", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, "")
	if resp.StatusCode == http.StatusOK {
		t.Errorf("dave (groups [guests]) still admitted after allowed_groups: [staff]: %d", resp.StatusCode)
	}
}

// TestSessionCookieWithSpaceBeforeEqualsIsStripped: net/http trims the
// space in "name =value" and reads it as the session cookie, so the
// upstream must not get it in that spelling either; nor the sign-in flow
// cookie, which holds a provider sign-in's PKCE verifier.
func TestSessionCookieWithSpaceBeforeEqualsIsStripped(t *testing.T) {
	f := newFixture(t, "")
	tok := f.token(t, "alice")
	name := f.gw.cfg.Session.CookieName
	resp, body := f.do(t, "GET", "/api/x", http.Header{"Cookie": {"theme=dark; " + name + " =" + tok + "; " + flowCookieName(f.gw.cfg.Session.Secure) + "=flow"}}, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: the gateway did not read the cookie", resp.StatusCode)
	}
	got := echoed(t, body).Headers
	if c := strings.Join(got["Cookie"], "; "); strings.Contains(c, tok) || strings.Contains(c, "authgate_oidc") || !strings.Contains(c, "theme=dark") {
		t.Errorf("upstream Cookie = %q: want theme=dark alone", c)
	}
}
