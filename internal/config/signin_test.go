package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNoWayToSignIn: a config nobody can sign in with is refused, where
// it lacks what it needs; trusted issuers alone are a forward-auth-only
// gateway, and accepted.
func TestNoWayToSignIn(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "empty.htpasswd"), []byte("# nobody yet\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "one.htpasswd"), []byte("alice:"+hash10+"\n"), 0o600)
	const issuer = "token:\n  secret: " + secret + "\n  trusted_issuers:\n    - issuer: https://idp.example\n      audience: gw\n      jwks_url: https://idp.example/jwks\n      algorithms: [RS256]\n"
	tests := []struct {
		name, doc string
		want      []string // nil: accepted
	}{
		{"nothing", "token:\n  secret: " + secret + "\n", []string{"1:1: no way to sign in is configured: " + signInWays}},
		{"empty-users", "listen: 127.0.0.1:1\nusers: []\n", []string{"1:1: no way to sign in is configured: " + signInWays}},
		{"empty-htpasswd", "htpasswd_file: empty.htpasswd\n", []string{"1:16: htpasswd_file: the file holds no user, and nothing else lets anyone sign in: " + signInWays}},
		{"htpasswd-user", "htpasswd_file: one.htpasswd\n", nil},
		{"local-user", aUser, nil},
		{"trusted-issuers-only", issuer, nil},
		{"empty-htpasswd-and-issuers", issuer + "htpasswd_file: empty.htpasswd\n", nil},
		// A user that is wrong is reported as such, not as no user.
		{"broken-user", "users:\n  - username: alice\n    password_hash: nope\n", []string{"3:20: users[0].password_hash: is not a bcrypt hash (make one with: authgate hash-password)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), dir, env(nil))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse(%q) = %v, want it accepted", tt.doc, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%q) accepted, want %q", tt.doc, tt.want)
			}
			var got []string
			for _, p := range problemsOf(t, err) {
				got = append(got, p.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q) =\n%s\nwant\n%s", tt.doc, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestBlankSecretsAreErrors: a secret of whitespace alone (a variable set
// to a space or a newline, a file with an empty line) is refused as
// empty, wherever a secret is written.
func TestBlankSecretsAreErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "blank"), []byte("  \t\n"), 0o600)
	tests := []struct {
		name, doc string
		vars      map[string]string
		want      string
	}{
		{"inline-spaces", "token:\n  secret: '   '\n", nil, "2:11: token.secret: is empty or only whitespace"},
		{"variable-newline", "token:\n  secret: ${S}\n", map[string]string{"S": "\n"}, "2:11: token.secret: is empty or only whitespace"},
		{"long-run-of-spaces", "token:\n  secret: '" + strings.Repeat(" ", 48) + "'\n", nil, "2:11: token.secret: is empty or only whitespace"},
		{"file-of-whitespace", "token:\n  secret_file: blank\n", nil, "2:16: token.secret_file: is empty or only whitespace"},
		{"file-name-blank", "token:\n  secret_file: ' '\n", nil, "2:16: token.secret_file: is empty or only whitespace"},
		{"key-secret", "token:\n  keys:\n    - id: a\n      secret: '  '\n", nil, "4:15: token.keys[0].secret: is empty or only whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(withUser(tt.doc), dir, env(tt.vars))
			if err == nil {
				t.Fatalf("Parse(%q) accepted, want %q", tt.doc, tt.want)
			}
			problems := problemsOf(t, err)
			if len(problems) != 1 || !strings.HasPrefix(problems[0].Error(), tt.want) {
				t.Errorf("Parse(%q) = %v, want one problem starting %q", tt.doc, err, tt.want)
			}
		})
	}
}

// TestCheckWarnsOfLoginLoops: session settings with which a browser's
// sign-in can only end back at the login page are warned about when the
// config is loaded (and so by authgate check); sound ones are not.
func TestCheckWarnsOfLoginLoops(t *testing.T) {
	route := func(host string) string {
		return "routes:\n  - path: /\n    host: " + host + "\n    upstream: http://127.0.0.1:1\n"
	}
	tests := []struct {
		name, doc string
		want      string // "": no warning about the session cookie
	}{
		{"login-url-outside-cookie-domain", "session:\n  cookie_domain: example.com\n  login_url: https://auth.example.org/login\n",
			"session.login_url's host auth.example.org is not under session.cookie_domain example.com"},
		{"login-url-elsewhere-without-cookie-domain", "session:\n  login_url: https://auth.example.com/login\n",
			"session.login_url is on auth.example.com and session.cookie_domain is not set"},
		{"login-url-over-plain-http", "session:\n  cookie_domain: example.com\n  login_url: http://auth.example.com/login\n",
			"session.login_url is plain HTTP, but the session cookie is Secure"},
		{"route-host-outside-cookie-domain", "session:\n  cookie_domain: example.com\n" + route("app.example.org"),
			"routes[0].host app.example.org is not under session.cookie_domain example.com"},
		{"login-url-under-cookie-domain", "session:\n  cookie_domain: example.com\n  login_url: https://auth.example.com/login\n" + route("app.example.com"), ""},
		{"login-url-on-the-only-app-host", "session:\n  login_url: https://app.example.com/login\n" + route("app.example.com:443"), ""},
		{"login-url-on-loopback-over-http", "session:\n  login_url: http://127.0.0.1:8080/login\n" + route("127.0.0.1"), ""},
		{"login-url-over-http-insecure-cookie", "session:\n  insecure_cookie: true\n  login_url: http://app.example.com/login\n" + route("app.example.com"), ""},
		{"defaults", "listen: 127.0.0.1:1\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(withUser(tt.doc), ".", env(nil))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.doc, err)
			}
			var loops []string
			for _, w := range cfg.Warnings {
				if strings.Contains(w, "login page") {
					loops = append(loops, w)
				}
			}
			switch {
			case tt.want == "" && len(loops) > 0:
				t.Errorf("warnings = %q, want none about a login loop", loops)
			case tt.want != "" && (len(loops) != 1 || !strings.HasPrefix(loops[0], tt.want)):
				t.Errorf("warnings = %q, want one starting %q", loops, tt.want)
			}
		})
	}
}
