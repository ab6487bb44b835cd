package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/authgate/authgate/auth"
	"github.com/authgate/authgate/config"
)

// Errors of identity checks beyond the token's own validity.
var (
	// errUserGone means the token's user was removed or disabled.
	errUserGone = errors.New("user removed or disabled")
	// errRevoked means the token, its session, or every session of its
	// user was logged out, or the user's password changed since.
	errRevoked = errors.New("token revoked")
	// errMethod means the route does not allow the request's method.
	errMethod = errors.New("method not allowed on this route")
)

// account is a local user as the request path needs it.
type account struct {
	groups     []string
	email      string
	generation string
	disabled   bool
}

// principal is a verified caller.
type principal struct {
	auth.Identity
	groups []string
	email  string
	// token is the verified bearer or cookie token.
	token string
}

func newAccounts(users []config.User) map[string]*account {
	m := make(map[string]*account, len(users))
	for _, u := range users {
		m[u.Username] = &account{groups: u.Groups, email: u.Email, generation: generation(u.PasswordHash), disabled: u.Disabled}
	}
	return m
}

// generation fingerprints a password hash: it changes when the password
// does, so tokens issued before a password change stop working.
func generation(hash []byte) string {
	sum := sha256.Sum256(append([]byte("authgate generation "), hash...))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// subject is what a new token for a logged-in user says.
func (g *Gateway) subject(username, sessionID string, authTime time.Time) auth.Subject {
	s := auth.Subject{Username: username, SessionID: sessionID, AuthTime: authTime}
	if a, ok := g.accounts[username]; ok {
		s.Groups, s.Generation = a.groups, a.generation
	}
	return s
}

// Revocation keys in the store. They key on jti and sid, never on the
// token text, which has several base64 spellings, and each names the
// token's issuer (empty for authgate's own): a trusted provider's user
// called like a local one, or a provider token carrying a local token's
// jti or sid, must not be able to log the local one out.
func deniedToken(issuer, jti string) string      { return revocationKey("deny:jti", issuer, jti) }
func deniedSession(issuer, sid string) string    { return revocationKey("deny:sid", issuer, sid) }
func loggedOutBefore(issuer, user string) string { return revocationKey("nbf", issuer, user) }

// revocationKey quotes the issuer, so no issuer and value can pass for
// another pair.
func revocationKey(kind, issuer, value string) string {
	return kind + ":" + strconv.Quote(issuer) + ":" + value
}

// identify verifies the request's credentials: the bearer token when there
// is an Authorization header, else the session cookie. An invalid bearer
// token never falls back to the cookie: explicit credentials that fail,
// fail the request.
func (g *Gateway) identify(r *http.Request) (principal, source, error) {
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
			return principal{}, fromNothing, auth.ErrNoCredentials
		}
	}
	if err != nil {
		return principal{}, src, err
	}
	id, err := g.verifier.Verify(r.Context(), raw)
	if err != nil {
		return principal{}, src, err
	}
	if id.External != "" {
		// A trusted provider's user: its token says who they are and in
		// which groups; local accounts and their generations do not apply.
		if err := g.checkRevoked(r.Context(), id); err != nil {
			return principal{}, src, err
		}
		return principal{Identity: id, groups: id.Groups, token: raw}, src, nil
	}
	a, ok := g.accounts[id.Username]
	if !ok || a.disabled {
		return principal{}, src, errUserGone
	}
	if id.Generation != a.generation {
		return principal{}, src, errRevoked
	}
	if err := g.checkRevoked(r.Context(), id); err != nil {
		return principal{}, src, err
	}
	return principal{Identity: id, groups: a.groups, email: a.email, token: raw}, src, nil
}

// checkRevoked consults the store. If the store cannot answer, the token
// is refused: revocation must not fail open.
func (g *Gateway) checkRevoked(ctx context.Context, id auth.Identity) error {
	denied := func(key string) bool {
		_, revoked, err := g.store.Get(ctx, key)
		return err != nil || revoked
	}
	if id.TokenID != "" && denied(deniedToken(id.External, id.TokenID)) ||
		id.SessionID != "" && denied(deniedSession(id.External, id.SessionID)) {
		return errRevoked
	}
	v, ok, err := g.store.Get(ctx, loggedOutBefore(id.External, id.Username))
	if err != nil {
		return errRevoked
	}
	if ok {
		cutoff, _ := strconv.ParseInt(string(v), 10, 64)
		// Tokens issued in the second of the logout survive, so that logging
		// in again right away works; iat has one-second precision.
		if id.IssuedAt.Unix() < cutoff {
			return errRevoked
		}
	}
	return nil
}

// methodAllowed applies a route's methods rule; it holds for public routes
// too, before anything else.
func (rt *upstreamRoute) methodAllowed(method string) bool {
	return len(rt.methods) == 0 || slices.Contains(rt.methods, method)
}

// authorize identifies the request and applies rt's user and group rules
// (when rt is not nil).
func (g *Gateway) authorize(r *http.Request, rt *upstreamRoute) (principal, source, error) {
	p, src, err := g.identify(r)
	if err != nil || rt == nil {
		return p, src, err
	}
	if rt.allowed != nil || len(rt.groups) > 0 {
		_, userOK := rt.allowed[p.Username]
		groupOK := slices.ContainsFunc(p.groups, func(grp string) bool { return slices.Contains(rt.groups, grp) })
		if !userOK && !groupOK {
			return p, src, errForbidden
		}
	}
	return p, src, nil
}

// revoke ends the session p belongs to: its token until it expires, its
// session (every token and refresh token it produced), and with everywhere
// every session of the user issued until now.
func (g *Gateway) revoke(ctx context.Context, p principal, everywhere bool) error {
	keep := g.longestLifetime()
	if p.TokenID != "" {
		if err := g.store.Set(ctx, deniedToken(p.External, p.TokenID), nil, p.ExpiresAt.Sub(g.now())+g.cfg.Token.Leeway+time.Second); err != nil {
			return err
		}
	}
	if p.SessionID != "" {
		if err := g.store.Set(ctx, deniedSession(p.External, p.SessionID), nil, keep); err != nil {
			return err
		}
	}
	if everywhere {
		return g.store.Set(ctx, loggedOutBefore(p.External, p.Username), []byte(strconv.FormatInt(g.now().Unix(), 10)), keep)
	}
	return nil
}

// longestLifetime is how long any token or refresh token can live, which
// is how long a revocation must be remembered.
func (g *Gateway) longestLifetime() time.Duration {
	d := max(g.cfg.Token.TTL, g.cfg.Session.MaxLifetime)
	if g.cfg.Token.Refresh.Enabled {
		d = max(d, g.cfg.Token.Refresh.MaxLifetime)
	}
	return d + g.cfg.Token.Leeway + time.Minute
}
