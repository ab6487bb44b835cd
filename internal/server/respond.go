package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/authgate/authgate/internal/auth"
	"github.com/authgate/authgate/internal/store"
)

// denial is how one kind of refused credential is answered, counted and
// logged. This table is the only place that maps auth errors to HTTP.
type denial struct {
	status int
	reason string // metric label and log field; a fixed word
	level  slog.Level
}

// errForbidden means valid credentials for a user the route does not admit.
var errForbidden = errors.New("user not allowed on this route")

func classifyDenial(err error) denial {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		// Before errRevoked, which it comes joined with: the token may be
		// fine, the revocations could not be checked.
		return denial{http.StatusServiceUnavailable, "state_unavailable", slog.LevelInfo}
	case errors.Is(err, errForbidden):
		return denial{http.StatusForbidden, "forbidden", slog.LevelInfo}
	case errors.Is(err, errMethod):
		return denial{http.StatusForbidden, "method_not_allowed", slog.LevelInfo}
	case errors.Is(err, errMethodOverride):
		return denial{http.StatusForbidden, "method_override", slog.LevelInfo}
	case errors.Is(err, errNoRoute):
		return denial{http.StatusForbidden, "no_matching_route", slog.LevelInfo}
	case errors.Is(err, errAPIKeyScope):
		return denial{http.StatusForbidden, "api_key_not_allowed", slog.LevelInfo}
	case errors.Is(err, errMFARequired):
		return denial{http.StatusForbidden, "mfa_required", slog.LevelInfo}
	case errors.Is(err, errPasskeyCloned):
		return denial{http.StatusUnauthorized, "passkey_cloned", slog.LevelWarn}
	case errors.Is(err, errPasskeyInvalid):
		return denial{http.StatusUnauthorized, "passkey_invalid", slog.LevelInfo}
	case errors.Is(err, errPasswordlessOff):
		return denial{http.StatusForbidden, "passwordless_disabled", slog.LevelInfo}
	case errors.Is(err, errPasskeyCeremony):
		return denial{http.StatusBadRequest, "passkey_ceremony", slog.LevelInfo}
	case errors.Is(err, errSignInRequired):
		return denial{http.StatusUnauthorized, "session_required", slog.LevelInfo}
	case errors.Is(err, errAPIKeyUnknown):
		return denial{http.StatusUnauthorized, "api_key_invalid", slog.LevelInfo}
	case errors.Is(err, errAPIKeyExpired):
		return denial{http.StatusUnauthorized, "api_key_expired", slog.LevelInfo}
	case errors.Is(err, errUserGone):
		return denial{http.StatusUnauthorized, "user_disabled", slog.LevelInfo}
	case errors.Is(err, errProviderCookie):
		return denial{http.StatusUnauthorized, "provider_token_in_cookie", slog.LevelWarn}
	case errors.Is(err, errRevoked):
		return denial{http.StatusUnauthorized, "revoked", slog.LevelInfo}
	case errors.Is(err, errInvalidGrant):
		return denial{http.StatusBadRequest, "invalid_grant", slog.LevelInfo}
	case errors.Is(err, errRefreshThrottled):
		return denial{http.StatusTooManyRequests, "slow_down", slog.LevelInfo}
	case errors.Is(err, errCrossOrigin):
		return denial{http.StatusForbidden, "cross_origin", slog.LevelWarn}
	case errors.Is(err, errBadForwarded):
		return denial{http.StatusUnauthorized, "bad_forwarded_request", slog.LevelInfo}
	case errors.Is(err, errIncompleteForwarded):
		return denial{http.StatusUnauthorized, "incomplete_forwarded_request", slog.LevelInfo}
	case errors.Is(err, errSignInBroken):
		return denial{http.StatusInternalServerError, "error", slog.LevelError}
	case errors.Is(err, errShadowsLocal):
		return denial{http.StatusUnauthorized, "shadows_local_user", slog.LevelWarn}
	case errors.Is(err, errProviderUnknown):
		return denial{http.StatusNotFound, "provider_unknown", slog.LevelInfo}
	case errors.Is(err, errProviderUnavailable):
		return denial{http.StatusServiceUnavailable, "provider_unavailable", slog.LevelWarn}
	case errors.Is(err, errProviderError):
		return denial{http.StatusForbidden, "provider_error", slog.LevelInfo}
	case errors.Is(err, errFlowState):
		return denial{http.StatusBadRequest, "oidc_state", slog.LevelInfo}
	case errors.Is(err, errFlowReplayed):
		return denial{http.StatusBadRequest, "oidc_replayed", slog.LevelWarn}
	case errors.Is(err, errUnsafeRedirect):
		return denial{http.StatusBadRequest, "unsafe_redirect", slog.LevelInfo}
	case errors.Is(err, errCodeExchange):
		return denial{http.StatusBadGateway, "code_exchange", slog.LevelWarn}
	case errors.Is(err, errIDTokenAlgorithm):
		return denial{http.StatusUnauthorized, "id_token_algorithm", slog.LevelWarn}
	case errors.Is(err, errIDTokenSignature):
		return denial{http.StatusUnauthorized, "id_token_signature", slog.LevelWarn}
	case errors.Is(err, errIDTokenIssuer):
		return denial{http.StatusUnauthorized, "id_token_issuer", slog.LevelWarn}
	case errors.Is(err, errIDTokenAudience):
		return denial{http.StatusUnauthorized, "id_token_audience", slog.LevelWarn}
	case errors.Is(err, errIDTokenExpired):
		return denial{http.StatusUnauthorized, "id_token_expired", slog.LevelInfo}
	case errors.Is(err, errIDTokenNonce):
		return denial{http.StatusUnauthorized, "id_token_nonce", slog.LevelWarn}
	case errors.Is(err, errIDTokenClaims):
		return denial{http.StatusUnauthorized, "id_token_claims", slog.LevelInfo}
	case errors.Is(err, errEmailUnverified):
		return denial{http.StatusForbidden, "email_unverified", slog.LevelInfo}
	case errors.Is(err, errEmailDomain):
		return denial{http.StatusForbidden, "email_domain_not_allowed", slog.LevelInfo}
	case errors.Is(err, errGroupNotAllowed):
		return denial{http.StatusForbidden, "group_not_allowed", slog.LevelInfo}
	case errors.Is(err, auth.ErrNoCredentials):
		return denial{http.StatusUnauthorized, "no_credentials", slog.LevelDebug}
	case errors.Is(err, auth.ErrMalformedCredentials):
		return denial{http.StatusUnauthorized, "malformed_credentials", slog.LevelInfo}
	case errors.Is(err, auth.ErrTokenMalformed):
		return denial{http.StatusUnauthorized, "malformed_token", slog.LevelInfo}
	case errors.Is(err, auth.ErrTokenAlgorithm):
		return denial{http.StatusUnauthorized, "algorithm", slog.LevelWarn}
	case errors.Is(err, auth.ErrTokenSignature):
		return denial{http.StatusUnauthorized, "signature", slog.LevelWarn}
	case errors.Is(err, auth.ErrTokenExpired):
		return denial{http.StatusUnauthorized, "expired", slog.LevelDebug}
	case errors.Is(err, auth.ErrTokenNotYetValid):
		return denial{http.StatusUnauthorized, "not_yet_valid", slog.LevelInfo}
	case errors.Is(err, auth.ErrTokenClaims):
		return denial{http.StatusUnauthorized, "claims", slog.LevelInfo}
	default:
		return denial{http.StatusUnauthorized, "invalid", slog.LevelWarn}
	}
}

