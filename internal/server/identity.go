package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/authgate/authgate/internal/auth"
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
	// errProviderCookie means the session cookie held a trusted
	// provider's token rather than one authgate issued.
	errProviderCookie = errors.New("a provider's token in the session cookie")
)

// users is where accounts and their passwords come from: the users the
// config defines today (auth.Local); a directory such as LDAP would be
// another. Tokens name an account, and every request looks it up, so a
// removed or disabled user, or one whose generation moved on, is refused
// at once.
type users interface {
	// CheckPassword returns username's account if password is theirs, or
	// auth.ErrInvalidCredentials after the same work whoever is named,
	// auth.ErrPasswordTooLong, auth.ErrBusy or the context's error.
	CheckPassword(ctx context.Context, username, password string) (auth.Account, error)
	// Lookup returns the account a token names, if it still exists.
	Lookup(username string) (auth.Account, bool)
	// LookupFold returns the account whose name is name up to case and
	// width (names.Fold): the local user an outside name could pass for.
	LookupFold(name string) (auth.Account, bool)
}

// principal is a verified caller.
type principal struct {
	auth.Identity
	groups []string
	email  string
	// token is the verified bearer or cookie token; empty for an API key.
	token string
	// key is the API key the request was made with; nil for a token.
	key *apiKey
}

// subject is what a new token of a's session says: sid names the
// session, authTime is when the user proved who they are and amr how.
func subject(a auth.Account, sid string, authTime time.Time, amr []string) auth.Subject {
	return auth.Subject{Username: a.Username, Groups: a.Groups, Generation: a.Generation, SessionID: sid, AuthTime: authTime, AMR: amr, Provider: a.Provider}
}

// Revocation keys in the store. Each names the token's issuer (empty for
// authgate's own): a trusted provider's user called like a local one, or
// a provider token carrying a local token's jti or sid, must not be able
// to log the local one out. None keys on the token text as it was sent,
// which has several spellings: authgate's tokens are named by their jti,
// providers' by auth.Fingerprint, since a provider's jti may be missing,
// too long or a number.
func deniedToken(issuer, jti string) string   { return revocationKey("deny:jti", issuer, jti) }
func deniedContent(issuer, fp string) string  { return revocationKey("deny:tok", issuer, fp) }
func deniedSession(issuer, sid string) string { return revocationKey("deny:sid", issuer, sid) }
func epochKey(issuer, user string) string     { return revocationKey("epoch", issuer, user) }

// providerRealm is the issuer revocation keys name for the sessions of
// the OpenID Connect provider id's users ("" for a local account): one per
// provider, so that logging out one provider's "alice" everywhere touches
// neither a local alice nor another provider's. A trusted issuer's name
// is printable text (config refuses control characters), so none can be
// this.
func providerRealm(id string) string {
	if id == "" {
		return ""
	}
	return "\x00provider:" + id
}

// realm is the issuer revocation keys name for p: a trusted issuer, a
// provider, or "" for a local account.
func realm(p principal) string {
	if p.External != "" {
		return p.External
	}
	return providerRealm(p.Provider)
}

// revocationKey quotes the issuer, so no issuer and value can pass for
// another pair.
func revocationKey(kind, issuer, value string) string {
	return kind + ":" + strconv.Quote(issuer) + ":" + value
}

// tokenKey is the key that revokes p's token alone.
func tokenKey(p principal) string {
	if p.External != "" {
		return deniedContent(p.External, auth.Fingerprint(p.token))
	}
	return deniedToken("", p.TokenID)
}

// identify verifies the request's credentials: an API key in
// api_keys.header, else the bearer credential when there is an
// Authorization header (an API key when it starts with ag_, else a
// token), else the session cookie. Invalid explicit credentials never
// fall back to the cookie: explicit credentials that fail, fail the
// request.
func (g *Gateway) identify(r *http.Request) (principal, source, error) {
	if key, present, err := g.apiKeyCredential(r.Header); present {
		if err != nil {
			return principal{}, fromAPIKey, err
		}
		p, err := g.identifyAPIKey(key)
		return p, fromAPIKey, err
	}
	src := fromBearer
	var raw string
	var err error
	if _, present := r.Header["Authorization"]; present {
		raw, err = auth.BearerToken(r.Header)
		if err == nil && auth.LooksLikeAPIKey(raw) {
			p, err := g.identifyAPIKey(raw)
			return p, fromAPIKey, err
		}
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
		if src == fromCookie {
			// The cookie only ever holds authgate's own tokens. A
			// provider's token put there would be re-issued as an
			// authgate session of the local user of the same name.
			return principal{}, src, errProviderCookie
		}
		// A trusted provider's user: its token says who they are and in
		// which groups; local accounts and their generations do not apply.
		p := principal{Identity: id, groups: id.Groups, token: raw}
		if err := g.checkRevoked(r.Context(), p); err != nil {
			return principal{}, src, err
		}
		return p, src, nil
	}
	if id.Provider != "" {
		return g.identifyProviderUser(r.Context(), id, raw, src)
	}
	a, ok := g.users.Lookup(id.Username)
	if !ok || a.Disabled {
		return principal{}, src, errUserGone
	}
	if id.Generation != a.Generation {
		return principal{}, src, errRevoked
	}
	p := principal{Identity: id, groups: a.Groups, email: a.Email, token: raw}
	if err := g.checkRevoked(r.Context(), p); err != nil {
		return principal{}, src, err
	}
	return p, src, nil
}

