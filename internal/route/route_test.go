package route

import (
	"errors"
	"fmt"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means ErrBadPath
	}{
		{"/", "/"},
		{"/api/x", "/api/x"},
		{"/api/x/", "/api/x/"},
		{"/api/x?q=1&b=%2f", "/api/x"},
		{"/%61pi", "/api"},
		{"/a%20b", "/a b"},
		{"/caf%C3%A9", "/café"},
		{"/a%25", "/a%"},
		{"/a..b/c.d", "/a..b/c.d"},
		{"/...", "/..."},
		{"", ""},
		{"*", ""},
		{"http://evil/x", ""},
		{"evil.example:443", ""},
		{"/a/../b", ""},
		{"/a/./b", ""},
		{"/..", ""},
		{"/a/..", ""},
		{"/%2e%2e/b", ""},
		{"/%2E./b", ""},
		{"/a/.%2e", ""},
		{"/a%2fb", ""},
		{"/a%2Fb", ""},
		{"/a%5cb", ""},
		{"/a\\b", ""},
		{"/a%252e%252e", ""},
		{"/a%2500", ""},
		{"/%250%41", ""},
		{"/a%25%32%65", ""},
		{"/a;b", ""},
		{"/a%3bb", ""},
		{"/a/..;/b", ""},
		{"/a#b", ""},
		{"/a%23b", ""},
		{"//a", ""},
		{"/a//b", ""},
		{"/a%00", ""},
		{"/a%0a", ""},
		{"/a%7f", ""},
		{"/a\x01", ""},
		{"/%c0%ae%c0%ae/", ""},
		{"/%ff", ""},
		{"/%", ""},
		{"/%4", ""},
		{"/%zz", ""},
	}
	for _, tt := range tests {
		got, err := CanonicalPath(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("CanonicalPath(%q) = %q, %v; want ErrBadPath", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CanonicalPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct{ in, name, withPort string }{
		{"Example.COM", "example.com", "example.com"},
		{"example.com.", "example.com", "example.com"},
		{"example.com:80", "example.com", "example.com"},
		{"example.com.:443", "example.com", "example.com"},
		{"example.com:8443", "example.com", "example.com:8443"},
		{"[::1]:8080", "::1", "[::1]:8080"},
		{"127.0.0.1", "127.0.0.1", "127.0.0.1"},
	}
	for _, tt := range tests {
		if got := ParseHost(tt.in); got.Name != tt.name || got.NameWithPort != tt.withPort {
			t.Errorf("ParseHost(%q) = %+v, want %q %q", tt.in, got, tt.name, tt.withPort)
		}
	}
}

func TestTableMatch(t *testing.T) {
	var tbl Table[string]
	tbl.Add("", "/", "root")
	tbl.Add("", "/api", "api")
	tbl.Add("", "/api/v2", "api-v2")
	tbl.Add("admin.example.com", "/", "admin-root")
	tbl.Add("admin.example.com", "/api", "admin-api")
	tbl.Add("example.com:8443", "/", "alt-port")
	tests := []struct {
		host, path, want string
	}{
		{"gw", "/", "root"},
		{"gw", "/x", "root"},
		{"gw", "/api", "api"},
		{"gw", "/api/", "api"},
		{"gw", "/api/x", "api"},
		{"gw", "/apix", "root"},
		{"gw", "/api/v2/y", "api-v2"},
		{"gw", "/api/v2x", "api"},
		{"ADMIN.example.com.:80", "/x", "admin-root"},
		{"admin.example.com:9999", "/api/x", "admin-api"},
		{"admin.example.com", "/api/v2/x", "api-v2"},
		{"example.com:8443", "/x", "alt-port"},
		{"example.com", "/x", "root"},
	}
	for _, tt := range tests {
		got, ok := tbl.Match(ParseHost(tt.host), tt.path)
		if !ok || got != tt.want {
			t.Errorf("Match(%q, %q) = %q, %v; want %q", tt.host, tt.path, got, ok, tt.want)
		}
	}
	var empty Table[string]
	if _, ok := empty.Match(ParseHost("gw"), "/"); ok {
		t.Errorf("an empty table matched")
	}
}

func TestTableMatchPrecedence(t *testing.T) {
	var tbl Table[string]
	tbl.Add("", "/app", "any-host")
	tbl.Add("example.com", "/app", "by-name")
	tbl.Add("example.com:8443", "/app", "by-port")
	tbl.Add("", "/app/deep", "deeper-any-host")
	tbl.Add("", "/dup", "first")
	tbl.Add("", "/dup", "second")
	tests := []struct {
		name, host, path, want string
	}{
		{"port-beats-name", "example.com:8443", "/app/x", "by-port"},
		{"name-beats-any", "example.com", "/app/x", "by-name"},
		{"other-port-falls-to-name", "example.com:9000", "/app", "by-name"},
		{"other-host-falls-to-any", "other.example", "/app/x", "any-host"},
		{"longer-prefix-beats-host", "example.com:8443", "/app/deep/x", "deeper-any-host"},
		{"later-add-replaces", "gw", "/dup/x", "second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tbl.Match(ParseHost(tt.host), tt.path)
			if !ok || got != tt.want {
				t.Errorf("Match(%q, %q) = %q, %v; want %q", tt.host, tt.path, got, ok, tt.want)
			}
		})
	}
	if got, ok := tbl.Match(ParseHost("gw"), "/"); ok {
		t.Errorf("Match(/) = %q with no root route, want no match", got)
	}
}

// BenchmarkTableMatch shows that a match costs the same with one route as
// with 10,000: it looks the path's prefixes up, it does not scan routes.
func BenchmarkTableMatch(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("routes-%d", n), func(b *testing.B) {
			var tbl Table[int]
			tbl.Add("", "/", 0)
			for i := 1; i < n; i++ {
				tbl.Add("", fmt.Sprintf("/svc%d/api", i), i)
			}
			host := ParseHost("gw.example.com")
			for b.Loop() {
				if _, ok := tbl.Match(host, "/svc42/api/v1/items"); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}
