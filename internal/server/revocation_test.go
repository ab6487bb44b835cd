package server

import (
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/keys"
	"github.com/authgate/authgate/internal/store"
)

// refreshConfig is baseConfig with refresh tokens on.
var refreshConfig = strings.Replace(baseConfig, "  leeway: 5s\n", "  leeway: 5s\n  refresh:\n    enabled: true\n", 1)

// providerFixture is a gateway that trusts provider's ES256 and EdDSA
// tokens; extra lines are added to the issuer's entry.
func providerFixture(t *testing.T, provider *idp, doc string, extra ...string) *fixture {
	t.Helper()
	issuer := `  trusted_issuers:
    - issuer: https://idp.test
      audience: authgate-api
      jwks_url: ` + provider.srv.URL + `
      algorithms: [ES256, EdDSA]
      username_claim: preferred_username
`
	for _, line := range extra {
		issuer += "      " + line + "\n"
	}
	return newFixtureFrom(t, strings.Replace(doc, "  leeway: 5s\n", "  leeway: 5s\n"+issuer, 1))
}

// signExactly signs claims as they are, so a test can leave out any of
// them (idp.sign always adds a jti).
func signExactly(t *testing.T, k keys.Key, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Algorithm), claims)
	tok.Header["kid"] = k.ID
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// providerClaims are a valid provider token's claims for carol, issued
// now, with a jti only when jti is not nil.
func providerClaims(f *fixture, jti any, lifetime time.Duration) jwt.MapClaims {
	now := f.now()
	c := jwt.MapClaims{"iss": "https://idp.test", "aud": "authgate-api", "preferred_username": "carol",
		"iat": now.Unix(), "exp": now.Add(lifetime).Unix()}
	if jti != nil {
		c["jti"] = jti
	}
	return c
}

// malleate returns the other valid spelling of an ES256 token: the same
// header and payload with s replaced by n-s, which ECDSA accepts as well.
func malleate(t *testing.T, token string) string {
	t.Helper()
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("ES256 signature: %v (%d bytes)", err, len(sig))
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	out := append(append([]byte(nil), sig[:32]...), s.FillBytes(make([]byte, 32))...)
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(out)
}

func logout(t *testing.T, f *fixture, token string, everywhere bool) int {
	t.Helper()
	h := bearer(token)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	body := ""
	if everywhere {
		body = "everywhere=true"
	}
	resp, _ := f.do(t, "POST", "/logout", h, body)
	return resp.StatusCode
}

// TestLogoutEndsProviderTokensWithoutAUsableJTI: a provider's jti may be
// missing, long or a number; logout must end the token all the same.
func TestLogoutEndsProviderTokensWithoutAUsableJTI(t *testing.T) {
	tests := []struct {
		name string
		jti  any
	}{
		{"no-jti", nil},
		{"jti-over-128-characters", strings.Repeat("j", 129)},
		{"numeric-jti", 12345},
		{"string-jti", "idp-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			provider := newIDP(t)
			key := generatedKey(t, "a", keys.EdDSA)
			provider.serve(key)
			f := providerFixture(t, provider, baseConfig)
			token := signExactly(t, key, providerClaims(f, tt.jti, 5*time.Minute))
			other := signExactly(t, key, providerClaims(f, "another-token", 6*time.Minute))
			if p, v := f.works(t, token); p != 200 || v != 200 {
				t.Fatalf("provider token = %d/%d, want 200", p, v)
			}
			if status := logout(t, f, token, false); status != 204 {
				t.Fatalf("logout = %d, want 204", status)
			}
			if p, v := f.works(t, token); p != 401 || v != 401 {
				t.Errorf("the token after its logout: proxy %d, verify %d; want 401 on both", p, v)
			}
			if p, v := f.works(t, other); p != 200 || v != 200 {
				t.Errorf("another token of the same user after the logout = %d/%d, want 200 (only the logged-out token ends)", p, v)
			}
		})
	}

	// An ECDSA signature has two valid forms; the other form of a
	// logged-out token is the same token and stays logged out.
	t.Run("es256-other-signature-form", func(t *testing.T) {
		provider := newIDP(t)
		key := generatedKey(t, "e", keys.ES256)
		provider.serve(key)
		f := providerFixture(t, provider, baseConfig)
		token := signExactly(t, key, providerClaims(f, nil, 5*time.Minute))
		twin := malleate(t, token)
		if p, _ := f.works(t, twin); p != 200 {
			t.Fatalf("the other signature form before logout = %d, want 200 (ECDSA accepts it)", p)
		}
		if status := logout(t, f, token, false); status != 204 {
			t.Fatalf("logout = %d, want 204", status)
		}
		if p, v := f.works(t, twin); p != 401 || v != 401 {
			t.Errorf("the other signature form after logout = %d/%d, want 401", p, v)
		}
	})
}

