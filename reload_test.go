package main

// Live reload, end to end: run() serving a config that the tests edit as
// operators do (an editor's write-and-rename, a Kubernetes ConfigMap's
// symlink swap, a file rewritten in place) and reload with SIGHUP, which
// reaches run through the channel main feeds from signal.Notify.
// TestBinary sends the real signal to the built binary.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authgate/authgate/internal/keys"
)

// bySignal begins a config on free loopback ports, metrics included,
// that reloads on SIGHUP only.
const bySignal = `
listen: 127.0.0.1:0
metrics_listen: localhost:0
reload:
  watch: false
`

// metric returns the value of series (a name, with its labels as the
// exposition writes them) on the gateway's metrics listener, or -1 when
// the series is absent.
func (g *gateway) metric(t *testing.T, series string) float64 {
	t.Helper()
	if g.addrs.Metrics == nil {
		t.Fatal("the config has no metrics listener")
	}
	resp, err := http.Get("http://" + g.addrs.Metrics.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return -1
}

// reloads is how many reloads have ended, successful or not.
func (g *gateway) reloads(t *testing.T) float64 {
	t.Helper()
	return g.metric(t, `authgate_config_reloads_total{result="success"}`) + g.metric(t, `authgate_config_reloads_total{result="failure"}`)
}

// waitReloads waits until n reloads have ended.
func (g *gateway) waitReloads(t *testing.T, n float64) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if g.reloads(t) >= n {
			return
		}
	}
	t.Fatalf("%v reloads after 15s, want %v\n%s", g.reloads(t), n, g.logs)
}

// reload sends SIGHUP, as main does on the signal, and waits for the
// reload to end.
func (g *gateway) reload(t *testing.T) {
	t.Helper()
	n := g.reloads(t)
	g.hup <- syscall.SIGHUP
	g.waitReloads(t, n+1)
}

// replace writes text to path as editors and most tools do: a new file
// beside it, renamed over it.
func replace(t *testing.T, path, text string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// status is the status of GET path with token.
func (g *gateway) status(t *testing.T, path, token string) int {
	t.Helper()
	resp, _ := get(t, g.url(path), token)
	return resp.StatusCode
}

// loginStatus is the status of a login attempt.
func (g *gateway) loginStatus(t *testing.T, user, password string) int {
	t.Helper()
	resp, err := http.PostForm(g.url("/login"), map[string][]string{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// okUpstream answers 200 with the X-Forwarded-User it received.
func okUpstream(t *testing.T) *httptest.Server {
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Forwarded-User"))
	}))
	t.Cleanup(u.Close)
	return u
}

// TestReloadAppliesRoutesAndUsersAndKeepsState: a SIGHUP applies a new
// route and user changes at once (a disabled or removed user's tokens are
// refused, a new user can log in) while what outlives a config is kept: a
// revoked token stays revoked, a throttled username stays throttled, and
// the ephemeral key of a config naming none stays, so sessions survive.
func TestReloadAppliesRoutesAndUsersAndKeepsState(t *testing.T) {
	t.Parallel()
	up := okUpstream(t)
	config := func(users, routes string) string {
		return bySignal + `
login:
  shed_delay: 0s
  throttle:
    user: {burst: 2, interval: 1h}
users:
` + users + `
routes:
` + routes
	}
	user := func(name, extra string) string {
		return "  - {username: " + name + ", password_hash: \"" + aliceHash + "\"" + extra + "}\n"
	}
	route := func(path string) string { return "  - {path: " + path + ", upstream: \"" + up.URL + "\"}\n" }

	g := startGateway(t, config(user("alice", "")+user("bob", "")+user("carol", ""), route("/api")), nil)
	if got := g.metric(t, "authgate_config_last_reload_successful"); got != 1 {
		t.Errorf("authgate_config_last_reload_successful at start = %v, want 1", got)
	}
	started := g.metric(t, "authgate_config_last_reload_success_timestamp_seconds")
	revoked := login(t, g.url("/login"), "alice", "alicepassword")
	alice := login(t, g.url("/login"), "alice", "alicepassword")
	bob := login(t, g.url("/login"), "bob", "alicepassword")
	carol := login(t, g.url("/login"), "carol", "alicepassword")
	req, _ := http.NewRequest("POST", g.url("/logout"), nil)
	req.Header.Set("Authorization", "Bearer "+revoked)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("logout = %v %v", resp, err)
	}
	for range 2 {
		g.loginStatus(t, "zed", "wrong")
	}
	if got := g.loginStatus(t, "zed", "wrong"); got != 429 {
		t.Fatalf("third wrong password = %d, want 429", got)
	}

	replace(t, g.path, config(user("alice", "")+user("bob", ", disabled: true")+user("dan", ""), route("/api")+route("/new")))
	g.reload(t)

	for _, c := range []struct {
		name        string
		path, token string
		want        int
	}{
		{"revoked-token-stays-revoked", "/api", revoked, 401},
		{"session-survives-the-reload", "/api", alice, 200},
		{"new-route-serves", "/new", alice, 200},
		{"disabled-user-refused", "/api", bob, 401},
		{"removed-user-refused", "/api", carol, 401},
	} {
		if got := g.status(t, c.path, c.token); got != c.want {
			t.Errorf("%s: GET %s = %d, want %d", c.name, c.path, got, c.want)
		}
	}
	if got := g.loginStatus(t, "dan", "alicepassword"); got != 200 {
		t.Errorf("login of a user added by the reload = %d, want 200", got)
	}
	if got := g.loginStatus(t, "zed", "wrong"); got != 429 {
		t.Errorf("throttled username after the reload = %d, want 429 (the throttle outlives the config)", got)
	}
	if got := g.metric(t, "authgate_config_last_reload_successful"); got != 1 {
		t.Errorf("authgate_config_last_reload_successful = %v, want 1", got)
	}
	if got := g.metric(t, "authgate_config_last_reload_success_timestamp_seconds"); got <= started {
		t.Errorf("authgate_config_last_reload_success_timestamp_seconds = %v, want later than %v", got, started)
	}
	if got := g.metric(t, "authgate_config_restart_required"); got != 0 {
		t.Errorf("authgate_config_restart_required = %v, want 0", got)
	}
	for _, want := range []string{"users=3 users_added=1 users_removed=1 users_changed=1", "routes=2 routes_added=1 routes_removed=0 routes_changed=0"} {
		if !strings.Contains(g.logs.String(), want) {
			t.Errorf("the reload's log line lacks %q:\n%s", want, g.logs)
		}
	}
}

