package server

// Several replicas as one: each test runs gateways with their own State on
// one real redis-server, as separate processes would.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/keys"
	"github.com/authgate/authgate/internal/redistest"
)

// redisState is the state section that puts a config's state on url.
func redisState(url string, staleness time.Duration) string {
	return fmt.Sprintf("state:\n  max_staleness: %s\n  redis:\n    url: %s\n    key_prefix: \"test:\"\n", staleness, url)
}

// openState opens the state doc asks for, as serve does, and waits for
// its first synchronisation; it is closed when the test ends.
func openState(t testing.TB, doc string) *State {
	t.Helper()
	doc = strings.NewReplacer("UPSTREAM", "http://127.0.0.1:1", "DEAD", "http://127.0.0.1:1", "SLOW", "http://127.0.0.1:1", "STREAM", "http://127.0.0.1:1").Replace(doc)
	cfg, err := config.Parse([]byte(doc), t.TempDir(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := OpenState(cfg, StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitSynced(ctx); err != nil {
		t.Fatalf("the state did not synchronise: %v", err)
	}
	return st
}

// replica is a gateway over its own state on url.
func replica(t testing.TB, doc, url string, staleness time.Duration) *fixture {
	t.Helper()
	doc += redisState(url, staleness)
	return newFixtureOver(t, doc, openState(t, doc))
}

// waitStatus polls path with token on f until it answers want, and
// returns how long that took; it fails the test after 5 s.
func waitStatus(t *testing.T, f *fixture, path, token string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if resp, _ := f.do(t, "GET", path, bearer(token), ""); resp.StatusCode == want {
			return time.Since(start)
		}
	}
	t.Fatalf("GET %s did not answer %d within 5s", path, want)
	return 0
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestRevocationReachesEveryReplica: a logout, a logout everywhere and a
// refresh reuse on one replica are refused by the others within 1 s. It
// measures the propagation over 100 logouts: the figure in README and
// docs/performance.md.
func TestRevocationReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	rs := []*fixture{
		replica(t, baseConfig, srv.URL(), 30*time.Second),
		replica(t, baseConfig, srv.URL(), 30*time.Second),
		replica(t, baseConfig, srv.URL(), 30*time.Second),
	}
	const trials = 100
	var lags []time.Duration
	for i := range trials {
		from, to := rs[i%3], rs[(i+1)%3]
		access, _ := from.apiLogin(t, "alice", alicePassword)
		if p, v := to.works(t, access); p != 200 || v != 200 {
			t.Fatalf("trial %d: a fresh token on another replica = %d/%d", i, p, v)
		}
		if got := logout(t, from, access, false); got != http.StatusNoContent {
			t.Fatalf("trial %d: logout = %d", i, got)
		}
		lags = append(lags, waitStatus(t, to, "/api/x", access, http.StatusUnauthorized))
		if p, v := from.works(t, access); p != 401 || v != 401 {
			t.Errorf("trial %d: the replica that logged out = %d/%d, want 401", i, p, v)
		}
	}
	p50, p99 := percentile(lags, 0.5), percentile(lags, 0.99)
	t.Logf("revocation propagation over %d logouts, 3 replicas: p50 %v, p99 %v, max %v", trials, p50, p99, percentile(lags, 1))
	if p99 > time.Second {
		t.Errorf("p99 propagation = %v, want within 1s", p99)
	}

	// Log out everywhere on one replica ends the sessions begun on others.
	a1, _ := rs[1].apiLogin(t, "alice", alicePassword)
	a2, _ := rs[2].apiLogin(t, "alice", alicePassword)
	bob, _ := rs[2].apiLogin(t, "bob", "bobpassword")
	if got := logout(t, rs[0], a1, true); got != http.StatusNoContent {
		t.Fatalf("logout everywhere = %d", got)
	}
	for i, f := range rs {
		waitStatus(t, f, "/api/x", a2, http.StatusUnauthorized)
		if p, v := f.works(t, bob); p != 200 || v != 200 {
			t.Errorf("replica %d: another user's token after alice logged out everywhere = %d/%d", i, p, v)
		}
	}
	// A login after it works everywhere at once: it carries the new epoch.
	fresh, _ := rs[1].apiLogin(t, "alice", alicePassword)
	for i, f := range rs {
		if p, v := f.works(t, fresh); p != 200 || v != 200 {
			t.Errorf("replica %d: a login after logout everywhere = %d/%d, want 200", i, p, v)
		}
	}
}

// TestProxiedRequestsMakeNoRedisRoundTrip: with the state on Redis,
// proxied requests and forward-auth checks send Redis no command at all;
// only the replicas' link pings (one a second) reach it meanwhile.
func TestProxiedRequestsMakeNoRedisRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	a := replica(t, baseConfig, srv.URL(), 30*time.Second)
	b := replica(t, baseConfig, srv.URL(), 30*time.Second)
	access, _ := a.apiLogin(t, "alice", alicePassword)
	other, _ := a.apiLogin(t, "alice", alicePassword)
	logout(t, a, other, false) // a revocation in the copies, so lookups find something
	waitStatus(t, b, "/api/x", other, http.StatusUnauthorized)
	before := srv.CommandCalls()
	const n = 300
	for range n {
		for _, f := range []*fixture{a, b} {
			if p, v := f.works(t, access); p != 200 || v != 200 {
				t.Fatalf("proxy %d, verify %d", p, v)
			}
			if p, v := f.works(t, other); p != 401 || v != 401 {
				t.Fatalf("revoked: proxy %d, verify %d", p, v)
			}
		}
	}
	after := srv.CommandCalls()
	for cmd, calls := range after {
		if d := calls - before[cmd]; d > 0 && cmd != "ping" && cmd != "info" {
			t.Errorf("%d proxied and forward-auth requests sent Redis %d %s commands, want none", 8*n, d, strings.ToUpper(cmd))
		}
	}
	t.Logf("%d requests on 2 replicas: ping %d, info %d, nothing else", 8*n, after["ping"]-before["ping"], after["info"]-before["info"])
}

// TestRefreshRotationIsAtomicAcrossReplicas: 50 concurrent presentations
// of one refresh token spread over two replicas give exactly one new
// pair, and the reuse revokes the family on both.
func TestRefreshRotationIsAtomicAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	rs := []*fixture{replica(t, refreshConfig, srv.URL(), 30*time.Second), replica(t, refreshConfig, srv.URL(), 30*time.Second)}
	access, token := rs[0].apiLogin(t, "alice", alicePassword)
	type outcome struct {
		status          int
		access, refresh string
	}
	outcomes := make([]outcome, 50)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range outcomes {
		wg.Go(func() {
			<-start
			var o outcome
			o.status, o.access, o.refresh = rs[i%2].refresh(t, token, false)
			outcomes[i] = o
		})
	}
	close(start)
	wg.Wait()
	var winners []outcome
	statuses := map[int]int{}
	for _, o := range outcomes {
		statuses[o.status]++
		if o.status == http.StatusOK {
			winners = append(winners, o)
		}
	}
	if len(winners) != 1 || statuses[http.StatusBadRequest] != 49 {
		t.Fatalf("answers to 50 concurrent presentations = %v, want one 200 and 49 400", statuses)
	}
	w := winners[0]
	for i, f := range rs {
		waitStatus(t, f, "/api/x", w.access, http.StatusUnauthorized)
		waitStatus(t, f, "/api/x", access, http.StatusUnauthorized)
		if status, _, _ := f.refresh(t, w.refresh, false); status != http.StatusBadRequest {
			t.Errorf("replica %d: the winner's refresh token after the reuse = %d, want 400", i, status)
		}
	}
}

