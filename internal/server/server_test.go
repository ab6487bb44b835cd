package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/keys"
)

func TestLoginThenProtectedCall(t *testing.T) {
	f := newFixture(t, "")
	for _, tt := range []struct {
		name        string
		contentType string
		body        string
	}{
		{"form", "application/x-www-form-urlencoded", "username=alice&password=" + alicePassword},
		{"json", "application/json", `{"username":"alice","password":"` + alicePassword + `"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "POST", "/login", http.Header{"Content-Type": {tt.contentType}}, tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("login = %d %s, want 200", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
			}
			if err := json.Unmarshal([]byte(body), &tok); err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 600 || tok.AccessToken == "" {
				t.Fatalf("login body = %s, want a Bearer token expiring in 600s", body)
			}
			resp, body = f.do(t, "GET", "/api/things?q=1", bearer(tok.AccessToken), "")
			if resp.StatusCode != 200 {
				t.Fatalf("protected = %d %s, want 200", resp.StatusCode, body)
			}
			got := echoed(t, body)
			if u := got.Headers["X-Forwarded-User"]; len(u) != 1 || u[0] != "alice" {
				t.Errorf("upstream X-Forwarded-User = %q, want [alice]", u)
			}
			if a := got.Headers["Authorization"]; a != nil {
				t.Errorf("upstream saw Authorization %q; it must be dropped by default", a)
			}
			if got.Path != "/api/things" || got.Query != "q=1" {
				t.Errorf("upstream path = %q?%q, want /api/things?q=1", got.Path, got.Query)
			}
		})
	}
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	f := newFixture(t, "")
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	type answer struct {
		status  int
		body    string
		headers http.Header
	}
	send := func(body string) answer {
		resp, b := f.do(t, "POST", "/login", form, body)
		h := resp.Header.Clone()
		h.Del("Date")
		h.Del("X-Request-Id")
		return answer{resp.StatusCode, b, h}
	}
	want := send("username=alice&password=wrong")
	if want.status != 401 {
		t.Fatalf("wrong password = %d, want 401", want.status)
	}
	for _, body := range []string{
		"username=nobody&password=wrong",
		"username=&password=wrong",
		"username=alice&password=" + strings.Repeat("a", 73),
		"username=ALICE&password=" + alicePassword,
	} {
		got := send(body)
		if got.status != want.status || got.body != want.body || !equalHeaders(got.headers, want.headers) {
			t.Errorf("login(%q) = %d %q %v, want the same as a wrong password: %d %q %v", body, got.status, got.body, got.headers, want.status, want.body, want.headers)
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

func TestLoginRejectsMalformedRequests(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		want        int
	}{
		{"json-unknown-field", "POST", "/login", "application/json", `{"username":"alice","password":"x","admin":true}`, 400},
		{"json-duplicate-key", "POST", "/login", "application/json", `{"username":"bob","username":"alice","password":"x"}`, 400},
		{"json-case-variant-key", "POST", "/login", "application/json", `{"USERNAME":"alice","password":"x"}`, 400},
		{"json-trailing-data", "POST", "/login", "application/json", `{"username":"alice","password":"x"}{}`, 400},
		{"json-wrong-type", "POST", "/login", "application/json", `{"username":["alice"],"password":"x"}`, 400},
		{"json-number-password", "POST", "/login", "application/json", `{"username":"alice","password":1}`, 400},
		{"json-not-object", "POST", "/login", "application/json", `"alice"`, 400},
		{"json-missing-password", "POST", "/login", "application/json", `{"username":"alice"}`, 400},
		{"json-truncated", "POST", "/login", "application/json", `{"username":"alice","password":"x"`, 400},
		{"form-duplicate-username", "POST", "/login", "application/x-www-form-urlencoded", "username=bob&username=alice&password=x", 400},
		{"form-missing-password", "POST", "/login", "application/x-www-form-urlencoded", "username=alice", 400},
		{"form-bad-escape", "POST", "/login", "application/x-www-form-urlencoded", "username=%zz&password=x", 400},
		{"oversized-body", "POST", "/login", "application/x-www-form-urlencoded", "username=alice&password=" + strings.Repeat("a", 20000), 400},
		{"credentials-in-query", "POST", "/login?username=alice&password=x", "application/x-www-form-urlencoded", "", 400},
		{"unsupported-content-type", "POST", "/login", "text/plain", "username=alice&password=x", 415},
		{"missing-content-type", "POST", "/login", "", "username=alice&password=x", 415},
		{"put-is-not-login", "PUT", "/login", "", "", 405},
		{"lowercase-method-is-not-post", "post", "/login", "application/x-www-form-urlencoded", "username=alice&password=" + alicePassword, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			resp, body := f.do(t, tt.method, tt.path, h, tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.want)
			}
			if strings.Contains(body, "eyJ") {
				t.Errorf("a refused login returned something token-like: %s", body)
			}
		})
	}
}

func TestProxyDecisions(t *testing.T) {
	f := newFixture(t, "")
	alice, bob := f.token(t, "alice"), f.token(t, "bob")
	tests := []struct {
		name          string
		path          string
		header        http.Header
		want          int
		wantChallenge bool
		wantBody      string
	}{
		{"no-token", "/api/x", nil, 401, true, `{"error":"invalid_token"}`},
		{"garbage-token", "/api/x", bearer("not-a-jwt"), 401, true, `{"error":"invalid_token"}`},
		{"basic-auth-is-not-a-token", "/api/x", http.Header{"Authorization": {"Basic YWxpY2U6YWxpY2VwYXNzd29yZA=="}}, 401, true, ""},
		{"two-authorization-headers", "/api/x", http.Header{"Authorization": {"Bearer " + alice, "Bearer " + alice}}, 401, true, ""},
		{"valid-token", "/api/x", bearer(alice), 200, false, ""},
		{"lowercase-scheme", "/api/x", http.Header{"Authorization": {"bearer " + alice}}, 200, false, ""},
		{"route-root-without-slash", "/api", bearer(alice), 200, false, ""},
		{"allowed-user", "/admin/panel", bearer(alice), 200, false, ""},
		{"user-not-allowed", "/admin/panel", bearer(bob), 403, false, `{"error":"forbidden"}`},
		{"not-allowed-user-without-token", "/admin/panel", nil, 401, true, ""},
		{"public-without-token", "/public/page", nil, 200, false, ""},
		{"public-with-bad-token", "/public/page", bearer("garbage"), 200, false, ""},
		{"no-route", "/elsewhere", bearer(alice), 404, false, `{"error":"not_found"}`},
		{"segment-boundary", "/apix", bearer(alice), 404, false, ""},
		{"public-prefix-boundary", "/publicity", nil, 404, false, ""},
		{"upstream-down", "/dead/x", bearer(alice), 502, false, `{"error":"bad_gateway"}`},
		{"upstream-timeout", "/slow/x", bearer(alice), 504, false, `{"error":"gateway_timeout"}`},
		{"upstream-down-needs-token-first", "/dead/x", nil, 401, true, ""},
		{"own-path-wins", "/healthz", nil, 200, false, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.path, tt.header, "")
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, resp.StatusCode, body, tt.want)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if tt.wantChallenge && challenge != `Bearer realm="authgate", error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q, want the RFC 6750 challenge", challenge)
			}
			if tt.wantBody != "" && strings.TrimSpace(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			if tt.want != 200 && (strings.Contains(body, "127.0.0.1") || strings.Contains(body, "dial")) {
				t.Errorf("body leaks internal detail: %q", body)
			}
		})
	}
}

