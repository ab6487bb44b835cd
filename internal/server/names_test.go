package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/keys"
)

// TestProviderNamesFollowTheLocalRules: a trusted provider's username claim
// is held to the rule the config applies to local users, so no separator,
// invisible or space character reaches X-Forwarded-User, on the proxy or in
// a /verify answer; groups that break the rule are dropped.
func TestProviderNamesFollowTheLocalRules(t *testing.T) {
	provider := newIDP(t)
	key := generatedKey(t, "a", keys.EdDSA)
	provider.serve(key)
	f := providerFixture(t, provider, baseConfig, "groups_claim: groups")

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
		{"hangul-filler", "alice\u3164"},
		{"variation-selector", "alice\ufe0f"},
		{"braille-blank", "alice\u2800"},
		{"fullwidth-letters", "ａｌｉｃｅ"},
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

// TestAccountsWhoseNamesFoldTogetherNeverShareABucket: the login throttle
// keys a username by its folded form, so that case and Unicode variants of
// a name cannot earn an attacker extra attempts. Two accounts whose names
// fold together would then share a bucket: one's failures would lock the
// other out, and one's success would clear the other's lockout. The config
// refuses such a pair, naming both; were it ever accepted, the accounts'
// buckets must still be apart, which is checked over HTTP.
func TestAccountsWhoseNamesFoldTogetherNeverShareABucket(t *testing.T) {
	for _, tt := range []struct{ name, twin string }{
		{"upper-case", "ALICE"},
		{"title-case", "Alice"},
	} {
		twin := tt.twin
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(baseConfig, "routes:\n", `  - username: `+twin+`
    password_hash: "`+aliceHash+`"
trusted_proxies: [127.0.0.1/32]
login:
  throttle:
    user: {burst: 3, interval: 1h}
routes:
`, 1)
			_, err := config.Parse([]byte(strings.NewReplacer("UPSTREAM", "http://127.0.0.1:1", "DEAD", "http://127.0.0.1:1",
				"SLOW", "http://127.0.0.1:1", "STREAM", "http://127.0.0.1:1").Replace(doc)), t.TempDir(), func(string) (string, bool) { return "", false })
			if err != nil {
				for _, want := range []string{"users[2].username", "users[0].username"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("config error %q does not name %s", err, want)
					}
				}
				return
			}
			f := newFixtureFrom(t, doc)
			login := func(user, password, client string) int {
				h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {client}}
				resp, _ := f.do(t, "POST", "/login", h, url.Values{"username": {user}, "password": {password}}.Encode())
				return resp.StatusCode
			}
			for i := range 2 {
				if got := login(twin, "wrong", "198.51.100.1"); got != 401 {
					t.Fatalf("failure %d of %q = %d, want 401", i, twin, got)
				}
			}
			if got := login("alice", alicePassword, "198.51.100.2"); got != 200 {
				t.Fatalf("alice with her password = %d, want 200", got)
			}
			// twin has one failure left of three; alice's success must not
			// have given back the two it spent.
			if got := login(twin, "wrong", "198.51.100.3"); got != 401 {
				t.Fatalf("third failure of %q = %d, want 401", twin, got)
			}
			if got := login(twin, "wrong", "198.51.100.4"); got != 429 {
				t.Errorf("fourth failure of %q = %d, want 429: alice's success cleared its lockout", twin, got)
			}
		})
	}
}
