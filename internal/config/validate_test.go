package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// kv writes value under the dotted key path, one mapping per level, and
// returns the document and the line:col where value starts.
func kv(path, value string) (doc, pos string) {
	parts := strings.Split(path, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	last := parts[len(parts)-1]
	return b.String(), fmt.Sprintf("%d:%d", len(parts), 2*(len(parts)-1)+len(last)+3)
}

// problemsOf returns the problems joined in err.
func problemsOf(t *testing.T, err error) []*Problem {
	t.Helper()
	var out []*Problem
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %v joins no problems", err)
	}
	for _, e := range joined.Unwrap() {
		p, ok := e.(*Problem)
		if !ok {
			t.Fatalf("problem %v is a %T, want *Problem", e, e)
		}
		out = append(out, p)
	}
	return out
}

// TestEveryKeyAcceptsGoodValues: each key, given a valid value, yields the
// typed value the rest of the gateway uses.
func TestEveryKeyAcceptsGoodValues(t *testing.T) {
	tests := []struct {
		path, value string
		got         func(*Config) any
		want        any
	}{
		{"listen", "0.0.0.0:80", func(c *Config) any { return c.Listen }, "0.0.0.0:80"},
		{"listen", ":8080", func(c *Config) any { return c.Listen }, ":8080"},
		{"listen", "localhost:8080", func(c *Config) any { return c.Listen }, "localhost:8080"},
		{"listen", "'[::1]:8080'", func(c *Config) any { return c.Listen }, "[::1]:8080"},
		{"metrics_listen", `""`, func(c *Config) any { return c.MetricsListen }, ""},
		{"metrics_listen", "127.0.0.1:9100", func(c *Config) any { return c.MetricsListen }, "127.0.0.1:9100"},
		{"metrics_listen", "~", func(c *Config) any { return c.MetricsListen }, "127.0.0.1:9090"},
		{"echo_listen", "127.0.0.1:8081", func(c *Config) any { return c.EchoListen }, "127.0.0.1:8081"},
		{"default_deny", "true", func(c *Config) any { return c.DefaultDeny }, true},
		{"default_deny", "false", func(c *Config) any { return c.DefaultDeny }, false},
		{"default_deny", "yes", func(c *Config) any { return c.DefaultDeny }, true}, // the decoder's YAML 1.1 compatibility
		{"forward_authorization", "true", func(c *Config) any { return c.ForwardAuthorization }, true},
		{"identity_header", "x-auth-user", func(c *Config) any { return c.IdentityHeader }, "X-Auth-User"},
		{"strip_headers", "[X-A, x-b-*]", func(c *Config) any { return strings.Join(c.StripHeaderPrefixes, ",") }, "X-Auth-Request-,X-B-"},
		{"trusted_proxies", "['::1', 10.0.0.0/8]", func(c *Config) any { return fmt.Sprint(c.TrustedProxies) }, "[::1/128 10.0.0.0/8]"},
		{"upstream_headers.groups", `""`, func(c *Config) any { return c.UpstreamHeaders.Groups }, ""},
		{"upstream_headers.groups", "x-groups", func(c *Config) any { return c.UpstreamHeaders.Groups }, "X-Groups"},
		{"upstream_headers.email", `""`, func(c *Config) any { return c.UpstreamHeaders.Email }, ""},
		{"upstream_headers.token", "x-token", func(c *Config) any { return c.UpstreamHeaders.Token }, "X-Token"},
		{"upstream_headers.assertion", "x-assertion", func(c *Config) any { return c.UpstreamHeaders.Assertion }, "X-Assertion"},
		{"upstream_headers.assertion_ttl", "10m", func(c *Config) any { return c.UpstreamHeaders.AssertionTTL }, 10 * time.Minute},
		{"upstream_headers.forward_auth_cookie", "true", func(c *Config) any { return c.UpstreamHeaders.ForwardAuthCookie }, true},
		{"upstream_headers.forward_auth_cookie", "~", func(c *Config) any { return c.UpstreamHeaders.ForwardAuthCookie }, false},
		{"token.algorithm", "ES256", func(c *Config) any { return c.Token.Keys[0].Algorithm }, "ES256"},
		{"token.ttl", "1h", func(c *Config) any { return c.Token.TTL }, time.Hour},
		{"token.leeway", "1m", func(c *Config) any { return c.Token.Leeway }, time.Minute},
		{"token.leeway", "0s", func(c *Config) any { return c.Token.Leeway }, time.Duration(0)},
		{"token.issuer", "https://auth.example.com", func(c *Config) any { return c.Token.Issuer }, "https://auth.example.com"},
		{"token.audience", "app", func(c *Config) any { return c.Token.Audience }, "app"},
		{"token.cache_size", "0", func(c *Config) any { return c.Token.CacheSize }, 0},
		{"token.cache_size", "500", func(c *Config) any { return c.Token.CacheSize }, 500},
		{"token.refresh.enabled", "true", func(c *Config) any { return c.Token.Refresh.Enabled }, true},
		{"token.refresh.ttl", "1h", func(c *Config) any { return c.Token.Refresh.TTL }, time.Hour},
		{"token.refresh.max_lifetime", "48h", func(c *Config) any { return c.Token.Refresh.MaxLifetime }, 48 * time.Hour},
		{"token.secret", secret, func(c *Config) any { return secretOf(c) }, secret},
		{"log.format", "json", func(c *Config) any { return c.Log.JSON }, true},
		{"log.format", "text", func(c *Config) any { return c.Log.JSON }, false},
		{"log.level", "debug", func(c *Config) any { return c.Log.Level }, slog.LevelDebug},
		{"log.level", "WARN", func(c *Config) any { return c.Log.Level }, slog.LevelWarn},
		{"log.flush_interval", "10s", func(c *Config) any { return c.Log.FlushInterval }, 10 * time.Second},
		{"server.read_header_timeout", "5s", func(c *Config) any { return c.Server.ReadHeaderTimeout }, 5 * time.Second},
		{"server.read_timeout", "0s", func(c *Config) any { return c.Server.ReadTimeout }, time.Duration(0)},
		{"server.write_timeout", "30s", func(c *Config) any { return c.Server.WriteTimeout }, 30 * time.Second},
		{"server.send_timeout", "0s", func(c *Config) any { return c.Server.SendTimeout }, time.Duration(0)},
		{"server.idle_timeout", "1m", func(c *Config) any { return c.Server.IdleTimeout }, time.Minute},
		{"server.shutdown_grace", "0s", func(c *Config) any { return c.Server.ShutdownGrace }, time.Duration(0)},
		{"server.max_header_bytes", "1024", func(c *Config) any { return c.Server.MaxHeaderBytes }, 1024},
		{"server.max_header_bytes", "65536", func(c *Config) any { return c.Server.MaxHeaderBytes }, 65536},
		{"server.max_header_bytes", "0x2000", func(c *Config) any { return c.Server.MaxHeaderBytes }, 8192},
		{"server.max_connections", "1", func(c *Config) any { return c.Server.MaxConnections }, 1},
		{"server.gc_headroom_mib", "32", func(c *Config) any { return strings.Contains(strings.Join(c.Warnings, "\n"), "gc_headroom_mib") }, true},
		{"transport.dial_timeout", "1s", func(c *Config) any { return c.Transport.DialTimeout }, time.Second},
		{"transport.response_header_timeout", "5s", func(c *Config) any { return c.Transport.ResponseHeaderTimeout }, 5 * time.Second},
		{"transport.idle_conn_timeout", "0s", func(c *Config) any { return c.Transport.IdleConnTimeout }, time.Duration(0)},
		{"transport.max_idle_conns_per_host", "1", func(c *Config) any { return c.Transport.MaxIdleConnsPerHost }, 1},
		{"login.max_body_bytes", "256", func(c *Config) any { return c.Login.MaxBodyBytes }, int64(256)},
		{"login.max_body_bytes", "1048576", func(c *Config) any { return c.Login.MaxBodyBytes }, int64(1 << 20)},
		{"login.max_concurrent", "2", func(c *Config) any { return [2]int{c.Login.MaxConcurrent, c.Login.MaxQueue} }, [2]int{2, 8}},
		{"login.max_queue", "1", func(c *Config) any { return c.Login.MaxQueue }, 1},
		{"login.shed_delay", "0s", func(c *Config) any { return c.Login.ShedDelay }, time.Duration(0)},
		{"login.shed_delay", "10s", func(c *Config) any { return c.Login.ShedDelay }, 10 * time.Second},
		{"login.throttle.user.burst", "1", func(c *Config) any { return c.Login.User.Burst }, 1},
		{"login.throttle.user.interval", "1m", func(c *Config) any { return c.Login.User.Interval }, time.Minute},
		{"login.throttle.client.burst", "5", func(c *Config) any { return c.Login.Client.Burst }, 5},
		{"login.throttle.client.interval", "1s", func(c *Config) any { return c.Login.Client.Interval }, time.Second},
		{"login.throttle.slots", "16", func(c *Config) any { return c.Login.ThrottleSlots }, 16},
		{"session.cookie_name", "sid", func(c *Config) any { return c.Session.CookieName }, "__Host-sid"},
		{"session.cookie_domain", ".Example.com", func(c *Config) any { return c.Session.CookieDomain }, "example.com"},
		{"session.insecure_cookie", "true", func(c *Config) any { return [2]any{c.Session.Secure, c.Session.CookieName} }, [2]any{false, "authgate"}},
		{"session.ttl", "1h", func(c *Config) any { return c.Session.TTL }, time.Hour},
		{"session.max_lifetime", "30m", func(c *Config) any { return c.Session.MaxLifetime }, 30 * time.Minute},
		{"session.allowed_redirect_hosts", "[App.Example.org., 'b.example:8443']", func(c *Config) any { return strings.Join(c.Session.AllowedRedirectHosts, ",") }, "app.example.org,b.example:8443"},
		{"session.login_url", "https://auth.example.com/login", func(c *Config) any { return c.Session.LoginURL }, "https://auth.example.com/login"},
		{"session.logout_redirect", "https://example.com/bye", func(c *Config) any { return c.Session.LogoutRedirect }, "https://example.com/bye"},
		{"session.logout_redirect", "/bye", func(c *Config) any { return c.Session.LogoutRedirect }, "/bye"},
		{"login_page.title", "Welcome", func(c *Config) any { return c.LoginPage.Title }, "Welcome"},
		{"login_page.logo_url", "/logo.png", func(c *Config) any { return c.LoginPage.LogoURL }, "/logo.png"},
		{"login_page.logo_url", "https://cdn.example.com/l.png", func(c *Config) any { return c.LoginPage.LogoURL }, "https://cdn.example.com/l.png"},
		{"paths.login", "/auth/login", func(c *Config) any { return [2]string{c.Paths.Login, c.Session.LogoutRedirect} }, [2]string{"/auth/login", "/auth/login"}},
		{"paths.refresh", "/auth/refresh", func(c *Config) any { return c.Paths.Refresh }, "/auth/refresh"},
		{"paths.logout", "/auth/logout", func(c *Config) any { return c.Paths.Logout }, "/auth/logout"},
		{"paths.verify", "/auth/verify", func(c *Config) any { return c.Paths.Verify }, "/auth/verify"},
		{"paths.healthz", "/-/healthz", func(c *Config) any { return c.Paths.Healthz }, "/-/healthz"},
		{"paths.readyz", "/-/readyz", func(c *Config) any { return c.Paths.Readyz }, "/-/readyz"},
		{"reload.watch", "false", func(c *Config) any { return c.Reload.Watch }, false},
		{"reload.watch", "true", func(c *Config) any { return c.Reload.Watch }, true},
		{"reload.watch", "~", func(c *Config) any { return c.Reload.Watch }, true},
	}
	for _, tt := range tests {
		t.Run(tt.path+"="+tt.value, func(t *testing.T) {
			doc, _ := kv(tt.path, tt.value)
			cfg, err := Parse(withUser(doc), t.TempDir(), env(nil))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want it accepted", doc, err)
			}
			if got := tt.got(cfg); got != tt.want {
				t.Errorf("Parse(%q): %s = %v, want %v", doc, tt.path, got, tt.want)
			}
		})
	}
}

