package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShapeProblemsAreLocated: what the decoder refuses (unknown and
// repeated keys, a value of the wrong kind where a mapping or list
// belongs) is reported at the key or value, with its path, once each,
// together with every problem in the values that did decode.
func TestShapeProblemsAreLocated(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown-top-level", "lisen: x\n", []string{"1:1: lisen: unknown key; did you mean \"listen\"?"}},
		{"unknown-nested", "login:\n  throttle:\n    client:\n      brust: 3\n", []string{"4:7: login.throttle.client.brust: unknown key; did you mean \"burst\"?"}},
		{"unknown-in-list-item", "routes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    publik: true\n", []string{"4:5: routes[0].publik: unknown key; did you mean \"public\"?"}},
		{"unknown-in-flow", "session: {ttl: 1h, tll: 2h}\n", []string{"1:20: session.tll: unknown key; did you mean \"ttl\"?"}},
		{"repeated-key", "log:\n  level: info\n  format: json\n  level: debug\n", []string{"4:3: log.level: is already set on line 2"}},
		{"repeated-top-level", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", []string{"2:1: listen: is already set on line 1"}},
		{"repeated-empty-key", "~: 1\n~: 2\n", []string{`2:1: "~": is already set on line 1`}},
		{"repeated-key-hides-its-list", "routes:\n  - path: a\n    path: /b\n  - path: c\n", []string{"3:5: routes[0].path: is already set on line 2"}},
		{"alias-key-repeats-a-field", "listen: &k listen\n*k: 127.0.0.1:1\n", []string{"1:9: listen: must be host:port, as in 127.0.0.1:8080", "2:1: listen: is already set on line 1"}},
		{"scalar-for-mapping", "session: short\n", []string{"1:10: session: must be a mapping, not text"}},
		{"number-for-mapping", "login:\n  throttle: 5\n", []string{"2:13: login.throttle: must be a mapping, not a whole number"}},
		{"list-for-mapping", "server: [a]\n", []string{"1:9: server: must be a mapping, not a list"}},
		{"mapping-for-list", "routes: {path: /}\n", []string{"1:9: routes: must be a list, not a mapping"}},
		{"scalar-for-list-of-text", "strip_headers: X-A\n", []string{"1:16: strip_headers: must be a list, not text"}},
		{"scalar-list-item", "token:\n  keys: [a]\n", []string{"2:10: token.keys[0]: must be a mapping, not text"}},
		{"list-as-key", "[a]: 1\n", []string{"1:1: keys must be plain names, not a list"}},
		{"document-not-a-mapping", "- a\n- b\n", []string{"1:1: must be a mapping, not a list"}},
		{"document-scalar", "hello\n", []string{"1:1: must be a mapping, not text"}},
		{"merge-of-scalar", "session:\n  <<: x\n", []string{"2:7: session.<<: must be a mapping or a list of mappings"}},
		{"unknown-key-in-merged-mapping", "routes:\n  - &r {path: /a, upstream: 'http://127.0.0.1:1'}\n  - <<: {pth: /b}\n    upstream: http://127.0.0.1:2\n",
			[]string{"3:5: routes[1].path: must start with /", "3:10: routes[1].pth: unknown key; did you mean \"path\"?"}},
		{"everything-at-once", "lisen: x\nserver:\n  max_header_bytes: lots\nroutes:\n  - path: api\n    upstream: http://127.0.0.1:1\n    surprise: 1\n",
			[]string{"1:1: lisen: unknown key; did you mean \"listen\"?", "3:21: server.max_header_bytes: must be a whole number, not text", "5:11: routes[0].path: must start with /", "7:5: routes[0].surprise: unknown key"}},
		{"dropped-element-hides-later-indices", "routes:\n  - x\n  - path: api\n", []string{"2:5: routes[0]: must be a mapping, not text"}},
		{"problems-under-a-broken-mapping-are-not-guessed", "token:\n  refresh: [1]\n  ttl: 0s\n", []string{"2:12: token.refresh: must be a mapping, not a list", "3:8: token.ttl: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, tt.doc, tt.want)
		})
	}
}

// TestWrongValueIsNamedNotItsNeighbour: the reviewer's case. The old
// decoder-message mapping named interval for a bad burst.
func TestWrongValueIsNamedNotItsNeighbour(t *testing.T) {
	_, err := Parse(withUser("login:\n  throttle:\n    client: {burst: x, interval: 1h}\n"), ".", env(nil))
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Path != "login.throttle.client.burst" || ps[0].Line != 3 || ps[0].Column != 21 {
		t.Errorf("Parse = %v, want one problem at 3:21 login.throttle.client.burst", err)
	}
}

