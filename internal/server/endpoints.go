package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// endpoints is the whole HTTP surface of the public listener. The gateway's
// own paths are registered by exact path and so win over every proxied
// route, which the catch-all "/" dispatches by longest prefix.
func (g *Gateway) endpoints() http.Handler {
	p := g.cfg.Paths
	mux := http.NewServeMux()
	mux.Handle("POST "+p.Login, g.endpoint("login", g.login()))
	mux.Handle("GET "+p.Login, g.endpoint("login", g.loginPage()))
	mux.Handle(p.Login, g.endpoint("login", allow("GET, HEAD, POST")))
	if len(g.providerList) > 0 {
		mux.Handle("GET "+p.Login+"/{provider}", g.endpoint("login", g.providerStart()))
		mux.Handle("GET "+p.Login+"/{provider}/callback", g.endpoint("login", g.providerCallback()))
	}
	if g.passkeys != nil {
		mux.Handle("GET "+p.Login+"/account", g.endpoint("login", g.accountPage()))
		mux.Handle("POST "+p.Login+"/passkey/register/begin", g.endpoint("login", g.passkeyRegisterBegin()))
		mux.Handle("POST "+p.Login+"/passkey/register/finish", g.endpoint("login", g.passkeyRegisterFinish()))
		mux.Handle("POST "+p.Login+"/passkey/login/begin", g.endpoint("login", g.passkeyLoginBegin()))
		mux.Handle("POST "+p.Login+"/passkey/login/finish", g.endpoint("login", g.passkeyLoginFinish()))
		mux.Handle("POST "+p.Login+"/passkey/step/begin", g.endpoint("login", g.passkeyStepBegin()))
		mux.Handle("POST "+p.Login+"/passkey/step/finish", g.endpoint("login", g.passkeyStepFinish()))
	}
	mux.Handle("POST "+p.Refresh, g.endpoint("refresh", g.refresh()))
	mux.Handle(p.Refresh, g.endpoint("refresh", allow("POST")))
	mux.Handle("POST "+p.Logout, g.endpoint("logout", g.logout()))
	mux.Handle("GET "+p.Logout, g.endpoint("logout", g.logoutPage()))
	mux.Handle(p.Logout, g.endpoint("logout", allow("GET, HEAD, POST")))
	mux.Handle(p.Verify, g.endpoint("verify", g.verify(verifyPlain)))
	mux.Handle(p.Verify+"/nginx", g.endpoint("verify", g.verify(verifyNginx)))
	mux.Handle(p.Verify+"/traefik", g.endpoint("verify", g.verify(verifyRedirect)))
	mux.Handle(p.Verify+"/caddy", g.endpoint("verify", g.verify(verifyRedirect)))
	mux.Handle("GET /.well-known/jwks.json", g.endpoint("discovery", g.jwks()))
	mux.Handle("GET /.well-known/openid-configuration", g.endpoint("discovery", g.discovery()))
	mux.Handle("GET "+p.Healthz, g.endpoint("healthz", healthz()))
	mux.Handle(p.Healthz, g.endpoint("healthz", allow("GET, HEAD")))
	mux.Handle("GET "+p.Readyz, g.endpoint("readyz", g.readyz()))
	mux.Handle(p.Readyz, g.endpoint("readyz", allow("GET, HEAD")))
	mux.Handle("/", g.gate())

	return g.front(mux)
}

// endpoint labels a gateway endpoint's requests for logs and metrics.
func (g *Gateway) endpoint(name string, h http.Handler) http.Handler {
	m := g.own[name]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := requestInfoFrom(r.Context()); info != nil {
			info.route, info.metrics = name, m
		}
		h.ServeHTTP(w, r)
	})
}

func allow(methods string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", methods)
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed")
	})
}

func healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

func (g *Gateway) readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !g.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}

// jwks publishes the public keys tokens are signed with, so upstreams and
// other gateways can verify them with any JOSE library. HS256 secrets are
// never published: the set is then empty.
func (g *Gateway) jwks() http.Handler {
	body := g.tokens.JWKS()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// Short enough that a rotated-in key is fetched well before the
		// old one is dropped (keep old keys for a token lifetime).
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}

// discovery is a minimal OpenID Provider Metadata document: the issuer and
// where its keys are. An issuer that is an http(s) URL is where the
// gateway is (OpenID Connect's rule), and the URLs are built on it. Else
// they are built from the request's host, which the client chooses: the
// document then varies with the headers it came from, so that no shared
// cache serves one client's host (an attacker's jwks_uri) to another.
func (g *Gateway) discovery() http.Handler {
	issuerBase := ""
	if u, err := url.Parse(g.cfg.Token.Issuer); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		issuerBase = strings.TrimSuffix(g.cfg.Token.Issuer, "/")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := issuerBase
		if base == "" {
			base = g.trust.Proto(r) + "://" + g.trust.Host(r)
			w.Header().Set("Vary", "Host, X-Forwarded-Host, X-Forwarded-Proto, Forwarded")
		}
		body, _ := json.Marshal(map[string]any{
			"issuer":                                g.cfg.Token.Issuer,
			"jwks_uri":                              base + "/.well-known/jwks.json",
			"id_token_signing_alg_values_supported": []string{g.tokens.Algorithm()},
			"token_endpoint":                        base + g.cfg.Paths.Login,
		})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}