// TestReloadKeepsTheLastGoodConfig: an invalid config is refused with
// every problem `authgate check` reports logged once, the last good
// config keeps serving, and the failure shows in the metrics; fixing the
// file recovers. A setting only a restart applies is reported and kept,
// while the rest of the same edit applies.
func TestReloadKeepsTheLastGoodConfig(t *testing.T) {
	t.Parallel()
	up := okUpstream(t)
	config := func(listen, ttl, upstream string) string {
		return `
listen: ` + listen + `
metrics_listen: localhost:0
reload:
  watch: false
token:
  secret: "` + testSecret + `"
  ttl: ` + ttl + `
users:
  - {username: alice, password_hash: "` + aliceHash + `"}
routes:
  - {path: /api, upstream: "` + up.URL + `"}
  - {path: /other, upstream: "` + upstream + `"}
`
	}
	g := startGateway(t, config("127.0.0.1:0", "30m", up.URL), nil)
	token := login(t, g.url("/login"), "alice", "alicepassword")
	good := g.metric(t, "authgate_config_last_reload_success_timestamp_seconds")

	replace(t, g.path, config("127.0.0.1:0", "0s", "ftp://nowhere"))
	check := runCommand(t, nil, "", "check", "-config", g.path)
	if check.code != 1 {
		t.Fatalf("authgate check of the broken config = exit %d, want 1\n%s", check.code, check.stdout)
	}
	g.reload(t)
	if got := g.metric(t, "authgate_config_last_reload_successful"); got != 0 {
		t.Errorf("authgate_config_last_reload_successful after a refused config = %v, want 0", got)
	}
	if got := g.metric(t, "authgate_config_last_reload_success_timestamp_seconds"); got != good {
		t.Errorf("success timestamp moved to %v on a refused config, want %v", got, good)
	}
	if got := g.status(t, "/api", token); got != 200 {
		t.Errorf("the last good config serving: GET /api = %d, want 200", got)
	}
	var problems []string
	for line := range strings.SplitSeq(check.stdout, "\n") {
		if p, ok := strings.CutPrefix(line, "  "); ok {
			problems = append(problems, p)
		}
	}
	if len(problems) != 2 {
		t.Fatalf("authgate check found %d problems, want 2:\n%s", len(problems), check.stdout)
	}
	for _, p := range problems {
		if got := strings.Count(g.logs.String(), strconv.Quote(p)); got != 1 {
			t.Errorf("problem %q logged %d times, want once\n%s", p, got, g.logs)
		}
	}

	replace(t, g.path, config(freePort(t), "30m", up.URL+"/v2"))
	g.reload(t)
	if got := g.metric(t, "authgate_config_last_reload_successful"); got != 1 {
		t.Errorf("authgate_config_last_reload_successful after the fix = %v, want 1", got)
	}
	if got := g.metric(t, "authgate_config_restart_required"); got != 1 {
		t.Errorf("authgate_config_restart_required after changing listen = %v, want 1", got)
	}
	if !strings.Contains(g.logs.String(), `only a restart applies: they keep their old values until then" settings=listen`) {
		t.Errorf("no warning naming listen as needing a restart:\n%s", g.logs)
	}
	if got := g.status(t, "/other/x", token); got != 200 {
		t.Errorf("the rest of the edit: GET /other/x on the old listener = %d, want 200", got)
	}
}

