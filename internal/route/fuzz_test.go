package route

import (
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanonicalPath: an accepted path is canonical and stable, and an
// upstream that decodes and resolves it once more cannot be led out of the
// route the gateway chose: no input makes a protected path look public.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/", "/public/x", "/public/../admin", "/public/%2e%2e/admin", "/public%2f..%2fadmin",
		"/public/..;/admin", "/public/%252e%252e/admin", "//admin", "/public\\..\\admin", "/%c0%ae%c0%ae/", "/a?b#c", "/ü/%C3%BC"} {
		f.Add(s)
	}
	var table Table[bool]
	table.Add("", "/", false)
	table.Add("", "/public", true)
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := CanonicalPath(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || !utf8.ValidString(p) || strings.ContainsAny(p, "\\;#\x00") {
			t.Fatalf("CanonicalPath(%q) = %q: not canonical", raw, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("CanonicalPath(%q) = %q has a dot segment", raw, p)
			}
		}
		for i := range len(p) {
			if p[i] < 0x20 || p[i] == 0x7f {
				t.Fatalf("CanonicalPath(%q) = %q has a control byte", raw, p)
			}
		}
		// What the upstream receives is the re-escaped canonical path; it
		// must canonicalise to the same path.
		escaped := (&url.URL{Path: p}).EscapedPath()
		again, err := CanonicalPath(escaped)
		if err != nil || again != p {
			t.Fatalf("CanonicalPath(%q) = %q, forwarded as %q, which reads back as %q, %v", raw, p, escaped, again, err)
		}
		public, _ := table.Match(Host{}, p)
		if !public {
			return
		}
		// A sloppy upstream decodes again and resolves dot segments.
		decoded, err := url.PathUnescape(escaped)
		if err != nil {
			decoded = p
		}
		resolved := path.Clean(decoded)
		if !hasPrefix(resolved, "/public") {
			t.Fatalf("%q was judged public, but an upstream resolves it to %q", raw, resolved)
		}
	})
}

// hasPrefix reports whether path is prefix or below it on a segment boundary:
// "/api" covers "/api" and "/api/x" but not "/apix".
func hasPrefix(path, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == prefix || (strings.HasPrefix(path, prefix) && path[len(prefix)] == '/')
}
