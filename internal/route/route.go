// Package route canonicalises request paths and hosts and finds the route a
// request belongs to.
//
// The canonical path is the single form used both to decide which route
// (and so which rules) apply and to build what the upstream receives, so an
// upstream can never interpret a path differently from the gateway's
// decision: anything that could be read two ways is refused.
package route

import (
	"errors"
	"net"
	"strings"
	"unicode/utf8"
)

// ErrBadPath means the request target is not an acceptable origin-form path.
var ErrBadPath = errors.New("request path not canonical")

// CanonicalPath decodes the path part of an origin-form request target
// (RequestURI, query included or not) and returns it if it has one meaning
// only. It refuses, with ErrBadPath: anything not starting with "/"
// (absolute-form, authority-form, "*"); control bytes, backslashes, "#" and
// ";" (raw or encoded: Tomcat and others treat ";" as a parameter
// separator, ../;/ tricks); encoded "/" and "\\" (an upstream may decode them
// into separators); double encoding ("%25" followed by hex); invalid
// percent escapes; invalid or overlong UTF-8; empty segments ("//"); and
// "." or ".." segments, however encoded.
func CanonicalPath(requestURI string) (string, error) {
	raw, _, _ := strings.Cut(requestURI, "?")
	if !strings.HasPrefix(raw, "/") {
		return "", ErrBadPath
	}
	// Without escapes the decoded path is raw itself: no copy is made.
	escaped := strings.IndexByte(raw, '%') >= 0
	var b strings.Builder
	if escaped {
		b.Grow(len(raw))
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", ErrBadPath
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			if c == '/' || c == '\\' {
				return "", ErrBadPath
			}
			i += 2
		}
		if c < 0x20 || c == 0x7f || c == '\\' || c == '#' || c == ';' {
			return "", ErrBadPath
		}
		if escaped {
			b.WriteByte(c)
		}
	}
	p := raw
	if escaped {
		p = b.String()
	}
	if !utf8.ValidString(p) {
		return "", ErrBadPath
	}
	// Double encoding: a decoded path that still holds an escape would
	// mean something else to an upstream that decodes once more.
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '%' && isHex(p[i+1]) && isHex(p[i+2]) {
			return "", ErrBadPath
		}
	}
	// Every segment but the last must be non-empty; none may be a dot segment.
	rest := p[1:]
	for rest != "" {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || (seg == "" && more) {
			return "", ErrBadPath
		}
		rest = tail
	}
	return p, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	default:
		return c - '0'
	}
}

// Host is a request host in the forms routes are compared against.
type Host struct {
	// Name is lower case, without a trailing dot or a port.
	Name string
	// NameWithPort adds the port unless it was absent or 80/443.
	NameWithPort string
}

// ParseHost normalises a Host header value: lower case, no trailing dot,
// default ports dropped.
func ParseHost(h string) Host {
	h = strings.ToLower(h)
	name, port := h, ""
	if strings.IndexByte(h, ':') >= 0 { // SplitHostPort allocates its error
		if n, p, err := net.SplitHostPort(h); err == nil {
			name, port = n, p
		}
	}
	trimmed := strings.TrimSuffix(name, ".")
	switch {
	case port == "" || port == "80" || port == "443":
		return Host{Name: trimmed, NameWithPort: trimmed}
	case trimmed == name:
		return Host{Name: name, NameWithPort: h} // h is already name:port
	}
	return Host{Name: trimmed, NameWithPort: net.JoinHostPort(trimmed, port)}
}

// Table finds the route for a canonical path and host: the longest prefix
// matching on a segment boundary; among routes of one prefix, one naming the
// host and port wins over one naming the host, which wins over one naming
// none. A match costs one map lookup per segment of the path, however many
// routes there are.
type Table[T any] struct {
	byPrefix map[string]*slot[T]
}

// slot holds the routes of one prefix.
type slot[T any] struct {
	withPort, byName map[string]T // by host with port, by host name
	any              T
	hasAny           bool
}

// Add registers value under host (normalised as ParseHost does, with a port
// only when it must match too; "" for any) and prefix (canonical, no
// trailing slash except "/"). A later Add for the same host and prefix
// replaces the earlier one.
func (t *Table[T]) Add(host, prefix string, value T) {
	if t.byPrefix == nil {
		t.byPrefix = map[string]*slot[T]{}
	}
	s := t.byPrefix[prefix]
	if s == nil {
		s = &slot[T]{}
		t.byPrefix[prefix] = s
	}
	switch _, _, err := net.SplitHostPort(host); {
	case host == "":
		s.any, s.hasAny = value, true
	case err == nil:
		if s.withPort == nil {
			s.withPort = map[string]T{}
		}
		s.withPort[host] = value
	default:
		if s.byName == nil {
			s.byName = map[string]T{}
		}
		s.byName[host] = value
	}
}

// Match returns the route for a canonical path on host.
func (t *Table[T]) Match(host Host, path string) (T, bool) {
	// path, then each prefix of it that ends before a "/", longest first:
	// "/a/b/" tries "/a/b/", "/a/b", "/a" and "/".
	for p := path; t.byPrefix != nil && p != ""; {
		if s := t.byPrefix[p]; s != nil {
			if v, ok := s.withPort[host.NameWithPort]; ok {
				return v, true
			}
			if v, ok := s.byName[host.Name]; ok {
				return v, true
			}
			if s.hasAny {
				return s.any, true
			}
		}
		switch i := strings.LastIndexByte(p, '/'); {
		case p == "/":
			p = ""
		case i <= 0:
			p = "/"
		default:
			p = p[:i]
		}
	}
	var zero T
	return zero, false
}
