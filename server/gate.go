package server

import (
	"net/http"

	"github.com/authgate/authgate/auth"
	"github.com/authgate/authgate/proxy"
	"github.com/authgate/authgate/route"
)

// gate serves every path that is not the gateway's own: it finds the
// route, decides on the credentials before anything is read from the body
// or sent upstream, and only then hands the request to the route's proxy
// with the verified identity.
func (g *Gateway) gate() http.Handler {
	identityHeader := g.cfg.IdentityHeader
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		rt, ok := g.table.Match(route.ParseHost(g.trust.Host(r)), r.URL.Path)
		if !ok {
			info.route = "unmatched"
			writeJSONError(w, http.StatusNotFound, "not_found")
			return
		}
		info.route, info.metrics = rt.name, rt.metrics
		// Set through the proxy, after it has removed hop-by-hop headers, so
		// that a client naming them in Connection cannot delete them. The
		// upstream sees the same request ID as the client and the log.
		set := http.Header{"X-Request-Id": {info.id}}
		if !rt.public {
			id, err := g.authorize(r, rt)
			if err != nil {
				g.deny(w, r, err)
				return
			}
			info.user = id.Username
			set[identityHeader] = []string{id.Username}
		}
		if rec, ok := w.(*responseRecorder); ok && r.Header.Get("Upgrade") != "" {
			rec.clearDeadline()
		}
		rt.proxy.ServeHTTP(w, r.WithContext(proxy.WithHeaders(r.Context(), set)))
	})
}

// authorize verifies the request's bearer token and, when rt is not nil,
// that the route admits its user.
func (g *Gateway) authorize(r *http.Request, rt *upstreamRoute) (auth.Identity, error) {
	raw, err := auth.BearerToken(r.Header)
	if err != nil {
		return auth.Identity{}, err
	}
	id, err := g.tokens.Verify(raw)
	if err != nil {
		return auth.Identity{}, err
	}
	if !g.passwords.Exists(id.Username) {
		// A user removed from the config loses access at the next start,
		// whatever tokens they still hold.
		return auth.Identity{}, auth.ErrTokenClaims
	}
	if rt != nil && rt.allowed != nil {
		if _, ok := rt.allowed[id.Username]; !ok {
			return id, errForbidden
		}
	}
	return id, nil
}
