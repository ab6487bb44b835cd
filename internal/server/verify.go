package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/authgate/authgate/internal/forwarded"
	"github.com/authgate/authgate/internal/proxy"
	"github.com/authgate/authgate/internal/route"
	"github.com/authgate/authgate/internal/session"
)

// errBadForwarded means the forward-auth request described the original
// request ambiguously: duplicated, conflicting or malformed headers.
var errBadForwarded = errors.New("ambiguous or malformed original-request headers")

// errIncompleteForwarded means the forward-auth request named the original
// method or host but not its URI, or, when some route names a host, its
// URI but not the host the proxy chose the site by: either way no route's
// rules can be applied.
var errIncompleteForwarded = errors.New("original request described without its URI or host")

// errNoRoute means default_deny is set and no route matched.
var errNoRoute = errors.New("no route matches and default_deny is set")

// originalRequest is the request a fronting proxy asks /verify about.
type originalRequest struct {
	method string
	scheme string // "http" or "https"; empty when the proxy did not say
	host   string // X-Forwarded-Host, else X-Original-URL's; empty when neither says
	path   string // canonical; empty when the proxy did not say
	uri    string // as the proxy sent it, query included
}

// verifyMode selects how /verify answers what the proxy in front asked.
type verifyMode int

const (
	// verifyPlain answers 200, 401 or 403 (400 for an ambiguous request).
	verifyPlain verifyMode = iota
	// verifyNginx never answers anything but 2xx, 401 or 403, since nginx
	// auth_request turns any other status into a 500; a 401 carries the
	// login URL in X-Authgate-Login-Url for error_page setups.
	verifyNginx
	// verifyRedirect (Traefik, Caddy) sends browser navigations to the login
	// page with a 302 the proxy relays, and API clients a 401.
	verifyRedirect
)

// verify is the forward-auth endpoint family for nginx auth_request,
// Traefik ForwardAuth and Caddy forward_auth. It answers 200 with the
// identity headers, 401 or 403; a public route's path is admitted without
// a token. It fails closed: an original request it cannot read
// unambiguously is refused outright (Authelia CVE-2021-32637 let a
// malformed X-Original-URL through).
func (g *Gateway) verify(mode verifyMode) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		info.forwardAuth = g.own["unmatched"]
		w.Header().Set("Cache-Control", "no-store")
		orig, err := readOriginal(r, g.hostRoutes)
		if errors.Is(err, errBadForwarded) && mode != verifyNginx {
			info.reason = "bad_forwarded_request"
			w.Header().Set("X-Authgate-Reason", info.reason)
			g.logger.LogAttrs(r.Context(), slog.LevelInfo, "forward-auth request refused", slog.String("error", err.Error()))
			writeJSONError(w, http.StatusBadRequest, "bad_request")
			return
		}
		method := orig.methodOr(r.Method)
		var rt *upstreamRoute
		if err == nil && orig.path != "" {
			rt, _ = g.table.Match(route.ParseHost(orig.host), orig.path)
		}
		if rt != nil {
			info.forwardAuth = rt.metrics
			g.logger.LogAttrs(r.Context(), slog.LevelDebug, "forward-auth rule matched",
				slog.String("rule", rt.name), slog.Bool("public", rt.public), slog.String("method", orig.method),
				slog.String("host", orig.host), slog.String("path", orig.path))
		}
		var d decision
		if err == nil {
			d, err = g.decide(r, target{method: method, query: orig.query(), scheme: orig.schemeOr(connScheme(r)), host: orig.host}, rt)
		}
		if err != nil {
			if send, mfa := toLogin(err, d.src); send {
				if base := g.browserBase(r, orig); base != "" {
					login := loginFor(g.loginBase(base), mfa, base+orig.uriOrRoot())
					switch {
					case mode == verifyNginx && mfa:
						// nginx's error_page sends browsers to the login
						// page on a 401; a 403 would be shown as it is.
						w.Header().Set("X-Authgate-Login-Url", login)
						g.denyAs(w, r, err, http.StatusUnauthorized)
						return
					case mode == verifyNginx:
						w.Header().Set("X-Authgate-Login-Url", login)
					case mode == verifyRedirect && session.IsNavigation(r, method):
						g.redirectToLogin(w, r, err, login)
						return
					}
				}
			}
			g.deny(w, r, err)
			return
		}
		if p := d.caller; p != nil {
			info.user = p.Username
			if d.src == fromCookie && g.refreshSession(w, r, *p) && mode == verifyRedirect {
				if location, ok := g.slideLocation(r, orig, method); ok {
					// Traefik and Caddy drop the Set-Cookie of a 2xx answer
					// but relay any other answer whole: the browser stores
					// the renewed cookie and asks again with it.
					g.logger.LogAttrs(r.Context(), slog.LevelDebug, "session renewed by redirect")
					w.Header().Set("Location", location)
					w.WriteHeader(http.StatusTemporaryRedirect)
					return
				}
			}
			h := w.Header()
			g.identityHeaders(h, p, info.username[:])
			// The names Authelia, Authentik and others answer with, which
			// proxy examples and applications already know.
			h["Remote-User"] = info.username[:]
			if len(p.groups) > 0 {
				h["Remote-Groups"] = []string{strings.Join(p.groups, ",")}
			}
			if p.email != "" {
				h["Remote-Email"] = []string{p.email}
			}
		}
		if g.cfg.UpstreamHeaders.ForwardAuthCookie {
			// For the proxy to copy over the request it passes on: one
			// line, as a browser sends, and none when nothing is left, so
			// that the proxy removes the header.
			if kept := proxy.WithoutCookie(r.Header["Cookie"], g.ownCookies...); len(kept) > 0 {
				w.Header()["Cookie"] = []string{strings.Join(kept, "; ")}
			}
		}
		w.WriteHeader(http.StatusOK)
	})
}

