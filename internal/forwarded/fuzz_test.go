package forwarded

import (
	"net/http"
	"net/netip"
	"testing"
)

// FuzzClientIP: forwarding headers from an untrusted peer change nothing; a
// client address taken from them was written in them; nothing panics.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4, 10.0.0.2", "garbage, 10.0.0.3", "[2001:db8::1]:80", "for=1.2.3.4;proto=https", ",,,", "fe80::1%eth0"} {
		f.Add(s, s, true)
	}
	trust := NewTrust([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, xff, fwd string, trustedPeer bool) {
		peer := "203.0.113.1:5000"
		if trustedPeer {
			peer = "10.0.0.1:5000"
		}
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}, "Forwarded": {fwd}, "X-Real-Ip": {xff}}}
		got := trust.ClientIP(r)
		peerAddr := netip.MustParseAddrPort(peer).Addr()
		if !trustedPeer {
			if got != peerAddr {
				t.Fatalf("untrusted peer: ClientIP = %s, want the peer %s", got, peerAddr)
			}
			return
		}
		if !got.IsValid() {
			t.Fatalf("ClientIP = invalid address for %q", xff)
		}
		if got == peerAddr {
			return
		}
		found := false
		for _, h := range append(XForwardedFor(r.Header), ForwardedFor(r.Header)...) {
			if a, ok := ParseNode(h); ok && a == got {
				found = true
			}
		}
		if a, ok := ParseNode(xff); ok && a == got {
			found = true
		}
		if !found {
			t.Fatalf("ClientIP = %s, which no header named (xff %q, forwarded %q)", got, xff, fwd)
		}
	})
}
