package server

import (
	"log/slog"
	"net/http"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/route"
	"github.com/authgate/authgate/internal/session"
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
		d, err := g.decide(r, target{method: r.Method, query: r.URL.RawQuery, scheme: g.trust.Proto(r), host: host}, rt)
		if err != nil {
			if send, mfa := toLogin(err, d.src); send && session.IsNavigation(r, r.Method) {
				g.redirectToLogin(w, r, err, loginFor(g.cfg.Paths.Login, mfa, r.URL.RequestURI()))
				return
			}
			g.deny(w, r, err)
			return
		}
		if p := d.caller; p != nil {
			info.user, info.caller = p.Username, p
			if uh := g.cfg.UpstreamHeaders; uh.Assertion != "" {
				// Signed here, not while proxying: the proxy only copies
				// facts already settled, and a failure must refuse the
				// request rather than forward it without its assertion.
				s := auth.Subject{Username: p.Username, Groups: p.groups, SessionID: p.SessionID, AuthTime: p.AuthTime}
				a, err := g.tokens.IssueAssertion(s, "upstream:"+rt.name, g.now().Add(uh.AssertionTTL))
				if err != nil {
					g.logger.LogAttrs(r.Context(), slog.LevelError, "sign upstream assertion", slog.String("error", err.Error()))
					writeJSONError(w, http.StatusInternalServerError, "internal_error")
					return
				}
				info.assertion = a.Token
			}
			if d.src == fromCookie {
				g.refreshSession(w, r, *p)
			}
		}
		if rec, ok := w.(*responseRecorder); ok && r.Header.Get("Upgrade") != "" {
			rec.clearDeadline()
		}
		rt.proxy.ServeHTTP(w, r)
	})
}

// upstreamHeaders sets what the upstream learns: the request ID (the same
// the client and the log see) and, on a protected route, the identity
// headers, and optionally the verified token itself or the assertion gate
// signed for this route. The proxy calls it after removing hop-by-hop
// headers, so a client naming these in Connection cannot delete them.
func (g *Gateway) upstreamHeaders(in *http.Request, h http.Header) {
	info := requestInfoFrom(in.Context())
	if info == nil {
		return
	}
	h["X-Request-Id"] = info.idForUpstream[:]
	p := info.caller
	if p == nil {
		return
	}
	g.identityHeaders(h, p, info.username[:])
	if p.key != nil {
		// forward_authorization passes bearer tokens on for an API that
		// checks them too; an API key is a password, never passed on.
		delete(h, "Authorization")
	}
	uh := g.cfg.UpstreamHeaders
	if uh.Token != "" {
		h[uh.Token] = []string{p.token}
	}
	if uh.Assertion != "" {
		h[uh.Assertion] = []string{info.assertion}
	}
}
