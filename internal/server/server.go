// Package server wires authgate together: it builds the HTTP surface from a
// loaded config (endpoints.go lists all of it), decides who may pass, and owns
// the listeners' lifetime.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/echo"
	"github.com/authgate/authgate/internal/forwarded"
	"github.com/authgate/authgate/internal/jwks"
	"github.com/authgate/authgate/internal/metrics"
	"github.com/authgate/authgate/internal/proxy"
	"github.com/authgate/authgate/internal/route"
	"github.com/authgate/authgate/internal/session"
	"github.com/authgate/authgate/internal/store"
)

// Gateway is a configured authgate instance.
type Gateway struct {
	cfg    *config.Config
	logger *slog.Logger
	// accessLog gets one line per request; nil writes none.
	accessLog *slog.Logger
	metrics   *metrics.Metrics
	tokens    *auth.Tokens
	verifier  *auth.Verifier
	sources   []*jwks.Source
	users     users
	store     store.Store
	// revocations answers checkRevoked from memory (State.Revocations).
	revocations reader
	// userLimit and clientLimit throttle failed logins per username and
	// per client address.
	userLimit   limiter
	clientLimit limiter
	trust       forwarded.Trust
	cookie      session.Cookie
	// ownCookies are the cookies the gateway sets, which no application
	// behind it is given (see ownCookieNames).
	ownCookies []string
	redirects  session.Redirects
	pages      *pages
	now        func() time.Time
	table      route.Table[*upstreamRoute]
	// hostRoutes is set when some route names a host, so that /verify
	// cannot match a request whose host the proxy did not say.
	hostRoutes bool
	// own holds the metrics of the gateway's own endpoints and of requests
	// that matched nothing.
	own     map[string]*metrics.Route
	ids     *requestIDs
	ready   atomic.Bool
	handler http.Handler
	state   *State
	// cookieProblems are the session-cookie problems already logged.
	cookieProblems onceSet
	// transport carries every route's requests upstream; a reloaded
	// gateway with the same transport settings shares it, and its warm
	// connections.
	transport *http.Transport
	// routeTransports are the transports of routes with TLS settings of
	// their own; never shared with another gateway.
	routeTransports []*http.Transport
	// hsts is the Strict-Transport-Security value of HTTPS answers; nil
	// for none.
	hsts []string
	// stop ends what start began; set by start.
	stop context.CancelFunc
	// providers are the OpenID Connect providers by id, providerList in
	// config order (the login page's buttons).
	providers    map[string]*provider
	providerList []*provider
	// flow seals sign-ins through a provider into the browser; pending
	// a correct password waiting for its second factor.
	flow, pending flowCookie
	// ceremony seals passkey ceremonies in progress; passkeys is nil
	// unless the config has a passkeys section.
	ceremony flowCookie
	passkeys *passkeys
	// namedGroups are the groups routes admit, which a provider's user
	// keeps first when not all their groups fit the cookie.
	namedGroups []string
	// apiKeys are the users' API keys by SHA-256.
	apiKeys map[[32]byte]*apiKey
	// factors are the second factors and require_mfa of the users that
	// have either, by username.
	factors map[string]userFactors
}

// upstreamRoute is a config route with everything it needs at request time
// built once.
type upstreamRoute struct {
	name    string
	public  bool
	allowed map[string]struct{}
	groups  []string
	methods []string
	proxy   http.Handler
	metrics *metrics.Route
	// requireMFA refuses callers without a second factor.
	requireMFA bool
}

// Options are what a Gateway needs besides its config.
type Options struct {
	// Logger receives the gateway's log lines; nil discards them.
	Logger *slog.Logger
	// AccessLog receives one line per request, at level Info; nil writes
	// none.
	AccessLog *slog.Logger
	// Metrics records requests; nil records into a registry nobody reads.
	Metrics *metrics.Metrics
	// Now is the clock for tokens and sessions (and for the state New
	// makes); nil means time.Now.
	Now func() time.Time
	// State is what outlives this config; nil means a fresh NewState.
	State *State
	// Previous is the gateway this one replaces on a reload; nil for the
	// first. What it holds that is still valid under the new config
	// carries over: its verified-token cache when no key or other setting
	// it verified with has changed, and its upstream connections when the
	// transport settings are the same.
	Previous *Gateway
}