// pinSecond moves the fixture's clock to the start of the next second and
// returns a function that moves it back there, so that a test's steps
// all happen within one second of iat however slowly they run.
func pinSecond(f *fixture) (start time.Time, back func()) {
	start = f.now().Truncate(time.Second).Add(time.Second)
	back = func() { f.advance(start.Sub(f.now())) }
	back()
	return start, back
}

// TestLogoutEverywhereEndsEverySessionBegunBeforeIt: access tokens,
// session cookies and refresh tokens of the user's other sessions, even
// those issued in the very second of the logout; a login right after it
// works.
func TestLogoutEverywhereEndsEverySessionBegunBeforeIt(t *testing.T) {
	f := newFixtureFrom(t, refreshConfig)
	accessEarlier, refreshEarlier := f.apiLogin(t, "alice", alicePassword)
	f.advance(2 * time.Second)
	_, back := pinSecond(f)
	accessA, refreshA := f.apiLogin(t, "alice", alicePassword)
	back()
	accessB, refreshB := f.apiLogin(t, "bob", "bobpassword")
	back()
	accessC, refreshC := f.apiLogin(t, "alice", alicePassword)
	back()
	_, _, cookie := f.browserLogin(t, "alice", alicePassword, "/")
	back()
	if status := logout(t, f, accessA, true); status != 204 {
		t.Fatalf("logout everywhere = %d, want 204", status)
	}
	back()
	for name, tok := range map[string]string{"A's access token": accessA, "C's access token": accessC, "the session cookie": cookie,
		"an earlier session's access token": accessEarlier} {
		if p, v := f.works(t, tok); p != 401 || v != 401 {
			t.Errorf("%s after logout everywhere = %d/%d, want 401", name, p, v)
		}
	}
	for name, tok := range map[string]string{"A's refresh token": refreshA, "C's refresh token": refreshC,
		"an earlier session's refresh token": refreshEarlier} {
		back()
		if status, access, _ := f.refresh(t, tok, false); status != 400 {
			p, _ := f.works(t, access)
			t.Errorf("%s after logout everywhere = %d (its new access token: %d), want 400", name, status, p)
		}
	}
	back()
	if p, _ := f.works(t, accessB); p != 200 {
		t.Errorf("another user's access token = %d, want 200", p)
	}
	if status, _, _ := f.refresh(t, refreshB, false); status != 200 {
		t.Errorf("another user's refresh token = %d, want 200", status)
	}

	// Logging in again right away, in the same second, works.
	back()
	fresh, refreshFresh := f.apiLogin(t, "alice", alicePassword)
	if p, v := f.works(t, fresh); p != 200 || v != 200 {
		t.Errorf("a login right after logout everywhere = %d/%d, want 200", p, v)
	}
	status, access, _ := f.refresh(t, refreshFresh, false)
	if p, _ := f.works(t, access); status != 200 || p != 200 {
		t.Errorf("its refresh = %d, new access token %d; want 200", status, p)
	}
}

