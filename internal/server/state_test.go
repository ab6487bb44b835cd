package server

import (
	"net/http"
	"net/url"
	"testing"
)

// TestStateOutlivesTheConfig: a gateway built from a new config over the
// same State, as a reload would build it, remembers the old one's logouts
// and lockouts.
func TestStateOutlivesTheConfig(t *testing.T) {
	const throttle = "login:\n  throttle:\n    client: {burst: 2, interval: 1h}\n"
	old := newFixture(t, throttle)
	st := old.gw.State()
	access, _ := old.apiLogin(t, "alice", alicePassword)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	h := bearer(access)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := old.do(t, "POST", "/logout", h, url.Values{"everywhere": {"true"}}.Encode()); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout = %d, want 204", resp.StatusCode)
	}
	for range 2 { // wrong passwords use the client's burst; the right one was given back
		old.do(t, "POST", "/login", form, "username=alice&password=wrong")
	}

	reloaded := newFixtureOver(t, baseConfig+throttle+"  shed_delay: 0s\n", st)
	if p, v := reloaded.works(t, access); p != http.StatusUnauthorized || v != http.StatusUnauthorized {
		t.Errorf("a token logged out under the old config = proxy %d, verify %d; want 401 on both", p, v)
	}
	if resp, _ := reloaded.do(t, "POST", "/login", form, "username=alice&password=wrong"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a throttled client under the new config = %d, want 429", resp.StatusCode)
	}
	if got := reloaded.gw.State(); got != st {
		t.Errorf("the new gateway's state = %p, want the old one's %p", got, st)
	}
}
