package server

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/session"
	"github.com/authgate/authgate/internal/throttle"
)

//go:embed web/account.html
var accountPageText string

var accountPage = template.Must(template.New("account").Parse(accountPageText))

// Refusals of passkey ceremonies.
var (
	// errPasskeyInvalid means the browser's answer did not verify: wrong
	// origin or RP ID, a challenge of another ceremony, a signature that
	// does not match, an unknown credential or one of another user.
	errPasskeyInvalid = errors.New("passkey assertion or registration did not verify")
	// errPasskeyCloned means the signature counter did not grow: two
	// authenticators hold the key (W3C WebAuthn 7.2 step 21).
	errPasskeyCloned = errors.New("passkey signature counter went backwards")
	// errPasskeyCeremony means the ceremony's sealed cookie is missing,
	// expired, of another user, or its challenge was used already.
	errPasskeyCeremony = errors.New("no passkey ceremony in progress")
	// errSignInRequired means the account page needs a session.
	errSignInRequired = errors.New("sign in first")
	// errPasswordlessOff means passkeys.sign_in is second_factor: a
	// passkey signs its user in only after their password.
	errPasswordlessOff = errors.New("passkeys sign in only after a password here")
)

// ceremonyTTL is how long a passkey ceremony may take.
const ceremonyTTL = 5 * time.Minute

// counterTTL is how long an unused passkey's counter is remembered.
const counterTTL = 400 * 24 * time.Hour

// passkeyUser is a local user as the WebAuthn library sees them.
type passkeyUser struct {
	name  string
	creds []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return userHandle(u.name) }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// userHandle is the WebAuthn user handle of username: a hash, so that the
// authenticator stores no name (WebAuthn 14.6.1), stable across configs.
func userHandle(username string) []byte {
	h := sha256.Sum256([]byte("authgate passkey user\x00" + username))
	return h[:]
}

// passkeys holds the configured relying party and every user's passkeys.
type passkeys struct {
	rp *webauthn.WebAuthn
	uv protocol.UserVerificationRequirement
	// passwordless and secondFactor are passkeys.sign_in: whether a
	// passkey signs in alone, and whether it is asked for after a
	// password.
	passwordless, secondFactor bool
	// byHandle maps a user handle to its user's passkeys.
	byHandle map[string]*passkeyUser
	byName   map[string]*passkeyUser
}

func buildPasskeys(pc *config.Passkeys, users []config.User) (*passkeys, error) {
	if pc == nil {
		return nil, nil
	}
	uv := protocol.UserVerificationRequirement(pc.UserVerification)
	rp, err := webauthn.New(&webauthn.Config{
		RPID: pc.RPID, RPDisplayName: pc.RPName, RPOrigins: pc.Origins,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: uv,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	p := &passkeys{rp: rp, uv: uv, passwordless: pc.Passwordless(), secondFactor: pc.SecondFactor(), byHandle: map[string]*passkeyUser{}, byName: map[string]*passkeyUser{}}
	for _, u := range users {
		pu := &passkeyUser{name: u.Username}
		for _, k := range u.Passkeys {
			pu.creds = append(pu.creds, webauthn.Credential{ID: k.ID, PublicKey: k.PublicKey, Flags: webauthn.CredentialFlags{BackupEligible: k.BackupEligible}})
		}
		p.byHandle[string(pu.WebAuthnID())], p.byName[u.Username] = pu, pu
	}
	return p, nil
}

// ceremony is a passkey ceremony in progress, sealed into the browser.
type ceremony struct {
	Kind    string               `json:"k"` // "register", "login" or "step"
	User    string               `json:"u,omitempty"`
	RD      string               `json:"rd,omitempty"`
	Session webauthn.SessionData `json:"s"`
	Expires int64                `json:"exp"`
}

func (g *Gateway) openCeremony(r *http.Request, kind string) (ceremony, error) {
	var c ceremony
	if !g.ceremony.open(r, &c) || c.Kind != kind || g.now().Unix() > c.Expires {
		return ceremony{}, errPasskeyCeremony
	}
	// Each challenge answers once, across replicas.
	first, err := g.store.Add(r.Context(), "webauthn:"+c.Session.Challenge, nil, ceremonyTTL+time.Minute)
	if err != nil || !first {
		return ceremony{}, errPasskeyCeremony
	}
	return c, nil
}

// signedInUser is the local user of the request's session cookie.
func (g *Gateway) signedInUser(r *http.Request) (principal, error) {
	p, src, err := g.identify(r)
	switch {
	case err != nil:
		return principal{}, err
	case src != fromCookie || p.Provider != "" || p.External != "":
		return principal{}, errSignInRequired
	}
	return p, nil
}

// accountPage serves GET {login}/account: a signed-in local user
// registers a passkey there and is shown the line to give the operator.
func (g *Gateway) accountPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := g.signedInUser(r)
		if err != nil {
			http.Redirect(w, r, withReturn(g.cfg.Paths.Login, r.URL.RequestURI()), http.StatusFound)
			return
		}
		nonce := randomNonce()
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		_ = accountPage.Execute(w, map[string]string{"User": p.Username, "Nonce": nonce, "Base": g.cfg.Paths.Login})
	})
}