// TestKeyRotationByFileEdits rotates signing keys as README's rotation
// section says, each step one edit of the config and a SIGHUP, with no
// restart: tokens of the old key keep working while it is listed, and are
// refused from the moment it is dropped.
func TestKeyRotationByFileEdits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, id := range []string{"old", "new"} {
		_, private, public, err := keys.Generate(id, keys.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, id+".pem"), private, 0o600)
		os.WriteFile(filepath.Join(dir, id+".pub.pem"), public, 0o600)
	}
	up := okUpstream(t)
	config := func(keys ...string) string {
		var list strings.Builder
		for _, k := range keys {
			id, _, _ := strings.Cut(k, ".")
			fmt.Fprintf(&list, "    - {id: %s, key_file: %s}\n", id, filepath.Join(dir, k))
		}
		return bySignal + `
token:
  algorithm: EdDSA
  keys:
` + list.String() + `
users:
  - {username: alice, password_hash: "` + aliceHash + `"}
routes:
  - {path: /, upstream: "` + up.URL + `"}
`
	}
	kid := func(token string) string {
		parsed, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		return parsed.Headers[0].KeyID
	}
	published := func(g *gateway) int {
		_, body := get(t, g.url("/.well-known/jwks.json"), "")
		return strings.Count(body, `"kid"`)
	}

	g := startGateway(t, config("old.pem"), nil)
	oldToken := login(t, g.url("/login"), "alice", "alicepassword")

	// 1. Publish the new key beside the signer.
	replace(t, g.path, config("old.pem", "new.pub.pem"))
	g.reload(t)
	if n := published(g); n != 2 {
		t.Errorf("step 1: the JWKS publishes %d keys, want 2", n)
	}
	if k := kid(login(t, g.url("/login"), "alice", "alicepassword")); k != "old" {
		t.Errorf("step 1: new tokens signed by %q, want old (the new key is public only)", k)
	}
	if got := g.status(t, "/x", oldToken); got != 200 {
		t.Errorf("step 1: old key's token = %d, want 200", got)
	}

	// 2. Make it the signer, keeping the old key public only.
	replace(t, g.path, config("new.pem", "old.pub.pem"))
	g.reload(t)
	newToken := login(t, g.url("/login"), "alice", "alicepassword")
	if k := kid(newToken); k != "new" {
		t.Errorf("step 2: new tokens signed by %q, want new", k)
	}
	if got := g.status(t, "/x", oldToken); got != 200 {
		t.Errorf("step 2: old key's token = %d, want 200 while the key is listed", got)
	}

	// 3. Drop the old key.
	replace(t, g.path, config("new.pem"))
	g.reload(t)
	if got := g.status(t, "/x", oldToken); got != 401 {
		t.Errorf("step 3: old key's token = %d, want 401 once the key is dropped", got)
	}
	if got := g.status(t, "/x", newToken); got != 200 {
		t.Errorf("step 3: new key's token = %d, want 200", got)
	}
	if n := published(g); n != 1 {
		t.Errorf("step 3: the JWKS publishes %d keys, want 1", n)
	}
	if got := g.metric(t, `authgate_config_reloads_total{result="failure"}`); got != 0 {
		t.Errorf("%v reloads failed, want none\n%s", got, g.logs)
	}
}

