package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/authgate/authgate/auth"
	"github.com/authgate/authgate/proxy"
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
		if err := checkMethod(rt, r.Header, r.Method); err != nil {
			g.deny(w, r, err)
			return
		}
		if !rt.public {
			p, src, err := g.authorize(r, rt)
			if err == nil && src == fromCookie {
				err = checkOrigin(r, r.Method, g.trust.Proto(r), host)
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

// errMethodOverride means the request carried a method-override header
// naming a method other than the one its route's rules were applied to.
var errMethodOverride = errors.New("method override names another method")

// methodOverrides are the headers with which Rails, Express, Symfony,
// ASP.NET, OData and others let a client change the method the
// application runs.
var methodOverrides = proxy.NewHeaderSet([]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}, nil)

// checkMethod is the method decision proxy mode and every forward-auth
// endpoint share: rt's methods rule (rt may be nil: no route matched),
// then the method-override headers. Proxy mode strips those before
// forwarding, but in forward-auth the proxy in front passes them to the
// application, which would run another method than the one the methods
// rule and the same-origin check were applied to; so any override (in any
// spelling, as proxy.HeaderSet matches) that is not exactly method is
// refused, on every route and in both modes. An override equal to the
// method changes nothing and is let through.
func checkMethod(rt *upstreamRoute, h http.Header, method string) error {
	if rt != nil && !rt.methodAllowed(method) {
		return errMethod
	}
	for name, values := range h {
		if !methodOverrides.Contains(name) {
			continue
		}
		for _, v := range values {
			if v != method {
				return errMethodOverride
			}
		}
	}
	return nil
}

// upstreamHeaders sets what the upstream learns: the request ID (the same
// the client and the log see) and, on a protected route, the caller's
// username, groups and email, and optionally the verified token itself or
// the assertion gate signed for this route. The proxy calls it after
// removing hop-by-hop headers, so a client naming these in Connection
// cannot delete them.
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
		h[uh.Assertion] = []string{info.assertion}
	}
}