// passkeyRegisterBegin starts registering a passkey for the signed-in
// user.
func (g *Gateway) passkeyRegisterBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := g.signedInUser(r)
		if err == nil {
			err = checkOrigin(r, r.Method, g.trust.Proto(r), g.trust.Host(r))
		}
		if err != nil {
			g.deny(w, r, err)
			return
		}
		u := g.passkeys.user(p.Username)
		var exclude []protocol.CredentialDescriptor
		for _, c := range u.creds {
			exclude = append(exclude, c.Descriptor())
		}
		creation, sess, err := g.passkeys.rp.BeginRegistration(u, webauthn.WithExclusions(exclude),
			webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
		if err != nil {
			g.passkeyError(w, r, err)
			return
		}
		g.ceremony.seal(w, ceremony{Kind: "register", User: p.Username, Session: *sess, Expires: g.now().Add(ceremonyTTL).Unix()}, ceremonyTTL)
		writeJSON(w, creation)
	})
}

// passkeyRegisterFinish checks the new credential and answers the line
// the operator adds under the user's passkeys.
func (g *Gateway) passkeyRegisterFinish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := g.signedInUser(r)
		if err == nil {
			err = checkOrigin(r, r.Method, g.trust.Proto(r), g.trust.Host(r))
		}
		var c ceremony
		if err == nil {
			if c, err = g.openCeremony(r, "register"); err == nil && c.User != p.Username {
				err = errPasskeyCeremony
			}
		}
		if err != nil {
			g.deny(w, r, err)
			return
		}
		g.ceremony.clear(w)
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		cred, err := g.passkeys.rp.FinishRegistration(g.passkeys.user(p.Username), c.Session, r)
		if err != nil {
			g.logger.LogAttrs(r.Context(), slog.LevelInfo, "passkey registration refused", slog.String("error", err.Error()))
			g.deny(w, r, errPasskeyInvalid)
			return
		}
		line := fmt.Sprintf("- {name: %s, id: %s, public_key: %s, backup_eligible: %t}",
			strconv.Quote(g.now().UTC().Format("passkey-2006-01-02")),
			base64.RawURLEncoding.EncodeToString(cred.ID), base64.RawURLEncoding.EncodeToString(cred.PublicKey), cred.Flags.BackupEligible)
		g.logger.LogAttrs(r.Context(), slog.LevelInfo, "passkey registered", slog.String("user", p.Username))
		writeJSON(w, map[string]string{"user": p.Username, "line": line})
	})
}

// passkeyLoginBegin starts a passwordless sign-in: the browser picks the
// passkey (a discoverable credential names its user).
func (g *Gateway) passkeyLoginBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.passkeys.passwordless {
			g.deny(w, r, errPasswordlessOff)
			return
		}
		assertion, sess, err := g.passkeys.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(g.passkeys.uv))
		if err != nil {
			g.passkeyError(w, r, err)
			return
		}
		rd := g.redirects.Safe(r.URL.Query().Get("rd"), g.trust.Host(r))
		g.ceremony.seal(w, ceremony{Kind: "login", RD: rd, Session: *sess, Expires: g.now().Add(ceremonyTTL).Unix()}, ceremonyTTL)
		writeJSON(w, assertion)
	})
}

