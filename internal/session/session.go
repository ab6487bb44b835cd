// Package session holds the browser-facing mechanics of a login session:
// the cookie that carries it, where a browser may be sent back to after
// logging in, and whether an unsafe request really comes from the gateway's
// own pages. It knows nothing of what the cookie's value means.
package session

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrDuplicateCookie means a request carried the session cookie more than
// once, which happens when a sibling subdomain plants a second one; it is
// refused rather than guessed at.
var ErrDuplicateCookie = errors.New("session cookie sent more than once")

// Cookie writes and reads the session cookie.
type Cookie struct {
	// Name is the full cookie name, including any __Host- prefix.
	Name string
	// Domain, when set, shares the cookie with subdomains.
	Domain string
	// Secure marks the cookie Secure.
	Secure bool
}

// Set stores value until expires.
func (c Cookie) Set(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, c.cookie(value, expires, int(time.Until(expires).Seconds())))
}

// Clear deletes the cookie with the same name, path, domain and attributes
// it was set with, which browsers require for the deletion to take.
func (c Cookie) Clear(w http.ResponseWriter) {
	http.SetCookie(w, c.cookie("", time.Unix(0, 0), -1))
}

func (c Cookie) cookie(value string, expires time.Time, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     c.Name,
		Value:    value,
		Path:     "/",
		Domain:   c.Domain,
		Expires:  expires.UTC(),
		MaxAge:   maxAge,
		Secure:   c.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// StoredFor reports whether a browser keeps the cookie when it is set on
// a response from scheme://host and sends it back there: a Secure cookie
// only in a secure context (SecureContext), a cookie with a Domain only on
// that domain or under it (UnderDomain). A host-only cookie belongs to
// whichever host set it.
func (c Cookie) StoredFor(scheme, host string) bool {
	return (!c.Secure || SecureContext(scheme, host)) && (c.Domain == "" || UnderDomain(host, c.Domain))
}

// Read returns the cookie's value, "" when the request has none, or
// ErrDuplicateCookie.
func (c Cookie) Read(r *http.Request) (string, error) {
	found := r.CookiesNamed(c.Name)
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0].Value, nil
	default:
		return "", ErrDuplicateCookie
	}
}

// Redirects decides where a browser may be sent after logging in.
type Redirects struct {
	// AllowedHosts are hosts (lower case, no trailing dot) that absolute
	// return URLs may name.
	AllowedHosts []string
	// Domain, when set, allows it and every host under it.
	Domain string
}

// maxRedirect bounds a return URL.
const maxRedirect = 2048

// Safe returns rd if it is a relative path on this host, or an absolute
// http(s) URL whose host is requestHost, an allowed host or under the
// domain; anything else returns "/". It refuses the spellings that browsers
// read as another host: "//evil", "/\evil", "https:evil", userinfo
// ("https://good@evil"), schemes such as javascript:, encoded or
// whitespace-padded variants and CR/LF.
func (rs Redirects) Safe(rd, requestHost string) string {
	if rd == "" || len(rd) > maxRedirect {
		return "/"
	}
	for i := range len(rd) {
		if c := rd[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	// A decoded form must not turn into one of the dangerous shapes either:
	// some frameworks decode the return URL before redirecting.
	decoded, err := url.PathUnescape(rd)
	if err != nil || strings.ContainsAny(decoded, "\\\r\n\t") {
		return "/"
	}
	if strings.HasPrefix(rd, "/") {
		if strings.HasPrefix(rd, "//") || strings.HasPrefix(decoded, "//") {
			return "/"
		}
		u, err := url.Parse(rd)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return "/"
		}
		return rd
	}
	u, err := url.Parse(rd)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "/"
	}
	if !rs.hostAllowed(u.Host, requestHost) {
		return "/"
	}
	return u.String()
}

func (rs Redirects) hostAllowed(host, requestHost string) bool {
	name := hostName(host)
	if name == "" {
		return false
	}
	if name == hostName(requestHost) {
		return true
	}
	for _, h := range rs.AllowedHosts {
		if name == hostName(h) {
			return true
		}
	}
	return rs.Domain != "" && (name == rs.Domain || strings.HasSuffix(name, "."+rs.Domain))
}

// SecureContext reports whether a page at scheme://host is one where
// browsers keep and send Secure cookies: any https page, and plain-HTTP
// pages on hosts browsers know to be this machine (localhost, names under
// .localhost, 127.0.0.0/8 and [::1]), which they count as secure contexts.
func SecureContext(scheme, host string) bool {
	if scheme == "https" {
		return true
	}
	name := hostName(host)
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(name, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// UnderDomain reports whether host (a port aside) is domain or a name
// under it: whether a browser keeps a cookie with that Domain when a
// response for host sets it, and sends it with requests for host.
func UnderDomain(host, domain string) bool {
	name := hostName(host)
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		// A cookie with a Domain is never kept for an IP address.
		return false
	}
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// SameHost reports whether a and b name one host, ports aside, as a
// host-only cookie's reach does.
func SameHost(a, b string) bool { return hostName(a) == hostName(b) }

// hostName is a host without port or trailing dot, in lower case.
func hostName(hostport string) string {
	h := strings.ToLower(hostport)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// Origin reports whether a request was made by a page of scheme://host,
// the origin it was sent to (scheme "http" or "https"). The scheme counts
// (RFC 6454): a page on http://host is another origin than https://host,
// and one a network attacker can write. present is false when the browser
// sent neither Origin nor Sec-Fetch-Site, as non-browser clients do.
func Origin(r *http.Request, scheme, host string) (sameOrigin, present bool) {
	site := r.Header.Get("Sec-Fetch-Site")
	if origins := r.Header.Values("Origin"); len(origins) > 0 {
		if len(origins) == 1 && origins[0] == "null" && site != "" {
			// Browsers send "null" for privacy-sensitive contexts; the
			// unforgeable Sec-Fetch-Site still says where it came from.
			return site == "same-origin", true
		}
		if len(origins) != 1 || origins[0] == "null" {
			return false, true
		}
		u, err := url.Parse(origins[0])
		if err != nil || u.Host == "" || u.Scheme != scheme || (u.Scheme != "http" && u.Scheme != "https") {
			return false, true
		}
		return hostWithPort(u.Host, u.Scheme) == hostWithPort(host, scheme), true
	}
	if site != "" {
		return site == "same-origin" || site == "none", true
	}
	return false, false
}

// hostWithPort spells a host with its port, the scheme's default when none.
func hostWithPort(host, scheme string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if strings.LastIndexByte(h, ':') > strings.LastIndexByte(h, ']') {
		return strings.Replace(h, ".:", ":", 1)
	}
	if scheme == "https" {
		return h + ":443"
	}
	return h + ":80"
}

// IsNavigation reports whether the request looks like a browser loading a
// page, which should be sent to the login page rather than refused: GET or
// HEAD, HTML accepted, no Authorization header, not a script's request.
func IsNavigation(r *http.Request, method string) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if r.Header.Get("Authorization") != "" || strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" && mode != "navigate" {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
