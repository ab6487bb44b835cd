package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzLoginBody: the login parsers never panic, and an accepted body reads
// the same to a standard decoder: exactly one username and one password,
// or (a form for a sign-in with the client certificate) neither.
func FuzzLoginBody(f *testing.F) {
	for _, s := range []string{
		`{"username":"alice","password":"x"}`, `{"username":"a","username":"b","password":"x"}`, `{"USERNAME":"a","password":"x"}`,
		`{"username":"a","password":"x"} {}`, `{"username":1,"password":"x"}`, "username=alice&password=x", "username=a&username=b&password=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if c, err := parseLoginJSON([]byte(body)); err == nil {
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("accepted %q, which encoding/json rejects: %v", body, err)
			}
			if len(m) != 2 || m["username"] != c.username || m["password"] != c.password {
				t.Fatalf("accepted %q as %+v, but a standard decoder reads %v", body, c, m)
			}
		}
		if c, err := parseLoginForm([]byte(body)); err == nil {
			v, err := url.ParseQuery(body)
			fields := 1
			if c.none {
				fields = 0 // a sign-in with the client certificate: neither field
			}
			if err != nil || v.Get("username") != c.username || v.Get("password") != c.password || len(v["username"]) != fields || len(v["password"]) != fields || len(v["rd"]) > 1 {
				t.Fatalf("accepted form %q as %+v, but ParseQuery reads %v, %v", body, c, v, err)
			}
		}
	})
}

// FuzzGatewayWithoutToken: without a valid token, no request target and no
// header reaches a protected upstream path, and nothing panics.
func FuzzGatewayWithoutToken(f *testing.F) {
	fx := newFixture(f, "")
	for _, s := range []string{"/api/x", "/public/../api/x", "/public/%2e%2e/api/x", "/public%2fapi", "/public/..;/api", "/PUBLIC/x", "/public/x"} {
		f.Add(s, "X-Forwarded-Uri", "/public/x")
	}
	h := fx.gw.Handler()
	// Framing headers are left out: on a hand-built request they would
	// contradict its real (empty) body, which no parsed request can do, and
	// leave the upstream waiting for bytes that never come.
	framing := map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Expect": true, "Connection": true, "Upgrade": true, "Te": true}
	f.Fuzz(func(t *testing.T, target, name, value string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t") {
			return
		}
		req, err := http.NewRequest("GET", "http://gw"+target, nil)
		if err != nil {
			return
		}
		req.RequestURI = target
		req.RemoteAddr = "192.0.2.1:1234"
		if name != "" && !strings.ContainsAny(name, " :\r\n\x00") && !strings.ContainsAny(value, "\r\n\x00") && !framing[http.CanonicalHeaderKey(name)] {
			req.Header.Set(name, value)
		}
		req.Header.Del("Authorization")
		before := len(fx.upstreamPaths())
		h.ServeHTTP(httptest.NewRecorder(), req)
		for _, p := range fx.upstreamPaths()[before:] {
			if !strings.HasPrefix(p, "/public/") && p != "/public" {
				t.Fatalf("request %q with %s: %q reached protected upstream path %q", target, name, value, p)
			}
		}
	})
}
