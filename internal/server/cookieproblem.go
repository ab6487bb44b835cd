package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/authgate/authgate/internal/session"
)

// site is where a browser is: the scheme and host (a port perhaps) of a
// page as the browser reached it.
type site struct {
	scheme string // "http" or "https"
	host   string
}

// cookieIssue is why the session cookie cannot work where a browser
// needs it: signing in succeeds, the browser drops or withholds the
// cookie, and the next request sends it back to the login page.
type cookieIssue struct {
	// cause is a fixed word for the log: "secure_cookie_over_http",
	// "cookie_domain_mismatch" or "cookie_for_another_host".
	cause string
	// host is where the cookie fails, as the browser names it.
	host string
	// explain says what is wrong and which config key fixes it, in words
	// for the login page and the log.
	explain string
}

// cookieProblem says why the session cookie, set in answer to a request
// for setOn and needed on requests for usedOn, would not come back on
// them; nil when it would. For a cookie set and used on one page (a
// session re-issued through forward-auth), pass that page twice. It is
// the one place that knows the browser rules a login loop comes from:
//   - a Secure cookie (the default) is dropped on a plain-HTTP page,
//     except on localhost and loopback addresses, which browsers treat as
//     secure contexts;
//   - a cookie with session.cookie_domain is refused, and never sent, on a
//     host outside that domain;
//   - a host-only cookie (no cookie_domain) set on one host, as on a
//     session.login_url elsewhere, is never sent to another.
func (g *Gateway) cookieProblem(setOn, usedOn site) *cookieIssue {
	c := g.cookie
	for _, s := range []site{setOn, usedOn} {
		if s.host != "" && c.Secure && !session.SecureContext(s.scheme, s.host) {
			return &cookieIssue{cause: "secure_cookie_over_http", host: s.host,
				explain: "http://" + s.host + " is plain HTTP, and browsers neither keep nor send the session cookie there because it is Secure, " +
					"so signing in brings you back to this page. Serve the site over HTTPS (a proxy that terminates TLS must be listed in " +
					"trusted_proxies and send X-Forwarded-Proto), or, for local testing only, set session.insecure_cookie: true."}
		}
	}
	if c.Domain != "" {
		for _, s := range []site{setOn, usedOn} {
			if s.host != "" && !session.UnderDomain(s.host, c.Domain) {
				return &cookieIssue{cause: "cookie_domain_mismatch", host: s.host,
					explain: "session.cookie_domain is " + c.Domain + ", which does not cover " + s.host + ": browsers refuse or withhold " +
						"the session cookie there, so signing in brings you back to this page. Set session.cookie_domain to a domain " +
						s.host + " is under, or leave it empty for a cookie of one host."}
			}
		}
		return nil
	}
	if setOn.host != "" && usedOn.host != "" && !session.SameHost(setOn.host, usedOn.host) {
		return &cookieIssue{cause: "cookie_for_another_host", host: usedOn.host,
			explain: "After signing in you go to " + usedOn.host + ", but the session cookie is for " + setOn.host + " alone, so " +
				usedOn.host + " never receives it and sends you back to this page. Set session.cookie_domain to a domain both are " +
				"under, or leave session.login_url empty so that each application's host serves its own sign-in."}
	}
	return nil
}

// loginCookieProblem is cookieProblem for the login page: the cookie is set
// on the page r asks for and needed where rd (already checked by
// redirects.Safe) goes. It logs each problem once and returns what the
// page should say; "" when the cookie will work.
func (g *Gateway) loginCookieProblem(r *http.Request, rd string) string {
	setOn := site{g.trust.Proto(r), g.trust.Host(r)}
	usedOn := setOn
	if u, err := url.Parse(rd); err == nil && u.Host != "" {
		usedOn = site{u.Scheme, u.Host}
	}
	p := g.cookieProblem(setOn, usedOn)
	if p == nil {
		return ""
	}
	g.logCookieProblem(r.Context(), p)
	return p.explain
}

// logCookieProblem logs p the first time it is seen for its host, as a
// warning: it is a misconfiguration, and every browser that meets it goes
// round a loop.
func (g *Gateway) logCookieProblem(ctx context.Context, p *cookieIssue) {
	// No real host:port is longer than 261 bytes; a longer Host header is
	// remembered by its start, so that 64 of them cost kilobytes, not
	// megabytes.
	if !g.cookieProblems.first(p.cause + " " + p.host[:min(len(p.host), 261)]) {
		return
	}
	g.logger.LogAttrs(ctx, slog.LevelWarn, "session cookie cannot work: browsers will loop back to the login page",
		slog.String("cause", p.cause), slog.String("host", p.host), slog.String("fix", p.explain))
}

// maxLoggedCookieProblems bounds the distinct cookie problems remembered
// as logged. A client picks the Host it sends, so the set must not grow
// with what clients send; past the bound, new ones are not logged.
const maxLoggedCookieProblems = 64

// onceSet remembers up to a fixed number of keys.
type onceSet struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

// first reports whether key is new, remembering it while there is room.
// Once the set is full it reports false for any key.
func (s *onceSet) first(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[key]; ok || len(s.seen) >= maxLoggedCookieProblems {
		return false
	}
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	s.seen[key] = struct{}{}
	return true
}
