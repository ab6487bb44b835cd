// Package watch tells whether files changed between two moments, by
// comparing what os.Stat says of them: a file rewritten in place (a new
// size or modification time), replaced (an editor's write-and-rename, a
// Kubernetes ConfigMap whose ..data symlink is swapped to a new folder:
// Stat follows symlinks, so the path now leads to another file), created,
// removed or made readable shows as changed.
//
// It polls rather than subscribing to inotify (fsnotify): a poll needs no
// watch on each parent directory, which a ConfigMap's symlink swap or a
// renamed directory silently invalidates, and it is a loop a test can
// reason about. A few Stat calls a second cost nothing.
package watch

import "os"

// Stamps are what a set of files looked like at one moment, by path.
type Stamps map[string]Stamp

// Stamp is what one file looked like; the zero Stamp is a file that could
// not be stat'ed (missing or unreadable).
type Stamp struct{ info os.FileInfo }

// Take stats every path.
func Take(paths []string) Stamps {
	s := make(Stamps, len(paths))
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			info = nil
		}
		s[p] = Stamp{info}
	}
	return s
}

// Same reports whether s and t are the same paths, each the same file
// unchanged.
func (s Stamps) Same(t Stamps) bool {
	if len(s) != len(t) {
		return false
	}
	for p, a := range s {
		b, ok := t[p]
		if !ok || !a.same(b) {
			return false
		}
	}
	return true
}

func (a Stamp) same(b Stamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return os.SameFile(a.info, b.info) && a.info.Size() == b.info.Size() &&
		a.info.ModTime().Equal(b.info.ModTime()) && a.info.Mode() == b.info.Mode()
}