// TestMergeKeys: YAML merge keys work as the decoder defines them, and the
// merged values are validated where they are used.
func TestMergeKeys(t *testing.T) {
	doc := `routes:
  - &base {path: /a, upstream: 'http://127.0.0.1:1', methods: [GET]}
  - <<: *base
    path: /b
`
	cfg, err := Parse(withUser(doc), ".", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Routes[1]; r.Path != "/b" || r.Upstream.String() != "http://127.0.0.1:1" || len(r.Methods) != 1 {
		t.Errorf("merged route = %+v, want /b with base's upstream and methods", r)
	}
}

// TestAliases: an alias is checked where it is used, and reported at the
// alias; hostile nesting is refused quickly, by the decoder's own limit.
func TestAliases(t *testing.T) {
	cfg, err := Parse(withUser("listen: &a 127.0.0.1:7000\nmetrics_listen: *a\n"), ".", env(nil))
	if err == nil || !strings.Contains(err.Error(), "2:17: metrics_listen: must differ from listen") {
		t.Errorf("Parse = %v, %v; want the alias's own position", cfg, err)
	}
	laughs := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for i, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		prev := string("abcdefgh"[i])
		laughs += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 8) + "*" + prev + "]\n"
	}
	for _, doc := range []string{
		laughs,
		"strip_headers: &s [" + strings.Repeat("'x y', ", 50) + "x]\nsession:\n  allowed_redirect_hosts: *s\n",
		"routes:\n  - &r {path: /a, upstream: 'http://127.0.0.1:1', methods: &m [" + strings.Repeat("GET, ", 100) + "GET]}\n" + strings.Repeat("  - *r\n", 2000),
		"users:\n  - &u {username: a, password_hash: x, groups: [" + strings.Repeat("a, ", 2000) + "a]}\n" + strings.Repeat("  - *u\n", 2000),
		"routes: &r\n  - *r\n",
		"token: &t {keys: [*t]}\n",
	} {
		start := time.Now()
		_, err := Parse(withUser(doc), ".", env(nil))
		if err == nil {
			t.Errorf("Parse(%.40q...) succeeded, want an error", doc)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Parse(%.40q...) took %v", doc, d)
		}
	}
}

// TestEnvironmentTyping: a plain ${VAR} is typed by its value, as if the
// value were written there; a quoted one stays text; no value turns into
// structure or into "empty".
func TestEnvironmentTyping(t *testing.T) {
	vars := map[string]string{"N": "8192", "T": "true", "D": "45s", "E": "", "NULL": "~", "YAML": "{a: 1}", "LIST": "[1, 2]", "HEX": "0x2000"}
	cfg, err := Parse(withUser(`server:
  max_header_bytes: ${N}
  idle_timeout: ${D}
default_deny: ${T}
metrics_listen: ${E}
login_page:
  title: ${YAML}
  logo_url: ${E}
session:
  cookie_name: ${E}
token:
  cache_size: ${HEX}
  issuer: ${NULL}
  audience: ${LIST}
`), ".", env(vars))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"max_header_bytes", cfg.Server.MaxHeaderBytes, 8192},
		{"idle_timeout", cfg.Server.IdleTimeout, 45 * time.Second},
		{"default_deny", cfg.DefaultDeny, true},
		{"metrics_listen (an empty value disables, it is not left out)", cfg.MetricsListen, ""},
		{"title (YAML in a value is text)", cfg.LoginPage.Title, "{a: 1}"},
		{"cookie_name (empty is the default)", cfg.Session.CookieName, "__Host-authgate"},
		{"cache_size", cfg.Token.CacheSize, 8192},
		{"issuer (~ from a variable is text)", cfg.Token.Issuer, "~"},
		{"audience", cfg.Token.Audience, "[1, 2]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, tt := range []struct{ doc, want string }{
		{"server:\n  max_header_bytes: \"${N}\"\n", "2:21: server.max_header_bytes: must be a whole number, not text"},
		{"server:\n  max_header_bytes: !!str ${N}\n", "2:21: server.max_header_bytes: must be a whole number, not text"},
		{"default_deny: '${T}'\n", "1:15: default_deny: must be true or false, not text"},
		{"server:\n  max_header_bytes: ${NULL}\n", "2:21: server.max_header_bytes: must be a whole number, not text"},
		{"server:\n  max_header_bytes: ${E}\n", "2:21: server.max_header_bytes: must be a whole number, not text"},
		{"token:\n  cache_size: ${YAML}\n", "2:15: token.cache_size: must be a whole number, not text"},
		{"token: ${YAML}\n", "1:8: token: must be a mapping, not text"},
		{"server:\n  max_header_bytes: ${MISSING}\n", "2:21: server.max_header_bytes: environment variable MISSING is not set"},
	} {
		_, err := Parse(withUser(tt.doc), ".", env(vars))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v, want %q", tt.doc, err, tt.want)
		}
	}
}

// TestProblemFormat: file:line:col: path: message, leaving out what is
// unknown, and Load names the file.
func TestProblemFormat(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "gateway.yaml", Line: 14, Column: 5, Path: "routes[2].upstream", Msg: "must be X"}, "gateway.yaml:14:5: routes[2].upstream: must be X"},
		{Problem{Line: 14, Column: 5, Path: "a", Msg: "m"}, "14:5: a: m"},
		{Problem{File: "g.yaml", Path: "a", Msg: "m"}, "g.yaml: a: m"},
		{Problem{File: "g.yaml", Msg: "m"}, "g.yaml: m"},
		{Problem{Path: "a", Msg: "m"}, "a: m"},
	} {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	os.WriteFile(path, []byte("listen: x\nlisen: y\n"), 0o600)
	_, err := Load(path, env(nil))
	for _, want := range []string{path + ":1:9: listen: must be host:port", path + ":2:1: lisen: unknown key; did you mean \"listen\"?"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load = %v, want %q", err, want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), env(nil)); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(absent) = %v, want a not-exist error", err)
	}
}

