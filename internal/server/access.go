package server

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authgate/authgate/internal/proxy"
	"github.com/authgate/authgate/internal/session"
)

// source says which credential a request was authenticated by.
type source int

const (
	fromNothing source = iota
	fromBearer
	fromCookie
	// fromAPIKey is an API key, in Authorization or api_keys.header.
	fromAPIKey
)

// target is what an access decision is about: in proxy mode the request
// itself, in forward-auth the original request the proxy in front
// describes.
type target struct {
	method string
	// query is the raw query of the request target, for _method.
	query string
	// scheme and host are the origin the request was sent to.
	scheme, host string
}

// decision is an admitted request's caller: nil on a public route.
type decision struct {
	caller *principal
	src    source
}

// decide is the one access decision of proxy mode and of every
// forward-auth flavour, which differ only in how they answer it. In order:
// rt's methods rule and the method-override headers; a public route admits
// anyone; otherwise the credentials, rt's user and group rules (rt nil: no
// route matched, which default_deny refuses), and for a cookie the
// same-origin rule for unsafe methods and WebSocket handshakes. The error,
// if any, is one classifyDenial knows.
func (g *Gateway) decide(r *http.Request, t target, rt *upstreamRoute) (decision, error) {
	if err := checkMethod(rt, r.Header, t.query, t.method); err != nil {
		return decision{}, err
	}
	if rt != nil && rt.public {
		return decision{}, nil
	}
	p, src, err := g.identify(r)
	if err != nil {
		return decision{src: src}, err
	}
	d := decision{caller: &p, src: src}
	err = g.authorize(r, t, rt, p, src)
	if p.key != nil {
		g.metrics.APIKey(p.key.name, apiKeyOutcome(err))
	}
	return d, err
}

// authorize is decide's part after the credentials: may p do this
// request on rt?
func (g *Gateway) authorize(r *http.Request, t target, rt *upstreamRoute, p principal, src source) error {
	switch {
	case rt == nil && g.cfg.DefaultDeny:
		return errNoRoute
	case rt != nil && !rt.admits(p):
		return errForbidden
	case rt != nil && rt.requireMFA && !g.multiFactor(p):
		return errMFARequired
	case p.key != nil && !p.key.allows(rt, t.method):
		return errAPIKeyScope
	case src == fromCookie:
		return checkOrigin(r, t.method, t.scheme, t.host)
	}
	return nil
}

// apiKeyOutcome is the metric outcome of a request made with a known key.
func apiKeyOutcome(err error) string {
	switch {
	case err == nil:
		return "admitted"
	case errors.Is(err, errMFARequired):
		return "mfa_required"
	default:
		return "not_allowed"
	}
}

// admits applies the route's allowed_users and allowed_groups.
func (rt *upstreamRoute) admits(p principal) bool {
	if rt.allowed == nil && len(rt.groups) == 0 {
		return true
	}
	if _, ok := rt.allowed[p.Username]; ok {
		return true
	}
	return slices.ContainsFunc(p.groups, func(grp string) bool { return slices.Contains(rt.groups, grp) })
}

// methodAllowed applies a route's methods rule; it holds for public routes
// too, before anything else.
func (rt *upstreamRoute) methodAllowed(method string) bool {
	return len(rt.methods) == 0 || slices.Contains(rt.methods, method)
}

// errMethodOverride means the request carried a method-override header
// naming a method other than the one its route's rules were applied to.
var errMethodOverride = errors.New("method override names another method")

// methodOverrides are the headers with which Rails, Express, Symfony,
// ASP.NET, OData and others let a client change the method the
// application runs.
var methodOverrides = proxy.NewHeaderSet([]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}, nil)

