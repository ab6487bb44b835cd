package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/session"
	"github.com/authgate/authgate/internal/store"
	"github.com/authgate/authgate/internal/throttle"
)

// errBadLoginBody means the login body could not be read as exactly one
// username and one password.
var errBadLoginBody = errors.New("malformed login body")

// credentials is a parsed login body.
type credentials struct {
	username string
	password string
	rd       string // where a browser goes next; forms only
	// otp is the one-time code, beside the password or alone (otpOnly:
	// a browser's code step, whose password the pending cookie vouches
	// for).
	otp     string
	otpOnly bool
	// none says the body named neither a username nor a password: a
	// sign-in with the client certificate, if one was shown.
	none bool
}

// loginReply answers a login attempt in the caller's language: JSON for
// API clients, the login page again for browsers.
type loginReply struct {
	w       http.ResponseWriter
	r       *http.Request
	browser bool
	creds   credentials
}

// login serves POST /login: it checks the password and answers an API
// client with a bearer token, a browser with a session cookie and a
// redirect to rd. A wrong password and an unknown user get byte-identical
// answers after the same bcrypt work.
func (g *Gateway) login() http.Handler {
	maxBody := g.cfg.Login.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		reply := loginReply{w: w, r: r, browser: strings.Contains(r.Header.Get("Accept"), "text/html")}
		q := r.URL.Query()
		if q.Has("username") || q.Has("password") {
			// Query strings end up in access logs, proxies' logs and
			// browser history.
			g.loginFailed(reply, "credentials_in_query", http.StatusBadRequest, "bad_request", "Send credentials in the request body.")
			return
		}
		if same, present := session.Origin(r, g.trust.Proto(r), g.trust.Host(r)); reply.browser && present && !same {
			// Login CSRF: another site must not log a browser into an
			// account of the attacker's choosing.
			g.loginFailed(reply, "cross_origin", http.StatusForbidden, "cross_origin", "This sign-in form was sent from another site. Open the sign-in page and try again.")
			return
		}
		wait, err := g.clientLimit.Wait(r.Context(), throttle.ClientKey(g.trust.ClientIP(r)))
		switch {
		case err != nil:
			g.loginUnavailable(reply, err)
			return
		case wait > 0:
			// A throttled client is refused before its body is read: under a
			// flood this answer must cost next to nothing.
			g.throttled(reply, wait, false)
			return
		}
		_, certificate := g.certificateAccount(r)
		if certificate && r.ContentLength == 0 {
			// A machine signing in with its certificate alone.
			g.certificateLogin(reply, "")
			return
		}
		creds, status, err := readLogin(w, r, maxBody)
		if err == nil && creds.none {
			if certificate {
				g.certificateLogin(reply, creds.rd)
				return
			}
			status, err = http.StatusBadRequest, errBadLoginBody
		}
		if err != nil {
			code := "bad_request"
			if status == http.StatusUnsupportedMediaType {
				code = "unsupported_media_type"
			}
			g.loginFailed(reply, "bad_request", status, code, "The sign-in request was malformed. Please try again.")
			return
		}
		reply.creds = creds
		if creds.otpOnly {
			g.codeStep(reply)
			return
		}
		account, ok := g.checkPassword(reply)
		if !ok {
			return
		}
		amr, ok := g.afterPassword(reply, account)
		if !ok {
			return
		}
		g.loginSucceeded(reply, account, amr)
	})
}

// loginSucceeded starts the session of a login that passed every check.
func (g *Gateway) loginSucceeded(reply loginReply, account auth.Account, amr []string) {
	w, r := reply.w, reply.r
	requestInfoFrom(r.Context()).user = account.Username
	g.metrics.Login("success")
	g.logger.LogAttrs(r.Context(), slog.LevelInfo, "login succeeded", slog.String("user", account.Username), slog.Bool("browser", reply.browser))
	rd := g.redirects.Safe(reply.creds.rd, g.trust.Host(r))
	if err := g.beginSession(w, r, account, amr, reply.browser, rd); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			g.loginUnavailable(reply, err)
			return
		}
		g.logger.LogAttrs(r.Context(), slog.LevelError, "begin session", slog.String("error", err.Error()))
		g.loginFailed(reply, "error", http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.")
	}
}