// TestLoginThrottlesAreGlobal: wrong passwords spread over three replicas
// lock an account, and a client, after exactly the attempts one replica
// allows.
func TestLoginThrottlesAreGlobal(t *testing.T) {
	srv := redistest.Start(t)
	const throttles = "login:\n  throttle:\n    user: {burst: 3, interval: 1h}\n    client: {burst: 6, interval: 1h}\n"
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	attempt := func(f *fixture, user, password string) int {
		resp, _ := f.do(t, "POST", "/login", form, url.Values{"username": {user}, "password": {password}}.Encode())
		return resp.StatusCode
	}
	// The same attempts, on one replica in process and spread over three
	// on Redis: one user's wrong passwords, its right one while locked,
	// then other users' until the client is locked.
	script := func(fs []*fixture) []int {
		var got []int
		for i := range 4 {
			got = append(got, attempt(fs[i%len(fs)], "alice", "wrong"))
		}
		got = append(got, attempt(fs[1%len(fs)], "alice", alicePassword))
		for i := range 3 {
			got = append(got, attempt(fs[i%len(fs)], "bob", "wrong"))
		}
		return got
	}
	single := script([]*fixture{newFixture(t, throttles)})
	shared := script([]*fixture{
		replica(t, baseConfig+throttles, srv.URL(), 30*time.Second),
		replica(t, baseConfig+throttles, srv.URL(), 30*time.Second),
		replica(t, baseConfig+throttles, srv.URL(), 30*time.Second),
	})
	want := []int{401, 401, 401, 429, 429, 401, 429, 429}
	if !slices.Equal(single, want) {
		t.Fatalf("one replica: %v, want %v", single, want)
	}
	if !slices.Equal(shared, single) {
		t.Errorf("three replicas on Redis: %v; one replica: %v", shared, single)
	}
}

