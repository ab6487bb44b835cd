package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
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