// checkPassword applies the throttles and checks the password, answering
// the request itself when the login fails.
func (g *Gateway) checkPassword(reply loginReply) (auth.Account, bool) {
	r, h, creds := reply.r, reply.w.Header(), reply.creds
	userKey := throttle.UsernameKey(creds.username)
	clientKey := throttle.ClientKey(g.trust.ClientIP(r))
	// Both buckets are charged before the password is checked, so that a
	// flood's concurrent attempts cannot all pass while the first is being
	// compared; a success gives the charges back. Hammering a locked
	// account counts against the client, so that its next attempts are
	// refused before their body is even read.
	// Checked before the password, so the right password during a lock
	// gets the same answer and reveals nothing.
	ctx := r.Context()
	if !g.chargeAttempt(reply, clientKey, userKey) {
		return auth.Account{}, false
	}
	account, err := g.users.CheckPassword(ctx, creds.username, creds.password)
	switch {
	case err == nil:
		if !g.factors[account.Username].enrolled() {
			// Given back at best: one lost to an outage is a charge that
			// expires by itself, and the login stands.
			_ = g.userLimit.Reset(ctx, userKey)
			_ = g.clientLimit.Refund(ctx, clientKey)
		}
		// Else the charges stay until the second factor succeeds: one
		// who knows the password must not earn a fresh bucket of code
		// guesses with each correct password.
		return account, true
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrPasswordTooLong):
		outcome := "invalid"
		if errors.Is(err, auth.ErrPasswordTooLong) {
			outcome = "too_long"
		}
		h.Set("WWW-Authenticate", `Bearer realm="authgate"`)
		g.loginFailed(reply, outcome, http.StatusUnauthorized, "invalid_credentials", "Incorrect username or password.")
	case errors.Is(err, auth.ErrBusy):
		// Counted against the client (not the account): one client
		// flooding a full queue is soon refused before its body is read.
		_ = g.userLimit.Refund(ctx, userKey)
		g.throttled(reply, time.Second, true)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		g.metrics.Login("canceled")
	default:
		g.logger.LogAttrs(r.Context(), slog.LevelError, "password check failed", slog.String("error", err.Error()))
		g.loginFailed(reply, "error", http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.")
	}
	return auth.Account{}, false
}

// loginFailed counts, logs and answers a failed login. The username is not
// logged for failures: people type their password into the username field.
func (g *Gateway) loginFailed(reply loginReply, outcome string, status int, code, message string) {
	r := reply.r
	requestInfoFrom(r.Context()).reason = outcome
	g.metrics.Login(outcome)
	level := slog.LevelInfo
	if outcome == "throttled" || outcome == "busy" {
		// Under a flood these come by the thousand per second; the access
		// line already says why (deny_reason) and the metric counts them.
		level = slog.LevelDebug
	}
	g.logger.LogAttrs(r.Context(), level, "login failed", slog.String("outcome", outcome))
	if reply.browser {
		rd := g.redirects.Safe(reply.creds.rd, g.trust.Host(r))
		g.render(reply.w, r, status, pageView{
			RD:            rd,
			Username:      reply.creds.username,
			Error:         message,
			FocusPassword: reply.creds.username != "",
			CookieProblem: g.loginCookieProblem(r, rd),
		})
		return
	}
	writeJSONError(reply.w, status, code)
}

// chargeAttempt charges a login attempt (a password or a code) to the
// client's bucket and then the account's, answering the request itself
// and returning false when either is empty or cannot be counted: an
// attempt the throttles cannot count is not made.
func (g *Gateway) chargeAttempt(reply loginReply, clientKey, userKey string) bool {
	ctx := reply.r.Context()
	wait, err := g.clientLimit.Take(ctx, clientKey)
	if err == nil && wait == 0 {
		wait, err = g.userLimit.Take(ctx, userKey)
	}
	switch {
	case err != nil:
		g.loginUnavailable(reply, err)
		return false
	case wait > 0:
		g.throttled(reply, wait, false)
		return false
	}
	return true
}

// loginUnavailable answers a login that needed the shared state while it
// could not be reached (store.ErrUnavailable): it can neither count the
// attempt nor record the session, so it is refused for now.
func (g *Gateway) loginUnavailable(reply loginReply, err error) {
	g.logger.LogAttrs(reply.r.Context(), slog.LevelWarn, "login refused: shared state unavailable", slog.String("error", err.Error()))
	reply.w.Header().Set("Retry-After", stateRetryAfter)
	g.loginFailed(reply, "state_unavailable", http.StatusServiceUnavailable, "state_unavailable", "Signing in is unavailable for a moment. Please try again shortly.")
}

