package server

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/session"
	"github.com/authgate/authgate/internal/store"
)

//go:embed web/login.html
var builtinLoginPage string

// errCrossOrigin means a request authenticated by the session cookie came
// from another site's page (CSRF) or could not show where it came from.
var errCrossOrigin = errors.New("cookie-authenticated request without a same-origin Origin")

// pageView is what the login page template sees.
type pageView struct {
	Title         string
	LogoURL       string
	Action        string
	LogoutAction  string
	RD            string
	Username      string
	Error         string
	Nonce         string
	FocusPassword bool
	SignedOut     bool
	// OTP shows the code step: the password was right, the one-time code
	// is asked for.
	OTP bool
	// MFA says the page the browser came from requires a second factor
	// its session lacks.
	MFA bool
	// Passkeys shows the passkey sign-in button (and its script).
	Passkeys bool
	// PasskeyStep shows the passkey step: the password was right, a
	// passkey of the user is asked for (beside the code when OTP is set
	// too).
	PasskeyStep bool
	// Password is set when the password form is a way to sign in: the
	// config defines local users. Each login method the config enables
	// adds its part of the page.
	Password bool
	// Providers are the OpenID Connect providers to sign in with, a
	// button each.
	Providers []providerButton
	// Certificate, when set, is the user the browser's client
	// certificate names (tls.client_auth): a form posting rd alone signs
	// in as them.
	Certificate string
	// CookieProblem, when set, says why the session cookie cannot work
	// for this browser (so that signing in would bring it back here) and
	// which config key fixes it.
	CookieProblem string
}

// pages renders the login and logout pages.
type pages struct {
	tmpl       *template.Template
	title      string
	logoURL    string
	formAction string // CSP form-action sources
	imgSrc     string // CSP img-src sources
	password   bool   // see pageView.Password
}

func newPages(lp config.LoginPage, s config.Session, password bool) (*pages, error) {
	tmpl := lp.Template // parsed by config from login_page.template_file
	if tmpl == nil {
		var err error
		if tmpl, err = template.New("login").Parse(builtinLoginPage); err != nil {
			return nil, err
		}
	}
	// Chrome applies form-action to the redirect that follows the form
	// post, so every host the login may send the browser back to is listed.
	formAction := append([]string{"'self'"}, s.AllowedRedirectHosts...)
	if s.CookieDomain != "" {
		formAction = append(formAction, s.CookieDomain, "*."+s.CookieDomain)
	}
	imgSrc := "'self' data:"
	if u, err := url.Parse(lp.LogoURL); err == nil && u.Scheme == "https" && u.Host != "" {
		imgSrc += " https://" + u.Host
	}
	return &pages{tmpl: tmpl, title: lp.Title, logoURL: lp.LogoURL, formAction: strings.Join(formAction, " "), imgSrc: imgSrc, password: password}, nil
}

// render writes a page with headers that keep it out of caches and frames
// and allow no script at all.
func (g *Gateway) render(w http.ResponseWriter, r *http.Request, status int, v pageView) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	v.Nonce = base64.RawStdEncoding.EncodeToString(nonce[:])
	v.Title, v.LogoURL, v.Password = g.pages.title, g.pages.logoURL, g.pages.password
	v.Action, v.LogoutAction = g.cfg.Paths.Login, g.cfg.Paths.Logout
	if !v.SignedOut {
		v.Providers = g.providerButtons(v.RD)
	}
	v.Certificate, _ = g.certificateAccount(r)
	v.Passkeys = g.passkeys != nil && g.passkeys.passwordless && !v.SignedOut && !v.OTP && !v.PasskeyStep
	script := ""
	if v.Passkeys || v.PasskeyStep {
		// The passkey button needs the one script, and its fetches.
		script = "; script-src 'nonce-" + v.Nonce + "'; connect-src 'self'"
	}
	var buf bytes.Buffer
	if err := g.pages.tmpl.Execute(&buf, v); err != nil {
		g.logger.LogAttrs(r.Context(), slog.LevelError, "render login page", slog.String("error", err.Error()))
		writeJSONError(w, http.StatusInternalServerError, "internal_error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; img-src "+g.pages.imgSrc+
		"; form-action "+g.pages.formAction+"; frame-ancestors 'none'; base-uri 'none'"+script)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// Not no-referrer: with it browsers send "Origin: null" on the form
	// post, and the same-origin check could not tell the login form from an
	// attacker's page.
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// loginPage serves GET /login: the form, or straight back to rd for a
// browser that already has a valid session.
func (g *Gateway) loginPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd := g.redirects.Safe(r.URL.Query().Get("rd"), g.trust.Host(r))
		// mfa=1: the page at rd requires a second factor. A session
		// without one is not sent back there, which would loop.
		mfa := r.URL.Query().Get("mfa") == "1"
		if id, src, err := g.identify(r); err == nil && src == fromCookie && (!mfa || g.multiFactor(id)) {
			requestInfoFrom(r.Context()).user = id.Username
			http.Redirect(w, r, rd, http.StatusSeeOther)
			return
		}
		g.render(w, r, http.StatusOK, pageView{RD: rd, MFA: mfa, CookieProblem: g.loginCookieProblem(r, rd)})
	})
}