// checkRevoked consults the revocations (in memory, never over the
// network): one read for the token, one for its session, one for its
// user's epoch. If they cannot answer (store.ErrUnavailable: a shared
// store's copy too long out of step), the token is refused: revocation
// must not fail open.
func (g *Gateway) checkRevoked(ctx context.Context, p principal) error {
	denied := func(key string) error {
		_, revoked, err := g.revocations.Get(ctx, key)
		if err != nil || revoked {
			return errors.Join(errRevoked, err)
		}
		return nil
	}
	if err := denied(tokenKey(p)); err != nil {
		return err
	}
	if p.SessionID != "" {
		if err := denied(deniedSession(realm(p), p.SessionID)); err != nil {
			return err
		}
	}
	epoch, err := readEpoch(ctx, g.revocations, realm(p), p.Username)
	switch {
	case err != nil:
		return errors.Join(errRevoked, err)
	case p.External == "" && p.Epoch < epoch:
		return errRevoked
	case p.External != "" && epoch > 0 && p.IssuedAt.Unix() <= epoch/1_000_000:
		// A provider's token cannot carry the epoch; its iat has
		// one-second precision, so one issued in the second of the logout
		// is refused too.
		return errRevoked
	}
	return nil
}

// epoch is the user's revocation epoch: 0 until they first log out
// everywhere, then the microsecond of the latest such logout (or more, see
// raiseEpoch). It is read from the store itself, as a new session must
// carry the epoch of now.
func (g *Gateway) epoch(ctx context.Context, issuer, user string) (int64, error) {
	return readEpoch(ctx, g.store, issuer, user)
}

func readEpoch(ctx context.Context, from reader, issuer, user string) (int64, error) {
	v, ok, err := from.Get(ctx, epochKey(issuer, user))
	if err != nil || !ok {
		return 0, err
	}
	return strconv.ParseInt(string(v), 10, 64)
}

// raiseEpoch ends every session of the user begun until now: tokens and
// refresh families carry the epoch read when their session began, and an
// older one is refused. Unlike a cutoff time of one-second precision, it
// spares no token issued in the same second, while a login right after
// reads the new epoch and works at once. The epoch only grows, to at least
// the current microsecond: when its key expires, every token of an older
// epoch has expired with it, and the next raise still exceeds every epoch
// handed out meanwhile. It changes by compare-and-swap only, so that
// replicas sharing a store never lower it.
func (g *Gateway) raiseEpoch(ctx context.Context, issuer, user string) error {
	key, keep := epochKey(issuer, user), g.longestLifetime()
	if issuer != "" {
		// As long as the provider's longest-lived token accepted today.
		keep = max(keep, auth.MaxExternalLifetime+g.cfg.Token.Leeway+time.Minute)
	}
	for range 16 {
		old, ok, err := g.store.Get(ctx, key)
		if err != nil {
			return err
		}
		var current int64
		if ok {
			if current, err = strconv.ParseInt(string(old), 10, 64); err != nil {
				return fmt.Errorf("revocation epoch: %w", err)
			}
		}
		next := []byte(strconv.FormatInt(max(g.now().UnixMicro(), current+1), 10))
		var done bool
		if ok {
			done, err = g.store.CompareAndSwap(ctx, key, old, next, keep)
		} else {
			done, err = g.store.Add(ctx, key, next, keep)
		}
		if err != nil || done {
			return err
		}
	}
	return errors.New("revocation epoch: too many concurrent changes")
}

// revoke ends the session p belongs to: its token until it expires, its
// session (every token and refresh token it produced) until the last of
// them could expire, and with everywhere every session of the user begun
// until now.
func (g *Gateway) revoke(ctx context.Context, p principal, everywhere bool) error {
	now, margin := g.now(), g.cfg.Token.Leeway+time.Second
	if err := g.store.Set(ctx, tokenKey(p), nil, p.ExpiresAt.Sub(now)+margin); err != nil {
		return err
	}
	if p.SessionID != "" {
		if err := g.store.Set(ctx, deniedSession(realm(p), p.SessionID), nil, g.sessionEnd(p.Identity).Sub(now)+margin); err != nil {
			return err
		}
	}
	if everywhere {
		return g.raiseEpoch(ctx, realm(p), p.Username)
	}
	return nil
}

// sessionEnd is when the last token of id's session expires at the
// latest: its sid_exp, which login set from session.max_lifetime for a
// browser session and from token.refresh.max_lifetime for a refresh family.
// A token without one comes from an older authgate.
func (g *Gateway) sessionEnd(id auth.Identity) time.Time {
	if id.SessionEnd.IsZero() {
		return g.now().Add(g.longestLifetime())
	}
	if id.ExpiresAt.After(id.SessionEnd) {
		return id.ExpiresAt
	}
	return id.SessionEnd
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