// challenge is the RFC 6750 WWW-Authenticate value on every 401.
const challenge = `Bearer realm="authgate", error="invalid_token"`

// deny answers a request whose credentials were refused, counts it and
// logs why. The client learns only the status and a stable code.
func (g *Gateway) deny(w http.ResponseWriter, r *http.Request, err error) {
	g.denyAs(w, r, err, classifyDenial(err).status)
}

// denyAs is deny with another status than the table's: nginx's
// auth_request sends a browser to the login page on a 401 alone.
func (g *Gateway) denyAs(w http.ResponseWriter, r *http.Request, err error, status int) {
	d := classifyDenial(err)
	d.status = status
	if info := requestInfoFrom(r.Context()); info != nil {
		info.reason = d.reason
	}
	g.metrics.TokenRejected(d.reason)
	g.logger.LogAttrs(r.Context(), d.level, "request denied", slog.String("reason", d.reason))
	// Says why in one look, so redirect loops and half-working proxy
	// setups can be diagnosed from the response alone.
	w.Header().Set("X-Authgate-Reason", d.reason)
	if d.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", stateRetryAfter)
	}
	if d.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", challenge)
		writeJSONError(w, d.status, "invalid_token")
		return
	}
	writeJSONError(w, d.status, d.reason)
}

// stateRetryAfter is the Retry-After, in seconds, of an answer refused
// because the shared state could not be reached: a replica retries the
// link at least that often.
const stateRetryAfter = "2"

// fail logs err, which stopped what, and answers the client: 503 with
// Retry-After when the shared state was unavailable (the same request
// will work once it is back), 500 otherwise.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	status, code, level := http.StatusInternalServerError, "internal_error", slog.LevelError
	if errors.Is(err, store.ErrUnavailable) {
		status, code, level = http.StatusServiceUnavailable, "state_unavailable", slog.LevelWarn
		w.Header().Set("Retry-After", stateRetryAfter)
	}
	if info := requestInfoFrom(r.Context()); info != nil {
		info.reason = code
	}
	g.logger.LogAttrs(r.Context(), level, what, slog.String("error", err.Error()))
	writeJSONError(w, status, code)
}

// writeJSONError writes {"error":code} with headers that keep it out of
// caches and sniffers. code must be a fixed word: it is not escaped.
func writeJSONError(w http.ResponseWriter, status int, code string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `"}` + "\n"))
}
