package server

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/keys"
)

// idp is an identity provider on loopback whose JWKS can rotate and go down.
type idp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	served   []keys.Key
	down     bool
	requests atomic.Int64
}

func newIDP(t *testing.T) *idp {
	p := &idp{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(keys.JWKS(p.served))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) serve(ks ...keys.Key) {
	p.mu.Lock()
	p.served, p.down = ks, false
	p.mu.Unlock()
}

func (p *idp) setDown() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
}

// sign makes a provider token for the fixture's clock.
func (p *idp) sign(t *testing.T, f *fixture, k keys.Key, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	now := f.now()
	c := jwt.MapClaims{"iss": "https://idp.test", "aud": "authgate-api", "sub": "0f3a9", "preferred_username": "carol",
		"groups": []string{"staff", "bad group"}, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "idp-1"}
	for key, v := range claims {
		c[key] = v
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Algorithm), c)
	tok.Header["kid"] = k.ID
	for key, v := range header {
		tok.Header[key] = v
	}
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTrustedIssuerKeysRotateAndSurviveAnOutage(t *testing.T) {
	provider := newIDP(t)
	attacker := newIDP(t)
	keyA, keyB, keyC := generatedKey(t, "a", keys.ES256), generatedKey(t, "b", keys.EdDSA), generatedKey(t, "c", keys.EdDSA)
	provider.serve(keyA)
	attacker.serve(keyC)
	f := newFixtureFrom(t, strings.Replace(baseConfig, "  leeway: 5s\n", `  leeway: 5s
  trusted_issuers:
    - issuer: https://idp.test
      audience: authgate-api
      jwks_url: `+provider.srv.URL+`
      algorithms: [ES256, EdDSA]
      username_claim: preferred_username
      groups_claim: groups
`, 1))

	// A provider token works on the proxy and on /verify.
	tokA := provider.sign(t, f, keyA, nil, nil)
	resp, body := f.do(t, "GET", "/api/x", bearer(tokA), "")
	if resp.StatusCode != 200 {
		t.Fatalf("provider token = %d", resp.StatusCode)
	}
	got := echoed(t, body).Headers
	if u, g := strings.Join(got["X-Forwarded-User"], ","), strings.Join(got["X-Forwarded-Groups"], ","); u != "carol" || g != "staff" {
		t.Errorf("upstream saw user %q groups %q, want carol and staff (the unsafe group dropped)", u, g)
	}
	if resp, _ := f.do(t, "GET", "/verify", bearer(tokA), ""); resp.StatusCode != 200 || resp.Header.Get("X-Forwarded-User") != "carol" {
		t.Errorf("verify = %d %q", resp.StatusCode, resp.Header.Get("X-Forwarded-User"))
	}

	// The provider rotates to a new key: an unknown kid triggers a refetch.
	f.advance(31 * time.Second)
	provider.serve(keyB)
	tokB := provider.sign(t, f, keyB, nil, nil)
	if resp, _ := f.do(t, "GET", "/api/x", bearer(tokB), ""); resp.StatusCode != 200 {
		t.Fatalf("token of the rotated-in key = %d, want 200 after a refetch", resp.StatusCode)
	}
	// Garbage kids cannot make authgate hammer the provider.
	before := provider.requests.Load()
	for i := range 20 {
		garbage := provider.sign(t, f, keyC, jwt.MapClaims{"jti": strings.Repeat("x", i+1)}, nil)
		if resp, _ := f.do(t, "GET", "/api/x", bearer(garbage), ""); resp.StatusCode != 401 {
			t.Fatalf("unknown kid = %d, want 401", resp.StatusCode)
		}
	}
	if n := provider.requests.Load() - before; n > 1 {
		t.Errorf("20 tokens with unknown kids caused %d JWKS fetches, want at most 1", n)
	}

	// The provider goes down: the keys already fetched keep working.
	provider.setDown()
	f.advance(31 * time.Second)
	tokB2 := provider.sign(t, f, keyB, jwt.MapClaims{"jti": "idp-2"}, nil)
	if resp, _ := f.do(t, "GET", "/api/x", bearer(tokB2), ""); resp.StatusCode != 200 {
		t.Errorf("known key during an outage = %d, want 200 (stale keys served)", resp.StatusCode)
	}
	unknown := provider.sign(t, f, keyC, nil, nil)
	if resp, _ := f.do(t, "GET", "/api/x", bearer(unknown), ""); resp.StatusCode != 401 {
		t.Errorf("unknown key during an outage = %d, want 401", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `authgate_jwks_refresh_errors_total{issuer="https://idp.test"}`) {
		t.Errorf("no JWKS error metric after the outage")
	}
	if !strings.Contains(f.logs.String(), "serving the previous keys") {
		t.Errorf("no warning about stale keys")
	}

	// Keys named by the token itself are never fetched or trusted.
	provider.serve(keyB)
	f.advance(31 * time.Second)
	for name, hdr := range map[string]map[string]any{
		"jku": {"jku": attacker.srv.URL},
		"x5u": {"x5u": attacker.srv.URL},
	} {
		forged := provider.sign(t, f, keyC, nil, hdr)
		if resp, _ := f.do(t, "GET", "/api/x", bearer(forged), ""); resp.StatusCode != 401 {
			t.Errorf("%s-selected key = %d, want 401", name, resp.StatusCode)
		}
	}
	if n := attacker.requests.Load(); n != 0 {
		t.Errorf("authgate fetched a token-named key URL %d times", n)
	}
	for name, tok := range map[string]string{
		"wrong-audience": provider.sign(t, f, keyB, jwt.MapClaims{"aud": "other-service"}, nil),
		"unknown-issuer": provider.sign(t, f, keyB, jwt.MapClaims{"iss": "https://evil.test"}, nil),
		"missing-user":   provider.sign(t, f, keyB, jwt.MapClaims{"preferred_username": nil}, nil),
		"expired":        provider.sign(t, f, keyB, jwt.MapClaims{"exp": f.now().Add(-time.Hour).Unix()}, nil),
	} {
		if resp, _ := f.do(t, "GET", "/api/x", bearer(tok), ""); resp.StatusCode != 401 {
			t.Errorf("%s = %d, want 401", name, resp.StatusCode)
		}
	}
	// An HS256 token claiming the provider, keyed with its public key.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://idp.test", "aud": "authgate-api", "preferred_username": "carol", "exp": f.now().Add(time.Minute).Unix()})
	hs.Header["kid"] = "b"
	forged, _ := hs.SignedString([]byte(keyB.Public.(ed25519.PublicKey)))
	if resp, _ := f.do(t, "GET", "/api/x", bearer(forged), ""); resp.StatusCode != 401 {
		t.Errorf("HS256 confusion = %d, want 401", resp.StatusCode)
	}
}

func generatedKey(t *testing.T, id, alg string) keys.Key {
	t.Helper()
	k, _, _, err := keys.Generate(id, alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestProviderLogoutDoesNotReachALocalNamesake: revocation keys name the
// issuer, so a provider's user called like a local one, carrying the local
// token's jti, logging out everywhere ends only the provider's session.
func TestProviderLogoutDoesNotReachALocalNamesake(t *testing.T) {
	provider := newIDP(t)
	key := generatedKey(t, "a", keys.EdDSA)
	provider.serve(key)
	f := providerFixture(t, provider, baseConfig)
	local := f.token(t, "alice")
	var localClaims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(local, &localClaims); err != nil {
		t.Fatal(err)
	}
	impostor := provider.sign(t, f, key, jwt.MapClaims{"preferred_username": "alice", "jti": localClaims.ID}, nil)
	if resp, _ := f.do(t, "GET", "/api/x", bearer(impostor), ""); resp.StatusCode != 200 {
		t.Fatalf("provider token = %d, want 200", resp.StatusCode)
	}
	h := bearer(impostor)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := f.do(t, "POST", "/logout", h, "everywhere=true"); resp.StatusCode != 204 {
		t.Fatalf("provider logout everywhere = %d, want 204", resp.StatusCode)
	}
	if resp, _ := f.do(t, "GET", "/api/x", bearer(impostor), ""); resp.StatusCode != 401 {
		t.Errorf("the provider token after its logout = %d, want 401", resp.StatusCode)
	}
	if resp, _ := f.do(t, "GET", "/api/x", bearer(local), ""); resp.StatusCode != 200 {
		t.Errorf("the local alice's token after the provider's alice logged out = %d, want 200", resp.StatusCode)
	}
}
