package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/redistest"
)

// TestReplicasOnRedis runs two gateways as run does, with their state on
// one password-protected redis-server: a logout on one is refused by the
// other, the state metrics follow Redis going away and coming back, and
// the password appears in no log.
func TestReplicasOnRedis(t *testing.T) {
	const password = "Redis-Pw-4f9c2e71"
	srv := redistest.Start(t, "--requirepass", password)
	pwFile := writeFile(t, "redis-password", password+"\n")
	doc := `
listen: 127.0.0.1:0
metrics_listen: "[::1]:0"
token:
  secret: ` + testSecret + `
users:
  - username: alice
    password_hash: "` + aliceHash + `"
routes:
  - path: /
    upstream: http://127.0.0.1:1
state:
  max_staleness: 2s
  redis:
    url: redis://` + srv.Addr + `/0
    password_file: ` + pwFile + `
`
	a, b := startGateway(t, doc, nil), startGateway(t, doc, nil)
	token := login(t, a.url("/login"), "alice", "alicepassword")
	if resp, _ := get(t, b.url("/verify"), token); resp.StatusCode != 200 {
		t.Fatalf("a token from one replica on the other = %d, want 200", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", b.url("/logout"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("logout = %v %v", resp, err)
	}
	eventually(t, "the other replica refuses the token", func() bool {
		resp, _ := get(t, a.url("/verify"), token)
		return resp.StatusCode == 401
	})

	if up, age := a.metric(t, "authgate_state_up"), a.metric(t, "authgate_state_sync_age_seconds"); up != 1 || age > 2 {
		t.Errorf("linked: authgate_state_up = %v, sync age = %vs; want 1 and at most 2s", up, age)
	}
	srv.Kill()
	eventually(t, "authgate_state_up drops", func() bool { return a.metric(t, "authgate_state_up") == 0 })
	if n := a.metric(t, "authgate_state_sync_errors_total"); n < 1 {
		t.Errorf("authgate_state_sync_errors_total = %v after redis died, want at least 1", n)
	}
	eventually(t, "the sync age passes max_staleness", func() bool { return b.metric(t, "authgate_state_sync_age_seconds") > 2 })
	srv.Restart()
	eventually(t, "authgate_state_up returns", func() bool { return a.metric(t, "authgate_state_up") == 1 && b.metric(t, "authgate_state_up") == 1 })

	// The state is opened once: a reload that changes it applies the rest
	// and says a restart is needed.
	replace(t, a.path, strings.Replace(doc, "max_staleness: 2s", "max_staleness: 5s", 1))
	a.reload(t)
	if got := a.metric(t, "authgate_config_restart_required"); got != 1 {
		t.Errorf("authgate_config_restart_required after changing state.max_staleness = %v, want 1", got)
	}
	if !strings.Contains(a.logs.String(), `settings=state`) {
		t.Errorf("no warning naming state as needing a restart:\n%s", a.logs)
	}

	for _, g := range []*gateway{a, b} {
		if err := g.stop(t); err != nil {
			t.Errorf("run = %v, want nil", err)
		}
		if strings.Contains(g.logs.String(), password) {
			t.Errorf("the Redis password is in the log:\n%s", g.logs)
		}
	}
	if n := srv.Clients("authgate"); n != 0 {
		t.Errorf("%d authgate connections left open after run returned", n)
	}
}

// eventually polls cond every 20 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10s", what)
}
