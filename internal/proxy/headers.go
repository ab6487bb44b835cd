package proxy

import (
	"net/http"
	"slices"
	"strings"
)

// HeaderSet matches header names the way the software behind a proxy may
// read them: case-insensitively, and with "_" or "." standing for "-",
// because CGI, PHP, WSGI and Rack map X-Forwarded_User and
// X-Forwarded-User to the same variable (oauth2-proxy CVE-2025-64484,
// Caddy GHSA-f59h-q822-g45g).
type HeaderSet struct {
	names    map[string]struct{}
	prefixes []string
}

// NewHeaderSet returns a set of the given names and name prefixes.
func NewHeaderSet(names, prefixes []string) *HeaderSet {
	s := &HeaderSet{names: make(map[string]struct{}, len(names))}
	for _, n := range names {
		s.names[normalize(n)] = struct{}{}
	}
	for _, p := range prefixes {
		s.prefixes = append(s.prefixes, normalize(p))
	}
	return s
}

// Union returns a new set holding the names and prefixes of s and other;
// either may be nil.
func (s *HeaderSet) Union(other *HeaderSet) *HeaderSet {
	u := &HeaderSet{names: map[string]struct{}{}}
	for _, set := range []*HeaderSet{s, other} {
		if set == nil {
			continue
		}
		for n := range set.names {
			u.names[n] = struct{}{}
		}
		u.prefixes = append(u.prefixes, set.prefixes...)
	}
	return u
}

// Contains reports whether name, in any spelling, is in the set.
func (s *HeaderSet) Contains(name string) bool {
	if s == nil {
		return false
	}
	var buf [64]byte
	n := normalizeInto(buf[:0], name)
	if _, ok := s.names[string(n)]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if len(n) >= len(p) && string(n[:len(p)]) == p {
			return true
		}
	}
	return false
}

// Remove deletes every header of h in the set.
func (s *HeaderSet) Remove(h http.Header) {
	if s == nil {
		return
	}
	for name := range h {
		if s.Contains(name) {
			delete(h, name)
		}
	}
}

func normalize(name string) string {
	return string(normalizeInto(nil, name))
}

func normalizeInto(dst []byte, name string) []byte {
	for i := range len(name) {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '.':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}

// removeCookies deletes the cookies named names from h's Cookie headers,
// leaving every other cookie byte for byte as the client sent it.
func removeCookies(h http.Header, names []string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	if kept := WithoutCookie(lines, names...); len(kept) > 0 {
		h["Cookie"] = kept
	} else {
		delete(h, "Cookie")
	}
}

// WithoutCookie returns Cookie header lines without every cookie named
// one of names, every other cookie byte for byte as the client sent it,
// and no line left empty. A name is compared as net/http reads it, spaces
// around it trimmed, so that no spelling the gateway accepts as its cookie
// passes.
func WithoutCookie(lines []string, names ...string) []string {
	var kept []string
	for _, line := range lines {
		var parts []string
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			if n, _, _ := strings.Cut(part, "="); part != "" && !slices.Contains(names, strings.TrimSpace(n)) {
				parts = append(parts, part)
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	return kept
}
