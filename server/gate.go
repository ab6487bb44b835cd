package server

import (
	"net/http"

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
	identityHeader := g.cfg.IdentityHeader
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
		// Set through the proxy, after it has removed hop-by-hop headers, so
		// that a client naming them in Connection cannot delete them. The
		// upstream sees the same request ID as the client and the log.
		set := http.Header{"X-Request-Id": {info.id}}
		if !rt.public {
			id, src, err := g.authorize(r, rt)
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
			info.user = id.Username
			set[identityHeader] = []string{id.Username}
			if src == fromCookie {
				g.refreshSession(w, r, id)
			}
		}
		if rec, ok := w.(*responseRecorder); ok && r.Header.Get("Upgrade") != "" {
			rec.clearDeadline()
		}
		rt.proxy.ServeHTTP(w, r.WithContext(proxy.WithHeaders(r.Context(), set)))
	})
}

// identify verifies the request's credentials: the bearer token when there
// is an Authorization header, else the session cookie. An invalid bearer
// token never falls back to the cookie: explicit credentials that fail,
// fail the request.
func (g *Gateway) identify(r *http.Request) (auth.Identity, source, error) {
	src := fromBearer
	var raw string
	var err error
	if _, present := r.Header["Authorization"]; present {
		raw, err = auth.BearerToken(r.Header)
	} else {
		src = fromCookie
		raw, err = g.cookie.Read(r)
		switch {
		case err != nil:
			err = auth.ErrMalformedCredentials
		case raw == "":
			return auth.Identity{}, fromNothing, auth.ErrNoCredentials
		}
	}
	if err != nil {
		return auth.Identity{}, src, err
	}
	id, err := g.tokens.Verify(raw)
	if err != nil {
		return auth.Identity{}, src, err
	}
	if !g.passwords.Exists(id.Username) {
		// A user removed from the config loses access at the next start,
		// whatever tokens they still hold.
		return auth.Identity{}, src, auth.ErrTokenClaims
	}
	return id, src, nil
}

// authorize identifies the request and, when rt is not nil, checks that
// the route admits its user.
func (g *Gateway) authorize(r *http.Request, rt *upstreamRoute) (auth.Identity, source, error) {
	id, src, err := g.identify(r)
	if err != nil {
		return id, src, err
	}
	if rt != nil && rt.allowed != nil {
		if _, ok := rt.allowed[id.Username]; !ok {
			return id, src, errForbidden
		}
	}
	return id, src, nil
}
