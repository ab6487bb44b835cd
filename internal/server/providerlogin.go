package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/internal/auth"
)

// providerStart serves GET {paths.login}/{provider}: it sends the browser
// to the provider's authorization endpoint, with a fresh state, nonce and
// PKCE challenge whose secrets stay in the flow cookie.
func (g *Gateway) providerStart() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p := g.providers[r.PathValue("provider")]
		if p == nil {
			g.providerFailed(w, r, nil, "/", errProviderUnknown)
			return
		}
		raw := r.URL.Query().Get("rd")
		rd := g.redirects.Safe(raw, g.trust.Host(r))
		if raw != "" && raw != "/" && rd == "/" {
			g.providerFailed(w, r, p, "/", errUnsafeRedirect)
			return
		}
		d := p.found.Load()
		if d == nil {
			g.providerFailed(w, r, p, rd, errProviderUnavailable)
			return
		}
		var secrets [2]string
		for i := range secrets {
			s, err := randomToken()
			if err != nil {
				g.providerFailed(w, r, p, rd, fmt.Errorf("%w: %v", errSignInBroken, err))
				return
			}
			secrets[i] = s
		}
		f := flow{Provider: p.cfg.ID, State: secrets[0], Nonce: secrets[1], Verifier: oauth2.GenerateVerifier(), RD: rd,
			Expires: g.now().Add(flowTTL).Unix()}
		g.flow.set(w, f)
		to := p.oauth2(d, g.callbackURL(r, p)).AuthCodeURL(f.State,
			oauth2.SetAuthURLParam("nonce", f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
}

// callbackURL is the redirect URI to register at the provider:
// {scheme}://{host}{paths.login}/{id}/callback, on the host the browser
// used.
func (g *Gateway) callbackURL(r *http.Request, p *provider) string {
	return g.trust.Proto(r) + "://" + g.trust.Host(r) + g.cfg.Paths.Login + "/" + p.cfg.ID + "/callback"
}

// providerCallback serves GET {paths.login}/{provider}/callback: the
// provider sends the browser back here with a code (or an error). The
// flow cookie is cleared whatever happens, and its state recorded as used
// in the State store, so that no answer is accepted twice, on any replica.
func (g *Gateway) providerCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p := g.providers[r.PathValue("provider")]
		if p == nil {
			g.providerFailed(w, r, nil, "/", errProviderUnknown)
			return
		}
		g.flow.clear(w)
		f, ok := g.flow.read(r, p.cfg.ID, g.now())
		q := r.URL.Query()
		if !ok || len(q["state"]) != 1 || !sameSecret(q.Get("state"), f.State) {
			g.providerFailed(w, r, p, f.RD, errFlowState)
			return
		}
		ttl := flowTTL + g.cfg.Token.Leeway
		sum := sha256.Sum256([]byte(f.State))
		first, err := g.store.Add(r.Context(), "oidc:state:"+base64.RawURLEncoding.EncodeToString(sum[:]), nil, ttl)
		switch {
		case err != nil:
			// The store cannot say whether this answer was used: refuse.
			g.providerFailed(w, r, p, f.RD, fmt.Errorf("%w: record the state: %w", errSignInBroken, err))
			return
		case !first:
			g.providerFailed(w, r, p, f.RD, errFlowReplayed)
			return
		}
		if q.Has("iss") && q.Get("iss") != p.cfg.Issuer {
			// RFC 9207: the answer names the issuer that sent it; another
			// provider's answer is a mix-up attack.
			g.providerFailed(w, r, p, f.RD, errIDTokenIssuer)
			return
		}
		if q.Has("error") {
			// access_denied and the like: the person or the provider said no.
			g.providerFailed(w, r, p, f.RD, fmt.Errorf("%w: %s", errProviderError, plainWord(q.Get("error"))))
			return
		}
		d := p.found.Load()
		if d == nil {
			g.providerFailed(w, r, p, f.RD, errProviderUnavailable)
			return
		}
		a, err := g.providerAccount(r.Context(), p, d, q.Get("code"), g.callbackURL(r, p), f)
		if err != nil {
			g.providerFailed(w, r, p, f.RD, err)
			return
		}
		if a.Provider == "" && g.factors[a.Username].requireMFA && !p.cfg.MFA {
			// Mapped to a local user whose require_mfa this provider's
			// sign-in, not marked mfa, does not meet.
			g.providerFailed(w, r, p, f.RD, errMFARequired)
			return
		}
		requestInfoFrom(r.Context()).user = a.Username
		if err := g.beginSession(w, r, a, []string{p.cfg.ID}, true, f.RD); err != nil {
			g.providerFailed(w, r, p, f.RD, fmt.Errorf("%w: %w", errSignInBroken, err))
			return
		}
		g.metrics.ProviderSignin(p.cfg.ID, "success")
		g.logger.LogAttrs(r.Context(), slog.LevelInfo, "login succeeded", slog.String("user", a.Username), slog.String("provider", p.cfg.ID))
	})
}