// TestProviderLogoutEverywhereRefusesTokensOfItsSecond: a provider's
// tokens cannot carry authgate's epoch, so every one issued up to and
// including the second of the logout is refused.
func TestProviderLogoutEverywhereRefusesTokensOfItsSecond(t *testing.T) {
	provider := newIDP(t)
	key := generatedKey(t, "a", keys.EdDSA)
	provider.serve(key)
	f := providerFixture(t, provider, baseConfig)
	_, back := pinSecond(f)
	first := provider.sign(t, f, key, jwt.MapClaims{"jti": "first", "preferred_username": "carol"}, nil)
	sameSecond := provider.sign(t, f, key, jwt.MapClaims{"jti": "second", "preferred_username": "carol"}, nil)
	if status := logout(t, f, first, true); status != 204 {
		t.Fatalf("logout everywhere = %d, want 204", status)
	}
	back()
	if p, v := f.works(t, sameSecond); p != 401 || v != 401 {
		t.Errorf("a token issued in the logout's second = %d/%d, want 401", p, v)
	}
	f.advance(time.Second)
	next := provider.sign(t, f, key, jwt.MapClaims{"jti": "third", "preferred_username": "carol"}, nil)
	if p, v := f.works(t, next); p != 200 || v != 200 {
		t.Errorf("a token issued the second after = %d/%d, want 200", p, v)
	}
}

// TestRefreshFailuresAnswerAsDocumented: a well-formed request whose token
// authgate never issued is invalid_grant, whatever its length; a request
// without one is invalid_request.
func TestRefreshFailuresAnswerAsDocumented(t *testing.T) {
	f := newFixtureFrom(t, refreshConfig)
	_, valid := f.apiLogin(t, "alice", alicePassword)
	family, _, _ := strings.Cut(valid, ".")
	tests := []struct {
		name  string
		body  string
		want  int
		error string
	}{
		{"oversized-token", "grant_type=refresh_token&refresh_token=" + strings.Repeat("a", 300), 400, "invalid_grant"},
		{"huge-token", "refresh_token=" + strings.Repeat("a", 3000), 400, "invalid_grant"},
		{"garbage-token", "refresh_token=garbage", 400, "invalid_grant"},
		{"unknown-family", "refresh_token=AAAAAAAAAAAAAAAAAAAAAA." + strings.Repeat("A", 43), 400, "invalid_grant"},
		{"known-family-made-up-secret", "refresh_token=" + family + "." + strings.Repeat("A", 43), 400, "invalid_grant"},
		{"empty-token", "grant_type=refresh_token&refresh_token=", 400, "invalid_request"},
		{"no-token", "grant_type=refresh_token", 400, "invalid_request"},
		{"other-grant-type", "grant_type=password&refresh_token=" + valid, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "POST", "/token/refresh", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, tt.body)
			if want := `{"error":"` + tt.error + `"}` + "\n"; resp.StatusCode != tt.want || body != want {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.want, want)
			}
		})
	}
}

// memoryStore is the fixture's store, to count what it holds.
func memoryStore(t *testing.T, f *fixture) *store.Memory {
	t.Helper()
	m, ok := f.gw.store.(*store.Memory)
	if !ok {
		t.Fatalf("store is %T, want *store.Memory", f.gw.store)
	}
	return m
}

// rotate refreshes token n times, far enough apart not to be throttled,
// and returns every token of the chain (the first is token itself) and
// the last access token.
func rotate(t *testing.T, f *fixture, token string, n int) (chain []string, access string) {
	t.Helper()
	chain = []string{token}
	for i := range n {
		f.advance(13 * time.Second)
		status, a, next := f.refresh(t, chain[len(chain)-1], i%2 == 1)
		if status != 200 {
			t.Fatalf("rotation %d = %d, want 200", i+1, status)
		}
		chain, access = append(chain, next), a
	}
	return chain, access
}