// New builds a Gateway from cfg.
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	logger, m, now := opts.Logger, opts.Metrics, opts.Now
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = metrics.New("")
	}
	logger = slog.New(contextHandler{logger.Handler()})
	tokens, err := auth.NewTokens(auth.TokenOptions{
		Keys:       cfg.Token.Keys,
		SigningKey: cfg.Token.SigningKey,
		Issuer:     cfg.Token.Issuer,
		Audience:   cfg.Token.Audience,
		TTL:        cfg.Token.TTL,
		Leeway:     cfg.Token.Leeway,
		Now:        now,
	})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	local := make([]auth.LocalUser, len(cfg.Users))
	for i, u := range cfg.Users {
		local[i] = auth.LocalUser{
			Account: auth.Account{Username: u.Username, Groups: u.Groups, Email: u.Email, Disabled: u.Disabled},
			Hash:    u.PasswordHash,
		}
	}
	users, err := auth.NewLocal(local, auth.PasswordOptions{
		MaxConcurrent: cfg.Login.MaxConcurrent,
		MaxQueue:      cfg.Login.MaxQueue,
	})
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	apiKeys, factors := buildAPIKeys(cfg.Users), buildFactors(cfg.Users)
	pks, err := buildPasskeys(cfg.Passkeys, cfg.Users)
	if err != nil {
		return nil, err
	}
	// The users live in users from here on; the gateway keeps no second
	// copy of them (at 100,000 users, one copy is megabytes).
	c := *cfg
	c.Users = nil
	cfg = &c
	pg, err := newPages(cfg.LoginPage, cfg.Session, len(local) > 0)
	if err != nil {
		return nil, fmt.Errorf("login page: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	var externals []*auth.External
	var sources []*jwks.Source
	for _, ti := range cfg.Token.TrustedIssuers {
		src := jwks.New(jwks.Options{
			Issuer: ti.Issuer, URL: ti.JWKSURL, File: ti.JWKSFile, Algorithms: ti.Algorithms,
			Logger: logger, OnFetchError: m.JWKSRefreshFailed(ti.Issuer), Now: now,
		})
		sources = append(sources, src)
		externals = append(externals, auth.NewExternal(auth.ExternalOptions{
			Issuer: ti.Issuer, Audience: ti.Audience, Algorithms: ti.Algorithms, UsernameClaim: ti.UsernameClaim,
			GroupsClaim: ti.GroupsClaim, Keys: src, Leeway: cfg.Token.Leeway, Now: now,
		}))
	}
	st := opts.State
	if st == nil {
		st = NewState(cfg.Login, now)
	}
	g := &Gateway{
		verifier:  auth.NewVerifier(tokens, cfg.Token.CacheSize, externals...),
		sources:   sources,
		ids:       newRequestIDs(),
		accessLog: opts.AccessLog,
		store:     st.Store,
		pages:     pg,
		now:       now,
		cookie: session.Cookie{
			Name: cfg.Session.CookieName, Domain: cfg.Session.CookieDomain, Secure: cfg.Session.Secure,
		},
		ownCookies:  ownCookieNames(cfg.Session),
		redirects:   session.Redirects{AllowedHosts: cfg.Session.AllowedRedirectHosts, Domain: cfg.Session.CookieDomain},
		cfg:         cfg,
		logger:      logger,
		metrics:     m,
		tokens:      tokens,
		users:       users,
		trust:       forwarded.NewTrust(cfg.TrustedProxies),
		state:       st,
		userLimit:   st.Users,
		clientLimit: st.Clients,
		own:         map[string]*metrics.Route{},
		apiKeys:     apiKeys,
		factors:     factors,
		passkeys:    pks,
	}
	g.revocations = st.revocations()
	for _, name := range []string{"login", "logout", "refresh", "verify", "discovery", "healthz", "readyz", "unmatched", "rejected"} {
		g.own[name] = m.Route(name)
	}
	if cfg.TLS != nil {
		g.hsts = hstsHeader(int64(cfg.TLS.HSTSMaxAge.Seconds()))
	}
	if prev := opts.Previous; prev != nil {
		if sameVerification(prev.cfg.Token, cfg.Token) {
			g.verifier.KeepCache(prev.verifier)
		}
		if prev.cfg.Transport == cfg.Transport {
			g.transport = prev.transport
		}
	}
	g.buildProviders(opts.Previous)
	g.buildRoutes()
	g.handler = g.endpoints()
	return g, nil
}

// buildProviders makes the configured OpenID Connect providers. One whose
// settings did not change keeps what the previous gateway discovered, so
// a reload leaves no moment without it.
func (g *Gateway) buildProviders(prev *Gateway) {
	g.flow = newFlowCookie(g.cfg.Token, g.cfg.Session.Secure)
	g.ceremony = newSealedCookie(g.cfg.Token, g.cfg.Session.Secure, ceremonyCookieBase, "authgate passkey ceremony v1")
	g.pending = newSealedCookie(g.cfg.Token, g.cfg.Session.Secure, pendingCookieBase, "authgate pending second factor v1")
	g.providers = map[string]*provider{}
	for _, pc := range g.cfg.Providers {
		p := newProvider(pc, g.logger, g.now, g.metrics.ProviderDiscoveryFailed(pc.ID))
		if prev != nil {
			if old := prev.providers[pc.ID]; old != nil && sameProvider(old.cfg, pc) {
				p.found.Store(old.found.Load())
			}
		}
		g.providers[pc.ID] = p
		g.providerList = append(g.providerList, p)
	}
	for _, rc := range g.cfg.Routes {
		for _, gr := range rc.AllowedGroups {
			if !slices.Contains(g.namedGroups, gr) {
				g.namedGroups = append(g.namedGroups, gr)
			}
		}
	}
}

func sameProvider(a, b config.Provider) bool {
	return a.Issuer == b.Issuer && a.ClientID == b.ClientID
}

func (g *Gateway) buildRoutes() {
	strip := append([]string(nil), g.cfg.StripHeaders...)
	if !g.cfg.ForwardAuthorization {
		strip = append(strip, "Authorization")
	}
	for _, h := range []string{g.cfg.UpstreamHeaders.Groups, g.cfg.UpstreamHeaders.Email, g.cfg.UpstreamHeaders.Token, g.cfg.UpstreamHeaders.Assertion} {
		if h != "" {
			strip = append(strip, h)
		}
	}
	stripSet := proxy.NewHeaderSet(strip, g.cfg.StripHeaderPrefixes)
	if g.transport == nil {
		g.transport = proxy.NewTransport(g.transportOptions(nil))
	}
	// One shared proxy for every route: what a route adds is its upstream
	// and prefix; its name and metrics reach the proxy's hooks through the
	// request's requestInfo, set when the route was matched.
	shared := proxy.New(proxy.Options{
		Transport:    g.transport,
		Strip:        stripSet,
		StripCookies: g.ownCookies,
		TrustedPeer:  g.trust.TrustedPeer,
		Logger:       g.logger,
		SetHeaders:   g.upstreamHeaders,
		OnError: func(r *http.Request, kind string) {
			if info := requestInfoFrom(r.Context()); info != nil {
				info.reason = upstreamFailureReason(kind)
				if info.metrics != nil {
					info.metrics.UpstreamError(kind)
				}
			}
		},
	})
	for _, rc := range g.cfg.Routes {
		ur := &upstreamRoute{name: rc.Name, public: rc.Public, groups: rc.AllowedGroups, methods: rc.Methods, metrics: g.metrics.Route(rc.Name), requireMFA: rc.RequireMFA}
		if len(rc.AllowedUsers) > 0 {
			ur.allowed = map[string]struct{}{}
			for _, u := range rc.AllowedUsers {
				ur.allowed[u] = struct{}{}
			}
		}
		stripPrefix := ""
		if rc.StripPrefix && rc.Path != "/" {
			stripPrefix = rc.Path
		}
		if rc.TLS != nil {
			// Only a route with TLS settings of its own has a transport
			// of its own; every other route shares one pool.
			t := proxy.NewTransport(g.transportOptions(upstreamTLS(rc.TLS)))
			g.routeTransports = append(g.routeTransports, t)
			ur.proxy = shared.ToVia(rc.Upstream, stripPrefix, t)
		} else {
			ur.proxy = shared.To(rc.Upstream, stripPrefix)
		}
		g.table.Add(rc.Host, rc.Path, ur)
		g.hostRoutes = g.hostRoutes || rc.Host != ""
	}
}

func (g *Gateway) transportOptions(tlsConfig *tls.Config) proxy.TransportOptions {
	return proxy.TransportOptions{
		DialTimeout:           g.cfg.Transport.DialTimeout,
		ResponseHeaderTimeout: g.cfg.Transport.ResponseHeaderTimeout,
		IdleConnTimeout:       g.cfg.Transport.IdleConnTimeout,
		MaxIdleConnsPerHost:   g.cfg.Transport.MaxIdleConnsPerHost,
		TLS:                   tlsConfig,
	}
}

// upstreamTLS is how the gateway speaks TLS to an upstream with settings
// of its own; it always verifies the upstream's certificate.
func upstreamTLS(u *config.UpstreamTLS) *tls.Config {
	c := &tls.Config{RootCAs: u.RootCAs, ServerName: u.ServerName, MinVersion: tls.VersionTLS12}
	if u.ClientCertificate != nil {
		c.Certificates = []tls.Certificate{*u.ClientCertificate}
	}
	return c
}

// httpServer applies the configured limits to an http.Server for h.
func (g *Gateway) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: g.cfg.Server.ReadHeaderTimeout,
		WriteTimeout:      g.cfg.Server.WriteTimeout,
		IdleTimeout:       g.cfg.Server.IdleTimeout,
		MaxHeaderBytes:    g.cfg.Server.MaxHeaderBytes,
		// "OPTIONS *" goes to the handler, which refuses it like any
		// other non-origin-form target.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(g.logger.Handler(), slog.LevelDebug),
	}
}

