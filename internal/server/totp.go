package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/store"
	"github.com/authgate/authgate/internal/throttle"
)

// TOTP as RFC 6238 and every authenticator app default it: 30-second
// steps, 6 digits, HMAC-SHA-1.
const (
	totpPeriod = 30
	totpSkew   = 1 // steps either side of now (RFC 6238 section 5.2)
	// pendingTTL is how long the code step waits after a correct
	// password.
	pendingTTL = 5 * time.Minute
)

var totpOptions = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Refusals of a second factor at sign-in.
var (
	errOTPInvalid  = errors.New("wrong one-time code")
	errOTPReplayed = errors.New("one-time code already used")
)

// checkTOTP accepts code if it is the user's code for the current step or
// one either side, and no code of that step was accepted before: each
// accepted step is recorded with Add, which only one replica sharing the
// store can win, until the step can no longer be accepted.
func (g *Gateway) checkTOTP(ctx context.Context, username, secret, code string) error {
	if len(code) != 6 || secret == "" {
		return errOTPInvalid
	}
	now := g.now().Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := now + d
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), totpOptions)
		if err != nil {
			return err // config checked the secret: not reached
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		first, err := g.store.Add(ctx, totpStepKey(username, step), nil, (2*totpSkew+2)*totpPeriod*time.Second)
		switch {
		case err != nil:
			return err
		case !first:
			return errOTPReplayed
		}
		return nil
	}
	return errOTPInvalid
}

// totpStepKey names a used step of a user's TOTP in the store.
func totpStepKey(username string, step int64) string {
	return "totp:" + strconv.Quote(username) + ":" + strconv.FormatInt(step, 10)
}

// pendingStep is a correct password waiting for its second factor, sealed
// into the browser: bound to the user and their password (Generation
// changes with it), it is no session and opens nothing but the code step.
type pendingStep struct {
	// ID makes the step single use: consumePending records it in the
	// store when the step succeeds, so a copy of the cookie opens nothing.
	ID         string `json:"id"`
	User       string `json:"u"`
	Generation string `json:"g"`
	RD         string `json:"rd"`
	Expires    int64  `json:"exp"`
}

// setPending hands the browser its pending code step.
func (g *Gateway) setPending(w http.ResponseWriter, p pendingStep) error {
	id, err := randomToken()
	if err != nil {
		return err
	}
	p.ID, p.Expires = id, g.now().Add(pendingTTL).Unix()
	g.pending.seal(w, p, pendingTTL)
	return nil
}

// errPendingUsed means a pending step that already opened a session was
// presented again: a copy of the cookie.
var errPendingUsed = errors.New("pending second step already used")

// consumePending records p as used, once, on every replica.
func (g *Gateway) consumePending(ctx context.Context, p pendingStep) error {
	first, err := g.store.Add(ctx, "pending:"+p.ID, nil, pendingTTL+time.Minute)
	switch {
	case err != nil:
		return err
	case !first:
		return errPendingUsed
	}
	return nil
}

// readPending returns the browser's pending code step, if it is one the
// gateway sealed, still valid and for a user whose password is unchanged.
func (g *Gateway) readPending(r *http.Request) (pendingStep, bool) {
	var p pendingStep
	if !g.pending.open(r, &p) || g.now().Unix() > p.Expires || p.User == "" {
		return pendingStep{}, false
	}
	a, ok := g.users.Lookup(p.User)
	if !ok || a.Disabled || a.Generation != p.Generation {
		return pendingStep{}, false
	}
	return p, true
}