// watchedConfig is a config with reload.watch at its default, users from
// htpasswd, a route /api to upstream, and more routes.
func watchedConfig(htpasswd, upstream, routes string) string {
	return `
listen: 127.0.0.1:0
metrics_listen: localhost:0
token:
  secret: "` + testSecret + `"
htpasswd_file: ` + htpasswd + `
routes:
  - {path: /api, upstream: "` + upstream + `"}
` + routes
}

// TestReloadWhenWatchedFilesChange: with reload.watch (the default), an
// editor's write-and-rename of the config, or of the htpasswd file it
// names, reloads without a signal, and a burst of writes is one reload.
func TestReloadWhenWatchedFilesChange(t *testing.T) {
	t.Parallel()
	up := okUpstream(t)
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "users.htpasswd")
	replace(t, htpasswd, "alice:"+aliceHash+"\n")
	config := func(routes string) string { return watchedConfig(htpasswd, up.URL, routes) }
	g := startGateway(t, config(""), nil)
	if got := g.loginStatus(t, "bob", "alicepassword"); got != 401 {
		t.Fatalf("bob before he is added = %d, want 401", got)
	}

	replace(t, htpasswd, "alice:"+aliceHash+"\nbob:"+aliceHash+"\n")
	g.waitReloads(t, 1)
	if got := g.loginStatus(t, "bob", "alicepassword"); got != 200 {
		t.Errorf("bob after the htpasswd file changed = %d, want 200", got)
	}

	token := login(t, g.url("/login"), "alice", "alicepassword")
	replace(t, g.path, config("  - {path: /new, upstream: \""+up.URL+"\"}\n"))
	g.waitReloads(t, 2)
	if got := g.status(t, "/new", token); got != 200 {
		t.Errorf("route added by an editor's save = %d, want 200", got)
	}

	// Five saves in quick succession: one reload once they settle.
	for i := range 5 {
		replace(t, g.path, config(fmt.Sprintf("  - {path: /burst%d, upstream: %q}\n", i, up.URL)))
		time.Sleep(50 * time.Millisecond)
	}
	g.waitReloads(t, 3)
	// Two more polls find nothing new to load.
	time.Sleep(2*pollInterval + 200*time.Millisecond)
	if got := g.reloads(t); got != 3 {
		t.Errorf("%v reloads after a burst of saves, want 3 (one for the burst)", got)
	}
	if got := g.status(t, "/burst4", token); got != 200 {
		t.Errorf("the burst's last save: GET /burst4 = %d, want 200", got)
	}
}

// TestReloadFollowsAConfigMapSymlinkSwap mounts the config as Kubernetes
// does a ConfigMap: gateway.yaml -> ..data/gateway.yaml and ..data ->
// ..2026_1; an update writes ..2026_2 and swaps ..data to it atomically.
// Both the config and the htpasswd file beside it change at once, and the
// gateway reloads once with both.
func TestReloadFollowsAConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel()
	up := okUpstream(t)
	mount := t.TempDir()
	config := func(routes string) string { return watchedConfig("users.htpasswd", up.URL, routes) }
	version := func(name, configText, users string) {
		t.Helper()
		d := filepath.Join(mount, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "gateway.yaml"), []byte(configText), 0o644)
		os.WriteFile(filepath.Join(d, "users.htpasswd"), []byte(users), 0o644)
		tmp := filepath.Join(mount, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(mount, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_1", config(""), "alice:"+aliceHash+"\n")
	for _, f := range []string{"gateway.yaml", "users.htpasswd"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(mount, f)); err != nil {
			t.Fatal(err)
		}
	}
	g := startGatewayAt(t, filepath.Join(mount, "gateway.yaml"), nil)
	token := login(t, g.url("/login"), "alice", "alicepassword")

	version("..2026_2", config("  - {path: /new, upstream: \""+up.URL+"\"}\n"), "alice:"+aliceHash+"\nbob:"+aliceHash+"\n")
	g.waitReloads(t, 1)
	if got := g.status(t, "/new", token); got != 200 {
		t.Errorf("route from the swapped ConfigMap = %d, want 200", got)
	}
	if got := g.loginStatus(t, "bob", "alicepassword"); got != 200 {
		t.Errorf("user from the swapped ConfigMap's htpasswd = %d, want 200", got)
	}
	if got := g.metric(t, `authgate_config_reloads_total{result="success"}`); got != 1 {
		t.Errorf("%v successful reloads, want 1", got)
	}
}