// throttled answers a login refused by a throttle (429) or by a full
// password-check queue (503), after holding the answer in its handler
// until the client may retry, at most login.shed_delay. A flooding client
// that retries as soon as it is answered (brute-force tools keep a fixed
// number of connections busy) then sends about one attempt per connection
// and shed_delay, and a held answer costs a parked goroutine, no CPU.
// Retry-After says what is left of the wait.
func (g *Gateway) throttled(reply loginReply, wait time.Duration, busy bool) {
	if hold := min(wait, g.cfg.Login.ShedDelay); hold > 0 {
		t := time.NewTimer(hold)
		select {
		case <-t.C:
		case <-reply.r.Context().Done():
			t.Stop()
		}
		wait -= hold
	}
	seconds := max(1, int((wait+time.Second-1)/time.Second))
	reply.w.Header().Set("Retry-After", strconv.Itoa(seconds))
	if busy {
		g.loginFailed(reply, "busy", http.StatusServiceUnavailable, "busy", "The server is busy. Please try again in a moment.")
		return
	}
	g.loginFailed(reply, "throttled", http.StatusTooManyRequests, "too_many_requests",
		fmt.Sprintf("Too many failed sign-in attempts. Try again in %d seconds.", seconds))
}

// readLogin reads a bounded form or JSON body holding one username and one
// password. The status says how to answer a failure.
func readLogin(w http.ResponseWriter, r *http.Request, maxBody int64) (credentials, int, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return credentials{}, http.StatusUnsupportedMediaType, errBadLoginBody
	}
	if mediaType != "application/x-www-form-urlencoded" && mediaType != "application/json" {
		return credentials{}, http.StatusUnsupportedMediaType, errBadLoginBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return credentials{}, http.StatusBadRequest, errBadLoginBody
	}
	var c credentials
	if mediaType == "application/json" {
		c, err = parseLoginJSON(body)
	} else {
		c, err = parseLoginForm(body)
	}
	if err != nil {
		return credentials{}, http.StatusBadRequest, err
	}
	return c, http.StatusOK, nil
}

// parseLoginForm accepts username and password once each; other fields are
// ignored so that HTML forms may carry more.
func parseLoginForm(body []byte) (credentials, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return credentials{}, errBadLoginBody
	}
	user, pass, rd, code := values["username"], values["password"], values["rd"], values["otp"]
	var c credentials
	switch {
	case len(rd) > 1 || len(code) > 1:
		return credentials{}, errBadLoginBody
	case len(user) == 0 && len(pass) == 0 && len(code) == 1:
		c.otpOnly = true
	case len(user) == 0 && len(pass) == 0:
		c.none = true
	case len(user) != 1 || len(pass) != 1:
		return credentials{}, errBadLoginBody
	default:
		c.username, c.password = user[0], pass[0]
	}
	if len(rd) == 1 {
		c.rd = rd[0]
	}
	if len(code) == 1 {
		c.otp = code[0]
	}
	return c, nil
}

// parseLoginJSON accepts exactly {"username": string, "password": string}
// and perhaps "otp": string.
func parseLoginJSON(body []byte) (credentials, error) {
	fields, err := parseStrictJSON(body, []string{"username", "password"}, []string{"otp"})
	if err != nil {
		return credentials{}, err
	}
	return credentials{username: fields["username"], password: fields["password"], otp: fields["otp"]}, nil
}

// parseStrictJSON reads a flat JSON object of string values with every
// required key and perhaps some optional ones. encoding/json alone would
// accept case-variant keys ("USERNAME"), take the last of duplicate keys
// and ignore trailing data; each of those lets two components read one
// body differently, so the object is walked token by token instead.
func parseStrictJSON(body []byte, required, optional []string) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errBadLoginBody
	}
	fields := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errBadLoginBody
		}
		key, _ := tok.(string)
		if _, dup := fields[key]; dup || !(slices.Contains(required, key) || slices.Contains(optional, key)) {
			return nil, errBadLoginBody
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, errBadLoginBody
		}
		s, ok := tok.(string)
		if !ok {
			return nil, errBadLoginBody
		}
		fields[key] = s
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errBadLoginBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errBadLoginBody
	}
	for _, k := range required {
		if _, ok := fields[k]; !ok {
			return nil, errBadLoginBody
		}
	}
	return fields, nil
}