// TestEveryKeyRefusesBadValues: each key, given a bad value, yields one
// problem that names the value's line, column and path and says what
// belongs there.
func TestEveryKeyRefusesBadValues(t *testing.T) {
	tests := []struct {
		path, value string
		msg         string
		// at overrides where the problem is expected (line:col and path)
		// when it is not the value itself.
		at string
	}{
		{"listen", "8080", "must be host:port, as in 127.0.0.1:8080", ""},
		{"listen", "127.0.0.1:65536", "port must be a number from 0 to 65535", ""},
		{"listen", "example.com:80", "host must be an IP address, localhost, or empty for all interfaces", ""},
		{"listen", "{host: x}", "must be text, not a mapping", ""},
		{"metrics_listen", "127.0.0.1:8080", "must differ from listen: metrics never share the public listener", ""},
		{"metrics_listen", "nope", "must be host:port, as in 127.0.0.1:8080", ""},
		{"echo_listen", "nope", "must be host:port, as in 127.0.0.1:8080", ""},
		{"default_deny", "maybe", "must be true or false, not text", ""},
		{"default_deny", "1", "must be true or false, not a whole number", ""},
		{"forward_authorization", "[true]", "must be true or false, not a list", ""},
		{"reload.watch", "sometimes", "must be true or false, not text", ""},
		{"identity_header", "Cookie", "must not be a header the gateway manages itself, such as Authorization, Cookie or Host", ""},
		{"identity_header", "'bad header'", "must be a valid header name", ""},
		{"upstream_headers.groups", "Host", "must be a header name the gateway does not manage itself", ""},
		{"upstream_headers.email", "'a b'", "must be a header name the gateway does not manage itself", ""},
		{"upstream_headers.token", "Authorization", "must be a header name the gateway does not manage itself", ""},
		{"upstream_headers.assertion", "Cookie", "must be a header name the gateway does not manage itself", ""},
		{"identity_header", "X-Forwarded-Email", "is the same header as upstream_headers.email: each identity header must carry one thing", ""},
		{"identity_header", "Remote-Groups", "Remote-Groups is the header forward-auth answers with for the groups: choose another name", ""},
		{"upstream_headers.groups", "Remote-User", "Remote-User is the header forward-auth answers with for the user: choose another name", ""},
		{"upstream_headers.groups", "x_forwarded_user", "is the same header as identity_header: each identity header must carry one thing", ""},
		{"upstream_headers.token", "X-Forwarded-User", "is the same header as identity_header: each identity header must carry one thing", ""},
		{"upstream_headers.assertion", "Remote-Email", "Remote-Email is the header forward-auth answers with for the email: choose another name", ""},
		{"upstream_headers.assertion_ttl", "11m", "must be from 1s to 10m", ""},
		{"upstream_headers.assertion_ttl", "0s", "must be from 1s to 10m", ""},
		{"token.algorithm", "HS512", "must be one of HS256, RS256, ES256, EdDSA", ""},
		{"token.ttl", "0s", "must be positive", ""},
		{"token.ttl", "forever", "must be a duration such as 30s or 5m", ""},
		{"token.ttl", "30", "must be a duration such as 30s or 5m", ""},
		{"token.ttl", "-1s", "must not be negative", ""},
		{"token.leeway", "2m", "must be at most 1m0s", ""},
		{"token.issuer", `"a\tb"`, "must be printable text", ""},
		{"token.audience", `"a\nb"`, "must be printable text", ""},
		{"token.cache_size", "-1", "must be from 0 (off) to 10000000", ""},
		{"token.cache_size", "10000001", "must be from 0 (off) to 10000000", ""},
		{"token.cache_size", "lots", "must be a whole number, not text", ""},
		{"token.cache_size", "true", "must be a whole number, not true or false", ""},
		{"token.refresh.ttl", "0s", "ttl must be positive and max_lifetime at least ttl", "3:5: token.refresh"},
		{"token.refresh.max_lifetime", "1h", "ttl must be positive and max_lifetime at least ttl", "3:5: token.refresh"},
		{"token.refresh.enabled", "on-ish", "must be true or false, not text", ""},
		{"token.secret", "short", "must be at least 32 bytes (it has 5); generate one with: openssl rand -base64 48", ""},
		{"token.secret", "[a, b]", "must be text, not a list", ""},
		{"token.secret", "'   '", "is empty or only whitespace: set a secret of 32 bytes or more, or leave the key out for a random one that dies with the process", ""},
		{"log.format", "xml", "must be text or json", ""},
		{"log.level", "loud", "must be debug, info, warn or error", ""},
		{"log.flush_interval", "11s", "must be at most 10s: lines held longer are lost in a crash and late for whoever tails the log", ""},
		{"server.read_header_timeout", "0s", "must be positive: without it a slow client can hold a connection forever", ""},
		{"server.read_timeout", "soon", "must be a duration such as 30s or 5m", ""},
		{"server.write_timeout", "-5s", "must not be negative", ""},
		{"server.send_timeout", "1", "must be a duration such as 30s or 5m", ""},
		{"server.idle_timeout", "0s", "must be positive", ""},
		{"server.shutdown_grace", "{}", "must be a duration such as 30s or 5m, not a mapping", ""},
		{"server.max_header_bytes", "1023", "must be from 1024 to 65536", ""},
		{"server.max_header_bytes", "65537", "must be from 1024 to 65536", ""},
		{"server.max_header_bytes", "32KiB", "must be a whole number, not text", ""},
		// The decoder alone would take 1.5 for 1, and 2048.0 for 2048.
		{"server.max_header_bytes", "2048.5", "must be a whole number, not a decimal number", ""},
		{"server.max_header_bytes", "2048.0", "must be a whole number, not a decimal number", ""},
		{"server.max_connections", "1e4", "must be a whole number, not a decimal number", ""},
		{"login.max_queue", "99999999999999999999", "is too large", ""},
		{"server.max_connections", "-1", "must be positive", ""},
		{"transport.dial_timeout", "x", "must be a duration such as 30s or 5m", ""},
		{"transport.response_header_timeout", "0s", "must be positive: a hanging upstream must end in 504", ""},
		{"transport.idle_conn_timeout", "-1s", "must not be negative", ""},
		{"transport.max_idle_conns_per_host", "-1", "must be positive", ""},
		{"login.max_body_bytes", "255", "must be from 256 to 1048576", ""},
		{"login.max_body_bytes", "1048577", "must be from 256 to 1048576", ""},
		{"login.max_concurrent", "-1", "must be positive", ""},
		{"login.max_queue", "-1", "must not be negative", ""},
		{"login.shed_delay", "11s", "must be at most 10s", ""},
		{"login.throttle.user.burst", "-1", "must be positive", ""},
		{"login.throttle.user.interval", "-1s", "must not be negative", ""},
		{"login.throttle.client.burst", "x", "must be a whole number, not text", ""},
		{"login.throttle.client.interval", "0s", "must be positive", ""},
		{"login.throttle.slots", "15", "must be from 16 to 1048576", ""},
		{"login.throttle.slots", "1048577", "must be from 16 to 1048576", ""},
		{"session.cookie_name", "__Host-x", "must be a cookie name of letters, digits, - and _ (the __Host- prefix is added by authgate)", ""},
		{"session.cookie_name", "'a b'", "must be a cookie name of letters, digits, - and _ (the __Host- prefix is added by authgate)", ""},
		{"session.cookie_domain", "localhost", "must be a domain name such as example.com", ""},
		{"session.insecure_cookie", "sometimes", "must be true or false, not text", ""},
		{"session.ttl", "0s", "must be positive", ""},
		{"session.max_lifetime", "1m", "must be at least session.ttl", ""},
		{"session.login_url", "/login", "must be an absolute http(s) URL without a query, as in https://auth.example.com/login", ""},
		{"session.login_url", "https://a.example/login?x=1", "must be an absolute http(s) URL without a query, as in https://auth.example.com/login", ""},
		{"session.logout_redirect", "//evil.example", "must be a path such as /login or an absolute http(s) URL", ""},
		{"session.logout_redirect", "javascript:alert(1)", "must be a path such as /login or an absolute http(s) URL", ""},
		{"login_page.title", strings.Repeat("a", 201), "must be printable text of at most 200 bytes", ""},
		{"login_page.title", `"a\u0007"`, "must be printable text of at most 200 bytes", ""},
		{"login_page.logo_url", "javascript:alert(1)", "must be an https URL or a path on this host", ""},
		{"login_page.logo_url", "http://cdn.example/l.png", "must be an https URL or a path on this host", ""},
		{"paths.login", "login", "must start with /", ""},
		{"paths.verify", "/a//b", "must not contain //", ""},
		{"paths.refresh", "/a?b", "must not contain ? # ; % or \\", ""},
		{"paths.logout", "'/a b'", "must be printable and contain no spaces", ""},
		{"paths.healthz", "/a/../b", "must not contain . or .. segments", ""},
		{"paths.readyz", "/login", "is the same path as paths.login", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+"="+tt.value, func(t *testing.T) {
			doc, pos := kv(tt.path, tt.value)
			want := pos + ": " + tt.path + ": " + tt.msg
			if tt.at != "" {
				want = tt.at + ": " + tt.msg
			}
			_, err := Parse(withUser(doc), t.TempDir(), env(nil))
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want %q", doc, want)
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Error() != want {
				t.Errorf("Parse(%q) = %v, want exactly %q", doc, err, want)
			}
		})
	}
}