// TestInFlightRequestFinishesOnTheOldConfig: a request being proxied when
// a reload removes its route completes on the config it started on; the
// next request sees the new one.
func TestInFlightRequestFinishesOnTheOldConfig(t *testing.T) {
	t.Parallel()
	upstream, arrived, release := slowUpstream(t)
	config := func(routes string) string {
		return bySignal + `
users:
  - {username: alice, password_hash: "` + aliceHash + `"}
routes:
  - {path: /healthy, upstream: "` + upstream.URL + `", public: true}
` + routes
	}
	g := startGateway(t, config("  - {path: /slow, upstream: \""+upstream.URL+"\", public: true}\n"), nil)
	done := getAsync(g.url("/slow"), "")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	replace(t, g.path, config(""))
	g.reload(t)
	if got := g.status(t, "/slow", ""); got != 404 {
		t.Errorf("a new request to the removed route = %d, want 404", got)
	}
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Errorf("the request in flight during the reload = %d %q %v, want 200 finished", r.status, r.body, r.err)
	}
}

// TestReloadUnderLoad: 20 reloads, alternating a route, a user and a key
// change, while four clients send requests on kept-alive connections to a
// proxied route: every request is answered 200, none fails. The counts are
// bounded (each reload waits for at least 25 more answers), not the time.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	up := okUpstream(t)
	config := func(i int) string {
		var extraRoute, extraUser, extraKey string
		switch i % 3 {
		case 0:
			extraRoute = fmt.Sprintf("  - {path: /extra%d, upstream: %q}\n", i, up.URL)
		case 1:
			extraUser = fmt.Sprintf("  - {username: user%d, password_hash: %q}\n", i, aliceHash)
		case 2:
			extraKey = fmt.Sprintf("    - {id: extra%d, secret: \"%s%02d\"}\n", i, testSecret[:30], i)
		}
		return bySignal + `
token:
  keys:
    - {id: main, secret: "` + testSecret + `"}
` + extraKey + `
users:
  - {username: alice, password_hash: "` + aliceHash + `"}
` + extraUser + `
routes:
  - {path: /api, upstream: "` + up.URL + `"}
` + extraRoute
	}
	g := startGateway(t, config(0), nil)
	token := login(t, g.url("/login"), "alice", "alicepassword")

	const clients, reloads, perReload = 4, 20, 25
	var answered, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			// Bounded: at most this many requests, whatever happens.
			for range 50 * reloads * perReload {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", g.url("/api/x"), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				status := 0
				resp, err := client.Do(req)
				if err == nil {
					status = resp.StatusCode
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || status != 200 {
					failed.Add(1)
					mu.Lock()
					if len(failures) < 10 {
						failures = append(failures, fmt.Sprint(status, err))
					}
					mu.Unlock()
				}
				answered.Add(1)
			}
		})
	}
	for i := 1; i <= reloads; i++ {
		want := answered.Load() + perReload
		replace(t, g.path, config(i))
		g.reload(t)
		for deadline := time.Now().Add(10 * time.Second); answered.Load() < want && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := answered.Load(); n < reloads*perReload {
		t.Errorf("%d requests answered, want at least %d", n, reloads*perReload)
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed or were not 200 across %d reloads, e.g. %q", n, answered.Load(), reloads, failures)
	}
	if got := g.metric(t, `authgate_config_reloads_total{result="success"}`); got != reloads {
		t.Errorf("%v successful reloads, want %d\n%s", got, reloads, g.logs)
	}
}
