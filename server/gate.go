package server

import (
	"net/http"
	"strings"

	"github.com/authgate/authgate/auth"
	"github.com/authgate/authgate/route"
	"github.com/authgate/authgate/session"
)

// source says which credential a request was authenticated by.
type source int

const (
	fromNothing source = iota
	fromBearer
	fromCookie
)

// gate serves every path that is not the gateway's own: it finds the
// route, decides on the credentials before anything is read from the body
// or sent upstream, and only then hands the request to the route's proxy
// with the verified identity.
func (g *Gateway) gate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		host := g.trust.Host(r)
		rt, ok := g.table.Match(route.ParseHost(host), r.URL.Path)
		if !ok {
			info.route = "unmatched"
			writeJSONError(w, http.StatusNotFound, "not_found")
			return
		}
		info.route, info.metrics = rt.name, rt.metrics
		if !rt.methodAllowed(r.Method) {
			g.deny(w, r, errMethod)
			return
		}
		if !rt.public {
			p, src, err := g.authorize(r, rt)
			if err == nil && src == fromCookie {
				err = checkOrigin(r, r.Method, host)
			}
			if err != nil {
				if classifyDenial(err).status == http.StatusUnauthorized && session.IsNavigation(r, r.Method) {
					g.redirectToLogin(w, r, err, withReturn(g.cfg.Paths.Login, r.URL.RequestURI()))
					return
				}
				g.deny(w, r, err)
				return
			}
			info.user, info.caller = p.Username, &p
			if src == fromCookie {
				g.refreshSession(w, r, p)
			}
		}
		if rec, ok := w.(*responseRecorder); ok && r.Header.Get("Upgrade") != "" {
			rec.clearDeadline()
		}
		rt.proxy.ServeHTTP(w, r)
	})
}

// upstreamHeaders sets what the upstream learns: the request ID (the same
// the client and the log see) and, on a protected route, the caller's
// username, groups and email, and optionally the verified token itself or
// an assertion the gateway signs for this route. The proxy calls it after
// removing hop-by-hop headers, so a client naming these in Connection
// cannot delete them.
func (g *Gateway) upstreamHeaders(in *http.Request, h http.Header, routeName string) {
	info := requestInfoFrom(in.Context())
	if info == nil {
		return
	}
	h["X-Request-Id"] = info.idForUpstream[:]
	p := info.caller
	if p == nil {
		return
	}
	uh := g.cfg.UpstreamHeaders
	info.username[0] = p.Username
	h[g.cfg.IdentityHeader] = info.username[:]
	if uh.Groups != "" && len(p.groups) > 0 {
		h[uh.Groups] = []string{strings.Join(p.groups, ",")}
	}
	if uh.Email != "" && p.email != "" {
		h[uh.Email] = []string{p.email}
	}
	if uh.Token != "" {
		h[uh.Token] = []string{p.token}
	}
	if uh.Assertion != "" {
		s := auth.Subject{Username: p.Username, Groups: p.groups, SessionID: p.SessionID, AuthTime: p.AuthTime}
		if a, err := g.tokens.IssueAssertion(s, "upstream:"+routeName, g.now().Add(uh.AssertionTTL)); err == nil {
			h[uh.Assertion] = []string{a.Token}
		}
	}
}
