package server

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/keys"
)

// TestProviderNamesFollowTheLocalRules: a trusted provider's username claim
// is held to the rule the config applies to local users, so no separator,
// invisible or space character reaches X-Forwarded-User, on the proxy or in
// a /verify answer; groups that break the rule are dropped.
func TestProviderNamesFollowTheLocalRules(t *testing.T) {
	provider := newIDP(t)
	key := generatedKey(t, "a", keys.EdDSA)
	provider.serve(key)
	f := newFixtureFrom(t, strings.Replace(baseConfig, "  leeway: 5s\n", `  leeway: 5s
  trusted_issuers:
    - issuer: https://idp.test
      audience: authgate-api
      jwks_url: `+provider.srv.URL+`
      algorithms: [EdDSA]
      username_claim: preferred_username
      groups_claim: groups
`, 1))

	good := provider.sign(t, f, key, jwt.MapClaims{"groups": []string{"staff", "ops:admin", "st\u200baff", "a\u00a0b", "x,y"}}, nil)
	resp, body := f.do(t, "GET", "/api/x", bearer(good), "")
	if resp.StatusCode != 200 {
		t.Fatalf("a plain provider name = %d, want 200", resp.StatusCode)
	}
	got := echoed(t, body).Headers
	if u, g := strings.Join(got["X-Forwarded-User"], ","), strings.Join(got["X-Forwarded-Groups"], ","); u != "carol" || g != "staff" {
		t.Errorf("upstream saw user %q groups %q, want carol and staff (the other groups dropped)", u, g)
	}

	tests := []struct{ name, username string }{
		{"colon", "user2:admin"},
		{"zero-width-space", "user\u200b2"},
		{"trailing-no-break-space", "user2\u00a0"},
		{"line-separator", "user\u20282"},
		{"next-line", "user\u00852"},
		{"ideographic-space", "user\u30002"},
		{"byte-order-mark", "\ufeffuser2"},
		{"fullwidth-colon", "user2\uff1aadmin"},
		{"comma", "user2,admin"},
		{"space", "user2 admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := provider.sign(t, f, key, jwt.MapClaims{"preferred_username": tt.username, "jti": "idp-names-" + tt.name}, nil)
			before := len(f.upstreamPaths())
			if resp, _ := f.do(t, "GET", "/api/x", bearer(tok), ""); resp.StatusCode != 401 {
				t.Errorf("proxy with username %q = %d, want 401", tt.username, resp.StatusCode)
			}
			if n := len(f.upstreamPaths()) - before; n != 0 {
				t.Errorf("username %q reached the upstream %d times", tt.username, n)
			}
			resp, _ := f.do(t, "GET", "/verify", bearer(tok), "")
			if resp.StatusCode != 401 || resp.Header.Get("X-Forwarded-User") != "" || resp.Header.Get("Remote-User") != "" {
				t.Errorf("verify with username %q = %d user %q, want 401 and no user", tt.username, resp.StatusCode, resp.Header.Get("X-Forwarded-User"))
			}
		})
	}
}
