package session

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSafeRedirect(t *testing.T) {
	rs := Redirects{AllowedHosts: []string{"app.example.org"}, Domain: "example.com"}
	tests := []struct{ rd, want string }{
		{"", "/"},
		{"/", "/"},
		{"/app?x=1#frag", "/app?x=1#frag"},
		{"/a/b%20c", "/a/b%20c"},
		{"https://gw.example.net/x", "https://gw.example.net/x"},
		{"http://GW.example.net:8080/x", "http://GW.example.net:8080/x"},
		{"https://app.example.org/y", "https://app.example.org/y"},
		{"https://example.com/", "https://example.com/"},
		{"https://sub.example.com/z", "https://sub.example.com/z"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"/%2F%2Fevil.com", "/"},
		{"/%5Cevil.com", "/"},
		{"https:evil.com", "/"},
		{"https:/evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"JaVaScRiPt:alert(1)", "/"},
		{"data:text/html,x", "/"},
		{"https://evil.com", "/"},
		{"https://evil.com/https://gw.example.net", "/"},
		{"https://gw.example.net@evil.com/", "/"},
		{"https://user:pw@gw.example.net/", "/"},
		{"https://evilexample.com/", "/"},
		{"https://example.com.evil.net/", "/"},
		{" /app", "/"},
		{"/app\r\nSet-Cookie: x=1", "/"},
		{"/app%0d%0aSet-Cookie:%20x=1", "/"},
		{"\t//evil.com", "/"},
		{"/app\x00", "/"},
		{"ftp://gw.example.net/", "/"},
		{"https://", "/"},
		{strings.Repeat("/a", 2000), "/"},
	}
	for _, tt := range tests {
		if got := rs.Safe(tt.rd, "gw.example.net:8080"); got != tt.want {
			t.Errorf("Safe(%q) = %q, want %q", tt.rd, got, tt.want)
		}
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct {
		name          string
		header        http.Header
		scheme, host  string
		same, present bool
	}{
		{"same", http.Header{"Origin": {"http://gw.example.net:8080"}}, "http", "gw.example.net:8080", true, true},
		{"same-default-port", http.Header{"Origin": {"https://gw.example.net"}}, "https", "GW.example.net", true, true},
		{"same-explicit-default-port", http.Header{"Origin": {"https://gw.example.net"}}, "https", "gw.example.net:443", true, true},
		{"http-page-for-https-site", http.Header{"Origin": {"http://gw.example.net"}}, "https", "gw.example.net", false, true},
		{"https-page-for-http-site", http.Header{"Origin": {"https://gw.example.net"}}, "http", "gw.example.net", false, true},
		{"http-page-on-port-443", http.Header{"Origin": {"http://gw.example.net:443"}}, "https", "gw.example.net", false, true},
		{"upper-case-scheme", http.Header{"Origin": {"HTTPS://gw.example.net"}}, "https", "gw.example.net", true, true},
		{"other-port", http.Header{"Origin": {"http://gw.example.net:9999"}}, "http", "gw.example.net:8080", false, true},
		{"other-host", http.Header{"Origin": {"https://evil.com"}}, "https", "gw.example.net", false, true},
		{"null", http.Header{"Origin": {"null"}}, "https", "gw.example.net", false, true},
		{"null-same-origin-fetch", http.Header{"Origin": {"null"}, "Sec-Fetch-Site": {"same-origin"}}, "https", "gw", true, true},
		{"null-cross-site-fetch", http.Header{"Origin": {"null"}, "Sec-Fetch-Site": {"cross-site"}}, "https", "gw", false, true},
		{"two", http.Header{"Origin": {"https://gw.example.net", "https://evil.com"}}, "https", "gw.example.net", false, true},
		{"fetch-same-origin", http.Header{"Sec-Fetch-Site": {"same-origin"}}, "https", "gw", true, true},
		{"fetch-none", http.Header{"Sec-Fetch-Site": {"none"}}, "https", "gw", true, true},
		{"fetch-same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}, "https", "gw", false, true},
		{"fetch-cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}, "https", "gw", false, true},
		{"origin-wins", http.Header{"Origin": {"https://evil.com"}, "Sec-Fetch-Site": {"same-origin"}}, "https", "gw", false, true},
		{"neither", http.Header{}, "https", "gw", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: tt.header}
			if same, present := Origin(r, tt.scheme, tt.host); same != tt.same || present != tt.present {
				t.Errorf("Origin(%q, %q) = %v, %v; want %v, %v", tt.scheme, tt.host, same, present, tt.same, tt.present)
			}
		})
	}
}

func TestCookieAttributes(t *testing.T) {
	c := Cookie{Name: "__Host-authgate", Secure: true}
	rec := httptest.NewRecorder()
	c.Set(rec, "v", time.Now().Add(time.Hour))
	set := rec.Header().Get("Set-Cookie")
	for _, want := range []string{"__Host-authgate=v", "Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Domain=") {
		t.Errorf("a __Host- cookie has a Domain: %q", set)
	}
	rec = httptest.NewRecorder()
	Cookie{Name: "authgate", Domain: "example.com", Secure: true}.Clear(rec)
	clear := rec.Header().Get("Set-Cookie")
	for _, want := range []string{"authgate=;", "Domain=example.com", "Path=/", "Max-Age=0", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(clear, want) {
			t.Errorf("clearing Set-Cookie %q lacks %s", clear, want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Cookie", "authgate=a; authgate=b")
	if _, err := (Cookie{Name: "authgate"}).Read(r); err != ErrDuplicateCookie {
		t.Errorf("two cookies read as %v, want ErrDuplicateCookie", err)
	}
}

func TestIsNavigation(t *testing.T) {
	html := "text/html,application/xhtml+xml,*/*;q=0.8"
	tests := []struct {
		name   string
		method string
		header http.Header
		want   bool
	}{
		{"browser", "GET", http.Header{"Accept": {html}}, true},
		{"browser-navigate", "GET", http.Header{"Accept": {html}, "Sec-Fetch-Mode": {"navigate"}}, true},
		{"head", "HEAD", http.Header{"Accept": {html}}, true},
		{"post", "POST", http.Header{"Accept": {html}}, false},
		{"api", "GET", http.Header{"Accept": {"application/json"}}, false},
		{"xhr", "GET", http.Header{"Accept": {html}, "X-Requested-With": {"XMLHttpRequest"}}, false},
		{"fetch-cors", "GET", http.Header{"Accept": {html}, "Sec-Fetch-Mode": {"cors"}}, false},
		{"with-authorization", "GET", http.Header{"Accept": {html}, "Authorization": {"Bearer x"}}, false},
	}
	for _, tt := range tests {
		if got := IsNavigation(&http.Request{Header: tt.header}, tt.method); got != tt.want {
			t.Errorf("%s: IsNavigation = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCookieReach: where browsers keep and send the session cookie, which
// the login page's loop diagnosis rests on.
func TestCookieReach(t *testing.T) {
	for _, tt := range []struct {
		scheme, host string
		want         bool
	}{
		{"https", "app.example.com", true},
		{"http", "app.example.com", false},
		{"http", "app.example.com:8080", false},
		{"http", "localhost:8080", true},
		{"http", "LOCALHOST.", true},
		{"http", "app.localhost", true},
		{"http", "localhost.example.com", false},
		{"http", "127.0.0.1:8080", true},
		{"http", "127.8.9.10", true},
		{"http", "[::1]:8080", true},
		{"http", "[::1]", true},
		{"http", "[::ffff:127.0.0.1]", true},
		{"http", "10.0.0.1", false},
		{"http", "[2001:db8::1]:80", false},
	} {
		if got := SecureContext(tt.scheme, tt.host); got != tt.want {
			t.Errorf("SecureContext(%q, %q) = %v, want %v", tt.scheme, tt.host, got, tt.want)
		}
	}
	for _, tt := range []struct {
		host, domain string
		want         bool
	}{
		{"example.com", "example.com", true},
		{"App.Example.com:8443", "example.com", true},
		{"a.b.example.com.", "example.com", true},
		{"badexample.com", "example.com", false},
		{"example.com.evil.org", "example.com", false},
		{"127.0.0.1", "example.com", false},
		{"127.0.0.1", "0.0.1", false},
	} {
		if got := UnderDomain(tt.host, tt.domain); got != tt.want {
			t.Errorf("UnderDomain(%q, %q) = %v, want %v", tt.host, tt.domain, got, tt.want)
		}
	}
	if !SameHost("App.example.com:80", "app.example.com.") || SameHost("auth.example.com", "app.example.com") {
		t.Errorf("SameHost compares hosts without ports, case or trailing dot")
	}
}

func TestCookieStoredFor(t *testing.T) {
	hostOnly := Cookie{Name: "__Host-authgate", Secure: true}
	shared := Cookie{Name: "authgate", Domain: "example.com", Secure: true}
	insecure := Cookie{Name: "authgate"}
	tests := []struct {
		name   string
		c      Cookie
		scheme string
		host   string
		want   bool
	}{
		{"host-only-https", hostOnly, "https", "app.example.net", true},
		{"host-only-http", hostOnly, "http", "app.example.net", false},
		{"insecure-http", insecure, "http", "127.0.0.1:8080", true},
		{"domain-itself", shared, "https", "Example.COM.", true},
		{"domain-subdomain-with-port", shared, "https", "app.example.com:8443", true},
		{"domain-other-site", shared, "https", "app.example.net", false},
		{"domain-lookalike", shared, "https", "badexample.com", false},
		{"domain-over-http", shared, "http", "app.example.com", false},
		{"domain-on-ip", Cookie{Name: "authgate", Domain: "0.0.1"}, "http", "10.0.0.1", false},
		{"domain-on-ipv6", Cookie{Name: "authgate", Domain: "example.com"}, "http", "[::1]:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.StoredFor(tt.scheme, tt.host); got != tt.want {
				t.Errorf("StoredFor(%q, %q) = %v, want %v", tt.scheme, tt.host, got, tt.want)
			}
		})
	}
}
