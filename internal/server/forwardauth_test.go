package server

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// trustLoopback makes the test client, on loopback, a trusted proxy.
const trustLoopback = "trusted_proxies: [127.0.0.1/32]\n"

// headers builds a header from name, value pairs, repeating a name adds a
// second line.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1])
	}
	return h
}

// with returns a copy of h with the pairs added.
func with(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	for k, vs := range headers(kv...) {
		out[k] = append(out[k], vs...)
	}
	return out
}

// anyHostConfig is baseConfig without its host route: no route names a
// host, so the host cannot change which rule a request is judged by.
var anyHostConfig = strings.Replace(baseConfig, "  - path: /\n    host: Other.Example.COM.\n    upstream: UPSTREAM\n    public: true\n", "", 1)

// ingressShape is what ingress-nginx's auth-url subrequest carries (the
// auth location of rootfs/etc/nginx/template/nginx.tmpl): every header of
// the client's request (kv), plus X-Original-URL
// ($scheme://$http_host$request_uri), X-Original-Method,
// X-Auth-Request-Redirect, X-Sent-From, X-Real-IP, X-Forwarded-For and
// X-Request-ID, with X-Forwarded-Proto cleared.
func ingressShape(original string, kv ...string) http.Header {
	redirect := original
	if u, err := url.Parse(original); err == nil {
		redirect = u.RequestURI()
	}
	h := headers(
		"X-Original-Url", original, "X-Original-Method", "GET",
		"X-Auth-Request-Redirect", redirect, "X-Sent-From", "nginx-ingress-controller",
		"X-Real-Ip", "198.51.100.23", "X-Forwarded-For", "198.51.100.23",
		"X-Request-Id", "5f0c6a1e8b2d4c7f9a3e1b6d8c0f2a4e", "User-Agent", "curl/8.5.0",
	)
	return with(h, kv...)
}