// TestListElementsAreLocated: a problem in a list names the element's
// index, line and column, and a null element neither fails nor shifts the
// indices of the elements after it.
func TestListElementsAreLocated(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"strip-headers", "strip_headers: [X-A, ~, 'b c']\n", []string{"1:25: strip_headers[2]: must be a header name, optionally ending in * for a prefix"}},
		{"trusted-proxies-block", "trusted_proxies:\n  - 10.0.0.0/8\n  -\n  - nonsense\n", []string{"4:5: trusted_proxies[2]: must be an IP address or CIDR, as in 10.0.0.0/8"}},
		{"redirect-hosts", "session:\n  allowed_redirect_hosts: ['a b']\n", []string{"2:28: session.allowed_redirect_hosts[0]: must be a host name"}},
		{"list-item-kind", "trusted_proxies: [[10.0.0.1]]\n", []string{"1:19: trusted_proxies[0]: must be text, not a list"}},
		{"null-route-keeps-indices", "routes:\n  - ~\n  - path: x\n    upstream: http://127.0.0.1:1\n", []string{"3:11: routes[1].path: must start with /"}},
		{"route-methods", "routes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    methods: [GET, 'P T']\n", []string{"4:20: routes[0].methods[1]: must be an HTTP method such as GET (case matters)"}},
		{"route-host", "routes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    host: 'a b'\n", []string{"4:11: routes[0].host: must be a host name, optionally with :port"}},
		{"route-name", "routes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    name: \"a\\tb\"\n", []string{"4:11: routes[0].name: must be printable text"}},
		{"route-missing-upstream", "routes:\n  - path: /a\n    public: true\n", []string{"2:5: routes[0].upstream: is required"}},
		{"route-missing-path", "routes:\n  - upstream: http://127.0.0.1:1\n", []string{"2:5: routes[0].path: must start with /"}},
		{"route-public-and-groups", "routes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    public: true\n    allowed_groups: [ops]\n",
			[]string{"4:13: routes[0].public: contradicts allowed_users and allowed_groups: a public route admits everyone"}},
		{"user-missing-fields", "users:\n  - groups: [a]\n", []string{"2:5: users[0].username: must not be empty"}},
		{"user-missing-hash", "users:\n  - username: bob\n", []string{"2:5: users[0].password_hash: is empty"}},
		{"user-email", "users:\n  - username: bob\n    password_hash: \"" + hash10 + "\"\n    email: bob\n", []string{"4:12: users[0].email: must be an email address"}},
		{"user-disabled", "users:\n  - username: bob\n    password_hash: \"" + hash10 + "\"\n    disabled: perhaps\n", []string{"4:15: users[0].disabled: must be true or false, not text"}},
		{"issuer-missing-everything", "token:\n  trusted_issuers:\n    - groups_claim: g\n", []string{
			"3:7: token.trusted_issuers[0].issuer: is required",
			"3:7: token.trusted_issuers[0].audience: is required: a token meant for another service must not be accepted",
			"3:7: token.trusted_issuers[0]: set exactly one of jwks_url and jwks_file",
			"3:7: token.trusted_issuers[0].algorithms: is required, e.g. [RS256]",
		}},
		{"issuer-bad-values", "token:\n  trusted_issuers:\n    - issuer: authgate\n      audience: a\n      jwks_url: ftp://x\n      algorithms: [HS256, RS256]\n", []string{
			"3:15: token.trusted_issuers[0].issuer: is already used by token.issuer",
			"5:17: token.trusted_issuers[0].jwks_url: must be an absolute http(s) URL",
			"6:20: token.trusted_issuers[0].algorithms[0]: must be RS256, ES256 or EdDSA",
		}},
		{"issuer-twice", "token:\n  trusted_issuers:\n    - {issuer: idp, audience: a, jwks_file: k.json, algorithms: [RS256]}\n    - {issuer: idp, audience: a, jwks_file: k.json, algorithms: [RS256]}\n",
			[]string{"4:16: token.trusted_issuers[1].issuer: is already used by token.trusted_issuers[0].issuer"}},
		{"key-missing-key-file", "token:\n  algorithm: EdDSA\n  keys:\n    - id: a\n", []string{"4:7: token.keys[0].key_file: is required"}},
		{"key-missing-secret", "token:\n  keys:\n    - id: a\n", []string{"3:7: token.keys[0].secret: is required"}},
		{"key-both", "token:\n  keys:\n    - id: a\n      secret: " + secret + "\n      secret_file: s\n", []string{"5:20: token.keys[0].secret_file: set secret or secret_file, not both"}},
		{"pem-key-with-secret", "token:\n  algorithm: ES256\n  keys:\n    - id: a\n      secret_file: s\n", []string{"5:20: token.keys[0].secret_file: ES256 keys are PEM key pairs: use key_file"}},
		{"signing-key-unknown-id", "token:\n  signing_key: b\n  keys:\n    - id: a\n      secret: " + secret + "\n", []string{"2:16: token.signing_key: names no key in token.keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, tt.doc, tt.want)
		})
	}
}

// TestRouteNamesAreUnique: a route's name is the audience of the
// assertions its upstream gets; two routes sharing one would accept each
// other's. Default names (host and path) count too.
func TestRouteNamesAreUnique(t *testing.T) {
	doc := "token:\n  secret: " + secret + "\nroutes:\n" +
		"  - path: /api\n    upstream: http://127.0.0.1:1\n" +
		"  - path: /x\n    name: /api\n    upstream: http://127.0.0.1:2\n"
	_, err := Parse(withUser(doc), ".", env(nil))
	want := "routes[1].name: is already the name of routes[0]: each route needs its own"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse = %v, want an error containing %q", err, want)
	}
}