// State is the state the gateway keeps its revocations, refresh families
// and throttles in, to build the next gateway over.
func (g *Gateway) State() *State { return g.state }

// Handler is the public listener's handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// SetReady sets what /readyz answers.
func (g *Gateway) SetReady(ready bool) { g.ready.Store(ready) }

// Addrs are the addresses a running Gateway is bound to, port 0 in the
// config resolved to the port the system chose.
type Addrs struct {
	// Gateway is the public listener: login, proxy and forward-auth.
	Gateway net.Addr
	// Metrics is the Prometheus listener; nil when metrics_listen is empty.
	Metrics net.Addr
	// Echo is the built-in demo upstream; nil when echo_listen is unset.
	Echo net.Addr
	// Redirect is the plain-HTTP listener that redirects to HTTPS; nil
	// when tls.redirect_http is unset.
	Redirect net.Addr
}

// Run listens on the configured addresses and serves until ctx is done,
// then stops accepting, lets in-flight requests finish within the grace
// period and returns. ready, if set, is called once every listener is
// serving and /readyz answers 200, with the addresses they are bound to; it
// runs on Run's goroutine, which watches ctx only after ready returns.
//
// The public listener serves whichever gateway is current (see Replace);
// the listeners and their limits are those of the gateway current when
// Run starts, the shutdown grace that of the one current at the end.
func (l *Live) Run(ctx context.Context, metricsHandler http.Handler, ready func(Addrs)) error {
	g := l.current.Load()
	type served struct {
		name string
		srv  *http.Server
		ln   net.Listener
	}
	var all []served
	defer func() {
		for _, s := range all {
			s.ln.Close()
		}
	}()
	// With tls, the public listener serves HTTPS (HTTP/2 and HTTP/1.1)
	// with certs, and tls.redirect_http a plain listener that redirects.
	certs, err := g.newCerts()
	if err != nil {
		return err
	}
	if certs != nil {
		defer certs.Close()
		l.certs.Store(certs)
	}
	listen := func(name, addr string, h http.Handler, public bool) (net.Addr, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen %s on %s: %w", name, addr, err)
		}
		srv := g.httpServer(h)
		if public && certs != nil {
			srv.TLSConfig = certs.TLSConfig()
		}
		if public {
			ln = limitListener(ln, g.cfg.Server.MaxConnections)
		}
		all = append(all, served{name: name, srv: srv, ln: ln})
		g.logger.Info("listening", "listener", name, "addr", ln.Addr().String())
		return ln.Addr(), nil
	}
	var addrs Addrs
	if addrs.Gateway, err = listen("gateway", g.cfg.Listen, l, true); err != nil {
		return err
	}
	if certs != nil && g.cfg.TLS.RedirectHTTP != "" {
		_, httpsPort, _ := net.SplitHostPort(addrs.Gateway.String())
		if addrs.Redirect, err = listen("redirect", g.cfg.TLS.RedirectHTTP, certs.HTTPHandler(httpsPort), false); err != nil {
			return err
		}
	}
	if g.cfg.MetricsListen != "" {
		if addrs.Metrics, err = listen("metrics", g.cfg.MetricsListen, metricsHandler, false); err != nil {
			return err
		}
	}
	if g.cfg.EchoListen != "" {
		if addrs.Echo, err = listen("echo", g.cfg.EchoListen, echo.Handler(), false); err != nil {
			return err
		}
	}

	errc := make(chan error, len(all))
	for _, s := range all {
		go func() {
			serve := s.srv.Serve
			if s.srv.TLSConfig != nil {
				serve = func(ln net.Listener) error { return s.srv.ServeTLS(ln, "", "") }
			}
			if err := serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", s.name, err)
			}
		}()
	}
	g.start(ctx)
	if certs != nil {
		// Once the listeners serve: an ACME CA validates through them.
		certs.Start(ctx)
	}
	if ready != nil {
		ready(addrs)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		g.logger.Info("shutting down", "grace", g.cfg.Server.ShutdownGrace.String())
	case serveErr = <-errc:
		g.logger.Error("listener failed; shutting down", "error", serveErr)
	}
	g = l.end()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Server.ShutdownGrace)
	defer cancel()
	var shutdownErr error
	// The public listener first: the echo upstream must outlive the
	// requests still being proxied to it.
	for _, s := range all {
		if err := s.srv.Shutdown(shutdownCtx); err != nil {
			shutdownErr = errors.Join(shutdownErr, fmt.Errorf("shutdown %s: %w", s.name, err))
			s.srv.Close()
		}
	}
	if shutdownErr != nil {
		g.logger.Warn("in-flight requests did not finish within the grace period", "error", shutdownErr)
	} else {
		g.logger.Info("stopped")
	}
	return serveErr
}