// TestRefreshRotationKeepsOneRecordPerFamily: memory follows the live
// families, not the rotations, and any earlier token of a family presented
// again still revokes it.
func TestRefreshRotationKeepsOneRecordPerFamily(t *testing.T) {
	f := newFixtureFrom(t, refreshConfig)
	m := memoryStore(t, f)
	_, first := f.apiLogin(t, "alice", alicePassword)
	chain, _ := rotate(t, f, first, 1)
	held := m.Len()
	chain, _ = rotate(t, f, chain[1], 100)
	if n := m.Len(); n != held {
		t.Errorf("the store holds %d entries after 100 more rotations, want %d as after the first", n, held)
	}
	if status, _, _ := f.refresh(t, chain[len(chain)-1], false); status != 200 {
		t.Fatalf("the current token after 101 rotations = %d, want 200", status)
	}

	tests := []struct {
		name string
		pick func(chain []string) string
	}{
		{"first-token", func(c []string) string { return c[0] }},
		{"a-middle-token", func(c []string) string { return c[len(c)/2] }},
		{"the-previous-token", func(c []string) string { return c[len(c)-2] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, first := f.apiLogin(t, "alice", alicePassword)
			chain, access := rotate(t, f, first, 6)
			if status, _, _ := f.refresh(t, tt.pick(chain), false); status != 400 {
				t.Errorf("an earlier token presented again = %d, want 400", status)
			}
			if status, _, _ := f.refresh(t, chain[len(chain)-1], false); status != 400 {
				t.Errorf("the current token after a reuse = %d, want 400 (family revoked)", status)
			}
			if p, v := f.works(t, access); p != 401 || v != 401 {
				t.Errorf("the family's latest access token after a reuse = %d/%d, want 401", p, v)
			}
		})
	}
	if n := strings.Count(f.logs.String(), "security incident: a refresh token was used twice"); n != len(tests) {
		t.Errorf("%d reuses logged as incidents, want %d", n, len(tests))
	}
}

// TestRefreshRotationIsThrottled: a family rotating in a loop is told to
// slow down, and the token it presented stays good.
func TestRefreshRotationIsThrottled(t *testing.T) {
	f := newFixtureFrom(t, refreshConfig)
	_, token := f.apiLogin(t, "alice", alicePassword)
	for i := range refreshRotations {
		status, _, next := f.refresh(t, token, false)
		if status != 200 {
			t.Fatalf("rotation %d within a minute = %d, want 200", i+1, status)
		}
		token = next
	}
	resp, body := f.do(t, "POST", "/token/refresh", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode())
	var answer struct{ Error string }
	json.Unmarshal([]byte(body), &answer)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || answer.Error != "slow_down" || err != nil || retry < 1 || retry > 60 {
		t.Fatalf("rotation %d within a minute = %d error %q Retry-After %q, want 429 slow_down and 1 to 60 seconds",
			refreshRotations+1, resp.StatusCode, answer.Error, resp.Header.Get("Retry-After"))
	}
	f.advance(time.Duration(retry) * time.Second)
	if status, access, _ := f.refresh(t, token, false); status != 200 {
		t.Errorf("the throttled token after Retry-After = %d, want 200", status)
	} else if p, _ := f.works(t, access); p != 200 {
		t.Errorf("its access token = %d, want 200", p)
	}
}

