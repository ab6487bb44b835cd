package server

import (
	"fmt"
	"net/http"

	"github.com/authgate/authgate/internal/auth"
)

// beginSession is where every login method ends: the password form
// today, an outside identity provider or a second factor later. Given the
// account a method verified and how the user proved who they are (amr,
// RFC 8176: "pwd", …), it starts the session: a browser gets the session
// cookie and is sent on to rd (already checked against the redirect
// allow-list), an API client gets an access token and, when refresh tokens
// are enabled, the first refresh token of a new family. Every token of the
// session carries amr, a new sid and the user's current revocation epoch.
func (g *Gateway) beginSession(w http.ResponseWriter, r *http.Request, a auth.Account, amr []string, browser bool, rd string) error {
	now := g.now()
	epoch, err := g.epoch(r.Context(), providerRealm(a.Provider), a.Username)
	if err != nil {
		return fmt.Errorf("read revocation epoch: %w", err)
	}
	// Requests are checked against the replica's copy of the revocations,
	// which keeps an epoch a Redis that lost its data has forgotten: a
	// session begun below it would be refused at once.
	if seen, err := readEpoch(r.Context(), g.revocations, providerRealm(a.Provider), a.Username); err == nil {
		epoch = max(epoch, seen)
	}
	sid, err := randomToken()
	if err != nil {
		return err
	}
	s := subject(a, sid, now, amr)
	s.Epoch = epoch
	if browser {
		s.SessionEnd = now.Add(g.cfg.Session.MaxLifetime)
		issued, err := g.tokens.IssueUntil(s, now.Add(g.cfg.Session.TTL))
		if err != nil {
			return err
		}
		g.cookie.Set(w, issued.Token, issued.ExpiresAt)
		http.Redirect(w, r, rd, http.StatusSeeOther)
		return nil
	}
	refresh := g.cfg.Token.Refresh
	s.SessionEnd = now.Add(g.cfg.Token.TTL)
	var token string
	if refresh.Enabled {
		familyEnd := now.Add(refresh.MaxLifetime)
		s.SessionEnd = familyEnd.Add(g.cfg.Token.TTL)
		if token, err = g.newFamily(r.Context(), s, familyEnd); err != nil {
			return err
		}
	}
	return g.issueTokens(w, s, token)
}
