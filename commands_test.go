package main

// In-process tests of the commands: they call run() as main does, with
// their own arguments, environment and output buffers.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCommand calls run as main would and returns what it printed.
func runCommand(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	err = run(context.Background(), append([]string{"authgate"}, args...), lookup, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// filesUnder lists every file below dir, relative to it.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestKeygenWritesOnlyPlainFileNamesInsideOut(t *testing.T) {
	tests := []struct {
		name      string
		id        string
		wantFiles []string // below the test's root; -out is root/out
	}{
		{"plain", "2026-11.a_b", []string{"out/2026-11.a_b.pem", "out/2026-11.a_b.pub.pem"}},
		{"parent", "../x", nil},
		{"deeper-parent", "../../x", nil},
		{"dot-dot", "..", nil},
		{"dot-dot-inside", "a..b", nil},
		{"separator", "sub/x", nil},
		{"backslash", `sub\x`, nil},
		{"absolute", "/tmp/x", nil},
		{"leading-dot", ".hidden", nil},
		{"leading-dash", "-x", nil},
		{"space", "a b", nil},
		{"nul", "a\x00b", nil},
		{"newline", "a\nb", nil},
		{"non-ascii", "ключ", nil},
		{"too-long", strings.Repeat("k", 65), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			out := filepath.Join(root, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			_, stderr, err := runCommand(t, nil, "keygen", "--alg", "EdDSA", "-id", tt.id, "-out", out)
			if tt.wantFiles == nil && (err == nil || !strings.Contains(err.Error(), "-id")) {
				t.Errorf("keygen -id %q = %v, want an error about -id", tt.id, err)
			}
			if tt.wantFiles != nil && err != nil {
				t.Errorf("keygen -id %q = %v, want success\n%s", tt.id, err, stderr)
			}
			got := filesUnder(t, root)
			if strings.Join(got, " ") != strings.Join(tt.wantFiles, " ") {
				t.Errorf("files written = %q, want %q", got, tt.wantFiles)
			}
		})
	}
}

// TestConfigErrorsNeverEchoSecrets: `authgate check` and start-up report a
// value of the wrong type by file, path, line and expected type, and print
// nothing of the value, here a secret from the environment.
func TestConfigErrorsNeverEchoSecrets(t *testing.T) {
	const secret = "Kq7vR2xW9pL4mZ8nB3cD6fH1jT5yG0sQ"
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"string-where-mapping-belongs", "listen: 127.0.0.1:0\ntoken: \"${AUTHGATE_SECRET}\"\n", "gateway.yaml:2:8: token: must be a mapping, not text"},
		{"string-where-list-belongs", "routes: ${AUTHGATE_SECRET}\n", "gateway.yaml:1:9: routes: must be a list, not text"},
		{"string-where-int-belongs", "server:\n  max_connections: ${AUTHGATE_SECRET}\n", "gateway.yaml:2:20: server.max_connections: must be a whole number, not text"},
		{"string-where-bool-belongs", "default_deny: ${AUTHGATE_SECRET}\n", "gateway.yaml:1:15: default_deny: must be true or false, not text"},
		{"string-where-duration-belongs", "server:\n  idle_timeout: ${AUTHGATE_SECRET}\n", "gateway.yaml:2:17: server.idle_timeout: must be a duration"},
		{"mapping-where-string-belongs", "token:\n  secret:\n    s: ${AUTHGATE_SECRET}\n", "gateway.yaml:3:5: token.secret: must be text, not a mapping"},
	}
	env := map[string]string{"AUTHGATE_SECRET": secret}
	leaks := func(s string) string {
		for i := 0; i+4 <= len(secret); i++ {
			if strings.Contains(s, secret[i:i+4]) {
				return secret[i : i+4]
			}
		}
		return ""
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gateway.yaml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}

			stdout, stderr, err := runCommand(t, env, "check", "-config", path)
			if err == nil {
				t.Errorf("check succeeded, want a failure")
			}
			if !strings.Contains(stdout, path+" is invalid") || !strings.Contains(stdout, tt.want) {
				t.Errorf("check printed %q, want the file and %q", stdout, tt.want)
			}
			if s := leaks(stdout + stderr); s != "" {
				t.Errorf("check echoes the secret (%q):\n%s%s", s, stdout, stderr)
			}

			stdout, stderr, err = runCommand(t, env, "-config", path)
			if err == nil {
				t.Fatalf("start succeeded, want a failure")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("start = %q, want the file and %q", err, tt.want)
			}
			if s := leaks(err.Error() + stdout + stderr); s != "" {
				t.Errorf("start echoes the secret (%q):\n%v\n%s%s", s, err, stdout, stderr)
			}
		})
	}
}