// TestRevocationsAreKeptOnlyAsLongAsWhatTheyRevoke: a login and logout
// loop leaves nothing behind once the sessions it ended could no longer
// have lived.
func TestRevocationsAreKeptOnlyAsLongAsWhatTheyRevoke(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		browser bool
		// gone is how long after the logouts every entry must be gone.
		gone time.Duration
	}{
		// session.max_lifetime (12h) from the login.
		{"browser-session", refreshConfig, true, 12*time.Hour + 10*time.Second},
		// The access token's own lifetime (token.ttl 10m).
		{"api-session-without-refresh", baseConfig, false, 10*time.Minute + 10*time.Second},
		// The family's end (720h) plus the last access token's lifetime.
		{"api-session-with-refresh", refreshConfig, false, 720*time.Hour + 10*time.Minute + 10*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureFrom(t, tt.doc)
			m := memoryStore(t, f)
			for range 3 {
				if tt.browser {
					_, _, cookie := f.browserLogin(t, "alice", alicePassword, "/")
					h := cookieHeader(cookie)
					h.Set("Origin", f.url)
					if resp, _ := f.do(t, "POST", "/logout", h, ""); resp.StatusCode != 303 {
						t.Fatalf("browser logout = %d, want 303", resp.StatusCode)
					}
					if p, _ := f.works(t, cookie); p != 401 {
						t.Errorf("the session after logout = %d, want 401", p)
					}
					continue
				}
				access, refresh := f.apiLogin(t, "alice", alicePassword)
				if status := logout(t, f, access, false); status != 204 {
					t.Fatalf("logout = %d, want 204", status)
				}
				if refresh != "" {
					if status, _, _ := f.refresh(t, refresh, false); status != 400 {
						t.Errorf("refresh after logout = %d, want 400", status)
					}
				}
			}
			if m.Live() == 0 {
				t.Fatalf("the store holds nothing right after the logouts")
			}
			f.advance(tt.gone)
			if n := m.Live(); n != 0 {
				t.Errorf("%d store entries still live %s after the logouts, want 0", n, tt.gone)
			}
		})
	}
}

// TestProviderTokensAreNeverSessionCookies: the cookie holds authgate's
// own tokens only. A provider's token put there was re-issued as an
// authgate session of the local user of the same name, with that user's
// groups.
func TestProviderTokensAreNeverSessionCookies(t *testing.T) {
	provider := newIDP(t)
	key := generatedKey(t, "a", keys.EdDSA)
	provider.serve(key)
	f := providerFixture(t, provider, baseConfig)
	c := providerClaims(f, "p1", 10*time.Minute) // session.ttl 30m: due to be re-issued
	c["preferred_username"] = "alice"
	tok := signExactly(t, key, c)
	for _, path := range []string{"/admin/x", "/verify", "/api/x"} {
		resp, _ := f.do(t, "GET", path, cookieHeader(tok), "")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Authgate-Reason") != "provider_token_in_cookie" {
			t.Errorf("GET %s with a provider's token as the cookie = %d %q, want 401 provider_token_in_cookie", path, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"))
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == f.gw.cookie.Name && ck.Value != "" {
				t.Errorf("GET %s re-issued a session cookie for a provider's token", path)
			}
		}
	}
	if p, v := f.works(t, tok); p != http.StatusOK || v != http.StatusOK {
		t.Errorf("the same token as a bearer = proxy %d, verify %d; want 200 on both", p, v)
	}
}

// TestReissuedCookiesEndWithTheirSession: a re-issued cookie never
// outlives its session's sid_exp, which is as long as a logout remembers
// the session. An API login's token sent as the cookie was re-issued for
// half an hour, and came back to life once its logout was forgotten.
func TestReissuedCookiesEndWithTheirSession(t *testing.T) {
	f := newFixture(t, "")
	access, _ := f.apiLogin(t, "alice", alicePassword) // token.ttl 10m, no refresh: sid_exp is its exp
	f.advance(6 * time.Minute)                         // past half of session.ttl's re-issue point
	resp, _ := f.do(t, "GET", "/api/x", cookieHeader(access), "")
	cookie := access
	for _, ck := range resp.Cookies() {
		if ck.Name == f.gw.cookie.Name {
			cookie = ck.Value
			if id, err := f.gw.tokens.Verify(ck.Value); err == nil && id.ExpiresAt.After(id.SessionEnd) {
				t.Errorf("re-issued cookie expires %v, after its session's end %v", id.ExpiresAt, id.SessionEnd)
			}
		}
	}
	if got := logout(t, f, access, false); got != http.StatusNoContent {
		t.Fatalf("logout = %d, want 204", got)
	}
	for _, later := range []time.Duration{0, 5 * time.Minute} {
		f.advance(later)
		if resp, _ := f.do(t, "GET", "/api/x", cookieHeader(cookie), ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the session's cookie %v after its logout = %d, want 401", later, resp.StatusCode)
		}
	}
}