// TestIngressNginxRequestShape: ingress-nginx cannot run here, so this
// sends /verify what its auth-url subrequest carries (ingressShape), with
// the annotations alone under a config whose routes name no host, and
// with the shipped example's auth-proxy-set-headers ConfigMap, which adds
// X-Forwarded-Host: $host (the host nginx chose the server by, replacing
// a client's), under one whose routes do. The request is judged on
// X-Original-URL; a description the client added that disagrees with it
// is refused, whether or not the controller is a trusted proxy.
func TestIngressNginxRequestShape(t *testing.T) {
	if anyHostConfig == baseConfig {
		t.Fatal("anyHostConfig did not remove baseConfig's host route")
	}
	const secret = "http://app.example.com/api/secret?id=7"
	const refused = -1 // 400 from /verify, 401 bad_forwarded_request from /verify/nginx
	type ingressCase struct {
		name   string
		header http.Header
		want   int
		user   string
		routed string // $host, with the ConfigMap; "" for X-Original-URL's host
	}
	for _, setup := range []struct {
		name, config string
		configMap    bool
		cases        func(alice, bob string) []ingressCase
	}{
		{"annotations-only", anyHostConfig, false, func(alice, bob string) []ingressCase {
			return []ingressCase{
				{name: "client-forwarded-host", header: ingressShape("http://app.example.com/anything", "X-Forwarded-Host", "other.example.com"), want: refused},
			}
		}},
		{"forwarded-host-configmap", baseConfig, true, func(alice, bob string) []ingressCase {
			return []ingressCase{
				{name: "host-route", header: ingressShape("http://Other.Example.com./anything"), want: 200},
				{name: "client-forwarded-host-replaced", header: ingressShape(secret, "X-Forwarded-Host", "other.example.com", "Authorization", bob), want: 200, user: "bob"},
				// An absolute-form request line names the host nginx
				// routes on; X-Original-URL names the Host header's.
				{name: "absolute-form-other-host-header", header: ingressShape("http://other.example.com/api/secret"), routed: "app.example.com", want: refused},
			}
		}},
	} {
		for _, trust := range []struct{ name, config string }{{"untrusted-controller", ""}, {"trusted-controller", trustLoopback}} {
			t.Run(setup.name+"/"+trust.name, func(t *testing.T) {
				f := newFixtureFrom(t, setup.config+trust.config)
				alice, bob := "Bearer "+f.token(t, "alice"), "Bearer "+f.token(t, "bob")
				tests := append([]ingressCase{
					{name: "protected-without-token", header: ingressShape(secret), want: 401},
					{name: "protected-with-token", header: ingressShape(secret, "Authorization", bob), want: 200, user: "bob"},
					{name: "public-path", header: ingressShape("http://app.example.com/public/x"), want: 200},
					{name: "judged-on-the-original-path", header: ingressShape("https://app.example.com/admin/x", "Authorization", bob), want: 403},
					{name: "allowed-on-the-original-path", header: ingressShape("https://app.example.com/admin/x", "Authorization", alice), want: 200, user: "alice"},
					{name: "client-forwarded-uri", header: ingressShape(secret, "X-Forwarded-Uri", "/public/x"), want: refused},
					{name: "client-original-uri", header: ingressShape(secret, "X-Original-Uri", "/public/x"), want: refused},
					{name: "client-forwarded-method", header: ingressShape("http://app.example.com/public/x", "X-Forwarded-Method", "DELETE"), want: refused},
					{name: "client-forwarded-proto", header: ingressShape(secret, "X-Forwarded-Proto", "https", "Authorization", bob), want: refused},
					{name: "client-second-original-url", header: with(ingressShape(secret), "X-Original-Url", "http://app.example.com/public/x"), want: refused},
					{name: "agreeing-client-copy", header: ingressShape(secret, "X-Forwarded-Uri", "/api/secret?id=7", "X-Forwarded-Host", "app.example.com", "Authorization", bob), want: 200, user: "bob"},
					{name: "relative-original-url", header: ingressShape("/public/x"), want: refused},
					{name: "original-url-without-path", header: ingressShape("http://app.example.com"), want: refused},
					{name: "original-url-with-userinfo", header: ingressShape("http://x@app.example.com/public/x"), want: refused},
					{name: "original-url-other-scheme", header: ingressShape("ftp://app.example.com/public/x"), want: refused},
					{name: "original-url-dot-segments", header: ingressShape("http://app.example.com/public/../api/secret"), want: refused},
				}, setup.cases(alice, bob)...)
				for _, tt := range tests {
					h := tt.header
					if setup.configMap {
						routed := tt.routed
						if u, err := url.Parse(h.Get("X-Original-Url")); routed == "" && err == nil {
							routed = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
						}
						if routed != "" {
							h = h.Clone()
							h.Set("X-Forwarded-Host", routed)
						}
					}
					for _, path := range []string{"/verify", "/verify/nginx"} {
						t.Run(tt.name+path, func(t *testing.T) {
							resp, _ := f.do(t, "GET", path, h, "")
							want, reason := tt.want, resp.Header.Get("X-Authgate-Reason")
							if want == refused {
								want = 400
								if path == "/verify/nginx" {
									want = 401
								}
								if reason != "bad_forwarded_request" {
									t.Errorf("reason = %q, want bad_forwarded_request", reason)
								}
							}
							if resp.StatusCode != want {
								t.Fatalf("%s = %d (reason %q), want %d", path, resp.StatusCode, reason, want)
							}
							if got := resp.Header.Get("X-Forwarded-User"); got != tt.user {
								t.Errorf("X-Forwarded-User = %q, want %q", got, tt.user)
							}
						})
					}
				}
			})
		}
	}
	// Through a trusted controller, the login link names the original URL.
	f := newFixtureFrom(t, anyHostConfig+trustLoopback)
	resp, _ := f.do(t, "GET", "/verify/nginx", ingressShape("https://app.example.com/api/x?y=1"), "")
	want := "https://app.example.com/login?rd=" + url.QueryEscape("https://app.example.com/api/x?y=1")
	if got := resp.Header.Get("X-Authgate-Login-Url"); resp.StatusCode != 401 || got != want {
		t.Errorf("login link = %d %q, want 401 %q", resp.StatusCode, got, want)
	}
}

// hostRoutesConfig has a protected app host, where only alice is let in,
// and a public docs host: a request judged by the wrong host's rules gets
// through.
const hostRoutesConfig = `
listen: 127.0.0.1:0
metrics_listen: ""
token:
  secret: "` + testSecret + `"
users:
  - username: alice
    password_hash: "` + aliceHash + `"
  - username: bob
    password_hash: "` + bobHash + `"
routes:
  - path: /
    host: app.example.com
    upstream: UPSTREAM
    allowed_users: [alice]
  - path: /
    host: docs.example.com
    upstream: UPSTREAM
    public: true
session:
  insecure_cookie: true
trusted_proxies: [127.0.0.1/32]
`

