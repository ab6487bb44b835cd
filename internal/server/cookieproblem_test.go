package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// loginPageAt asks for the login page as a browser would, with the Host
// and the headers given (a proxy's X-Forwarded-*), and returns the status
// and the page.
func (f *fixture) loginPageAt(t *testing.T, method, host, rd string, h http.Header) (int, string) {
	t.Helper()
	var body io.Reader
	target := f.url + "/login"
	if method == http.MethodPost {
		form := url.Values{"username": {"alice"}, "password": {"wrong-password"}, "rd": {rd}}
		body = strings.NewReader(form.Encode())
	} else if rd != "" {
		target += "?rd=" + url.QueryEscape(rd)
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Accept", htmlAccept)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cookieProblemShown is the explanation on a login page, "" when none.
func cookieProblemShown(page string) string {
	_, rest, ok := strings.Cut(page, `<p class="problem" id="cookie-problem">`)
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "</p>")
	return text
}

// TestLoginPageExplainsCookieProblems: when the session cookie cannot work
// for the browser in front of the login page (a Secure cookie over plain
// HTTP, a cookie_domain that does not cover the host, a login on another
// host than the application without cookie_domain), the page says what is
// wrong and which config key fixes it, on the form and on a failed
// login's answer; where it will work (https, loopback, localhost), the
// page says nothing. Before, the browser went round the loop without a
// word: authgate logged "login succeeded", then "no_credentials".
func TestLoginPageExplainsCookieProblems(t *testing.T) {
	const proxied = "trusted_proxies: [127.0.0.1/32]\n"
	via := func(proto, host string) http.Header {
		return http.Header{"X-Forwarded-Proto": {proto}, "X-Forwarded-Host": {host}}
	}
	tests := []struct {
		name   string
		extra  string // config added to baseConfig
		host   string // the Host header
		rd     string
		header http.Header
		want   []string // in the explanation; nil: none shown
	}{
		{"plain-http-through-a-proxy", proxied, "app.example.com", "", via("http", "app.example.com"),
			[]string{"http://app.example.com is plain HTTP", "session.insecure_cookie: true", "trusted_proxies"}},
		{"plain-http-direct", "", "app.example.com:8080", "", nil,
			[]string{"http://app.example.com:8080 is plain HTTP"}},
		{"https-through-a-proxy", proxied, "app.example.com", "", via("https", "app.example.com"), nil},
		// An untrusted peer's X-Forwarded-Proto is not believed.
		{"https-claimed-by-an-untrusted-peer", "", "app.example.com", "", via("https", "app.example.com"),
			[]string{"http://app.example.com is plain HTTP"}},
		{"loopback", "", "127.0.0.1:8080", "", nil, nil},
		{"loopback-range", "", "127.0.0.2", "", nil, nil},
		{"ipv6-loopback", "", "[::1]:8080", "", nil, nil},
		{"localhost", "", "localhost:8080", "", nil, nil},
		{"localhost-subdomain", "", "app.localhost", "", nil, nil},
		{"back-to-a-plain-http-page", proxied, "app.example.com", "http://app.example.com/x", via("https", "app.example.com"),
			[]string{"http://app.example.com is plain HTTP"}},
		{"insecure-cookie", "session:\n  insecure_cookie: true\n", "app.example.com", "", nil, nil},
		{"cookie-domain-not-covering-the-host", proxied + "session:\n  cookie_domain: example.com\n", "app.example.org", "", via("https", "app.example.org"),
			[]string{"session.cookie_domain is example.com, which does not cover app.example.org"}},
		{"cookie-domain-covering-the-host", proxied + "session:\n  cookie_domain: example.com\n", "app.example.com", "https://docs.example.com/", via("https", "app.example.com"), nil},
		{"login-on-another-host", proxied + "session:\n  login_url: https://auth.example.com/login\n  allowed_redirect_hosts: [app.example.com]\n",
			"auth.example.com", "https://app.example.com/x", via("https", "auth.example.com"),
			[]string{"you go to app.example.com, but the session cookie is for auth.example.com alone", "session.cookie_domain", "session.login_url"}},
		{"login-on-its-own-host", proxied + "session:\n  login_url: https://auth.example.com/login\n",
			"auth.example.com", "/x", via("https", "auth.example.com"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.extra)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				status, page := f.loginPageAt(t, method, tt.host, tt.rd, tt.header)
				if want := map[string]int{http.MethodGet: 200, http.MethodPost: 401}[method]; status != want {
					t.Fatalf("%s /login = %d, want %d", method, status, want)
				}
				shown := cookieProblemShown(page)
				if tt.want == nil && shown != "" {
					t.Errorf("%s /login explains %q, want nothing", method, shown)
				}
				if tt.want != nil && shown == "" {
					t.Errorf("%s /login explains nothing, want %q", method, tt.want)
				}
				for _, w := range tt.want {
					if !strings.Contains(shown, w) {
						t.Errorf("%s /login explains %q, want it to say %q", method, shown, w)
					}
				}
			}
			// Logged once, however many pages showed it.
			logged := strings.Count(f.logs.String(), `"msg":"session cookie cannot work: browsers will loop back to the login page"`)
			if want := min(len(tt.want), 1); logged != want {
				t.Errorf("the cookie problem is logged %d times, want %d\n%s", logged, want, f.logs.String())
			}
		})
	}
}

// TestCookieProblemsAreLoggedOncePerCauseAndHost: each cause is logged
// once per host, and the memory of what was logged is bounded: a client
// that sends a new Host each time cannot make it grow, or flood the log.
func TestCookieProblemsAreLoggedOncePerCauseAndHost(t *testing.T) {
	f := newFixture(t, "")
	for i := range maxLoggedCookieProblems + 10 {
		for range 2 {
			f.loginPageAt(t, http.MethodGet, fmt.Sprintf("host%d.example.com", i), "", nil)
		}
	}
	logged := strings.Count(f.logs.String(), `"cause":"secure_cookie_over_http"`)
	if logged != maxLoggedCookieProblems {
		t.Errorf("logged %d cookie problems for %d hosts, twice each; want %d", logged, maxLoggedCookieProblems+10, maxLoggedCookieProblems)
	}
	if !strings.Contains(f.logs.String(), `"host":"host0.example.com"`) {
		t.Errorf("the log does not name the host")
	}
}