// passkeyLoginFinish verifies a passwordless assertion and starts the
// session.
func (g *Gateway) passkeyLoginFinish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.passkeys.passwordless {
			g.deny(w, r, errPasswordlessOff)
			return
		}
		c, a, factor, ok := g.checkAssertion(w, r, "login", "")
		if !ok {
			return
		}
		g.metrics.Login("success")
		g.metrics.SecondFactor("passkey", "success")
		g.logger.LogAttrs(r.Context(), slog.LevelInfo, "login succeeded", slog.String("user", a.Username), slog.String("method", "passkey"))
		if err := g.beginSession(w, r, a, []string{factor}, true, c.RD); err != nil {
			g.logger.LogAttrs(r.Context(), slog.LevelError, "begin session", slog.String("error", err.Error()))
			writeJSONError(w, http.StatusInternalServerError, "internal_error")
		}
	})
}

// passkeyStep reports whether username is asked for a passkey after
// their password.
func (g *Gateway) passkeyStep(username string) bool {
	return g.passkeys != nil && g.passkeys.secondFactor && g.factors[username].passkey
}

// passkeyStepBegin starts the passkey step after a correct password: the
// pending cookie names the user, and only their passkeys are asked for.
func (g *Gateway) passkeyStepBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := g.readPending(r)
		if !ok || !g.passkeyStep(p.User) {
			g.deny(w, r, errPasskeyCeremony)
			return
		}
		assertion, sess, err := g.passkeys.rp.BeginLogin(g.passkeys.user(p.User), webauthn.WithUserVerification(g.passkeys.uv))
		if err != nil {
			g.passkeyError(w, r, err)
			return
		}
		g.ceremony.seal(w, ceremony{Kind: "step", User: p.User, RD: p.RD, Session: *sess, Expires: g.now().Add(ceremonyTTL).Unix()}, ceremonyTTL)
		writeJSON(w, assertion)
	})
}

// passkeyStepFinish verifies the passkey step's assertion, which must be
// by a passkey of the user whose password the pending cookie vouches
// for, and starts the session with the password and the passkey as amr.
func (g *Gateway) passkeyStepFinish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read again: the password may have changed since the step began.
		p, ok := g.readPending(r)
		if !ok || !g.passkeyStep(p.User) {
			g.deny(w, r, errPasskeyCeremony)
			return
		}
		c, a, factor, ok := g.checkAssertion(w, r, "step", p.User)
		if !ok {
			return
		}
		g.pending.clear(w)
		if err := g.consumePending(r.Context(), p); err != nil {
			if errors.Is(err, errPendingUsed) {
				err = errPasskeyCeremony
			}
			g.deny(w, r, err)
			return
		}
		g.metrics.SecondFactor("passkey", "success")
		reply := loginReply{w: w, r: r, browser: true, creds: credentials{username: a.Username, rd: c.RD}}
		g.loginSucceeded(reply, a, []string{"pwd", factor})
	})
}