// TestVerifyJudgesOnlyAHostTheProxyNamed: when a route names a host, a
// described request is judged by the host the proxy chose the site by,
// which it says in X-Forwarded-Host, and by nothing else: not /verify's
// own Host (the proxy's address for authgate), and not X-Original-URL's
// host, which is the client's Host header (ingress-nginx builds it from
// $http_host) or the client's own header (a plain nginx passes it on).
// Without it the request is refused, 401 incomplete_forwarded_request.
// When no route names a host, the host cannot change the rule, and a path
// alone is judged.
func TestVerifyJudgesOnlyAHostTheProxyNamed(t *testing.T) {
	f := newFixtureFrom(t, hostRoutesConfig)
	alice, bob := "Bearer "+f.token(t, "alice"), "Bearer "+f.token(t, "bob")
	// What nginx's auth location sends for a request without a Host
	// header: $http_host is empty, so no X-Forwarded-Host.
	nginx := func(kv ...string) http.Header {
		return with(headers("X-Original-Uri", "/secret", "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http"), kv...)
	}
	const incomplete, refused = "incomplete_forwarded_request", "bad_forwarded_request"
	tests := []struct {
		name   string
		header http.Header
		want   int
		reason string
		user   string
	}{
		{"named-host-other-user", nginx("X-Forwarded-Host", "app.example.com", "Authorization", bob), 403, "forbidden", ""},
		{"named-host-allowed-user", nginx("X-Forwarded-Host", "app.example.com", "Authorization", alice), 200, "", "alice"},
		{"named-public-host", nginx("X-Forwarded-Host", "docs.example.com"), 200, "", ""},
		// (a) The client's X-Original-URL, passed through, named the host.
		{"client-original-url-names-the-host", nginx("X-Original-Url", "http://docs.example.com/secret"), 401, incomplete, ""},
		// (c) No host at all: authgate's own Host matched no route.
		{"no-host-other-user", nginx("Authorization", bob), 401, incomplete, ""},
		// (b) ingress-nginx: X-Original-URL's host is the Host header's,
		// not the request line's that nginx routed on.
		{"ingress-original-url-alone", ingressShape("http://docs.example.com/secret"), 401, incomplete, ""},
		{"ingress-routed-host-disagrees", ingressShape("http://docs.example.com/secret", "X-Forwarded-Host", "app.example.com"), 401, refused, ""},
		{"ingress-routed-host-agrees", ingressShape("http://app.example.com/secret", "X-Forwarded-Host", "app.example.com", "Authorization", bob), 403, "forbidden", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.do(t, "GET", "/verify/nginx", tt.header, "")
			reason := resp.Header.Get("X-Authgate-Reason")
			if resp.StatusCode != tt.want || reason != tt.reason {
				t.Errorf("/verify/nginx = %d (reason %q), want %d (reason %q)", resp.StatusCode, reason, tt.want, tt.reason)
			}
			if got := resp.Header.Get("X-Forwarded-User"); got != tt.user {
				t.Errorf("X-Forwarded-User = %q, want %q", got, tt.user)
			}
		})
	}
	t.Run("no-host-routes", func(t *testing.T) {
		f := newFixtureFrom(t, anyHostConfig)
		bob := "Bearer " + f.token(t, "bob")
		for path, want := range map[string]int{"/admin/x": 403, "/api/x": 200, "/public/x": 200} {
			h := headers("X-Original-Uri", path, "X-Forwarded-Method", "GET", "Authorization", bob)
			if resp, _ := f.do(t, "GET", "/verify/nginx", h, ""); resp.StatusCode != want {
				t.Errorf("%s without a host = %d (reason %q), want %d", path, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), want)
			}
		}
	})
}

