package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/internal/config"
)

// TestLoginTimingDoesNotRevealWhoExists: with users at two bcrypt costs, a
// wrong password for either, an unknown name and a disabled user take the
// same time, so timing tells an attacker neither which names exist nor
// which are disabled. The costs are lowered after the config is parsed
// (config refuses costs under 10) to keep the test fast; medians over
// interleaved rounds keep it steady on a loaded machine.
func TestLoginTimingDoesNotRevealWhoExists(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	const low, high = 4, 8
	users := []struct {
		name     string
		cost     int
		disabled bool
	}{
		{"cheap", low, false},
		{"dear", high, false},
		{"cheap-off", low, true},
		{"dear-off", high, true},
	}
	var doc strings.Builder
	doc.WriteString("listen: 127.0.0.1:0\nmetrics_listen: \"\"\ntoken:\n  secret: \"" + testSecret + "\"\nlogin:\n  throttle:\n    user: {burst: 1000, interval: 1s}\n    client: {burst: 1000, interval: 1s}\nusers:\n")
	for _, u := range users {
		fmt.Fprintf(&doc, "  - username: %s\n    password_hash: %q\n    disabled: %v\n", u.name, aliceHash, u.disabled)
	}
	doc.WriteString("routes:\n  - path: /\n    upstream: http://127.0.0.1:1\n")
	cfg, err := config.Parse([]byte(doc.String()), t.TempDir(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		h, err := bcrypt.GenerateFromPassword([]byte("right"), u.cost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Users[i].PasswordHash = h
	}
	gw, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = gw.httpServer(gw.Handler())
	srv.Start()
	t.Cleanup(srv.Close)

	login := func(user string) time.Duration {
		body := url.Values{"username": {user}, "password": {"wrong"}}.Encode()
		req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		start := time.Now()
		resp, err := srv.Client().Do(req)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("login(%q) = %d, want 401", user, resp.StatusCode)
		}
		return elapsed
	}
	kinds := []string{"cheap", "dear", "cheap-off", "dear-off", "unknown"}
	median := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	// medians measures each kind in interleaved rounds, so that a change
	// of load over time weighs on every kind alike.
	medians := func() map[string]time.Duration {
		const rounds = 15
		samples := map[string][]time.Duration{}
		for i := range rounds {
			for _, k := range kinds {
				name := k
				if k == "unknown" {
					name = fmt.Sprintf("nobody-%d", i)
				}
				samples[k] = append(samples[k], login(name))
			}
		}
		m := map[string]time.Duration{}
		for k, d := range samples {
			m[k] = median(d)
		}
		return m
	}
	// Every kind must cost what the dearest user costs, within a factor of
	// 2.5 either way, where a check at the cheaper cost alone is 16 times
	// faster. A busy machine can skew one measurement: when a kind is out
	// of bounds, every kind is measured again, three times at most.
	login("dear") // open the connection
	var problems []string
	for range 3 {
		problems = nil
		m := medians()
		for _, k := range kinds {
			if ratio := float64(m[k]) / float64(m["dear"]); ratio < 1/2.5 || ratio > 2.5 {
				problems = append(problems, fmt.Sprintf("median login time for %s = %v, want within 2.5× of %v (a wrong password for the dearest user)", k, m[k], m["dear"]))
			}
		}
		if len(problems) == 0 {
			return
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}