// TestSessionsSurviveRestartOfEveryReplica: with keys from files, browser
// sessions and refresh tokens outlive every replica, and so do logouts.
func TestSessionsSurviveRestartOfEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	_, private, _, err := keys.Generate("ed1", keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "ed1.pem")
	if err := os.WriteFile(keyFile, private, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(refreshConfig, "  secret: \""+testSecret+"\"\n",
		"  algorithm: EdDSA\n  keys:\n    - id: ed1\n      key_file: "+keyFile+"\n", 1)
	a, b := replica(t, doc, srv.URL(), 30*time.Second), replica(t, doc, srv.URL(), 30*time.Second)
	_, _, cookie := a.browserLogin(t, "alice", alicePassword, "/")
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	_, refresh := b.apiLogin(t, "alice", alicePassword)
	gone, _ := a.apiLogin(t, "bob", "bobpassword")
	logout(t, b, gone, false)
	a.gw.State().Close()
	b.gw.State().Close()

	a2, b2 := replica(t, doc, srv.URL(), 30*time.Second), replica(t, doc, srv.URL(), 30*time.Second)
	for i, f := range []*fixture{a2, b2} {
		if resp, _ := f.do(t, "GET", "/api/x", cookieHeader(cookie), ""); resp.StatusCode != http.StatusOK {
			t.Errorf("restarted replica %d: the browser session = %d, want 200", i, resp.StatusCode)
		}
		if p, v := f.works(t, gone); p != 401 || v != 401 {
			t.Errorf("restarted replica %d: a token logged out before the restart = %d/%d, want 401", i, p, v)
		}
	}
	status, access, _ := b2.refresh(t, refresh, false)
	if status != http.StatusOK {
		t.Fatalf("the refresh token after the restart = %d, want 200", status)
	}
	if p, v := a2.works(t, access); p != 200 || v != 200 {
		t.Errorf("its new access token = %d/%d, want 200", p, v)
	}
}

// redisGoroutines lists the goroutines running redis code.
func redisGoroutines() []string {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	var found []string
	for g := range strings.SplitSeq(b.String(), "\n\n") {
		if strings.Contains(g, "go-redis") || strings.Contains(g, "redisstate") {
			found = append(found, g)
		}
	}
	return found
}