// slideLocation is where a browser is sent with its renewed session
// cookie (a 307 to the URL it asked for), or false when the cookie must
// ride on the 200 instead: only a trusted proxy is believed about the URL
// (as for login links), only a GET or HEAD from a browser that follows the
// redirect on its own is redirected, and only when the browser will keep
// the new cookie for that URL. A browser that did not keep it would come
// back with the old one and be redirected again, in a loop.
func (g *Gateway) slideLocation(r *http.Request, orig originalRequest, method string) (string, bool) {
	if (method != http.MethodGet && method != http.MethodHead) || !followsRedirects(r, method) {
		return "", false
	}
	if orig.host == "" || orig.uri == "" || !g.trust.TrustedPeer(r) {
		return "", false
	}
	scheme := orig.schemeOr(connScheme(r))
	if !g.cookie.StoredFor(scheme, orig.host) {
		return "", false
	}
	return scheme + "://" + orig.host + orig.uri, true
}

// followsRedirects reports whether the request comes from a browser that
// follows a redirect to the same URL by itself, storing the cookie the
// redirect sets: a page load (by Sec-Fetch-Mode, or without it a
// navigation by its Accept), a subresource, or a same-origin script's
// request. Not a WebSocket handshake, which fails on a redirect, nor a
// cross-origin script's request, which fails unless the redirect carried
// CORS headers, nor any client that sends no Sec-Fetch-* at all and is no
// navigation (an API client with a cookie jar may not follow).
func followsRedirects(r *http.Request, method string) bool {
	if webSocketHandshake(r.Header) {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Mode") {
	case "":
		return session.IsNavigation(r, method)
	case "navigate", "nested-navigate", "no-cors", "same-origin":
		return true
	case "cors":
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	return false
}

// loginBase is the login page as the browser reaches it: the configured
// login_url, else the gateway's login path at base.
func (g *Gateway) loginBase(base string) string {
	if g.cfg.Session.LoginURL != "" {
		return g.cfg.Session.LoginURL
	}
	return base + g.cfg.Paths.Login
}

// browserBase is scheme://host of the original request, for URLs a
// browser is sent to (the login page, and rd back from it), or "" when
// there is no host to name. Only a caller in trusted_proxies is believed
// about them, as everywhere else X-Forwarded-Host/Proto are read; any
// other caller is told about its own Host and connection, which is what
// it reached.
func (g *Gateway) browserBase(r *http.Request, o originalRequest) string {
	scheme, host := connScheme(r), r.Host
	if g.trust.TrustedPeer(r) {
		scheme = o.schemeOr(scheme)
		if o.host != "" {
			host = o.host
		}
	}
	if host == "" {
		return ""
	}
	return scheme + "://" + host
}

// connScheme is the scheme of the connection the request came on.
func connScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func (o originalRequest) methodOr(def string) string {
	if o.method != "" {
		return o.method
	}
	return def
}

func (o originalRequest) schemeOr(def string) string {
	if o.scheme != "" {
		return o.scheme
	}
	return def
}

// query is the raw query of the original request target.
func (o originalRequest) query() string {
	_, q, _ := strings.Cut(o.uri, "?")
	return q
}

func (o originalRequest) uriOrRoot() string {
	if o.uri == "" {
		return "/"
	}
	return o.uri
}

// readOriginal reads every description of the original request the
// documented proxies send: X-Original-URL (ingress-nginx: scheme, host and
// URI in one), X-Forwarded-Method and X-Original-Method, X-Forwarded-Host,
// X-Forwarded-Proto, and X-Forwarded-Uri and X-Original-URI. Each may
// appear once, and any two that describe the same thing must agree: the
// proxy overwrites only the ones it sends and passes the rest from the
// client, so a second description that differs can only be the client's
// (ingress-nginx passes a client's X-Forwarded-Uri through untouched).
// These are read from any caller, trusted or not: they are the question,
// and whoever asks is the one the answer serves.
//
// The host is never the /verify request's own Host (the proxy's address
// for authgate, which says nothing about the original request). When
// hostRoutes is set (some route names a host), a request described by its
// URI must also say, in X-Forwarded-Host, the host the proxy chose the
// site by, or it is errIncompleteForwarded: X-Original-URL alone does not
// do, because its host is the client's Host header (ingress-nginx builds
// it from $http_host, which an absolute-form request line overrules when
// nginx picks the server) or the client's own header altogether (a plain
// nginx passes a client's X-Original-URL through). Without host routes the
// host cannot change which route matches.
func readOriginal(r *http.Request, hostRoutes bool) (originalRequest, error) {
	var o originalRequest
	method, err := single(r.Header, "X-Forwarded-Method", "X-Original-Method")
	if err != nil || (method != "" && !isToken(method)) {
		return o, errBadForwarded
	}
	o.method = method
	full, err := single(r.Header, "X-Original-Url")
	if err != nil {
		return o, errBadForwarded
	}
	var fullScheme, fullHost, fullURI string
	if full != "" {
		var ok bool
		if fullScheme, fullHost, fullURI, ok = splitOriginalURL(full); !ok {
			return o, errBadForwarded
		}
	}
	host, err := single(r.Header, "X-Forwarded-Host")
	if err != nil || !validHost(host) {
		return o, errBadForwarded
	}
	if host != "" && fullHost != "" && route.ParseHost(host) != route.ParseHost(fullHost) {
		return o, errBadForwarded
	}
	o.host = host
	if o.host == "" {
		o.host = fullHost
	}
	o.scheme = fullScheme
	if protos := r.Header.Values("X-Forwarded-Proto"); len(protos) == 1 {
		// An X-Forwarded-Proto alone that makes no sense is ignored (the
		// scheme is then the connection's), as in proxy mode.
		if p := forwarded.Scheme(protos[0]); p != "" {
			if o.scheme != "" && o.scheme != p {
				return o, errBadForwarded
			}
			o.scheme = p
		}
	} else if len(protos) > 1 {
		return o, errBadForwarded
	}
	uri, err := single(r.Header, "X-Forwarded-Uri", "X-Original-Uri")
	if err != nil {
		return o, errBadForwarded
	}
	switch {
	case uri == "":
		uri = fullURI
	case fullURI != "" && uri != fullURI:
		return o, errBadForwarded
	}
	if uri == "" {
		if method != "" || host != "" {
			return o, errIncompleteForwarded
		}
		return o, nil
	}
	if o.path, err = route.CanonicalPath(uri); err != nil {
		return o, errBadForwarded
	}
	o.uri = uri
	if hostRoutes && host == "" {
		return o, errIncompleteForwarded
	}
	return o, nil
}

// splitOriginalURL splits an X-Original-URL, which ingress-nginx sets to
// $scheme://$http_host$request_uri, into its scheme, host and URI. Anything
// but that shape (a relative reference, userinfo, no path, another scheme)
// is refused rather than guessed at.
func splitOriginalURL(s string) (scheme, host, uri string, ok bool) {
	scheme, rest, found := strings.Cut(s, "://")
	scheme = strings.ToLower(scheme)
	if !found || (scheme != "http" && scheme != "https") {
		return "", "", "", false
	}
	slash := strings.IndexByte(rest, '/')
	if slash <= 0 || !validHost(rest[:slash]) {
		return "", "", "", false
	}
	return scheme, rest[:slash], rest[slash:], true
}

// single returns the one value the named headers agree on, "" when none is
// present, or an error when any appears twice or they disagree.
func single(h http.Header, names ...string) (string, error) {
	value := ""
	for _, name := range names {
		vs := h[name]
		switch {
		case len(vs) == 0:
			continue
		case len(vs) > 1, vs[0] == "", value != "" && value != vs[0]:
			return "", errBadForwarded
		}
		value = vs[0]
	}
	return value, nil
}

func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return len(s) <= 32
}

func validHost(s string) bool {
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == ',' || c == '/' || c == '\\' || c == '@' || c == '?' || c == '#' {
			return false
		}
	}
	return len(s) <= 255
}
