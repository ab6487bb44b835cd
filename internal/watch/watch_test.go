package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestChanges: each way a file can change between two polls is seen, and
// nothing is seen when nothing changed, even with the modification time
// held fixed (so that only the kind of change under test can show).
func TestChanges(t *testing.T) {
	mtime := time.Unix(1_700_000_000, 0)
	write := func(t *testing.T, path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		// setup makes the files and returns the path watched; change
		// then acts on them.
		setup  func(t *testing.T, dir string) string
		change func(t *testing.T, dir string)
		want   bool // changed
	}{
		{
			name: "nothing",
			setup: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			change: func(t *testing.T, dir string) {},
			want:   false,
		},
		{
			name: "rewritten-in-place-new-size",
			setup: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "f"), "ab") },
			want:   true,
		},
		{
			name: "rewritten-in-place-same-size-new-time",
			setup: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			change: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "f")
				write(t, p, "b")
				os.Chtimes(p, mtime, mtime.Add(time.Second))
			},
			want: true,
		},
		{
			name: "write-and-rename",
			setup: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			change: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, ".f.swp"), "b")
				if err := os.Rename(filepath.Join(dir, ".f.swp"), filepath.Join(dir, "f")); err != nil {
					t.Fatal(err)
				}
			},
			want: true,
		},
		{
			// The shape of a Kubernetes ConfigMap volume: f -> ..data/f,
			// ..data -> ..2026_1; an update writes ..2026_2 and swaps
			// ..data to it with a rename.
			name: "configmap-symlink-swap",
			setup: func(t *testing.T, dir string) string {
				os.Mkdir(filepath.Join(dir, "..2026_1"), 0o755)
				write(t, filepath.Join(dir, "..2026_1", "f"), "a")
				must(t, os.Symlink("..2026_1", filepath.Join(dir, "..data")))
				must(t, os.Symlink(filepath.Join("..data", "f"), filepath.Join(dir, "f")))
				return filepath.Join(dir, "f")
			},
			change: func(t *testing.T, dir string) {
				os.Mkdir(filepath.Join(dir, "..2026_2"), 0o755)
				write(t, filepath.Join(dir, "..2026_2", "f"), "b")
				must(t, os.Symlink("..2026_2", filepath.Join(dir, "..data_tmp")))
				must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
			},
			want: true,
		},
		{
			name: "removed",
			setup: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			change: func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "f"))) },
			want:   true,
		},
		{
			name:   "created",
			setup:  func(t *testing.T, dir string) string { return filepath.Join(dir, "f") },
			change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "f"), "a") },
			want:   true,
		},
		{
			name:   "still-missing",
			setup:  func(t *testing.T, dir string) string { return filepath.Join(dir, "f") },
			change: func(t *testing.T, dir string) {},
			want:   false,
		},
		{
			name: "mode-changed",
			setup: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			change: func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "f"), 0o644)) },
			want:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := Take([]string{path})
			tt.change(t, dir)
			if got := !before.Same(Take([]string{path})); got != tt.want {
				t.Errorf("changed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameComparesThePathsToo(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("x"), 0o600)
	if Take([]string{a}).Same(Take([]string{a, b})) {
		t.Error("a set with one more path is the same")
	}
	if Take([]string{a}).Same(Take([]string{b})) {
		t.Error("another path is the same")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