// TestRedisDownUnderLoad kills redis-server under load and starts it
// again, and cuts one replica off while another revokes: only the
// documented answers are given, no revoked token is accepted, everything
// resumes by itself, and closing the state leaves no goroutine or
// connection behind.
func TestRedisDownUnderLoad(t *testing.T) {
	if leftover := redisGoroutines(); len(leftover) > 0 {
		t.Fatalf("redis goroutines before the test: %d", len(leftover))
	}
	srv := redistest.Start(t)
	link := redistest.NewRelay(t, srv.Addr)
	const staleness = 2 * time.Second
	// An upstream slow under -race must not pass for a refusal.
	doc := strings.Replace(refreshConfig, "response_header_timeout: 300ms", "response_header_timeout: 30s", 1)
	a := replica(t, doc, srv.URL(), staleness)
	b := replica(t, doc, link.URL(), staleness)
	good, refresh := a.apiLogin(t, "alice", alicePassword)
	revoked, _ := a.apiLogin(t, "bob", "bobpassword")
	logout(t, a, revoked, false)
	waitStatus(t, b, "/api/x", revoked, http.StatusUnauthorized)

	// Load on both replicas until the end: every answer must be one the
	// README documents for its kind of request.
	type kind struct {
		name, path, token string
		allowed           []int
	}
	kinds := []kind{
		{"valid token", "/api/x", good, []int{200, 503}},
		{"revoked token", "/api/x", revoked, []int{401, 503}},
		{"forward-auth, revoked", "/verify", revoked, []int{401, 503}},
		{"public route", "/public/x", "", []int{200}},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]map[int]int{}
	for _, f := range []*fixture{a, b} {
		for _, k := range kinds {
			wg.Go(func() {
				client := &http.Client{Timeout: 10 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("GET", f.url+k.path, nil)
					if k.token != "" {
						req.Header.Set("Authorization", "Bearer "+k.token)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Errorf("%s: %v", k.name, err)
						return
					}
					resp.Body.Close()
					mu.Lock()
					if seen[k.name] == nil {
						seen[k.name] = map[int]int{}
					}
					seen[k.name][resp.StatusCode]++
					mu.Unlock()
					if !slices.Contains(k.allowed, resp.StatusCode) {
						t.Errorf("%s: %d, want one of %v", k.name, resp.StatusCode, k.allowed)
					}
					if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
						t.Errorf("%s: 503 without Retry-After", k.name)
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
	}
	defer func() { close(stop); wg.Wait(); t.Logf("answers under load: %v", seen) }()

	// B is cut off while A revokes: B learns of it when it is back.
	awayToken, _ := a.apiLogin(t, "alice", alicePassword)
	link.Cut()
	if got := logout(t, a, awayToken, false); got != http.StatusNoContent {
		t.Fatalf("logout on the replica still linked = %d", got)
	}
	if p, _ := b.works(t, good); p != 200 {
		t.Errorf("the cut-off replica within max_staleness: a valid token = %d, want 200", p)
	}
	waitStatus(t, b, "/api/x", good, http.StatusServiceUnavailable)
	if resp, _ := b.do(t, "GET", "/public/x", nil, ""); resp.StatusCode != 200 {
		t.Errorf("a public route on the stale replica = %d, want 200", resp.StatusCode)
	}
	link.Heal()
	waitStatus(t, b, "/api/x", good, http.StatusOK)
	if p, v := b.works(t, awayToken); p != 401 || v != 401 {
		t.Errorf("a token revoked while the replica was cut off, after its resync = %d/%d, want 401", p, v)
	}

	// Redis itself dies: what must write answers 503 at once; the proxy
	// keeps going on the copy for max_staleness, then refuses.
	srv.Kill()
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, f := range []*fixture{a, b} {
		// On a, the logout comes within max_staleness (the token is
		// checked, its revocation cannot be written); on b, once the copy
		// may be stale (the token cannot be checked).
		resp, body := f.do(t, "POST", "/logout", bearer(good), "")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "state_unavailable") {
			t.Errorf("logout with redis down = %d %q, want 503 state_unavailable with Retry-After", resp.StatusCode, body)
		}
		resp, _ = f.do(t, "POST", "/login", form, url.Values{"username": {"alice"}, "password": {alicePassword}}.Encode())
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("login with redis down = %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if status, _, _ := f.refresh(t, refresh, false); status != 503 {
			t.Errorf("refresh with redis down = %d, want 503", status)
		}
		if f == a {
			waitStatus(t, a, "/api/x", good, http.StatusServiceUnavailable)
		}
	}
	resp, _ := a.do(t, "GET", "/api/x", bearer(good), "")
	if got := resp.Header.Get("X-Authgate-Reason"); got != "state_unavailable" {
		t.Errorf("reason = %q, want state_unavailable", got)
	}

	// Back, empty (no persistence): the copies keep every revocation.
	srv.Restart()
	for _, f := range []*fixture{a, b} {
		waitStatus(t, f, "/api/x", good, http.StatusOK)
		for _, tok := range []string{revoked, awayToken} {
			if p, v := f.works(t, tok); p != 401 || v != 401 {
				t.Errorf("a revoked token after redis came back empty = %d/%d, want 401", p, v)
			}
		}
		f.apiLogin(t, "alice", alicePassword)
	}

	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close
	a.gw.State().Close()
	b.gw.State().Close()
	if n := srv.Clients("authgate"); n != 0 {
		t.Errorf("%d authgate connections left open after Close", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(redisGoroutines()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := redisGoroutines(); len(left) > 0 {
		t.Errorf("%d redis goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// TestShippedReplicaExamples: the compose example's and the Kubernetes
// example's gateway.yaml load, put the state on Redis, and run against a
// real one; the compose file runs three replicas that mount the config as
// a directory and publishes neither Redis nor the app.
func TestShippedReplicaExamples(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "example-password")
	dir := t.TempDir()
	_, private, _, err := keys.Generate("ed-2026", keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ed-2026.pem"), private, 0o600)
	os.WriteFile(filepath.Join(dir, "password"), []byte("example-password\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("alice:"+aliceHash+"\n"), 0o600)
	local := strings.NewReplacer(
		"redis://redis:6379/0", srv.URL(),
		"/etc/authgate/keys/", dir+"/",
		"/run/secrets/redis_password", filepath.Join(dir, "password"),
		"/etc/authgate/redis/password", filepath.Join(dir, "password"),
		"/etc/authgate/users/htpasswd", filepath.Join(dir, "htpasswd"),
	)
	var k8s string
	dec := yaml.NewDecoder(strings.NewReader(example(t, "kubernetes/replicas.yaml")))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "ConfigMap" {
			k8s = doc.Data["gateway.yaml"]
		}
	}
	for name, doc := range map[string]string{"replicas/config/gateway.yaml": example(t, "replicas/config/gateway.yaml"), "kubernetes/replicas.yaml": k8s} {
		cfg, err := config.Parse([]byte(local.Replace(doc)), dir, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cfg.State.Redis == nil {
			t.Errorf("%s: no state.redis", name)
			continue
		}
		st, err := OpenState(cfg, StateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := st.WaitSynced(ctx); err != nil {
			t.Errorf("%s: the state did not synchronise with redis: %v", name, err)
		}
		cancel()
		st.Close()
	}

	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
			Ports   []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(example(t, "replicas/docker-compose.yaml")), &compose); err != nil {
		t.Fatal(err)
	}
	replicas := 0
	for name, s := range compose.Services {
		if strings.HasPrefix(name, "authgate") {
			replicas++
			if !slices.Contains(s.Volumes, "./config:/etc/authgate/config:ro") || !slices.Contains(s.Command, "/etc/authgate/config/gateway.yaml") {
				t.Errorf("%s: volumes %v, command %v; want config/ mounted as a directory and its gateway.yaml loaded", name, s.Volumes, s.Command)
			}
		}
		if (name == "redis" || name == "app" || strings.HasPrefix(name, "authgate")) && len(s.Ports) > 0 {
			t.Errorf("%s publishes %v: only the balancer should be reachable", name, s.Ports)
		}
	}
	if replicas != 3 {
		t.Errorf("%d authgate services, want 3", replicas)
	}
}

// TestLoginAfterRedisLostItsData: a Redis that comes back empty (a restart
// without persistence) has forgotten alice's logout everywhere, which the
// replica's copy of the revocations keeps; a new login must carry an
// epoch at least the copy's, or every session she begins is refused at
// once until the old one expires.
func TestLoginAfterRedisLostItsData(t *testing.T) {
	srv := redistest.Start(t)
	f := replica(t, baseConfig, srv.URL(), 30*time.Second)
	old, _ := f.apiLogin(t, "alice", alicePassword)
	if got := logout(t, f, old, true); got != http.StatusNoContent {
		t.Fatalf("logout everywhere = %d", got)
	}
	srv.Do("FLUSHALL")
	fresh, _ := f.apiLogin(t, "alice", alicePassword)
	if p, v := f.works(t, fresh); p != 200 || v != 200 {
		t.Errorf("a login after Redis lost its data = %d/%d, want 200", p, v)
	}
	if p, v := f.works(t, old); p != 401 || v != 401 {
		t.Errorf("the token logged out everywhere = %d/%d, want 401", p, v)
	}
}