// TestIngressNginxBehindATLSLoadBalancer pins a limitation the ingress
// example documents: behind a load balancer that terminates TLS,
// ingress-nginx's X-Original-URL says http. authgate fails closed: the
// https page's cookie-authenticated writes and WebSocket handshakes are
// cross-origin, and an X-Forwarded-Proto that says https disagrees with
// X-Original-URL. Bearer tokens and safe methods are unaffected.
func TestIngressNginxBehindATLSLoadBalancer(t *testing.T) {
	f := newFixture(t, "")
	cookie := f.gw.cookie.Name + "=" + f.token(t, "alice")
	bearer := "Bearer " + f.token(t, "alice")
	shape := func(method string, kv ...string) http.Header {
		h := ingressShape("http://app.example.com/api/x", append([]string{"X-Forwarded-Host", "app.example.com", "Origin", "https://app.example.com"}, kv...)...)
		h.Set("X-Original-Method", method)
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		want   int
		reason string
	}{
		{"cookie-write", shape("POST", "Cookie", cookie), 403, "cross_origin"},
		{"cookie-websocket", shape("GET", "Cookie", cookie, "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13"), 403, "cross_origin"},
		{"cookie-read", shape("GET", "Cookie", cookie), 200, ""},
		{"bearer-write", shape("POST", "Authorization", bearer), 200, ""},
		{"forwarded-proto-https", shape("POST", "Cookie", cookie, "X-Forwarded-Proto", "https"), 401, "bad_forwarded_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.do(t, "GET", "/verify/nginx", tt.header, "")
			if reason := resp.Header.Get("X-Authgate-Reason"); resp.StatusCode != tt.want || reason != tt.reason {
				t.Errorf("/verify/nginx = %d (reason %q), want %d (reason %q)", resp.StatusCode, reason, tt.want, tt.reason)
			}
		})
	}
}

// TestVerifyLoginLinkBelievesOnlyTrustedProxies: the login page URL and
// its rd that /verify hands out are built from X-Forwarded-Host/Proto only
// when the caller is in trusted_proxies; anyone else gets its own Host.
func TestVerifyLoginLinkBelievesOnlyTrustedProxies(t *testing.T) {
	ask := headers("X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example", "X-Forwarded-Method", "GET",
		"X-Forwarded-Uri", "/api/x?y=1", "Accept", htmlAccept)
	for _, tt := range []struct {
		name, config string
		base         func(f *fixture) string
	}{
		{"untrusted-caller", "", func(f *fixture) string { return f.url }},
		{"trusted-caller", trustLoopback, func(*fixture) string { return "https://evil.example" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.config)
			base := tt.base(f)
			want := base + "/login?rd=" + url.QueryEscape(base+"/api/x?y=1")
			if resp, _ := f.do(t, "GET", "/verify/traefik", ask, ""); resp.StatusCode != 302 || resp.Header.Get("Location") != want {
				t.Errorf("traefik = %d Location %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), want)
			}
			if resp, _ := f.do(t, "GET", "/verify/nginx", ask, ""); resp.StatusCode != 401 || resp.Header.Get("X-Authgate-Login-Url") != want {
				t.Errorf("nginx = %d X-Authgate-Login-Url %q, want 401 %q", resp.StatusCode, resp.Header.Get("X-Authgate-Login-Url"), want)
			}
		})
	}
}