func TestClientIdentityHeadersNeverReachUpstream(t *testing.T) {
	f := newFixture(t, "")
	alice := f.token(t, "alice")
	spoofs := []struct {
		name   string
		header http.Header
	}{
		{"canonical", http.Header{"X-Forwarded-User": {"admin"}}},
		{"lower-case", http.Header{"x-forwarded-user": {"admin"}}},
		{"twice", http.Header{"X-Forwarded-User": {"admin", "root"}}},
		{"underscore", http.Header{"X-Forwarded_User": {"admin"}}},
		{"dot", http.Header{"X.Forwarded.User": {"admin"}}},
		{"mixed-underscore-case", http.Header{"x_FORWARDED_user": {"admin"}}},
		{"connection-nominated", http.Header{"X-Forwarded-User": {"admin"}, "Connection": {"X-Forwarded-User"}}},
		{"remote-user", http.Header{"Remote-User": {"admin"}}},
		{"remote_user", http.Header{"Remote_User": {"admin"}}},
		{"auth-request-prefix", http.Header{"X-Auth-Request-User": {"admin"}, "X-Auth-Request-Email": {"a@b"}}},
		{"webauth", http.Header{"X-Webauth-User": {"admin"}}},
		{"forwarded-groups", http.Header{"X-Forwarded-Groups": {"admins"}}},
	}
	for _, route := range []struct {
		path     string
		token    string
		wantUser []string
	}{
		{"/api/x", alice, []string{"alice"}},
		{"/public/x", "", nil},
	} {
		for _, sp := range spoofs {
			t.Run(strings.Trim(route.path, "/x")+"-"+sp.name, func(t *testing.T) {
				h := sp.header.Clone()
				if route.token != "" {
					h.Set("Authorization", "Bearer "+route.token)
				}
				resp, body := f.do(t, "GET", route.path, h, "")
				if resp.StatusCode != 200 {
					t.Fatalf("status %d %s", resp.StatusCode, body)
				}
				got := echoed(t, body)
				for name, values := range got.Headers {
					norm := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
					isIdentity := norm == "x-forwarded-user" || norm == "remote-user" || strings.HasPrefix(norm, "x-auth-request-") || norm == "x-webauth-user" || norm == "x-forwarded-groups"
					if !isIdentity {
						continue
					}
					if norm != "x-forwarded-user" || strings.Join(values, ",") != strings.Join(route.wantUser, ",") {
						t.Errorf("upstream saw %s: %q; want only X-Forwarded-User: %q", name, values, route.wantUser)
					}
				}
				if route.wantUser != nil && got.Headers["X-Forwarded-User"] == nil {
					t.Errorf("upstream did not get X-Forwarded-User")
				}
			})
		}
	}
}