// afterPassword applies the user's second factor once their password was
// right, answering the request itself unless the login may go on with
// the amr it returns. A user with TOTP needs the code: an API client
// sends it as otp beside the password (without it: 401 otp_required),
// a browser is shown the code step. A user with passkeys, where
// passkeys.sign_in allows one as the second factor, needs one: a browser
// is shown the passkey step (beside the code step for a user with both),
// an API client, which cannot give one through POST /login, is refused
// with 403 passkey_required. A user with require_mfa and no factor
// cannot sign in.
func (g *Gateway) afterPassword(reply loginReply, a auth.Account) ([]string, bool) {
	f := g.factors[a.Username]
	passkey := g.passkeyStep(a.Username)
	switch {
	case f.enrolled() && reply.creds.otp != "":
		if !g.secondFactor(reply, a.Username, f) {
			return nil, false
		}
		return []string{"pwd", "otp"}, true
	case reply.browser && (f.enrolled() || passkey):
		if f.enrolled() {
			g.metrics.SecondFactor("totp", "required")
		}
		if passkey {
			g.metrics.SecondFactor("passkey", "required")
		}
		rd := g.redirects.Safe(reply.creds.rd, g.trust.Host(reply.r))
		if err := g.setPending(reply.w, pendingStep{User: a.Username, Generation: a.Generation, RD: rd}); err != nil {
			g.logger.LogAttrs(reply.r.Context(), slog.LevelError, "pending second step", slog.String("error", err.Error()))
			g.loginFailed(reply, "error", http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.")
			return nil, false
		}
		g.render(reply.w, reply.r, http.StatusOK, pageView{OTP: f.enrolled(), PasskeyStep: passkey, RD: rd})
		return nil, false
	case f.enrolled():
		g.metrics.SecondFactor("totp", "required")
		// Only after the right password: the client learns the password
		// was right, which it needs to know to ask for the code
		// (SECURITY.md).
		g.loginFailed(reply, "otp_required", http.StatusUnauthorized, "otp_required", "")
		return nil, false
	case passkey:
		// As otp_required, only after the right password; a passkey
		// needs a browser's WebAuthn ceremony, which no field of POST
		// /login can carry.
		g.metrics.SecondFactor("passkey", "required")
		g.loginFailed(reply, "passkey_required", http.StatusForbidden, "passkey_required", "")
		return nil, false
	case f.requireMFA && f.passkey:
		g.loginFailed(reply, "mfa_required", http.StatusForbidden, "mfa_required",
			"This account requires a second factor: sign in with your passkey.")
		return nil, false
	case f.requireMFA:
		g.metrics.SecondFactor("totp", "not_enrolled")
		g.loginFailed(reply, "mfa_not_enrolled", http.StatusForbidden, "mfa_not_enrolled",
			"This account requires a second factor, and none is enrolled. Ask your administrator to enrol one.")
		return nil, false
	}
	return []string{"pwd"}, true
}

// codeStep serves a browser's code step: the pending cookie names the
// user whose password was right.
func (g *Gateway) codeStep(reply loginReply) {
	p, ok := g.readPending(reply.r)
	if !ok || !g.factors[p.User].enrolled() {
		// Expired, forged, or the user's password or factor changed
		// since: begin again.
		g.loginFailed(reply, "otp_expired", http.StatusUnauthorized, "invalid_credentials", "The sign-in took too long. Please enter your username and password again.")
		return
	}
	reply.creds.username, reply.creds.rd = p.User, p.RD
	a, _ := g.users.Lookup(p.User) // readPending checked it
	if !g.secondFactor(reply, p.User, g.factors[p.User]) {
		return
	}
	g.pending.clear(reply.w)
	if err := g.consumePending(reply.r.Context(), p); errors.Is(err, store.ErrUnavailable) {
		g.loginUnavailable(reply, err)
		return
	} else if err != nil {
		g.loginFailed(reply, "otp_expired", http.StatusUnauthorized, "invalid_credentials", "The sign-in took too long. Please enter your username and password again.")
		return
	}
	g.loginSucceeded(reply, a, []string{"pwd", "otp"})
}

// secondFactor checks the code under the same throttles as passwords,
// answering the request itself when it fails. A wrong or replayed code
// gets the wrong password's answer from the API; a browser, which is
// past the password already, is asked again.
func (g *Gateway) secondFactor(reply loginReply, username string, f userFactors) bool {
	r := reply.r
	userKey := throttle.UsernameKey(username)
	clientKey := throttle.ClientKey(g.trust.ClientIP(r))
	ctx := r.Context()
	if !g.chargeAttempt(reply, clientKey, userKey) {
		return false
	}
	err := g.checkTOTP(ctx, username, f.totpSecret, reply.creds.otp)
	switch {
	case err == nil:
		// Given back at best, as after a password.
		_ = g.userLimit.Reset(ctx, userKey)
		_ = g.clientLimit.Refund(ctx, clientKey)
		g.metrics.SecondFactor("totp", "success")
		return true
	case errors.Is(err, errOTPInvalid), errors.Is(err, errOTPReplayed):
		outcome := "invalid"
		if errors.Is(err, errOTPReplayed) {
			outcome = "replayed"
		}
		g.metrics.SecondFactor("totp", outcome)
		if reply.creds.otpOnly {
			g.metrics.Login("invalid_otp")
			g.logger.LogAttrs(r.Context(), slog.LevelInfo, "login failed", slog.String("outcome", "invalid_otp"))
			g.render(reply.w, r, http.StatusUnauthorized, pageView{OTP: true, PasskeyStep: g.passkeyStep(username), RD: reply.creds.rd, Error: "Incorrect code. Enter the current code from your authenticator app."})
			return false
		}
		reply.w.Header().Set("WWW-Authenticate", `Bearer realm="authgate"`)
		g.loginFailed(reply, "invalid", http.StatusUnauthorized, "invalid_credentials", "Incorrect username or password.")
	case errors.Is(err, store.ErrUnavailable):
		// The code's use cannot be recorded, so it cannot be accepted once.
		g.metrics.SecondFactor("totp", "error")
		g.loginUnavailable(reply, err)
	default:
		g.metrics.SecondFactor("totp", "error")
		g.logger.LogAttrs(r.Context(), slog.LevelError, "second factor check failed", slog.String("error", err.Error()))
		g.loginFailed(reply, "error", http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.")
	}
	return false
}
