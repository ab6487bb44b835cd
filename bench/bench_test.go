// Package bench measures authgate against the baselines it must match:
// a bare httputil.ReverseProxy and a naive JWT-checking proxy, side by side
// in one run. Run: go test ./bench -run '^$' -bench . -benchmem
package bench

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/keys"
	"github.com/authgate/authgate/internal/metrics"
	"github.com/authgate/authgate/internal/server"
)

const secret = "k3V9q2LmX8rT5wZ1yB7nC4dF6gH0jQ2s"

// helloUpstream is the in-process upstream every proxy forwards to.
func helloUpstream(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	}))
	b.Cleanup(srv.Close)
	return srv
}

// gateway builds authgate from a config document (UPSTREAM replaced), with
// access log and metrics on, as in production.
func gateway(b *testing.B, doc, upstream string) (http.Handler, *server.Gateway) {
	b.Helper()
	dir := b.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(doc, upstream)), dir, func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	g, err := server.New(cfg, server.Options{
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		AccessLog: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics:   metrics.New("bench"),
	})
	if err != nil {
		b.Fatal(err)
	}
	return g.Handler(), g
}

// configFor is a gateway config with the given token section in front of
// the upstream %s (filled in by gateway).
func configFor(token string) string {
	return `
metrics_listen: ""
` + token + `
users:
  - username: alice
    password_hash: "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
routes:
  - path: /
    upstream: %s
`
}

var hsConfig = configFor("token:\n  secret: \"" + secret + "\"")

func edConfig(b *testing.B) string {
	_, private, _, err := keys.Generate("ed", keys.EdDSA)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "ed.pem")
	if err := os.WriteFile(path, private, 0o600); err != nil {
		b.Fatal(err)
	}
	return configFor("token:\n  algorithm: EdDSA\n  keys:\n    - id: ed\n      key_file: " + path)
}

// login gets a token through the handler, as a client would.
func login(b *testing.B, h http.Handler) string {
	b.Helper()
	req := httptest.NewRequest("POST", "/login", nil)
	req.Body = io.NopCloser(strings.NewReader("username=alice&password=alicepassword"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.AccessToken == "" {
		b.Fatalf("login = %d %s", rec.Code, rec.Body)
	}
	return out.AccessToken
}

// run sends GET / with the token through h until the benchmark ends.
func run(b *testing.B, h http.Handler, token string) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/items", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkProxy is the whole request path: a bare reverse proxy, a naive
// gateway (golang-jwt ParseWithClaims + the default transport), and
// authgate with HS256 and EdDSA tokens.
func BenchmarkProxy(b *testing.B) {
	up := helloUpstream(b)
	target, _ := url.Parse(up.URL)

	b.Run("bare-reverseproxy", func(b *testing.B) {
		bare := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
		}
		run(b, bare, "")
	})

	b.Run("naive-hs256", func(b *testing.B) {
		naive := naiveGateway(target)
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
		signed, _ := tok.SignedString([]byte(secret))
		run(b, naive, signed)
	})

	b.Run("authgate-hs256", func(b *testing.B) {
		h, _ := gateway(b, hsConfig, up.URL)
		run(b, h, login(b, h))
	})

	b.Run("authgate-eddsa", func(b *testing.B) {
		h, _ := gateway(b, edConfig(b), up.URL)
		run(b, h, login(b, h))
	})

	// An API key (Authorization: Bearer ag_…): one SHA-256 and a map
	// lookup per request, no bcrypt.
	b.Run("authgate-apikey", func(b *testing.B) {
		key, hash := auth.NewAPIKey()
		line := fmt.Sprintf("    api_keys:\n      - {name: bench, hash: %s%s}\n", config.APIKeyHashPrefix, base64.RawURLEncoding.EncodeToString(hash[:]))
		doc := strings.Replace(hsConfig, "bss.S8EBdvmvbO\"\n", "bss.S8EBdvmvbO\"\n"+line, 1)
		h, _ := gateway(b, doc, up.URL)
		run(b, h, key)
	})
}

// naiveGateway is what a first attempt looks like: parse and verify the
// token on every request, set the header, forward with the defaults.
func naiveGateway(target *url.URL) http.Handler {
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
		pr.Out.Header.Set("X-Forwarded-User", pr.In.Header.Get("X-Verified-User"))
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.Header.Get("Authorization")
		if len(raw) < 7 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(raw[7:], claims, func(*jwt.Token) (any, error) { return []byte(secret), nil }, jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		sub, _ := claims["sub"].(string)
		r.Header.Set("X-Verified-User", sub)
		rp.ServeHTTP(w, r)
	})
}

// BenchmarkVerify is token verification alone, per algorithm: cold (the
// signature checked every time) and through the verified-token cache.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{keys.HS256, keys.RS256, keys.ES256, keys.EdDSA} {
		var k keys.Key
		if alg == keys.HS256 {
			k = keys.Secret("k", []byte(secret))
		} else {
			var err error
			if k, _, _, err = keys.Generate("k", alg); err != nil {
				b.Fatal(err)
			}
		}
		tokens, err := auth.NewTokens(auth.TokenOptions{Keys: []keys.Key{k}, SigningKey: "k", Issuer: "authgate", Audience: "authgate", TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		issued, _ := tokens.Issue(auth.Subject{Username: "alice"})
		b.Run(alg+"/cold", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tokens.Verify(issued.Token); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/cached", func(b *testing.B) {
			v := auth.NewVerifier(tokens, 1000)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), issued.Token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyEndpoint is /verify alone, in process: what forward-auth
// costs on top of the proxy in front.
func BenchmarkVerifyEndpoint(b *testing.B) {
	up := helloUpstream(b)
	h, _ := gateway(b, hsConfig, up.URL)
	token := login(b, h)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/verify", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Original-Uri", "/api/items")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