// providerAccount exchanges the code, verifies the ID token and maps its
// claims to the account the session is for.
func (g *Gateway) providerAccount(ctx context.Context, p *provider, d *discovered, code, redirectURI string, f flow) (auth.Account, error) {
	if code == "" {
		return auth.Account{}, errFlowState
	}
	tok, err := p.oauth2(d, redirectURI).Exchange(p.context(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return auth.Account{}, fmt.Errorf("%w: %v", errCodeExchange, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return auth.Account{}, fmt.Errorf("%w: the token answer has no id_token", errCodeExchange)
	}
	idt, err := p.verifyIDToken(ctx, d, raw, f.Nonce, g.cfg.Token.Leeway)
	if err != nil {
		return auth.Account{}, err
	}
	claims, err := p.claims(ctx, d, idt, tok)
	if err != nil {
		return auth.Account{}, err
	}
	a, err := p.account(claims)
	if err != nil {
		return auth.Account{}, err
	}
	if local, ok := g.users.LookupFold(a.Username); ok {
		// An outside identity never acts as a local user of the same
		// name unless the operator said this provider may, and never of
		// a name that differs only in case or width: an application
		// comparing names loosely would take one for the other.
		switch {
		case !p.cfg.MapToLocal || local.Username != a.Username:
			return auth.Account{}, errShadowsLocal
		case local.Disabled:
			return auth.Account{}, errUserGone
		}
		return local, nil
	}
	return g.fitGroups(a, p), nil
}

// fitGroups keeps the session cookie under maxSessionCookie whatever the
// provider sends: it keeps as many of the user's groups as fit, the
// groups the config names (routes' and this provider's allowed_groups)
// first. It never refuses: without groups the token is at most 823 bytes
// with HS256, ES256 or EdDSA (the username is at most names.MaxBytes);
// an RSA signature can make even that larger, and then no group is kept.
func (g *Gateway) fitGroups(a auth.Account, p *provider) auth.Account {
	named := func(x string) bool {
		return slices.Contains(g.namedGroups, x) || slices.Contains(p.cfg.AllowedGroups, x)
	}
	groups := slices.Clone(a.Groups)
	slices.SortStableFunc(groups, func(x, y string) int {
		switch nx, ny := named(x), named(y); {
		case nx && !ny:
			return -1
		case ny && !nx:
			return 1
		}
		return 0
	})
	fits := func(n int) bool {
		b := a
		b.Groups = groups[:n]
		// The largest a real session's token can be: a sid as long as
		// randomToken's, the largest epoch and a session end.
		s := subject(b, strings.Repeat("x", 43), g.now(), []string{p.cfg.ID})
		s.Epoch, s.SessionEnd = 1<<62, g.now().Add(g.cfg.Session.MaxLifetime)
		issued, err := g.tokens.IssueUntil(s, g.now().Add(g.cfg.Session.TTL))
		return err == nil && len(g.cfg.Session.CookieName)+1+len(issued.Token) <= maxSessionCookie
	}
	lo, hi := 0, len(groups) // keeping lo fits, or lo is 0
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo < len(groups) {
		g.logger.Warn("provider user's groups cut to fit the session cookie", slog.String("provider", p.cfg.ID), slog.Int("groups", len(groups)), slog.Int("kept", lo))
	}
	a.Groups = groups[:lo]
	return a
}

// providerFailed answers a refused sign-in through a provider with the
// login page and a message, counts it and logs why. p is nil for an
// unknown provider id.
func (g *Gateway) providerFailed(w http.ResponseWriter, r *http.Request, p *provider, rd string, err error) {
	d := classifyDenial(err)
	id := ""
	if p != nil {
		id = p.cfg.ID
	}
	requestInfoFrom(r.Context()).reason = d.reason
	g.metrics.ProviderSignin(id, d.reason)
	// The detail is the library's or the sentinel's text: it names claims
	// and endpoints, never a token, code or secret.
	g.logger.LogAttrs(r.Context(), d.level, "provider sign-in refused", slog.String("provider", id), slog.String("reason", d.reason), slog.String("detail", err.Error()))
	w.Header().Set("X-Authgate-Reason", d.reason)
	if d.reason == "state_unavailable" {
		w.Header().Set("Retry-After", stateRetryAfter)
	}
	if rd == "" {
		rd = "/"
	}
	g.render(w, r, d.status, pageView{RD: rd, Error: providerMessage(d.reason, p)})
}

// providerMessage is what the person is told; the reason header and the
// log say more.
func providerMessage(reason string, p *provider) string {
	name := "the identity provider"
	if p != nil {
		name = p.cfg.Name
	}
	switch reason {
	case "provider_unknown":
		return "There is no such way to sign in here."
	case "provider_unavailable":
		return name + " cannot be reached right now. Please try again in a moment."
	case "provider_error":
		return name + " did not sign you in. You may try again."
	case "oidc_state", "oidc_replayed":
		return "This sign-in link has expired or was already used. Please start again."
	case "unsafe_redirect":
		return "The page to return to after signing in is not allowed."
	case "email_unverified", "email_domain_not_allowed", "group_not_allowed", "shadows_local_user", "user_disabled":
		return "Your account at " + name + " may not sign in here."
	default:
		return "Signing in with " + name + " failed. Please try again."
	}
}

// plainWord is an error code from a provider fit for a log field: a short
// word, or "other".
func plainWord(s string) string {
	if s == "" || len(s) > 64 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "other"
	}
	return s
}

// sameSecret compares a secret from the request with ours in constant
// time; an empty one never matches.
func sameSecret(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// providerButton is one provider on the login page.
type providerButton struct {
	Name string
	URL  string
	// Down is set while the provider's discovery has not loaded after a
	// failure.
	Down bool
}

// providerButtons lists the providers for the login page; rd comes along.
func (g *Gateway) providerButtons(rd string) []providerButton {
	out := make([]providerButton, 0, len(g.providerList))
	for _, p := range g.providerList {
		u := g.cfg.Paths.Login + "/" + url.PathEscape(p.cfg.ID)
		if rd != "" && rd != "/" {
			u += "?rd=" + url.QueryEscape(rd)
		}
		out = append(out, providerButton{Name: p.cfg.Name, URL: u, Down: p.found.Load() == nil && p.failing.Load()})
	}
	return out
}

// identifyProviderUser admits the session of a provider's user: its token
// says who they are and in which groups. It is refused once the provider
// is gone from the config, and while a local user has its name, unless
// the provider may map to local users.
func (g *Gateway) identifyProviderUser(ctx context.Context, id auth.Identity, raw string, src source) (principal, source, error) {
	p := g.providers[id.Provider]
	if p == nil {
		return principal{}, src, errUserGone
	}
	if local, ok := g.users.LookupFold(id.Username); ok && (!p.cfg.MapToLocal || local.Username != id.Username) {
		return principal{}, src, errShadowsLocal
	}
	if id.Generation != p.generation {
		// The provider's rules changed since the session began (its
		// issuer, allowed_groups, …): who it admitted then may not be
		// admitted now, so it signs in again.
		return principal{}, src, errRevoked
	}
	pr := principal{Identity: id, groups: id.Groups, token: raw}
	if err := g.checkRevoked(ctx, pr); err != nil {
		return principal{}, src, err
	}
	return pr, src, nil
}