// TestWebSocketHandshakeNeedsSameOriginInBothModes: nginx and Traefik drop
// Upgrade and Connection from the auth subrequest, but the handshake's
// Sec-WebSocket-* headers (which no script can set) reach /verify; a
// cookie-authenticated handshake from another site's page is refused in
// forward-auth as in proxy mode.
func TestWebSocketHandshakeNeedsSameOriginInBothModes(t *testing.T) {
	f := newFixture(t, "")
	cookie := f.gw.cookie.Name + "=" + f.token(t, "alice")
	asked := headers("X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com",
		"X-Forwarded-Uri", "/api/ws", "Cookie", cookie)
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"key-and-version-cross-site", with(asked, "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13", "Origin", "https://evil.example"), 403},
		{"key-only-cross-site", with(asked, "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Origin", "https://evil.example"), 403},
		{"version-only-cross-site", with(asked, "Sec-Websocket-Version", "13", "Origin", "https://evil.example"), 403},
		{"protocol-only-cross-site", with(asked, "Sec-Websocket-Protocol", "chat", "Origin", "https://evil.example"), 403},
		{"upgrade-cross-site", with(asked, "Upgrade", "websocket", "Origin", "https://evil.example"), 403},
		{"handshake-without-origin", with(asked, "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13"), 403},
		{"handshake-other-scheme", with(asked, "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13", "Origin", "http://app.example.com"), 403},
		{"handshake-same-origin", with(asked, "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13", "Origin", "https://app.example.com"), 200},
		// Traefik says wss for a WebSocket over TLS.
		{"traefik-wss-same-origin", with(headers("X-Forwarded-Method", "GET", "X-Forwarded-Proto", "wss", "X-Forwarded-Host", "app.example.com",
			"X-Forwarded-Uri", "/api/ws", "Cookie", cookie), "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13", "Origin", "https://app.example.com"), 200},
		{"plain-get-cross-site", with(asked, "Origin", "https://evil.example"), 200},
	}
	for _, tt := range tests {
		for _, path := range []string{"/verify", "/verify/nginx", "/verify/traefik", "/verify/caddy"} {
			t.Run(tt.name+path, func(t *testing.T) {
				resp, _ := f.do(t, "GET", path, tt.header, "")
				if resp.StatusCode != tt.want {
					t.Errorf("%s = %d (reason %q), want %d", path, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), tt.want)
				}
				if tt.want == 403 && resp.Header.Get("X-Forwarded-User") != "" {
					t.Errorf("a refused handshake carries X-Forwarded-User %q", resp.Header.Get("X-Forwarded-User"))
				}
			})
		}
	}
	// Proxy mode applies the same rule to the same headers.
	self := "http://" + strings.TrimPrefix(f.url, "http://")
	for _, tt := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"upgrade-cross-site", headers("Upgrade", "websocket", "Connection", "Upgrade", "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13", "Origin", "https://evil.example"), 403},
		{"key-without-upgrade-cross-site", headers("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13", "Origin", "https://evil.example"), 403},
		{"key-without-upgrade-same-origin", headers("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-Websocket-Version", "13", "Origin", self), 200},
	} {
		t.Run("proxy-"+tt.name, func(t *testing.T) {
			resp, _ := f.do(t, "GET", "/api/ws", with(tt.header, "Cookie", cookie), "")
			if resp.StatusCode != tt.want {
				t.Errorf("proxy = %d (reason %q), want %d", resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), tt.want)
			}
		})
	}
}

