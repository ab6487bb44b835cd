package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/authgate/authgate/auth"
	"github.com/authgate/authgate/throttle"
)

// errBadLoginBody means the login body could not be read as exactly one
// username and one password.
var errBadLoginBody = errors.New("malformed login body")

// credentials is a parsed login body.
type credentials struct {
	username string
	password string
}

// login serves POST /login: it checks the password and answers with a
// bearer token. A wrong password and an unknown user get byte-identical
// answers after the same bcrypt work.
func (g *Gateway) login() http.Handler {
	maxBody := g.cfg.Login.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		q := r.URL.Query()
		if q.Has("username") || q.Has("password") {
			// Query strings end up in access logs, proxies' logs and
			// browser history.
			g.loginFailed(w, r, "credentials_in_query", http.StatusBadRequest, "bad_request")
			return
		}
		creds, status, err := readLogin(w, r, maxBody)
		if err != nil {
			code := "bad_request"
			if status == http.StatusUnsupportedMediaType {
				code = "unsupported_media_type"
			}
			g.loginFailed(w, r, "bad_request", status, code)
			return
		}
		userKey := throttle.UsernameKey(creds.username)
		clientKey := throttle.ClientKey(g.trust.ClientIP(r))
		if wait := max(g.userLimit.Wait(userKey), g.clientLimit.Wait(clientKey)); wait > 0 {
			// Checked before the password, so the right password during a
			// lock gets this same answer and reveals nothing.
			h.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			g.loginFailed(w, r, "throttled", http.StatusTooManyRequests, "too_many_requests")
			return
		}
		err = g.passwords.Check(r.Context(), creds.username, creds.password)
		switch {
		case err == nil:
			g.userLimit.Reset(userKey)
		case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrPasswordTooLong):
			g.userLimit.Fail(userKey)
			g.clientLimit.Fail(clientKey)
			outcome := "invalid"
			if errors.Is(err, auth.ErrPasswordTooLong) {
				outcome = "too_long"
			}
			h.Set("WWW-Authenticate", `Bearer realm="authgate"`)
			g.loginFailed(w, r, outcome, http.StatusUnauthorized, "invalid_credentials")
			return
		case errors.Is(err, auth.ErrBusy):
			h.Set("Retry-After", "1")
			g.loginFailed(w, r, "busy", http.StatusServiceUnavailable, "busy")
			return
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			g.metrics.Login("canceled")
			return
		default:
			g.logger.LogAttrs(r.Context(), slog.LevelError, "password check failed", slog.String("error", err.Error()))
			g.loginFailed(w, r, "error", http.StatusInternalServerError, "internal_error")
			return
		}
		issued, err := g.tokens.Issue(creds.username)
		if err != nil {
			g.logger.LogAttrs(r.Context(), slog.LevelError, "issue token", slog.String("error", err.Error()))
			g.loginFailed(w, r, "error", http.StatusInternalServerError, "internal_error")
			return
		}
		info.user = creds.username
		g.metrics.Login("success")
		g.logger.LogAttrs(r.Context(), slog.LevelInfo, "login succeeded", slog.String("user", creds.username))
		body, _ := json.Marshal(struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int64  `json:"expires_in"`
		}{issued.Token, "Bearer", issued.ExpiresIn})
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)+1))
		_, _ = w.Write(append(body, '\n'))
	})
}

// loginFailed counts, logs and answers a failed login. The username is not
// logged for failures: people type their password into the username field.
func (g *Gateway) loginFailed(w http.ResponseWriter, r *http.Request, outcome string, status int, code string) {
	if info := requestInfoFrom(r.Context()); info != nil {
		info.reason = outcome
	}
	g.metrics.Login(outcome)
	g.logger.LogAttrs(r.Context(), slog.LevelInfo, "login failed", slog.String("outcome", outcome))
	writeJSONError(w, status, code)
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
	user, pass := values["username"], values["password"]
	if len(user) != 1 || len(pass) != 1 {
		return credentials{}, errBadLoginBody
	}
	return credentials{username: user[0], password: pass[0]}, nil
}

// parseLoginJSON accepts exactly {"username": string, "password": string}.
// encoding/json alone would accept case-variant keys ("USERNAME"), take the
// last of duplicate keys and ignore trailing data; each of those lets two
// components read one body differently, so the object is walked token by
// token instead.
func parseLoginJSON(body []byte) (credentials, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return credentials{}, errBadLoginBody
	}
	var c credentials
	var seenUser, seenPass bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return credentials{}, errBadLoginBody
		}
		key, _ := tok.(string)
		var dst *string
		switch {
		case key == "username" && !seenUser:
			dst, seenUser = &c.username, true
		case key == "password" && !seenPass:
			dst, seenPass = &c.password, true
		default:
			return credentials{}, errBadLoginBody
		}
		tok, err = dec.Token()
		if err != nil {
			return credentials{}, errBadLoginBody
		}
		s, ok := tok.(string)
		if !ok {
			return credentials{}, errBadLoginBody
		}
		*dst = s
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return credentials{}, errBadLoginBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return credentials{}, errBadLoginBody
	}
	if !seenUser || !seenPass {
		return credentials{}, errBadLoginBody
	}
	return c, nil
}
