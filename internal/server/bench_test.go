package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkLoginFailures measures a failed login at the shipped demo's
// bcrypt cost for a wrong password, an unknown user and an empty username.
// Their times must match, or response time would reveal which usernames
// exist. Run: go test ./server -run '^$' -bench LoginFailures -benchtime 20x
func BenchmarkLoginFailures(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), 12)
	if err != nil {
		b.Fatal(err)
	}
	// The test users' cost-10 hashes replaced with the production cost.
	doc := strings.NewReplacer(aliceHash, string(hash), bobHash, string(hash)).Replace(baseConfig)
	f := newFixtureFrom(b, doc+`
login:
  throttle:
    user: {burst: 1000000, interval: 1s}
    client: {burst: 1000000, interval: 1s}
`)
	h := f.gw.Handler()
	for _, bc := range []struct{ name, body string }{
		{"wrong-password", "username=alice&password=wrong"},
		{"unknown-user", "username=nobody&password=wrong"},
		{"empty-username", "username=&password=wrong"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("POST", "/login", strings.NewReader(bc.body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusUnauthorized {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