// logoutPage serves GET /logout: a page with a sign-out button. It changes
// nothing, so a link or an image cannot log anyone out.
func (g *Gateway) logoutPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.render(w, r, http.StatusOK, pageView{SignedOut: true})
	})
}

// logout serves POST /logout: it clears the session cookie with the
// attributes it was set with and sends the browser on.
func (g *Gateway) logout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if same, present := session.Origin(r, g.trust.Proto(r), g.trust.Host(r)); present && !same {
			g.deny(w, r, errCrossOrigin)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.Login.MaxBodyBytes)
		everywhere := r.FormValue("everywhere") == "true" || r.FormValue("everywhere") == "1"
		if p, src, err := g.identify(r); err == nil && src != fromAPIKey {
			// An API key has no session to end: deleting its line does.
			requestInfoFrom(r.Context()).user = p.Username
			if err := g.revoke(r.Context(), p, everywhere); err != nil {
				g.fail(w, r, "revoke session", err)
				return
			}
			g.logger.LogAttrs(r.Context(), slog.LevelInfo, "logged out", slog.String("user", p.Username), slog.Bool("everywhere", everywhere))
		} else if errors.Is(err, store.ErrUnavailable) {
			// The token could not be checked, so its revocation could not
			// be recorded either: the client must not take it for dead.
			g.fail(w, r, "logout", err)
			return
		}
		g.cookie.Clear(w)
		w.Header().Set("Cache-Control", "no-store")
		if !strings.Contains(r.Header.Get("Accept"), "text/html") && r.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusNoContent) // an API client has nowhere to be redirected to
			return
		}
		http.Redirect(w, r, g.cfg.Session.LogoutRedirect, http.StatusSeeOther)
	})
}

// refreshSession re-issues the cookie once it is past half its life, never
// beyond the session's absolute limit from the login or its sid_exp, and
// reports whether it did.
func (g *Gateway) refreshSession(w http.ResponseWriter, r *http.Request, id principal) bool {
	now := g.now()
	ttl := g.cfg.Session.TTL
	if id.ExpiresAt.Sub(now) > ttl/2 {
		return false
	}
	authTime := id.AuthTime
	if authTime.IsZero() {
		authTime = id.ExpiresAt.Add(-ttl)
	}
	exp := now.Add(ttl)
	if limit := authTime.Add(g.cfg.Session.MaxLifetime); exp.After(limit) {
		exp = limit
	}
	if !id.SessionEnd.IsZero() && exp.After(id.SessionEnd) {
		// Never past the session's sid_exp: a logout keeps the session's
		// revocation only that long (an API login's token sent as the
		// cookie ends with that token).
		exp = id.SessionEnd
	}
	if !exp.After(id.ExpiresAt.Add(time.Second)) {
		return false
	}
	// The account was looked up as the request was identified: the new
	// cookie says what it says now.
	a := auth.Account{Username: id.Username, Groups: id.groups, Generation: id.Generation, Provider: id.Provider}
	s := subject(a, id.SessionID, authTime, id.AMR)
	s.Epoch, s.SessionEnd = id.Epoch, id.SessionEnd
	issued, err := g.tokens.IssueUntil(s, exp)
	if err != nil {
		g.logger.LogAttrs(r.Context(), slog.LevelError, "refresh session", slog.String("error", err.Error()))
		return false
	}
	g.cookie.Set(w, issued.Token, issued.ExpiresAt)
	return true
}

// withReturn is the login page URL for a browser that should come back to
// rd afterwards.
func withReturn(base, rd string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "rd=" + url.QueryEscape(rd)
}

// redirectToLogin sends a browser navigation that lacked valid
// credentials to the login page.
func (g *Gateway) redirectToLogin(w http.ResponseWriter, r *http.Request, err error, location string) {
	d := classifyDenial(err)
	info := requestInfoFrom(r.Context())
	info.reason = d.reason
	g.metrics.TokenRejected(d.reason)
	g.logger.LogAttrs(r.Context(), slog.LevelDebug, "redirecting to login", slog.String("reason", d.reason))
	h := w.Header()
	h.Set("X-Authgate-Reason", d.reason)
	h.Set("Cache-Control", "no-store")
	h.Set("Location", location)
	w.WriteHeader(http.StatusFound)
}

// randomToken is 32 random bytes, base64url: session IDs and refresh tokens.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