// TestProviderLogoutEverywhereOutlivesItsTokens: a provider's tokens live
// at most auth.MaxExternalLifetime, and "log out everywhere" is remembered
// that long, so a logged-out token never works again. A 72-hour token came
// back after 13 hours, when the epoch was forgotten.
func TestProviderLogoutEverywhereOutlivesItsTokens(t *testing.T) {
	provider := newIDP(t)
	key := generatedKey(t, "a", keys.EdDSA)
	provider.serve(key)
	f := providerFixture(t, provider, baseConfig)
	long := signExactly(t, key, providerClaims(f, "long", 72*time.Hour))
	other := signExactly(t, key, providerClaims(f, "other", 72*time.Hour))
	tooLong := signExactly(t, key, providerClaims(f, "too-long", auth.MaxExternalLifetime+time.Hour))
	if p, v := f.works(t, tooLong); p != http.StatusUnauthorized || v != http.StatusUnauthorized {
		t.Errorf("a provider token living past MaxExternalLifetime = proxy %d, verify %d; want 401", p, v)
	}
	f.advance(2 * time.Second)
	if got := logout(t, f, other, true); got != http.StatusNoContent {
		t.Fatalf("logout everywhere = %d, want 204", got)
	}
	for _, later := range []time.Duration{0, 13 * time.Hour, 58 * time.Hour} {
		f.advance(later)
		if p, v := f.works(t, long); p != http.StatusUnauthorized || v != http.StatusUnauthorized {
			t.Errorf("a token issued before log out everywhere, %v on = proxy %d, verify %d; want 401", later, p, v)
		}
	}
}

// failingStore is a store whose writes of chosen keys fail, as a shared
// store's would while it is unreachable.
type failingStore struct {
	store.Store
	failSet func(key string) bool
}

func (s failingStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if s.failSet(key) {
		return errors.New("store unreachable")
	}
	return s.Store.Set(ctx, key, v, ttl)
}

// TestRefreshReuseIsNeverAnsweredAsRevokedWhenItWasNot: a reused refresh
// token revokes its session and its family; when the store takes neither
// write, the reuse is answered 500, not as if the revocation had happened,
// and when it takes one, the family is dead all the same. The current
// holder kept rotating when the session's revocation could not be written.
func TestRefreshReuseIsNeverAnsweredAsRevokedWhenItWasNot(t *testing.T) {
	for _, tt := range []struct {
		name       string
		fails      string // key prefixes whose writes fail
		wantReplay int
	}{
		{"session-write-fails", "deny:sid:", 400},
		{"family-write-fails", "rf:", 400},
		{"both-fail", "deny:sid: rf:", 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureFrom(t, refreshConfig)
			_, first := f.apiLogin(t, "alice", alicePassword)
			chain, access := rotate(t, f, first, 2)
			var failing atomic.Bool
			f.gw.store = failingStore{Store: f.gw.store, failSet: func(key string) bool {
				return failing.Load() && slices.ContainsFunc(strings.Fields(tt.fails), func(p string) bool { return strings.HasPrefix(key, p) })
			}}
			failing.Store(true)
			if status, _, _ := f.refresh(t, chain[0], false); status != tt.wantReplay {
				t.Errorf("the replayed token = %d, want %d", status, tt.wantReplay)
			}
			failing.Store(false)
			status, _, _ := f.refresh(t, chain[len(chain)-1], false)
			if tt.wantReplay == 400 && status != 400 {
				t.Errorf("the current token after a reuse whose revocation was written = %d, want 400", status)
			}
			if tt.fails == "rf:" {
				if p, v := f.works(t, access); p != 401 || v != 401 {
					t.Errorf("the family's access token after its session was revoked = %d/%d, want 401", p, v)
				}
			}
		})
	}
}
