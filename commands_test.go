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
