package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authgate/authgate/internal/keys"
)

const (
	hash10 = "$2a$10$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
	secret = "k3V9q2LmX8rT5wZ1yB7nC4dF6gH0jQ2s"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// secretOf returns the HS256 secret of a single-key config.
func secretOf(cfg *Config) string {
	if len(cfg.Token.Keys) != 1 {
		return ""
	}
	s, _ := cfg.Token.Keys[0].Private.([]byte)
	return string(s)
}

func TestShippedGatewayYAMLLoads(t *testing.T) {
	cfg, err := Load("../../gateway.yaml", env(nil))
	if err != nil {
		t.Fatalf("Load(gateway.yaml) = %v", err)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Username != "user1" {
		t.Errorf("users = %+v, want the demo user1", cfg.Users)
	}
	if cfg.EchoListen == "" || !cfg.Token.SecretGenerated {
		t.Errorf("demo config should start the echo upstream and generate a secret")
	}
	demo := 0
	for _, w := range cfg.Warnings {
		if strings.HasPrefix(w, "DEMO") {
			demo++
		}
	}
	if demo < 2 {
		t.Errorf("warnings = %q, want DEMO warnings for the echo upstream and the demo password", cfg.Warnings)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse(withUser("token:\n  secret: "+secret+"\n"), ".", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"listen", cfg.Listen, "127.0.0.1:8080"},
		{"metrics_listen", cfg.MetricsListen, "127.0.0.1:9090"},
		{"identity_header", cfg.IdentityHeader, "X-Forwarded-User"},
		{"ttl", cfg.Token.TTL, 30 * time.Minute},
		{"issuer", cfg.Token.Issuer, "authgate"},
		{"audience", cfg.Token.Audience, "authgate"},
		{"forward_authorization", cfg.ForwardAuthorization, false},
		{"trusted_proxies", len(cfg.TrustedProxies), 0},
		{"login path", cfg.Paths.Login, "/login"},
		{"verify path", cfg.Paths.Verify, "/verify"},
		{"max_header_bytes", cfg.Server.MaxHeaderBytes, 32 << 10},
		{"secret", secretOf(cfg), secret},
		{"algorithm", cfg.Token.Algorithm, "HS256"},
		{"shed_delay", cfg.Login.ShedDelay, time.Second},
		{"flush_interval", cfg.Log.FlushInterval, time.Duration(0)},
		{"reload.watch", cfg.Reload.Watch, true},
		{"files", len(cfg.Files), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestRetiredKeysWarn: keys that only tuned removed machinery are still
// accepted, with a warning naming what replaced them, so no config breaks.
func TestRetiredKeysWarn(t *testing.T) {
	cfg, err := Parse(withUser("token:\n  secret: "+secret+"\nserver:\n  gc_headroom_mib: 32\n"), ".", env(nil))
	if err != nil {
		t.Fatalf("a config with server.gc_headroom_mib = %v, want it accepted", err)
	}
	if !slices.ContainsFunc(cfg.Warnings, func(w string) bool {
		return strings.Contains(w, "server.gc_headroom_mib") && strings.Contains(w, "GOGC")
	}) {
		t.Errorf("warnings = %q, want one naming server.gc_headroom_mib and GOGC", cfg.Warnings)
	}
}

func TestEnvironmentExpansion(t *testing.T) {
	tests := []struct {
		name       string
		value      string
		vars       map[string]string
		wantSecret string
		wantErr    string
	}{
		{"whole-value", "${S}", map[string]string{"S": secret}, secret, ""},
		{"embedded", "pre-${S}-post", map[string]string{"S": secret}, "pre-" + secret + "-post", ""},
		{"bare-dollar-stays", "$S" + secret, nil, "$S" + secret, ""},
		{"dollar-brace-in-value-is-not-reexpanded", "${S}", map[string]string{"S": "${T}" + secret}, "${T}" + secret, ""},
		{"unset", "${MISSING}", nil, "", "token.secret: environment variable MISSING is not set"},
		{"unterminated", "${S" + secret, nil, "", "token.secret: unterminated ${"},
		{"bad-name", "${1A}" + secret, nil, "", "token.secret: invalid environment variable name"},
		{"yaml-special-chars-stay-data", "${S}", map[string]string{"S": "a: b\n- c # d" + secret}, "a: b\n- c # d" + secret, ""},
		{"set-but-empty", "${S}", map[string]string{"S": ""}, "", "token.secret: is empty"},
		{"empty", "", nil, "", "token.secret: is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "token:\n  secret: '" + strings.ReplaceAll(tt.value, "'", "''") + "'\n"
			cfg, err := Parse(withUser(doc), ".", env(tt.vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := secretOf(cfg); got != tt.wantSecret {
				t.Errorf("secret = %q, want %q", got, tt.wantSecret)
			}
		})
	}
}

func TestProblemsAreAllReportedWithPaths(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown-keys", "lisen: x\ntoken:\n  secert: y\nroutes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    publik: true\n",
			[]string{"lisen: unknown key; did you mean \"listen\"?", "token.secert: unknown key", "routes[0].publik: unknown key; did you mean \"public\"?"}},
		{"type-errors", "server:\n  max_header_bytes: lots\nroutes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    public: maybe\n",
			[]string{"2:21: server.max_header_bytes: must be a whole number, not text", "6:13: routes[0].public: must be true or false, not text"}},
		{"secret-rules", "token:\n  secret: short\n  leeway: 5m\n  ttl: 0s\n",
			[]string{"token.secret: must be at least 32 bytes", "token.leeway: must be at most 1m0s", "token.ttl: must be positive"}},
		{"secret-and-file", "token:\n  secret: " + secret + "\n  secret_file: /x\n", []string{"3:16: token.secret_file: set secret or secret_file, not both"}},
		{"example-secret", "token:\n  secret: change-me-to-a-long-random-secret-value\n", []string{"token.secret: is a well-known example"}},
		{"low-entropy-secret", "token:\n  secret: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", []string{"token.secret: is a well-known example or low-entropy"}},
		{"jwt-io-secret", "token:\n  secret: a-string-secret-at-least-256-bits-long\n", []string{"token.secret: is a well-known example"}},
		{"users", `users:
  - username: "a,b"
    password_hash: "` + hash10 + `"
  - username: "evil\r\nX-Forwarded-User: root"
    password_hash: "` + hash10 + `"
  - username: "nul\u0000"
    password_hash: "` + hash10 + `"
  - username: ok
    password_hash: ""
  - username: ok2
    password_hash: "$2a$12$..."
  - username: weak
    password_hash: "$2a$04$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
  - username: strong
    password_hash: "$2a$15$ZXq7wBoey4B3pxuoErTeGu2TSmfCGqqCajAxGE9bss.S8EBdvmvbO"
  - username: Dup
    password_hash: "` + hash10 + `"
  - username: dup
    password_hash: "` + hash10 + `"
  - username: "zero\u200bwidth"
    password_hash: "` + hash10 + `"
`, []string{
			"users[0].username: must not contain ','", "users[1].username: must not contain '\\r'", "users[2].username: must not contain '\\x00'",
			"9:20: users[3].password_hash: is empty", "11:20: users[4].password_hash: is not a bcrypt hash",
			"13:20: users[5].password_hash: has bcrypt cost 4", "15:20: users[6].password_hash: has bcrypt cost 15",
			"18:15: users[8].username: is already defined at users[7].username (line 16)", "20:15: users[9].username: must not contain",
		}},
		{"routes", `routes:
  - path: api
    upstream: http://127.0.0.1:1
  - path: /a/../b
    upstream: ftp://x
  - path: /c//d
    upstream: http://user:pw@127.0.0.1:1
  - path: /e
    upstream: http://127.0.0.1:1?x=1
  - path: /f
  - path: /g
    upstream: http://127.0.0.1:1
    public: true
    allowed_users: [alice]
  - path: /g/
    upstream: http://127.0.0.1:2
  - path: /h;x
    upstream: http://127.0.0.1:1
`, []string{
			"routes[0].path: must start with /", "routes[1].path: must not contain . or .. segments", "routes[1].upstream: must be an absolute http(s) URL",
			"routes[2].path: must not contain //", "routes[2].upstream: must not contain credentials", "routes[3].upstream: must not have a query",
			"10:5: routes[4].upstream: is required", "13:13: routes[5].public: contradicts allowed_users and allowed_groups", "15:11: routes[6].path: same host and path as routes[5]",
			"routes[7].path: must not contain ? # ; % or \\",
		}},
		{"listeners", "listen: 8080\nmetrics_listen: 127.0.0.1:8080\necho_listen: example.com:80\n",
			[]string{"listen: must be host:port", "echo_listen: host must be an IP address"}},
		{"same-listener", "listen: 127.0.0.1:8080\nmetrics_listen: 127.0.0.1:8080\n", []string{"metrics_listen: must differ from listen"}},
		{"headers-and-proxies", "identity_header: Authorization\nstrip_headers: ['bad header']\ntrusted_proxies: [10.0.0.0/8, nonsense]\n",
			[]string{"1:18: identity_header: must not be a header the gateway manages itself", "strip_headers[0]: must be a header name", "trusted_proxies[1]: must be an IP address or CIDR"}},
		{"limits", "server:\n  max_header_bytes: 1000000\n  read_header_timeout: 0s\nlogin:\n  max_body_bytes: 10\nlog:\n  format: xml\n  level: loud\n  flush_interval: 1m\n",
			[]string{"server.max_header_bytes: must be from 1024 to 65536", "server.read_header_timeout: must be positive", "login.max_body_bytes", "log.format", "log.level", "log.flush_interval: must be at most 10s"}},
		{"paths", "paths:\n  login: /same\n  verify: /same\n  healthz: nohead\n", []string{"is the same path as", "paths.healthz: must start with /"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(withUser(tt.doc), ".", env(nil))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q; got:\n%v", w, err)
				}
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Errorf("errors carry no *Problem")
			}
		})
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	for _, doc := range []string{
		"token:\n  secret: tooshortsecret-XYZ\n",
		"token:\n  secret: change-me-XYZ-but-it-is-long-enough-now\n",
	} {
		_, err := Parse(withUser(doc), ".", env(nil))
		if err == nil || strings.Contains(err.Error(), "XYZ") {
			t.Errorf("Parse(%q) = %v; want an error that does not echo the secret", doc, err)
		}
	}
	cfg, err := Parse(withUser("token:\n  secret: "+secret+"\n"), ".", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Token.Keys[0]
	for _, s := range []string{k.String(), k.LogValue().String(), fmt.Sprint(k), fmt.Sprintf("%+v", cfg.Token)} {
		if strings.Contains(s, secret) || strings.Contains(s, "107 51 86") {
			t.Errorf("the key formats with its secret: %q", s)
		}
	}
}

// envSecret is what a secret from the environment looks like; no config
// error may contain any of it.
const envSecret = "Kq7vR2xW9pL4mZ8nB3cD6fH1jT5yG0sQ"

// misplacedSecrets puts an environment secret where the document wants
// something else. Each want is the whole problem: path, what belongs there,
// what was found and the line, and nothing of the value.
var misplacedSecrets = []struct {
	name string
	doc  string
	want string
}{
	{"string-where-mapping-belongs", "listen: 127.0.0.1:8080\ntoken: \"${AUTHGATE_SECRET}\"\n",
		"2:8: token: must be a mapping, not text"},
	{"plain-string-where-mapping-belongs", "token: ${AUTHGATE_SECRET}\n",
		"1:8: token: must be a mapping, not text"},
	{"string-where-list-belongs", "routes: ${AUTHGATE_SECRET}\n",
		"1:9: routes: must be a list, not text"},
	{"string-where-list-item-mapping-belongs", "users:\n  - ${AUTHGATE_SECRET}\n",
		"2:5: users[0]: must be a mapping, not text"},
	{"string-where-int-belongs", "server:\n  max_header_bytes: ${AUTHGATE_SECRET}\n",
		"2:21: server.max_header_bytes: must be a whole number, not text"},
	{"string-where-int-pointer-belongs", "token:\n  cache_size: \"${AUTHGATE_SECRET}\"\n",
		"2:15: token.cache_size: must be a whole number, not text"},
	{"string-where-bool-belongs", "routes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    public: ${AUTHGATE_SECRET}\n",
		"4:13: routes[0].public: must be true or false, not text"},
	{"string-where-duration-belongs", "token:\n  secret: ${AUTHGATE_SECRET}\n  ttl: ${AUTHGATE_SECRET}\n",
		"token.ttl: must be a duration such as 30s or 5m"},
	{"mapping-where-string-belongs", "token:\n  secret:\n    value: ${AUTHGATE_SECRET}\n",
		"3:5: token.secret: must be text, not a mapping"},
	{"list-where-string-belongs", "token:\n  secret:\n    - ${AUTHGATE_SECRET}\n",
		"3:5: token.secret: must be text, not a list"},
	{"mapping-where-int-belongs", "server:\n  max_connections:\n    n: ${AUTHGATE_SECRET}\n",
		"3:5: server.max_connections: must be a whole number, not a mapping"},
	{"mapping-where-duration-belongs", "login:\n  shed_delay:\n    d: ${AUTHGATE_SECRET}\n",
		"3:5: login.shed_delay: must be a duration such as 30s or 5m, not a mapping"},
	{"string-where-list-of-strings-belongs", "trusted_proxies: ${AUTHGATE_SECRET}\n",
		"1:18: trusted_proxies: must be a list, not text"},
	{"alias-to-secret-where-int-belongs", "listen: &s ${AUTHGATE_SECRET}\nserver:\n  max_header_bytes: *s\n",
		"3:21: server.max_header_bytes: must be a whole number, not text"},
	{"secret-set-twice", "token:\n  secret: ${AUTHGATE_SECRET}\n  secret: ${AUTHGATE_SECRET}x\n",
		"3:3: token.secret: is already set on line 2"},
	{"secret-where-secret-file-belongs", "token:\n  secret_file: ${AUTHGATE_SECRET}\n",
		"token.secret_file: cannot read the file: no such file or directory"},
	{"secret-where-key-file-belongs", "token:\n  algorithm: EdDSA\n  keys:\n    - id: k1\n      key_file: ${AUTHGATE_SECRET}\n",
		"token.keys[0].key_file: cannot read the file: no such file or directory"},
	{"secret-where-htpasswd-file-belongs", "htpasswd_file: ${AUTHGATE_SECRET}\n",
		"htpasswd_file: cannot read the file: no such file or directory"},
	{"secret-where-groups-file-belongs", "htpasswd_groups_file: ${AUTHGATE_SECRET}\n",
		"htpasswd_groups_file: cannot read the file: no such file or directory"},
	{"secret-where-template-file-belongs", "login_page:\n  template_file: ${AUTHGATE_SECRET}\n",
		"login_page.template_file: cannot read the file: no such file or directory"},
	{"bad-variable-name-in-literal", "token:\n  secret: \"Kq7v${R2x W9}pL4mZ8nB3cD6fH1jT5yG0sQ\"\n",
		"2:11: token.secret: invalid environment variable name in ${...}: use letters, digits and _"},
}

// TestConfigErrorsNeverEchoValues: an error says where and what kind of
// value belongs, never what the value was (the decoder's own type errors
// quote its first characters; a file that cannot be opened would be named).
func TestConfigErrorsNeverEchoValues(t *testing.T) {
	for _, tt := range misplacedSecrets {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(withUser(tt.doc), ".", env(map[string]string{"AUTHGATE_SECRET": envSecret}))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("errors lack %q; got:\n%v", tt.want, err)
			}
			for i := 0; i+4 <= len(envSecret); i++ {
				if strings.Contains(err.Error(), envSecret[i:i+4]) {
					t.Fatalf("errors echo the secret (%q); got:\n%v", envSecret[i:i+4], err)
				}
			}
		})
	}
}

func TestFilesAreReadRelativeToTheConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte(secret+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "users.htpasswd"), []byte(`# comment
bob:`+hash10+`

carol:$apr1$abc$def
dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=
erin:plaintext
`), 0o600)
	doc := "token:\n  secret_file: secret\nhtpasswd_file: users.htpasswd\n"
	_, err := Parse(withUser(doc), dir, env(nil))
	for _, w := range []string{
		`line 4: user "carol": Apache MD5 ($apr1$) hashes are not accepted`,
		`line 5: user "dave": SHA-1 ({SHA}) hashes are not accepted`,
		`line 6: user "erin": crypt or plain-text hashes are not accepted`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q; got %v", w, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "users.htpasswd"), []byte("bob:"+hash10+"\n"), 0o600)
	cfg, err := Parse(withUser(doc), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if secretOf(cfg) != secret {
		t.Errorf("secret_file not read (or trailing newline kept)")
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Username != "bob" || cfg.Users[0].Source != "htpasswd" {
		t.Errorf("users = %+v, want bob from htpasswd", cfg.Users)
	}
}

// TestFilesListsEveryNamedFile: Config.Files is what a reload watches, so
// it names every file the config makes the gateway read, once each,
// resolved against the config's folder.
func TestFilesListsEveryNamedFile(t *testing.T) {
	dir := t.TempDir()
	pub, private := filepath.Join(dir, "old.pub.pem"), filepath.Join(dir, "new.pem")
	_, priv, pubPEM, err := keys.Generate("k", keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		private: priv, pub: pubPEM,
		filepath.Join(dir, "users.htpasswd"): []byte("bob:" + hash10 + "\n"),
		filepath.Join(dir, "groups"):         []byte("staff: bob\n"),
		filepath.Join(dir, "login.html"):     []byte("<form></form>"),
	} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := `token:
  algorithm: EdDSA
  keys:
    - {id: new, key_file: new.pem}
    - {id: old, key_file: ` + pub + `}
  trusted_issuers:
    - {issuer: https://idp.example, audience: a, jwks_file: idp.json, algorithms: [RS256]}
htpasswd_file: users.htpasswd
htpasswd_groups_file: groups
login_page:
  template_file: login.html
routes:
  - {path: /a, upstream: "http://127.0.0.1:1", allowed_users: [bob]}
  - {path: /b, upstream: "http://127.0.0.1:1", allowed_users: [bob]}
`
	cfg, err := Parse([]byte(doc), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{private, pub, filepath.Join(dir, "users.htpasswd"), filepath.Join(dir, "groups"),
		filepath.Join(dir, "login.html"), filepath.Join(dir, "idp.json")}
	if !slices.Equal(cfg.Files, want) {
		t.Errorf("Files = %q, want %q", cfg.Files, want)
	}
}

func TestRoutesAndHeadersNormalised(t *testing.T) {
	doc := `identity_header: x-auth-user
strip_headers: [X-Custom-Identity, X-Team-*]
trusted_proxies: [10.1.2.3, 192.168.0.0/16]
routes:
  - path: /api/
    upstream: http://127.0.0.1:1
    host: API.Example.COM.:443
  - path: /
    upstream: https://127.0.0.1:2/base
    host: example.com:8443
`
	cfg, err := Parse(withUser(doc), ".", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IdentityHeader != "X-Auth-User" {
		t.Errorf("identity header = %q", cfg.IdentityHeader)
	}
	for _, want := range []string{"X-Auth-User", "X-Custom-Identity", "Remote-User", "X-Forwarded-User"} {
		found := false
		for _, h := range cfg.StripHeaders {
			found = found || h == want
		}
		if !found {
			t.Errorf("strip headers %q lack %s", cfg.StripHeaders, want)
		}
	}
	if strings.Join(cfg.StripHeaderPrefixes, ",") != "X-Auth-Request-,X-Team-" {
		t.Errorf("strip prefixes = %q", cfg.StripHeaderPrefixes)
	}
	if got := cfg.TrustedProxies[0].String(); got != "10.1.2.3/32" {
		t.Errorf("trusted proxy = %s, want 10.1.2.3/32", got)
	}
	r0, r1 := cfg.Routes[0], cfg.Routes[1]
	if r0.Path != "/api" || r0.Host != "api.example.com" || r0.Name != "api.example.com/api" {
		t.Errorf("route 0 = %+v", r0)
	}
	if r1.Path != "/" || r1.Host != "example.com:8443" || r1.Upstream.String() != "https://127.0.0.1:2/base" {
		t.Errorf("route 1 = %+v", r1)
	}
}

func TestSessionAndLoginPage(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "page.html"), []byte(`<h1>{{.Title}}</h1>`), 0o600)
	os.WriteFile(filepath.Join(dir, "broken.html"), []byte(`<h1>{{.Title</h1>`), 0o600)
	cfg, err := Parse(withUser("session:\n  cookie_domain: Example.COM\n  allowed_redirect_hosts: [App.Example.org]\nlogin_page:\n  template_file: page.html\n"), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Session.CookieName != "authgate" || cfg.Session.CookieDomain != "example.com" || !cfg.Session.Secure {
		t.Errorf("session = %+v: a domain cookie cannot be __Host-, must stay Secure", cfg.Session)
	}
	var page strings.Builder
	if cfg.LoginPage.Template != nil {
		cfg.LoginPage.Template.Execute(&page, struct{ Title string }{"T"})
	}
	if cfg.Session.AllowedRedirectHosts[0] != "app.example.org" || page.String() != `<h1>T</h1>` {
		t.Errorf("session/login page not normalised: %+v %+v", cfg.Session, cfg.LoginPage)
	}
	warned := false
	for _, w := range cfg.Warnings {
		warned = warned || strings.Contains(w, "every subdomain")
	}
	if !warned {
		t.Errorf("no warning that subdomains can read the cookie: %q", cfg.Warnings)
	}
	cfg, err = Parse(withUser("token:\n  secret: "+secret+"\n"), dir, env(nil))
	if err != nil || cfg.Session.CookieName != "__Host-authgate" {
		t.Errorf("default cookie = %q, %v; want __Host-authgate", cfg.Session.CookieName, err)
	}
	_, err = Parse(withUser(`session:
  cookie_name: "__Secure-x"
  ttl: 2h
  max_lifetime: 1h
  login_url: /login
  logout_redirect: "//evil"
login_page:
  logo_url: "javascript:alert(1)"
  template_file: broken.html
`), dir, env(nil))
	for _, want := range []string{"session.cookie_name", "session.max_lifetime", "session.login_url", "session.logout_redirect", "login_page.logo_url", "login_page.template_file"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("errors lack %s: %v", want, err)
		}
	}
}

func TestTokenKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, edPriv, edPub, _ := keys.Generate("x", keys.EdDSA)
	_, ecPriv, _, _ := keys.Generate("x", keys.ES256)
	write("ed.pem", edPriv)
	write("ed.pub.pem", edPub)
	write("ec.pem", ecPriv)
	write("junk.pem", []byte("not a key"))

	cfg, err := Parse(withUser(`token:
  algorithm: EdDSA
  keys:
    - id: new
      key_file: ed.pem
    - id: old
      key_file: ed.pub.pem
`), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token.SigningKey != "new" || len(cfg.Token.Keys) != 2 || cfg.Token.Keys[1].CanSign() {
		t.Errorf("token = %+v, want new signing and old verify-only", cfg.Token)
	}
	cfg, err = Parse(withUser("token:\n  algorithm: ES256\n"), dir, env(nil))
	if err != nil || !cfg.Token.SecretGenerated || cfg.Token.Keys[0].Algorithm != keys.ES256 {
		t.Errorf("no keys for ES256 = %+v, %v; want an ephemeral key pair", cfg.Token, err)
	}

	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown-algorithm", "token:\n  algorithm: HS512\n", []string{"token.algorithm: must be one of HS256, RS256, ES256, EdDSA"}},
		{"wrong-key-type", "token:\n  algorithm: EdDSA\n  keys:\n    - id: a\n      key_file: ec.pem\n", []string{"5:17: token.keys[0].key_file: EdDSA needs an Ed25519 key"}},
		{"junk-pem", "token:\n  algorithm: EdDSA\n  keys:\n    - id: a\n      key_file: junk.pem\n", []string{"5:17: token.keys[0].key_file: no PEM block"}},
		{"public-only", "token:\n  algorithm: EdDSA\n  keys:\n    - id: a\n      key_file: ed.pub.pem\n", []string{"token.keys: no key can sign"}},
		{"signing-key-unknown", "token:\n  algorithm: EdDSA\n  signing_key: zz\n  keys:\n    - id: a\n      key_file: ed.pem\n", []string{"token.signing_key: names no key"}},
		{"signing-key-public", "token:\n  algorithm: EdDSA\n  signing_key: b\n  keys:\n    - id: a\n      key_file: ed.pem\n    - id: b\n      key_file: ed.pub.pem\n", []string{"3:16: token.signing_key: names a public key, which cannot sign"}},
		{"duplicate-id", "token:\n  algorithm: EdDSA\n  keys:\n    - id: a\n      key_file: ed.pem\n    - id: a\n      key_file: ed.pub.pem\n", []string{"6:11: token.keys[1].id: is already used by token.keys[0]"}},
		{"bad-id", "token:\n  keys:\n    - id: \"a b\"\n      secret: " + secret + "\n", []string{"token.keys[0].id: must be"}},
		{"hs-with-key-file", "token:\n  keys:\n    - id: a\n      key_file: ed.pem\n", []string{"token.keys[0].key_file: HS256 keys are secrets"}},
		{"rs-with-secret", "token:\n  algorithm: RS256\n  secret: " + secret + "\n", []string{"token.secret: RS256 signs with key pairs"}},
		{"secret-and-keys", "token:\n  secret: " + secret + "\n  keys:\n    - id: a\n      secret: " + secret + "\n", []string{"token: set secret or secret_file, or keys, not both"}},
		{"short-hs-key", "token:\n  keys:\n    - id: a\n      secret: short\n", []string{"token.keys[0].secret: must be at least 32 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(withUser(tt.doc), dir, env(nil))
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q; got %v", w, err)
				}
			}
		})
	}
}

func TestHtpasswdGroupsFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "users"), []byte("bob:"+hash10+"\ncarol:"+hash10+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "groups"), []byte("# teams\nstaff: bob carol\nadmins: carol ghost\n\n"), 0o600)
	cfg, err := Parse(withUser("token:\n  secret: "+secret+"\nhtpasswd_file: users\nhtpasswd_groups_file: groups\n"), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]string{}
	for _, u := range cfg.Users {
		groups[u.Username] = strings.Join(u.Groups, ",")
	}
	if groups["bob"] != "staff" || groups["carol"] != "staff,admins" {
		t.Errorf("groups = %v", groups)
	}
	warned := false
	for _, w := range cfg.Warnings {
		warned = warned || strings.Contains(w, `no user "ghost"`)
	}
	if !warned {
		t.Errorf("no warning for a group member who is not a user: %q", cfg.Warnings)
	}
	os.WriteFile(filepath.Join(dir, "groups"), []byte("bad group line\n"), 0o600)
	if _, err := Parse(withUser("token:\n  secret: "+secret+"\nhtpasswd_file: users\nhtpasswd_groups_file: groups\n"), dir, env(nil)); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a malformed groups line = %v, want an error naming line 1", err)
	}
}

// TestValidateHasNoSideEffects: validation reads no file and makes no key;
// it lists what the document names, each with the key that named it.
func TestValidateHasNoSideEffects(t *testing.T) {
	doc := `token:
  secret_file: secret
htpasswd_file: /nowhere/users
htpasswd_groups_file: groups
login_page:
  template_file: page.html
`
	fc, structural, err := decode([]byte(doc))
	if err != nil || len(structural) > 0 {
		t.Fatalf("decode = %v, %v", structural, err)
	}
	r := &report{}
	dir := filepath.Join(t.TempDir(), "absent")
	cfg, plan := validate(fc, dir, env(nil), r)
	if len(r.problems) > 0 {
		t.Fatalf("validate reported %v for files it must not read", r.problems)
	}
	if len(cfg.Token.Keys) != 0 || plan.ephemeral || cfg.LoginPage.Template != nil {
		t.Errorf("validate made keys %v or a template, or planned an ephemeral key", cfg.Token.Keys)
	}
	got := []fileRef{plan.keys[0].src, plan.htpasswd, plan.groups, plan.template}
	want := []fileRef{
		{"token.secret_file", position{2, 16}, filepath.Join(dir, "secret")},
		{"htpasswd_file", position{3, 16}, "/nowhere/users"},
		{"htpasswd_groups_file", position{4, 23}, filepath.Join(dir, "groups")},
		{"login_page.template_file", position{6, 18}, filepath.Join(dir, "page.html")},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("plan file %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	fc, _, _ = decode([]byte("token:\n  algorithm: EdDSA\n"))
	cfg, plan = validate(fc, dir, env(nil), &report{})
	if !plan.ephemeral || len(cfg.Token.Keys) != 0 {
		t.Errorf("a keyless document: plan.ephemeral = %v, keys %v; want a planned, not a made, key", plan.ephemeral, cfg.Token.Keys)
	}
}

// TestLoadProblemsNameTheKey: a file that cannot be read or used is
// reported at the key that named it, together with the document's other
// problems, and never by its name (a secret put under secret_file by
// mistake would be printed).
func TestLoadProblemsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("short", "short\n")
	write("big", strings.Repeat("k", 70<<10))
	write("broken.html", "<p>{{.Title</p>")
	write("users", "nocolon\n")
	write("groups", "staff bob\n")
	tests := []struct{ doc, want string }{
		{"token:\n  secret_file: absent\n", "2:16: token.secret_file: cannot read the file: no such file or directory"},
		{"token:\n  secret_file: short\n", "2:16: token.secret_file: must be at least 32 bytes (it has 5)"},
		{"token:\n  secret_file: big\n", "2:16: token.secret_file: the file is larger than 65536 bytes"},
		{"token:\n  keys:\n    - id: a\n      secret_file: absent\n", "4:20: token.keys[0].secret_file: cannot read the file"},
		{"token:\n  algorithm: RS256\n  keys:\n    - id: a\n      key_file: short\n", "5:17: token.keys[0].key_file: no PEM block"},
		{"login_page:\n  template_file: broken.html\n", "2:18: login_page.template_file: template: login:1:"},
		{"htpasswd_file: users\n", "1:16: htpasswd_file: line 1: want username:bcrypt-hash"},
		{"htpasswd_groups_file: groups\n", "1:23: htpasswd_groups_file: line 1: want group: user user ..."},
		{"htpasswd_groups_file: absent\n", "1:23: htpasswd_groups_file: cannot read the file"},
		{"htpasswd_file: " + dir + "\n", "1:16: htpasswd_file: cannot read the file"},
		{"token:\n  secret_file: /dev/zero\n", "2:16: token.secret_file: the file is larger than 65536 bytes"},
	}
	for _, tt := range tests {
		_, err := Parse(withUser(tt.doc), dir, env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.doc, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), dir) {
			t.Errorf("Parse(%q) = %v: names the file", tt.doc, err)
		}
	}
	// One run reports the document's problems and the files' together.
	_, err := Parse(withUser("token:\n  secret_file: absent\nlisten: nope\n"), dir, env(nil))
	for _, want := range []string{"3:9: listen: must be host:port", "2:16: token.secret_file: cannot read the file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse = %v, want %q", err, want)
		}
	}
}