// TestSyntaxAndEmptyDocuments: a YAML syntax error is the parser's own
// message with its line, but for a tab in the indentation; an empty file
// is refused; a lone null document is a config of defaults.
func TestSyntaxAndEmptyDocuments(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{"", "config is empty"},
		{"# only a comment\n", "config is empty"},
		{"a: [\n", "parse config: yaml: line"},
		{"a: b: c\n", "parse config: yaml: mapping values are not allowed"},
		{"listen: x\na: b: c\n", "parse config: yaml: line 2"},
		{"\tlisten: x\n", "1:1: a tab indents this line: YAML indents with spaces only"},
		{"a: *nowhere\n", "parse config: yaml: unknown anchor"},
	} {
		_, err := Parse(withUser(tt.doc), ".", env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.doc, err, tt.want)
		}
	}
	// Read as a document of defaults, whose one problem is that nobody
	// could sign in.
	_, err := Parse([]byte("~\n"), ".", env(nil))
	if err == nil || err.Error() != "no way to sign in is configured: "+signInWays {
		t.Errorf("Parse(~) = %v, want only the problem that nobody can sign in", err)
	}
}

// TestTabIsReportedOnItsLine: a tab in the indentation is reported on
// its own line and column, in our words; the parser names the line
// before (the reproduction: a tab in the shipped gateway.yaml).
func TestTabIsReportedOnItsLine(t *testing.T) {
	shipped, err := os.ReadFile("../../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const ttl = "\n  ttl: 30m\n"
	i := strings.Index(string(shipped), ttl)
	if i < 0 {
		t.Fatalf("gateway.yaml no longer has %q", ttl)
	}
	ttlLine := strings.Count(string(shipped[:i+1]), "\n") + 1
	tabbed := strings.Replace(string(shipped), ttl, "\n\tttl: 30m\n", 1)
	tests := []struct{ name, doc, want string }{
		{"shipped-gateway-yaml", tabbed, fmt.Sprintf("%d:1: a tab indents this line: YAML indents with spaces only", ttlLine)},
		{"mapping-key", "listen: 127.0.0.1:1\ntoken:\n\tttl: 30m\n", "3:1: a tab indents this line: YAML indents with spaces only"},
		{"after-spaces-in-a-list-item", "routes:\n  - path: /\n  \tupstream: http://127.0.0.1:1\n", "3:3: a tab indents this line: YAML indents with spaces only"},
		{"tab-only-line", "session:\n  ttl: 30m\n\t\n", "3:1: a tab indents this line: YAML indents with spaces only"},
		// A tab inside a block scalar's text is text; the mistake
		// elsewhere is the parser's to name.
		{"tab-in-block-scalar-then-other-error", "login_page:\n  title: |\n    a\n    \tb\nlisten: [\n", "parse config: yaml: line 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), ".", env(nil))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v, want %q", tt.doc, err, tt.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	os.WriteFile(path, []byte(tabbed), 0o600)
	if _, err := Load(path, env(nil)); err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d:1: ", path, ttlLine)) {
		t.Errorf("Load = %v, want the file, line %d and column 1", err, ttlLine)
	}
}

func TestClosestKey(t *testing.T) {
	keys := map[string]bool{"listen": true, "metrics_listen": true, "routes": true, "ttl": true, "tls": true}
	tests := []struct{ name, want string }{
		{"lisen", "listen"},
		{"metrics_lisen", "metrics_listen"},
		{"route", "routes"},
		{"tll", "tls"}, // ttl and tls are both one edit away: the first in order wins
		{"surprise", ""},
		{"x", ""},
		{"listen", "listen"},
	}
	for _, tt := range tests {
		if got := closest(tt.name, keys); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestOneDocumentOnly: a second YAML document would look like config and
// change nothing; it is refused.
func TestOneDocumentOnly(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"restriction-after-separator", "token:\n  secret: " + secret + "\n---\ndefault_deny: true\n", `line 4: a second YAML document`},
		{"garbage-after-separator", "token:\n  secret: " + secret + "\n---\nnosuchkey: 1\n", `line 4: a second YAML document`},
		{"empty-second-document", "token:\n  secret: " + secret + "\n" + aUser + "---\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(withUser(tc.doc), ".", env(nil))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Parse = %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// wantProblems parses doc and checks that it is refused with exactly want,
// in order.
func wantProblems(t *testing.T, doc string, want []string) {
	t.Helper()
	_, err := Parse(withUser(doc), t.TempDir(), env(nil))
	if err == nil {
		t.Fatalf("Parse(%q) succeeded, want %q", doc, want)
	}
	var got []string
	for _, p := range problemsOf(t, err) {
		got = append(got, p.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Parse(%q) =\n%s\nwant\n%s", doc, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