func TestForwardedHeadersTrustedOnlyFromTrustedProxies(t *testing.T) {
	spoof := http.Header{
		"X-Forwarded-For":        {"203.0.113.9"},
		"X-Forwarded-Host":       {"evil.example"},
		"X-Forwarded-Proto":      {"https"},
		"X-Real-Ip":              {"203.0.113.9"},
		"Forwarded":              {"for=203.0.113.9"},
		"X-Original-Url":         {"/admin"},
		"X-Rewrite-Url":          {"/admin"},
		"X-Http-Method-Override": {"GET"}, // agrees, else refused (TestMethodOverrideMustMatchTheMethod)
		"X-Forwarded-Prefix":     {"/evil"},
	}
	tests := []struct {
		name      string
		extra     string
		wantXFF   string
		wantHost  string
		wantProto string
		wantReal  bool
	}{
		{"untrusted-peer", "", "127.0.0.1", "", "http", false},
		{"trusted-peer", "trusted_proxies: [127.0.0.1/32]\n", "203.0.113.9, 127.0.0.1", "evil.example", "https", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.extra)
			h := spoof.Clone()
			h.Set("Authorization", "Bearer "+f.token(t, "alice"))
			resp, body := f.do(t, "GET", "/api/x", h, "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := echoed(t, body).Headers
			if xff := strings.Join(got["X-Forwarded-For"], ","); xff != tt.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", xff, tt.wantXFF)
			}
			wantHost := tt.wantHost
			if wantHost == "" {
				wantHost = strings.TrimPrefix(f.url, "http://")
			}
			if h := strings.Join(got["X-Forwarded-Host"], ","); h != wantHost {
				t.Errorf("X-Forwarded-Host = %q, want %q", h, wantHost)
			}
			if p := strings.Join(got["X-Forwarded-Proto"], ","); p != tt.wantProto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", p, tt.wantProto)
			}
			if _, ok := got["X-Real-Ip"]; ok != tt.wantReal {
				t.Errorf("X-Real-Ip passed = %v, want %v", ok, tt.wantReal)
			}
			for _, name := range []string{"X-Original-Url", "X-Rewrite-Url", "X-Http-Method-Override", "X-Forwarded-Prefix"} {
				if v, ok := got[name]; ok {
					t.Errorf("routing override %s: %q reached the upstream", name, v)
				}
			}
		})
	}
}

