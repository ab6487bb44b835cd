// Package forwarded decides which forwarding headers to believe.
//
// X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, Forwarded and
// X-Real-IP are claims made by whoever sent them. They are believed only
// when the connection's peer is a configured trusted proxy, and the client
// address is found by walking X-Forwarded-For from the right, stopping at
// the first hop that is not trusted: everything left of it could have been
// written by the client.
package forwarded

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how much of an X-Forwarded-For chain is examined.
const maxHops = 32

// Trust holds the trusted proxy ranges. The zero value trusts nobody.
type Trust struct {
	prefixes []netip.Prefix
}

// NewTrust returns a Trust for the given ranges.
func NewTrust(prefixes []netip.Prefix) Trust {
	return Trust{prefixes: prefixes}
}

// Contains reports whether addr is in a trusted range.
func (t Trust) Contains(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Peer returns the address of the connection's other end.
func Peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// TrustedPeer reports whether the request came straight from a trusted proxy.
func (t Trust) TrustedPeer(r *http.Request) bool {
	return len(t.prefixes) > 0 && t.Contains(Peer(r))
}

// ClientIP returns the address of the client as far as trusted hops vouch
// for it: the peer itself unless the peer is trusted, else the right-most
// X-Forwarded-For entry (or Forwarded for=, or X-Real-IP) not in a trusted
// range. A malformed entry ends the walk at the last hop that was believed.
func (t Trust) ClientIP(r *http.Request) netip.Addr {
	client := Peer(r)
	if !t.TrustedPeer(r) {
		return client
	}
	hops := XForwardedFor(r.Header)
	if hops == nil {
		hops = ForwardedFor(r.Header)
	}
	if hops == nil {
		if real := r.Header.Values("X-Real-Ip"); len(real) == 1 {
			if a, ok := ParseNode(real[0]); ok {
				return a
			}
		}
		return client
	}
	for i := len(hops) - 1; i >= 0 && len(hops)-i <= maxHops; i-- {
		if !t.Contains(client) {
			break
		}
		a, ok := ParseNode(hops[i])
		if !ok {
			break
		}
		client = a
	}
	return client
}

// XForwardedFor returns the X-Forwarded-For entries across all header
// lines, in order, or nil when there is no such header.
func XForwardedFor(h http.Header) []string {
	lines := h["X-Forwarded-For"]
	if len(lines) == 0 {
		return nil
	}
	var hops []string
	for _, line := range lines {
		for entry := range strings.SplitSeq(line, ",") {
			hops = append(hops, strings.TrimSpace(entry))
		}
	}
	return hops
}

// ForwardedFor returns the for= parameters of RFC 7239 Forwarded headers,
// in order, or nil when there is none. An element without for= yields "".
func ForwardedFor(h http.Header) []string {
	lines := h["Forwarded"]
	if len(lines) == 0 {
		return nil
	}
	var hops []string
	for _, line := range lines {
		for element := range strings.SplitSeq(line, ",") {
			hop := ""
			for pair := range strings.SplitSeq(element, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hop = strings.Trim(v, `"`)
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// ParseNode parses one hop as written in X-Forwarded-For or Forwarded: an
// IPv4 or IPv6 address, optionally bracketed and with a port.
func ParseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Proto returns the scheme the client used: the single X-Forwarded-Proto of
// a trusted peer when Scheme knows it, else what the connection shows.
func (t Trust) Proto(r *http.Request) string {
	if t.TrustedPeer(r) {
		if v := r.Header.Values("X-Forwarded-Proto"); len(v) == 1 {
			if p := Scheme(v[0]); p != "" {
				return p
			}
		}
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// Scheme maps an X-Forwarded-Proto value to the origin scheme it stands
// for: "http" or "https", or "" for anything else. Traefik says "ws" and
// "wss" for WebSocket handshakes, which browsers make from pages on http
// and https origins.
func Scheme(proto string) string {
	switch strings.ToLower(strings.TrimSpace(proto)) {
	case "http", "ws":
		return "http"
	case "https", "wss":
		return "https"
	}
	return ""
}

// Host returns the host the client asked for: the single X-Forwarded-Host
// of a trusted peer, else the request's Host.
func (t Trust) Host(r *http.Request) string {
	if t.TrustedPeer(r) {
		if v := r.Header.Values("X-Forwarded-Host"); len(v) == 1 && v[0] != "" && !strings.ContainsAny(v[0], ", /") {
			return v[0]
		}
	}
	return r.Host
}