// TestEmptySecretFileIsAnError: an empty secret_file names no file; it is
// refused, not taken for "no secret" (which starts with a random key).
func TestEmptySecretFileIsAnError(t *testing.T) {
	_, err := Parse(withUser("token:\n  secret_file: \"${F}\"\n"), ".", env(map[string]string{"F": ""}))
	if err == nil || !strings.Contains(err.Error(), "token.secret_file: is empty") {
		t.Errorf("Parse = %v, want token.secret_file: is empty", err)
	}
}

// TestValidateReadsNoNamedFile: Validate checks the document alone, so a
// frequent caller (the health check) does not read an htpasswd file or
// make a key every time; Load still reads them.
func TestValidateReadsNoNamedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	doc := "listen: 127.0.0.1:8181\npaths:\n  healthz: /alive\nhtpasswd_file: missing.htpasswd\ntoken:\n  secret_file: missing.secret\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Validate(path, env(nil))
	if err != nil {
		t.Fatalf("Validate = %v, want no error: it reads no named file", err)
	}
	if cfg.Listen != "127.0.0.1:8181" || cfg.Paths.Healthz != "/alive" {
		t.Errorf("Validate = listen %q, healthz %q; want the document's", cfg.Listen, cfg.Paths.Healthz)
	}
	if _, err := Load(path, env(nil)); err == nil || !strings.Contains(err.Error(), "htpasswd_file") {
		t.Errorf("Load = %v, want the missing htpasswd file reported", err)
	}
	if _, err := Validate(filepath.Join(dir, "absent.yaml"), env(nil)); err == nil {
		t.Errorf("Validate of a missing config succeeded")
	}
}

// aUser is a local user for documents about something else: a config
// with no way to sign in is refused.
const aUser = "users:\n  - username: tester\n    password_hash: \"" + hash10 + "\"\n"

// withUser is doc with aUser added at its end, after every line it has,
// unless doc already says how anyone signs in or is not one mapping (a
// syntax error, a list, an empty document or two documents stay as
// they are).
func withUser(doc string) []byte {
	var root yaml.Node
	if yaml.Unmarshal([]byte(doc), &root) != nil || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode || strings.Contains(doc, "\n---") {
		return []byte(doc)
	}
	for _, way := range []string{"users:", "htpasswd_file:", "trusted_issuers:", "providers:"} {
		if strings.HasPrefix(doc, way) || strings.Contains(doc, "\n"+way) || strings.Contains(doc, " "+way) {
			return []byte(doc)
		}
	}
	if !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	return []byte(doc + aUser)
}