// forge signs claims with the test secret, or with key when given.
func forge(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, key any) string {
	t.Helper()
	if key == nil {
		key = []byte(testSecret)
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = keys.SecretID([]byte(testSecret))
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenValidation(t *testing.T) {
	f := newFixture(t, "")
	now := time.Now()
	alice, _ := f.gw.users.Lookup("alice")
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "iss": "authgate", "aud": "authgate", "jti": "id-1", "gen": alice.Generation,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	b64 := base64.RawURLEncoding.EncodeToString
	payload := b64(mustJSON(t, valid()))
	good := forge(t, jwt.SigningMethodHS256, valid(), nil)
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"valid", good, 200},
		{"alg-none", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + ".", 401},
		{"alg-None", b64([]byte(`{"alg":"None","typ":"JWT"}`)) + "." + payload + ".", 401},
		{"alg-NONE", b64([]byte(`{"alg":"NONE"}`)) + "." + payload + ".", 401},
		{"alg-none-with-signature", b64([]byte(`{"alg":"none"}`)) + "." + payload + "." + parts[2], 401},
		{"hs384", forge(t, jwt.SigningMethodHS384, valid(), nil), 401},
		{"wrong-key", forge(t, jwt.SigningMethodHS256, valid(), []byte("another-secret-of-at-least-32-bytes!!")), 401},
		{"expired", forge(t, jwt.SigningMethodHS256, with("exp", now.Add(-time.Minute).Unix()), nil), 401},
		{"expired-within-leeway", forge(t, jwt.SigningMethodHS256, with("exp", now.Add(-2*time.Second).Unix()), nil), 200},
		{"not-yet-valid", forge(t, jwt.SigningMethodHS256, with("nbf", now.Add(time.Minute).Unix()), nil), 401},
		{"issued-in-future", forge(t, jwt.SigningMethodHS256, with("iat", now.Add(time.Minute).Unix()), nil), 401},
		{"missing-exp", forge(t, jwt.SigningMethodHS256, with("exp", nil), nil), 401},
		{"wrong-iss", forge(t, jwt.SigningMethodHS256, with("iss", "evil"), nil), 401},
		{"missing-iss", forge(t, jwt.SigningMethodHS256, with("iss", nil), nil), 401},
		{"wrong-aud", forge(t, jwt.SigningMethodHS256, with("aud", "other"), nil), 401},
		{"missing-aud", forge(t, jwt.SigningMethodHS256, with("aud", nil), nil), 401},
		{"missing-sub", forge(t, jwt.SigningMethodHS256, with("sub", nil), nil), 401},
		{"missing-jti", forge(t, jwt.SigningMethodHS256, with("jti", nil), nil), 401},
		{"missing-generation", forge(t, jwt.SigningMethodHS256, with("gen", nil), nil), 401},
		{"unknown-user", forge(t, jwt.SigningMethodHS256, with("sub", "mallory"), nil), 401},
		{"exp-as-string", forge(t, jwt.SigningMethodHS256, with("exp", "9999999999"), nil), 401},
		{"tampered-payload", parts[0] + "." + b64(mustJSON(t, with("sub", "bob"))) + "." + parts[2], 401},
		{"stripped-signature", parts[0] + "." + parts[1] + ".", 401},
		{"four-segments", good + ".x", 401},
		{"two-segments", parts[0] + "." + parts[1], 401},
		{"padded-base64", parts[0] + "=." + parts[1] + "." + parts[2], 401},
		{"jku-header", forgeWithHeader(t, "jku", "http://127.0.0.1:1/keys", valid()), 401},
		{"jwk-header", forgeWithHeader(t, "jwk", map[string]any{"kty": "oct", "k": b64([]byte(testSecret))}, valid()), 401},
		{"kid-header", forgeWithHeader(t, "kid", "../../dev/null", valid()), 401},
		{"too-long", forge(t, jwt.SigningMethodHS256, with("pad", strings.Repeat("a", 5000)), nil), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", "/api/x", bearer(tt.token), "")
			if resp.StatusCode != tt.want {
				t.Errorf("token %s = %d %s, want %d", tt.name, resp.StatusCode, body, tt.want)
			}
		})
	}
}