// TestSameOriginComparesTheScheme: an http:// page is not the same origin
// as an https:// site on the same host (RFC 6454), in proxy mode, on the
// login form and in forward-auth. The scheme is the connection's, or what
// a trusted proxy (proxy mode) or the asker (forward-auth) says.
func TestSameOriginComparesTheScheme(t *testing.T) {
	host := func(f *fixture) string { return strings.TrimPrefix(f.url, "http://") }
	t.Run("proxy-plain-http", func(t *testing.T) {
		f := newFixture(t, "")
		cookie := f.gw.cookie.Name + "=" + f.token(t, "alice")
		for origin, want := range map[string]int{"https://" + host(f): 403, "http://" + host(f): 200} {
			if resp, _ := f.do(t, "POST", "/api/x", headers("Cookie", cookie, "Origin", origin), ""); resp.StatusCode != want {
				t.Errorf("cookie POST with Origin %s = %d, want %d", origin, resp.StatusCode, want)
			}
		}
	})
	t.Run("proxy-behind-trusted-tls-proxy", func(t *testing.T) {
		f := newFixture(t, trustLoopback)
		cookie := f.gw.cookie.Name + "=" + f.token(t, "alice")
		for origin, want := range map[string]int{"http://app.example.com": 403, "https://app.example.com": 200} {
			h := headers("Cookie", cookie, "Origin", origin, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com")
			if resp, _ := f.do(t, "POST", "/api/x", h, ""); resp.StatusCode != want {
				t.Errorf("cookie POST with Origin %s = %d, want %d", origin, resp.StatusCode, want)
			}
		}
	})
	t.Run("login-form", func(t *testing.T) {
		f := newFixture(t, "")
		form := url.Values{"username": {"alice"}, "password": {alicePassword}}.Encode()
		for origin, want := range map[string]int{"https://" + host(f): 403, "http://" + host(f): 303} {
			h := headers("Content-Type", "application/x-www-form-urlencoded", "Accept", htmlAccept, "Origin", origin)
			if resp, _ := f.do(t, "POST", "/login", h, form); resp.StatusCode != want {
				t.Errorf("login form with Origin %s = %d, want %d", origin, resp.StatusCode, want)
			}
		}
	})
	t.Run("logout", func(t *testing.T) {
		f := newFixture(t, "")
		cookie := f.gw.cookie.Name + "=" + f.token(t, "alice")
		for origin, want := range map[string]int{"https://" + host(f): 403, "http://" + host(f): 303} {
			if resp, _ := f.do(t, "POST", "/logout", headers("Cookie", cookie, "Origin", origin, "Accept", htmlAccept), ""); resp.StatusCode != want {
				t.Errorf("logout with Origin %s = %d, want %d", origin, resp.StatusCode, want)
			}
		}
	})
	t.Run("forward-auth", func(t *testing.T) {
		f := newFixture(t, "")
		cookie := f.gw.cookie.Name + "=" + f.token(t, "alice")
		described := map[string]http.Header{
			"forwarded": headers("X-Forwarded-Method", "POST", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/api/x"),
			"original":  headers("X-Original-Method", "POST", "X-Original-Url", "https://app.example.com/api/x", "X-Forwarded-Host", "app.example.com"),
		}
		for name, h := range described {
			for origin, want := range map[string]int{"http://app.example.com": 403, "https://app.example.com": 200, "https://app.example.com:8443": 403} {
				if resp, _ := f.do(t, "GET", "/verify/caddy", with(h, "Cookie", cookie, "Origin", origin), ""); resp.StatusCode != want {
					t.Errorf("%s: cookie POST with Origin %s = %d (reason %q), want %d", name, origin, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), want)
				}
			}
		}
	})
}

// TestMethodOverrideMustMatchTheMethod: the method a route's methods rule
// (and the same-origin check) was applied to must be the method the app
// runs. Rails, Express, Symfony and others run the method named in
// X-HTTP-Method-Override and its variants, and the proxy in front of a
// forward-auth setup passes those to the app; so a request whose override
// names another method is refused, in proxy mode and forward-auth alike.
func TestMethodOverrideMustMatchTheMethod(t *testing.T) {
	f := newFixtureFrom(t, groupsConfig)
	alice, bob := f.token(t, "alice"), f.token(t, "bob")
	tests := []struct {
		name     string
		path     string
		token    string
		override []string
		want     int
	}{
		{"http-method-override", "/reports/x", bob, []string{"X-Http-Method-Override", "DELETE"}, 403},
		{"http-method", "/reports/x", bob, []string{"X-Http-Method", "DELETE"}, 403},
		{"method-override", "/reports/x", bob, []string{"X-Method-Override", "DELETE"}, 403},
		{"underscore-spelling", "/reports/x", bob, []string{"X-Http_Method_Override", "DELETE"}, 403},
		{"lower-case-value", "/reports/x", bob, []string{"X-Http-Method-Override", "get"}, 403},
		{"two-overrides-one-other", "/reports/x", bob, []string{"X-Http-Method", "GET", "X-Method-Override", "PUT"}, 403},
		{"route-without-method-rule", "/admin/x", alice, []string{"X-Http-Method-Override", "DELETE"}, 403},
		{"public-route", "/public/x", "", []string{"X-Http-Method-Override", "POST"}, 403},
		{"query-parameter", "/reports/x?_method=DELETE", bob, nil, 403},
		{"query-parameter-among-others", "/reports/x?a=1&_method=PUT", bob, nil, 403},
		{"unreadable-query-naming-one", "/reports/x?_method=%zz", bob, nil, 403},
		{"encoded-underscore", "/reports/x?%5Fmethod=DELETE", bob, nil, 403},
		{"encoded-letter", "/reports/x?_m%65thod=DELETE", bob, nil, 403},
		{"php-dot", "/reports/x?.method=DELETE", bob, nil, 403},
		{"php-space", "/reports/x?+method=DELETE", bob, nil, 403},
		{"nul-suffix", "/reports/x?_method%00=DELETE", bob, nil, 403},
		{"array-syntax", "/reports/x?_method[]=DELETE", bob, nil, 403},
		{"semicolon-separated", "/reports/x?a=1;_method=DELETE", bob, nil, 403},
		{"encoded-value", "/reports/x?_method=%44ELETE", bob, nil, 403},
		{"agreeing-query-parameter", "/reports/x?_method=GET", bob, nil, 200},
		{"similar-parameter", "/reports/x?my_method=DELETE", bob, nil, 200},
		{"agreeing-override", "/reports/x", bob, []string{"X-Http-Method-Override", "GET"}, 200},
		{"no-override", "/reports/x", bob, nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := headers(tt.override...)
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			check := func(mode string, resp *http.Response) {
				t.Helper()
				if resp.StatusCode != tt.want {
					t.Errorf("%s = %d (reason %q), want %d", mode, resp.StatusCode, resp.Header.Get("X-Authgate-Reason"), tt.want)
				}
				if tt.want == 403 && resp.Header.Get("X-Authgate-Reason") != "method_override" {
					t.Errorf("%s reason = %q, want method_override", mode, resp.Header.Get("X-Authgate-Reason"))
				}
			}
			resp, _ := f.do(t, "GET", tt.path, h, "")
			check("proxy", resp)
			for _, path := range []string{"/verify", "/verify/nginx", "/verify/traefik", "/verify/caddy"} {
				resp, _ := f.do(t, "GET", path, with(h, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", tt.path), "")
				check(path, resp)
			}
		})
	}
}

// TestVerifySlidesSessionsByRedirect: behind Traefik and Caddy, which drop
// the Set-Cookie of a 2xx auth answer, a session cookie past half its life
// is renewed by a 307 back to the URL the browser asked for, carrying the
// new cookie, whenever the browser will follow it and keep the cookie;
// otherwise the new cookie rides on the 200 as before. A redirect the
// browser would answer with the old cookie again would loop.
func TestVerifySlidesSessionsByRedirect(t *testing.T) {
	const sliding = "session:\n  ttl: 10m\n  max_lifetime: 25m\n"
	fixtures := map[string]*fixture{
		"trusted":   newFixture(t, sliding+trustLoopback),
		"untrusted": newFixture(t, sliding),
		"domain":    newFixture(t, sliding+"  cookie_domain: example.com\n"+trustLoopback),
		"insecure":  newFixture(t, sliding+"  insecure_cookie: true\n"+trustLoopback),
	}
	cookies := map[string]string{}
	for name, f := range fixtures {
		cookies[name] = f.gw.cookie.Name + "=" + f.token(t, "alice")
		f.advance(6 * time.Minute) // past half of the cookie's 10m
	}
	page := headers("X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com",
		"X-Forwarded-Uri", "/api/x?y=1", "Accept", htmlAccept, "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none", "Sec-Fetch-Dest", "document")
	fetch := func(mode, site string, kv ...string) http.Header {
		h := page.Clone()
		h.Set("Accept", "*/*")
		h.Set("Sec-Fetch-Mode", mode)
		h.Set("Sec-Fetch-Site", site)
		h.Set("Sec-Fetch-Dest", "empty")
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	set := func(kv ...string) http.Header { // "" removes a header
		h := page.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			if h.Del(kv[i]); kv[i+1] != "" {
				h.Set(kv[i], kv[i+1])
			}
		}
		return h
	}
	const back = "https://app.example.com/api/x?y=1"
	tests := []struct {
		name     string
		fixture  string
		path     string
		header   http.Header
		fresh    bool // the cookie is not yet past half its life
		want     int
		location string
	}{
		{"caddy-page-load", "trusted", "/verify/caddy", page, false, 307, back},
		{"traefik-page-load", "trusted", "/verify/traefik", page, false, 307, back},
		{"navigation-without-sec-fetch", "trusted", "/verify/caddy", set("Sec-Fetch-Mode", "", "Sec-Fetch-Site", "", "Sec-Fetch-Dest", ""), false, 307, back},
		{"head", "trusted", "/verify/caddy", set("X-Forwarded-Method", "HEAD"), false, 307, back},
		{"image", "trusted", "/verify/caddy", fetch("no-cors", "same-origin", "Sec-Fetch-Dest", "image"), false, 307, back},
		{"same-origin-script", "trusted", "/verify/traefik", fetch("cors", "same-origin"), false, 307, back},
		{"domain-covers-host", "domain", "/verify/caddy", set("X-Forwarded-Host", "docs.example.com"), false, 307, "https://docs.example.com/api/x?y=1"},
		{"insecure-cookie-over-http", "insecure", "/verify/caddy", set("X-Forwarded-Proto", "http"), false, 307, "http://app.example.com/api/x?y=1"},
		// The new cookie rides on the 200.
		{"cross-origin-script", "trusted", "/verify/caddy", fetch("cors", "same-site"), false, 200, ""},
		{"websocket", "trusted", "/verify/caddy", fetch("websocket", "same-origin", "Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Origin", "https://app.example.com"), false, 200, ""},
		{"post", "trusted", "/verify/caddy", set("X-Forwarded-Method", "POST", "Origin", "https://app.example.com"), false, 200, ""},
		{"api-client", "trusted", "/verify/caddy", set("Accept", "application/json", "Sec-Fetch-Mode", "", "Sec-Fetch-Site", "", "Sec-Fetch-Dest", ""), false, 200, ""},
		{"secure-cookie-over-http", "trusted", "/verify/caddy", set("X-Forwarded-Proto", "http"), false, 200, ""},
		{"domain-does-not-cover-host", "domain", "/verify/caddy", set("X-Forwarded-Host", "app.example.net"), false, 200, ""},
		{"untrusted-caller", "untrusted", "/verify/caddy", page, false, 200, ""},
		{"nginx", "trusted", "/verify/nginx", set("X-Forwarded-Uri", "", "X-Original-Uri", "/api/x?y=1"), false, 200, ""},
		{"plain", "trusted", "/verify", page, false, 200, ""},
		{"fresh-cookie", "trusted", "/verify/caddy", page, true, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fixtures[tt.fixture]
			cookie := cookies[tt.fixture]
			if tt.fresh {
				cookie = f.gw.cookie.Name + "=" + f.token(t, "alice")
			}
			resp := noRedirects(t, f, "GET", tt.path, with(tt.header, "Cookie", cookie))
			renewed := false
			for _, c := range resp.Cookies() {
				renewed = renewed || (c.Name == f.gw.cookie.Name && c.Value != "")
			}
			if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location || renewed == tt.fresh {
				t.Fatalf("%s = %d Location %q renewed %v; want %d %q %v", tt.path, resp.StatusCode, resp.Header.Get("Location"), renewed, tt.want, tt.location, !tt.fresh)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			// A 307 reaches the browser whole: it names nobody.
			if user := resp.Header.Get("X-Forwarded-User"); (tt.want == 307) != (user == "") {
				t.Errorf("X-Forwarded-User = %q on a %d", user, resp.StatusCode)
			}
		})
	}
}

// TestForwardAuthCookieAnswer: with upstream_headers.forward_auth_cookie,
// every 2xx forward-auth answer carries the request's cookies without the
// session cookie, for Traefik and ingress-nginx to copy over the request
// they pass to the application; without it, no answer carries a Cookie.
func TestForwardAuthCookieAnswer(t *testing.T) {
	on := newFixture(t, "upstream_headers:\n  forward_auth_cookie: true\n")
	off := newFixture(t, "")
	session := on.gw.cookie.Name + "=" + on.token(t, "alice")
	bob := "Bearer " + on.token(t, "bob")
	orig := func(uri string, kv ...string) http.Header {
		return with(headers("X-Forwarded-Method", "GET", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", uri), kv...)
	}
	tests := []struct {
		name   string
		f      *fixture
		path   string
		header http.Header
		want   int
		cookie []string // the answer's Cookie lines
	}{
		{"session-among-others", on, "/verify/traefik", orig("/api/x", "Cookie", "theme=dark; "+session+"; lang=en"), 200, []string{"theme=dark; lang=en"}},
		{"session-alone", on, "/verify/traefik", orig("/api/x", "Cookie", session), 200, nil},
		{"two-lines-become-one", on, "/verify/nginx", orig("/api/x", "Cookie", "theme=dark", "Cookie", session+"; lang=en"), 200, []string{"theme=dark; lang=en"}},
		{"bearer-keeps-cookies", on, "/verify/traefik", orig("/api/x", "Authorization", bob, "Cookie", "theme=dark"), 200, []string{"theme=dark"}},
		{"public-route", on, "/verify/traefik", orig("/public/x", "Cookie", "theme=dark; "+session), 200, []string{"theme=dark"}},
		{"no-cookies", on, "/verify/traefik", orig("/api/x", "Authorization", bob), 200, nil},
		{"refused", on, "/verify/traefik", orig("/admin/x", "Authorization", bob, "Cookie", "theme=dark"), 403, nil},
		{"off", off, "/verify/traefik", orig("/api/x", "Cookie", "theme=dark; "+off.gw.cookie.Name+"="+off.token(t, "alice")), 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := noRedirects(t, tt.f, "GET", tt.path, tt.header)
			if got := resp.Header["Cookie"]; resp.StatusCode != tt.want || !slices.Equal(got, tt.cookie) {
				t.Errorf("%s = %d Cookie %q, want %d %q", tt.path, resp.StatusCode, got, tt.want, tt.cookie)
			}
		})
	}
}