// checkAssertion verifies the request's passkey assertion against its
// ceremony of kind, answering the request itself when it fails: for
// "login" any user's passkey (the browser chose it), for "step" only
// user's. The signature counter is kept in the store, so replicas agree:
// one that does not grow marks a cloned authenticator and is refused.
// factor is the amr the passkey earns: hwk (swk for a synced passkey)
// with user verification, else user, which is no second factor.
func (g *Gateway) checkAssertion(w http.ResponseWriter, r *http.Request, kind, user string) (c ceremony, a auth.Account, factor string, ok bool) {
	if same, present := session.Origin(r, g.trust.Proto(r), g.trust.Host(r)); !present || !same {
		g.deny(w, r, errCrossOrigin)
		return
	}
	clientKey := throttle.ClientKey(g.trust.ClientIP(r))
	wait, err := g.clientLimit.Take(r.Context(), clientKey)
	switch {
	case err != nil:
		g.deny(w, r, fmt.Errorf("passkey sign-in throttle: %w", err))
		return
	case wait > 0:
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(wait/time.Second))))
		writeJSONError(w, http.StatusTooManyRequests, "too_many_requests")
		return
	}
	c, err = g.openCeremony(r, kind)
	if err == nil && c.User != user {
		err = errPasskeyCeremony // a step begun for another user's password
	}
	if err != nil {
		g.deny(w, r, err)
		return
	}
	g.ceremony.clear(w)
	counters := map[string][]byte{}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	parsed, err := protocol.ParseCredentialRequestResponse(r)
	var found webauthn.User
	var cred *webauthn.Credential
	switch {
	case err != nil:
	case kind == "step":
		// The library refuses a credential the user does not hold.
		var u *passkeyUser
		if u, err = g.withCounters(r.Context(), g.passkeys.user(user), counters); err == nil {
			found = u
			cred, err = g.passkeys.rp.ValidateLogin(u, c.Session, parsed)
		}
	default:
		found, cred, err = g.passkeys.rp.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
			u := g.passkeys.byHandle[string(handle)]
			if u == nil {
				return nil, errPasskeyInvalid
			}
			return g.withCounters(r.Context(), u, counters)
		}, c.Session, parsed)
	}
	if err != nil {
		g.logger.LogAttrs(r.Context(), slog.LevelInfo, "passkey sign-in refused", slog.String("error", err.Error()))
		g.deny(w, r, errPasskeyInvalid)
		return
	}
	if cred.Authenticator.CloneWarning {
		g.deny(w, r, errPasskeyCloned)
		return
	}
	if err := g.recordCounter(r.Context(), cred, counters[string(cred.ID)]); err != nil {
		g.deny(w, r, err)
		return
	}
	a, known := g.users.Lookup(found.WebAuthnName())
	if !known || a.Disabled {
		g.deny(w, r, errUserGone)
		return
	}
	// hwk: proof of a key an authenticator holds (swk for a synced one);
	// only with user verification is it a second factor, else the amr
	// says user presence alone.
	factor = "user"
	if parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		factor = "hwk"
		if cred.Flags.BackupEligible {
			factor = "swk"
		}
	}
	if factor == "user" && g.factors[a.Username].requireMFA {
		g.deny(w, r, errMFARequired)
		return
	}
	_ = g.clientLimit.Refund(r.Context(), clientKey)
	requestInfoFrom(r.Context()).user = a.Username
	return c, a, factor, true
}

// withCounters is a copy of u whose signature counters are the store's,
// which it also notes in counters by credential ID, for this check.
func (g *Gateway) withCounters(ctx context.Context, u *passkeyUser, counters map[string][]byte) (*passkeyUser, error) {
	cu := &passkeyUser{name: u.name, creds: append([]webauthn.Credential(nil), u.creds...)}
	for i := range cu.creds {
		v, ok, err := g.store.Get(ctx, counterKey(cu.creds[i].ID))
		if err != nil {
			return nil, err
		}
		if ok {
			n, _ := strconv.ParseUint(string(v), 10, 32)
			cu.creds[i].Authenticator.SignCount = uint32(n)
			counters[string(cu.creds[i].ID)] = v
		}
	}
	return cu, nil
}

// recordCounter stores cred's new signature counter by compare-and-swap
// from the one the check read (old, nil when none): of two sign-ins with
// one counter value, at most one wins, on any replica.
func (g *Gateway) recordCounter(ctx context.Context, cred *webauthn.Credential, old []byte) error {
	n := cred.Authenticator.SignCount
	if n == 0 && old == nil {
		return nil // an authenticator without a counter (WebAuthn 6.1.1)
	}
	next := []byte(strconv.FormatUint(uint64(n), 10))
	var ok bool
	var err error
	if old == nil {
		ok, err = g.store.Add(ctx, counterKey(cred.ID), next, counterTTL)
	} else {
		ok, err = g.store.CompareAndSwap(ctx, counterKey(cred.ID), old, next, counterTTL)
	}
	switch {
	case err != nil:
		return err
	case !ok:
		return errPasskeyCloned
	}
	return nil
}

func counterKey(id []byte) string { return "passkey:count:" + base64.RawURLEncoding.EncodeToString(id) }

// user is username's passkey user (with no passkeys when they have none).
func (p *passkeys) user(username string) *passkeyUser {
	if u := p.byName[username]; u != nil {
		return u
	}
	return &passkeyUser{name: username}
}

func (g *Gateway) passkeyError(w http.ResponseWriter, r *http.Request, err error) {
	g.logger.LogAttrs(r.Context(), slog.LevelError, "passkey ceremony", slog.String("error", err.Error()))
	writeJSONError(w, http.StatusInternalServerError, "internal_error")
}

func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func randomNonce() string {
	t, _ := randomToken()
	return strings.TrimRight(t, "=")[:22]
}