func forgeWithHeader(t *testing.T, name string, value any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = keys.SecretID([]byte(testSecret))
	tok.Header[name] = value
	s, err := tok.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyEndpoint(t *testing.T) {
	f := newFixture(t, "")
	alice, bob := f.token(t, "alice"), f.token(t, "bob")
	with := func(tok string, kv ...string) http.Header {
		h := http.Header{}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name     string
		method   string
		header   http.Header
		want     int
		wantUser string
	}{
		{"valid-token", "GET", with(alice), 200, "alice"},
		{"valid-token-any-method", "POST", with(alice), 200, "alice"},
		{"no-token", "GET", with(""), 401, ""},
		{"bad-token", "GET", with("garbage"), 401, ""},
		{"public-route-without-token", "GET", with("", "X-Forwarded-Uri", "/public/x", "X-Forwarded-Host", "app.example.com"), 200, ""},
		{"nginx-original-uri-public", "GET", with("", "X-Original-Uri", "/public/x?a=b", "X-Forwarded-Host", "app.example.com"), 200, ""},
		{"protected-route-without-token", "GET", with("", "X-Forwarded-Uri", "/api/x", "X-Forwarded-Host", "app.example.com"), 401, ""},
		{"allowed-user", "GET", with(alice, "X-Forwarded-Uri", "/admin/x", "X-Forwarded-Host", "app.example.com"), 200, "alice"},
		{"forbidden-user", "GET", with(bob, "X-Forwarded-Uri", "/admin/x", "X-Forwarded-Host", "app.example.com"), 403, ""},
		{"traefik-shape", "GET", with(bob, "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/api/x", "X-Forwarded-For", "198.51.100.7"), 200, "bob"},
		{"host-rule-public", "GET", with("", "X-Forwarded-Host", "other.example.com", "X-Forwarded-Uri", "/anything"), 200, ""},
		{"duplicate-uri", "GET", with("", "X-Forwarded-Uri", "/public/x", "X-Forwarded-Uri", "/api/x"), 400, ""},
		{"conflicting-uri", "GET", with("", "X-Forwarded-Uri", "/public/x", "X-Original-Uri", "/api/x"), 400, ""},
		{"dot-segment-uri", "GET", with("", "X-Forwarded-Uri", "/public/../api/x"), 400, ""},
		{"encoded-dot-segment-uri", "GET", with("", "X-Forwarded-Uri", "/public/%2e%2e/api/x"), 400, ""},
		{"absolute-uri", "GET", with("", "X-Forwarded-Uri", "http://evil/public/x"), 400, ""},
		{"empty-uri", "GET", with("", "X-Forwarded-Uri", ""), 400, ""},
		{"duplicate-host", "GET", with(alice, "X-Forwarded-Host", "a", "X-Forwarded-Host", "b"), 400, ""},
		{"bad-method", "GET", with(alice, "X-Forwarded-Method", "GET /x"), 400, ""},
		{"method-without-uri", "GET", with(alice, "X-Forwarded-Method", "GET"), 401, ""},
		{"host-without-uri", "GET", with(alice, "X-Forwarded-Host", "app.example.com"), 401, ""},
		// A route names a host, so a URI needs the host the proxy chose.
		{"uri-without-host", "GET", with(alice, "X-Forwarded-Uri", "/api/x"), 401, ""},
		{"public-uri-without-host", "GET", with("", "X-Forwarded-Uri", "/public/x"), 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, "/verify", tt.header, "")
			if resp.StatusCode != tt.want {
				t.Fatalf("verify = %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if got := resp.Header.Get("X-Forwarded-User"); got != tt.wantUser {
				t.Errorf("X-Forwarded-User = %q, want %q", got, tt.wantUser)
			}
			if got := resp.Header.Get("Remote-User"); got != tt.wantUser {
				t.Errorf("Remote-User = %q, want %q", got, tt.wantUser)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}

func TestRequestTargetsAreCanonical(t *testing.T) {
	f := newFixture(t, "")
	alice := f.token(t, "alice")
	tests := []struct {
		name     string
		path     string
		token    string
		want     int
		wantPath string
	}{
		{"plain", "/api/a/b", alice, 200, "/api/a/b"},
		{"encoded-letter-normalised", "/api/%61", alice, 200, "/api/a"},
		{"space-stays-encoded", "/api/a%20b", alice, 200, "/api/a%20b"},
		{"dot-dot-out-of-public", "/public/../api/x", "", 400, ""},
		{"encoded-dot-dot", "/public/%2e%2e/api/x", "", 400, ""},
		{"encoded-slash", "/public%2f..%2fapi", "", 400, ""},
		{"encoded-backslash", "/public/..%5capi", "", 400, ""},
		{"double-encoding", "/public/%252e%252e/api", "", 400, ""},
		{"semicolon-params", "/public/..;/api/x", "", 400, ""},
		{"encoded-semicolon", "/api%3bx/y", alice, 400, ""},
		{"slash-run", "/public//api", "", 400, ""},
		{"dot-segment", "/public/./x", "", 400, ""},
		{"encoded-nul", "/api/a%00b", alice, 400, ""},
		{"encoded-newline", "/api/a%0d%0ab", alice, 400, ""},
		{"overlong-utf8", "/api/%c0%ae%c0%ae", alice, 400, ""},
		{"bad-escape", "/api/%zz", alice, 400, ""},
		{"encoded-hash", "/api/a%23b", alice, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h http.Header
			if tt.token != "" {
				h = bearer(tt.token)
			}
			status, body := rawRequest(t, f.url, "GET "+tt.path+" HTTP/1.1\r\nHost: gw\r\n"+headerLines(h)+"Connection: close\r\n\r\n")
			if status != tt.want {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, status, body, tt.want)
			}
			if tt.wantPath != "" {
				if got := echoed(t, body).Path; got != tt.wantPath {
					t.Errorf("upstream path = %q, want %q", got, tt.wantPath)
				}
			}
		})
	}
}

func TestMethodsAndRequestForms(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name    string
		request string
		want    int
	}{
		{"absolute-form", "GET http://evil.example/api/x HTTP/1.1\r\nHost: evil.example\r\n", 400},
		{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: gw\r\n", 400},
		{"connect", "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n", 405},
		{"trace-public", "TRACE /public/x HTTP/1.1\r\nHost: gw\r\n", 405},
		{"host-route-case-dot-port", "GET /x HTTP/1.1\r\nHost: OTHER.example.com.:80\r\n", 200},
		{"host-route-other-host", "GET /x HTTP/1.1\r\nHost: third.example.com\r\n", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawRequest(t, f.url, tt.request+"Connection: close\r\n\r\n")
			if status != tt.want {
				t.Errorf("%q = %d %s, want %d", tt.request, status, body, tt.want)
			}
		})
	}
}

func TestAuthorizationHeaderTowardsUpstream(t *testing.T) {
	for _, tt := range []struct {
		extra string
		want  bool
	}{{"", false}, {"forward_authorization: true\n", true}} {
		f := newFixture(t, tt.extra)
		tok := f.token(t, "alice")
		_, body := f.do(t, "GET", "/api/x", bearer(tok), "")
		_, got := echoed(t, body).Headers["Authorization"]
		if got != tt.want {
			t.Errorf("config %q: upstream got Authorization = %v, want %v", tt.extra, got, tt.want)
		}
	}
}

func TestStripPrefixAndRequestID(t *testing.T) {
	f := newFixture(t, "")
	h := bearer(f.token(t, "alice"))
	h.Set("X-Request-Id", "trace-123")
	resp, body := f.do(t, "GET", "/strip/users/7", h, "")
	got := echoed(t, body)
	if got.Path != "/base/users/7" {
		t.Errorf("upstream path = %q, want /base/users/7", got.Path)
	}
	if id := got.Headers["X-Request-Id"]; len(id) != 1 || id[0] != "trace-123" {
		t.Errorf("upstream X-Request-Id = %q, want trace-123", id)
	}
	if id := resp.Header.Get("X-Request-Id"); id != "trace-123" {
		t.Errorf("response X-Request-Id = %q, want trace-123", id)
	}
	h.Set("X-Request-Id", "bad id\twith spaces")
	resp, _ = f.do(t, "GET", "/strip/", h, "")
	if id := resp.Header.Get("X-Request-Id"); len(id) != 32 {
		t.Errorf("response X-Request-Id = %q, want a fresh 32-hex-digit ID", id)
	}
}

func TestHealthMetricsAndLogs(t *testing.T) {
	f := newFixture(t, "")
	f.gw.SetReady(true)
	if resp, _ := f.do(t, "GET", "/readyz", nil, ""); resp.StatusCode != 200 {
		t.Errorf("readyz = %d, want 200", resp.StatusCode)
	}
	f.gw.SetReady(false)
	if resp, _ := f.do(t, "GET", "/readyz", nil, ""); resp.StatusCode != 503 {
		t.Errorf("readyz when not ready = %d, want 503", resp.StatusCode)
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	resp, body := f.do(t, "POST", "/login", form, "username=alice&password="+alicePassword)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(body), &tok)
	if resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("login = %d", resp.StatusCode)
	}
	f.do(t, "POST", "/login", form, "username=alice&password=wrong-password-123")
	f.do(t, "GET", "/api/x", bearer(tok.AccessToken), "")
	f.do(t, "GET", "/api/x", bearer("garbage"), "")
	f.do(t, "GET", "/dead/x", bearer(tok.AccessToken), "")

	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exposition := rec.Body.String()
	for _, want := range []string{
		`authgate_http_requests_total{code="2xx",route="/api"} 1`,
		`authgate_http_requests_total{code="5xx",route="/dead"} 1`,
		`authgate_login_attempts_total{outcome="success"} 1`,
		`authgate_login_attempts_total{outcome="invalid"} 1`,
		`authgate_token_rejections_total{reason="malformed_token"} 1`,
		`authgate_upstream_errors_total{kind="unavailable",route="/dead"} 1`,
		`authgate_http_request_duration_seconds_count{route="/api"}`,
	} {
		if !strings.Contains(exposition, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	logs := f.logs.String()
	for _, secret := range []string{alicePassword, "wrong-password-123", tok.AccessToken, testSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %q", secret[:8])
		}
	}
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, `"route":"/api"`) || !strings.Contains(logs, `"user":"alice"`) {
		t.Errorf("access log lines missing: %s", logs)
	}
}

