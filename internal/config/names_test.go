package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsernamesFollowOneRule: local names are held to names.Check (the
// rule outside identities are held to as well), and two accounts whose
// names the login throttle folds to one key are refused, naming both.
func TestUsernamesFollowOneRule(t *testing.T) {
	user := func(name string) string {
		return "  - username: \"" + name + "\"\n    password_hash: \"" + hash10 + "\"\n"
	}
	tests := []struct {
		name  string
		users string // YAML double-quoted escapes
		want  []string
	}{
		{"zero-width-space", user(`user\u200b2`), []string{"users[0].username: must not contain '\\u200b'"}},
		{"soft-hyphen", user(`ali\u00adce`), []string{"users[0].username: must not contain '\\u00ad'"}},
		{"no-break-space", user(`user2\u00a0`), []string{"users[0].username: must not contain '\\u00a0'"}},
		{"line-separator", user(`user\u20282`), []string{"users[0].username: must not contain '\\u2028'"}},
		{"next-line", user(`user\u00852`), []string{"users[0].username: must not contain '\\u0085'"}},
		{"ideographic-space", user(`user\u30002`), []string{"users[0].username: must not contain '\\u3000'"}},
		{"byte-order-mark", user(`\ufeffuser2`), []string{"users[0].username: must not contain '\\ufeff'"}},
		{"fullwidth-colon", user(`user2\uff1aadmin`), []string{"users[0].username: must not contain '\\uff1a' (a separator once Unicode-normalised)"}},
		{"fullwidth-twin", user("alice") + user("ａｌｉｃｅ"), []string{`users[1].username: must be written in its Unicode normal form (NFKC)`}},
		{"ligature-twin", user("ﬁle") + user("file"), []string{`users[0].username: must be written in its Unicode normal form (NFKC)`}},
		{"long-s-twin", user("sam") + user("ſam"), []string{`users[1].username: must be written in its Unicode normal form (NFKC)`}},
		{"decomposed-accent", user(`zoe\u0308`), []string{`users[0].username: must be written in its Unicode normal form (NFKC)`}},
		{"hangul-filler", user(`alice\u3164`), []string{"users[0].username: must not contain '\\u3164'"}},
		{"case-twin", user("Dup") + user("dup"), []string{"6:15: users[1].username: is already defined at users[0].username (line 4)"}},
		{"distinct-accents", user("zoe") + user("zoë"), nil},
		{"group", "  - username: bob\n    password_hash: \"" + hash10 + "\"\n    groups: [\"ops\\u200b\"]\n", []string{"users[0].groups[0]: group name must not contain '\\u200b'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("token:\n  secret: "+secret+"\nusers:\n"+tt.users), ".", env(nil))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse = %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q; got:\n%v", w, err)
				}
			}
		})
	}
	t.Run("htpasswd-fullwidth", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "users"), []byte("ＡＬＩＣＥ:"+hash10+"\n"), 0o600)
		_, err := Parse([]byte("token:\n  secret: "+secret+"\nhtpasswd_file: users\nusers:\n"+user("alice")), dir, env(nil))
		want := `3:16: htpasswd_file: line 1: user "ＡＬＩＣＥ": must be written in its Unicode normal form (NFKC)`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse = %v, want an error containing %q", err, want)
		}
	})
	t.Run("allowed-users", func(t *testing.T) {
		doc := "token:\n  secret: " + secret + "\nroutes:\n  - path: /a\n    upstream: http://127.0.0.1:1\n    allowed_users: [\"user2:admin\", \"bob\\u200b\"]\n    allowed_groups: [\"a\\u00a0b\"]\n"
		_, err := Parse([]byte(doc), ".", env(nil))
		for _, w := range []string{"routes[0].allowed_users[0]: username must not contain ':'", "routes[0].allowed_users[1]: username must not contain '\\u200b'", "routes[0].allowed_groups[0]: group name must not contain '\\u00a0'"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Parse = %v, want an error containing %q", err, w)
			}
		}
	})
}

// TestLowCostHashesAreOneWarning: hashes below RecommendedCost draw one
// warning for them all, not one per user (100,000 htpasswd users would
// make 100,000 lines at every start).
func TestLowCostHashesAreOneWarning(t *testing.T) {
	user := func(name string) string {
		return "  - username: " + name + "\n    password_hash: \"" + hash10 + "\"\n"
	}
	tests := []struct {
		name  string
		users string
		want  string
	}{
		{"one", user("a"), `user "a": bcrypt cost is below the recommended 12`},
		{"three", user("a") + user("b") + user("c"), `users "a", "b", "c": bcrypt cost is below the recommended 12`},
		{"many", user("a") + user("b") + user("c") + user("d") + user("e"), `5 users ("a", "b", "c", …) have a bcrypt cost below the recommended 12`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte("token:\n  secret: "+secret+"\nusers:\n"+tt.users), ".", env(nil))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, w := range cfg.Warnings {
				if strings.Contains(w, "below the recommended") {
					n++
					if w != tt.want {
						t.Errorf("warning = %q, want %q", w, tt.want)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d cost warnings, want 1: %q", n, cfg.Warnings)
			}
		})
	}
}
