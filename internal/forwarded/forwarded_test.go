package forwarded

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trust := NewTrust([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	tests := []struct {
		name   string
		peer   string
		header http.Header
		want   string
	}{
		{"untrusted-peer-ignores-xff", "203.0.113.5:1234", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "203.0.113.5"},
		{"trusted-peer-single-hop", "10.0.0.1:1234", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "1.2.3.4"},
		{"right-to-left-skips-trusted", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"6.6.6.6, 1.2.3.4, 10.0.0.2"}}, "1.2.3.4"},
		{"spoofed-left-entries-ignored", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"127.0.0.1", "1.2.3.4"}}, "1.2.3.4"},
		{"malformed-stops-walk", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"1.2.3.4, garbage, 10.0.0.3"}}, "10.0.0.3"},
		{"all-trusted", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"10.0.0.9"}}, "10.0.0.9"},
		{"ipv6-peer", "[::1]:1", http.Header{"X-Forwarded-For": {"[2001:db8::1]:443"}}, "2001:db8::1"},
		{"forwarded-header", "10.0.0.1:1", http.Header{"Forwarded": {`for="[2001:db8::2]:80";proto=https, for=10.0.0.4`}}, "2001:db8::2"},
		{"x-real-ip", "10.0.0.1:1", http.Header{"X-Real-Ip": {"1.2.3.4"}}, "1.2.3.4"},
		{"x-real-ip-untrusted", "1.1.1.1:1", http.Header{"X-Real-Ip": {"1.2.3.4"}}, "1.1.1.1"},
		{"mapped-v4", "[::ffff:10.0.0.1]:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "1.2.3.4"},
		{"zone-rejected", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"fe80::1%eth0"}}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.peer, Header: tt.header}
			if got := trust.ClientIP(r); got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNobodyTrustedByDefault(t *testing.T) {
	var trust Trust
	r := &http.Request{RemoteAddr: "127.0.0.1:1", Host: "gw", Header: http.Header{
		"X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Host": {"evil"}, "X-Forwarded-Proto": {"https"},
	}}
	if trust.TrustedPeer(r) || trust.ClientIP(r).String() != "127.0.0.1" || trust.Host(r) != "gw" || trust.Proto(r) != "http" {
		t.Errorf("the zero Trust believed forwarding headers")
	}
}

func TestHostAndProto(t *testing.T) {
	trust := NewTrust([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	tests := []struct {
		name      string
		header    http.Header
		wantHost  string
		wantProto string
	}{
		{"trusted", http.Header{"X-Forwarded-Host": {"app.example"}, "X-Forwarded-Proto": {"HTTPS"}}, "app.example", "https"},
		{"duplicate-host-ignored", http.Header{"X-Forwarded-Host": {"a", "b"}}, "gw", "http"},
		{"list-host-ignored", http.Header{"X-Forwarded-Host": {"a, b"}}, "gw", "http"},
		{"odd-proto-ignored", http.Header{"X-Forwarded-Proto": {"gopher"}}, "gw", "http"},
		{"duplicate-proto-ignored", http.Header{"X-Forwarded-Proto": {"https", "http"}}, "gw", "http"},
		{"traefik-websocket-tls", http.Header{"X-Forwarded-Proto": {"wss"}}, "gw", "https"},
		{"traefik-websocket", http.Header{"X-Forwarded-Proto": {"ws"}}, "gw", "http"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: "127.0.0.1:1", Host: "gw", Header: tt.header}
		if h, p := trust.Host(r), trust.Proto(r); h != tt.wantHost || p != tt.wantProto {
			t.Errorf("%s: Host, Proto = %q, %q; want %q, %q", tt.name, h, p, tt.wantHost, tt.wantProto)
		}
	}
}