// TestDiscoveryDocumentBase: the discovery document's URLs come from an
// issuer that is a URL, whatever Host the client sends; built from the
// request's host otherwise, the document says it varies with it.
func TestDiscoveryDocumentBase(t *testing.T) {
	for _, tt := range []struct {
		name, issuer, wantJWKS, wantVary string
	}{
		{"issuer URL", "  issuer: https://auth.example.com/\n", "https://auth.example.com/.well-known/jwks.json", ""},
		{"plain issuer", "", "http://evil.example/.well-known/jwks.json", "Host, X-Forwarded-Host, X-Forwarded-Proto, Forwarded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureFrom(t, strings.Replace(baseConfig, "  ttl: 10m\n", "  ttl: 10m\n"+tt.issuer, 1))
			req := httptest.NewRequest("GET", "/.well-known/openid-configuration", nil)
			req.Host = "evil.example"
			rec := httptest.NewRecorder()
			f.gw.Handler().ServeHTTP(rec, req)
			var meta struct {
				JWKSURI string `json:"jwks_uri"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &meta); err != nil || rec.Code != 200 {
				t.Fatalf("discovery = %d %s", rec.Code, rec.Body)
			}
			if meta.JWKSURI != tt.wantJWKS || rec.Header().Get("Vary") != tt.wantVary {
				t.Errorf("jwks_uri %q Vary %q, want %q and %q", meta.JWKSURI, rec.Header().Get("Vary"), tt.wantJWKS, tt.wantVary)
			}
		})
	}
}

// TestForwardAuthMetricsByRoute: forward-auth requests are still counted
// under route="verify", and also by the route their original request
// matched, so one protected application's traffic and refusals can be
// told from another's. Before, all of it was route="verify" alone.
func TestForwardAuthMetricsByRoute(t *testing.T) {
	f := newFixture(t, "")
	tok := f.token(t, "bob")
	ask := func(uri string, h http.Header) {
		t.Helper()
		h.Set("X-Forwarded-Uri", uri)
		h.Set("X-Forwarded-Host", "app.example.com")
		f.do(t, "GET", "/verify", h, "")
	}
	ask("/api/x", bearer(tok))
	ask("/api/y", bearer(tok))
	ask("/admin/x", bearer(tok)) // bob is not allowed there
	ask("/api/x", http.Header{})
	f.do(t, "GET", "/verify/nginx", http.Header{"X-Forwarded-Uri": {"/public/x"}, "X-Forwarded-Host": {"app.example.com"}}, "")
	f.do(t, "GET", "/verify", http.Header{"X-Forwarded-Method": {"GET"}}, "") // no URI: no route to judge by
	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exposition := rec.Body.String()
	for _, want := range []string{
		`authgate_forward_auth_requests_total{code="2xx",route="/api"} 2`,
		`authgate_forward_auth_requests_total{code="4xx",route="/api"} 1`,
		`authgate_forward_auth_requests_total{code="4xx",route="/admin"} 1`,
		`authgate_forward_auth_requests_total{code="2xx",route="/public"} 1`,
		`authgate_forward_auth_requests_total{code="4xx",route="unmatched"} 1`,
		// The verify endpoint's own series keep their meaning: every
		// forward-auth request.
		`authgate_http_requests_total{code="2xx",route="verify"} 3`,
		`authgate_http_requests_total{code="4xx",route="verify"} 3`,
	} {
		if !strings.Contains(exposition, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Proxied traffic is not mixed in: no route served a proxied request.
	if strings.Contains(exposition, `authgate_http_requests_total{code="2xx",route="/api"}`) {
		t.Errorf("forward-auth requests are counted as the route's proxied requests")
	}
}