// checkMethod applies rt's methods rule (rt may be nil: no route matched),
// then the method overrides: the headers, and the _method query parameter
// in any spelling an application would decode to it (Laravel, Symfony,
// Spring's HiddenHttpMethodFilter, Express's method-override). Proxy mode strips the headers before forwarding, but
// the query goes upstream as it is, and in forward-auth the proxy in front
// passes both to the application, which would run another method than the
// one the methods rule and the same-origin check were applied to; so any
// override (headers in any spelling, as proxy.HeaderSet matches) that is
// not exactly method is refused, on every route and in both modes. An
// override equal to the method changes nothing and is let through. A
// _method field in a form body cannot be seen without reading the body
// before the upstream does; README says so.
func checkMethod(rt *upstreamRoute, h http.Header, rawQuery, method string) error {
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
	for pair := range strings.FieldsFuncSeq(rawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		key, value, _ := strings.Cut(pair, "=")
		if queryKey(key) != "_method" {
			continue
		}
		if v, err := url.QueryUnescape(value); err == nil {
			value = v
		}
		if value != method {
			return errMethodOverride
		}
	}
	return nil
}

// queryKey is a query parameter's name as the frameworks that honour
// _method read it, whatever the spelling on the wire: percent-decoded
// ("%5Fm%65thod"), with ".", " " and "[" read as "_" as PHP renames them
// (a leading space too, though PHP drops it: stricter costs nothing), and
// cut at a NUL or at "[" (array syntax); a key that does not decode is
// taken as it stands.
func queryKey(raw string) string {
	key, err := url.QueryUnescape(raw)
	if err != nil {
		key = raw
	}
	if i := strings.IndexByte(key, 0); i >= 0 {
		key = key[:i]
	}
	if i := strings.IndexByte(key, '['); i > 0 {
		key = key[:i]
	}
	return phpNameChars.Replace(key)
}

// phpNameChars are the characters PHP turns into "_" in a parameter name.
var phpNameChars = strings.NewReplacer(".", "_", " ", "_", "[", "_")

// checkOrigin refuses cookie-authenticated requests that could be
// cross-site: unsafe methods need a same-origin Origin or Sec-Fetch-Site,
// and WebSocket handshakes (which browsers send cross-site freely) need a
// same-origin Origin. scheme and host are the origin the request was sent
// to.
func checkOrigin(r *http.Request, method, scheme, host string) error {
	ws := webSocketHandshake(r.Header)
	safe := method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
	if safe && !ws {
		return nil
	}
	if ws && len(r.Header.Values("Origin")) == 0 {
		return errCrossOrigin
	}
	if same, _ := session.Origin(r, scheme, host); !same {
		return errCrossOrigin
	}
	return nil
}

// webSocketHeaders are the opening handshake's own headers (RFC 6455 4.1).
// No script can set a Sec- header, so a browser sends them only for a
// WebSocket.
var webSocketHeaders = []string{"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"}

// webSocketHandshake reports whether h is, or describes, an upgrade such
// as a WebSocket handshake. Upgrade and Connection are hop-by-hop: nginx
// auth_request and Traefik ForwardAuth drop them from the request they
// send /verify, while the Sec-WebSocket-* headers reach it; any one of
// them counts.
func webSocketHandshake(h http.Header) bool {
	if h.Get("Upgrade") != "" {
		return true
	}
	for _, name := range webSocketHeaders {
		if _, ok := h[name]; ok {
			return true
		}
	}
	for _, v := range h.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "upgrade") {
			return true
		}
	}
	return false
}

// identityHeaders sets in h the identity headers an application gets for
// p, in both modes: in proxy mode on the request forwarded upstream, in
// forward-auth on the answer the proxy in front copies them from. username
// is a one-element slice to hold p's name, so the hot path allocates none.
func (g *Gateway) identityHeaders(h http.Header, p *principal, username []string) {
	uh := g.cfg.UpstreamHeaders
	username[0] = p.Username
	h[g.cfg.IdentityHeader] = username
	if uh.Groups != "" && len(p.groups) > 0 {
		h[uh.Groups] = []string{strings.Join(p.groups, ",")}
	}
	if uh.Email != "" && p.email != "" {
		h[uh.Email] = []string{p.email}
	}
}
