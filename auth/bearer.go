package auth

import (
	"net/http"
	"strings"
)

// MaxTokenBytes caps a token before any parsing, so that a huge or
// pathological token costs nothing (CVE-2025-30204 was quadratic splitting
// of an unbounded header in golang-jwt).
const MaxTokenBytes = 4096

// BearerToken returns the token of the request's single
// "Authorization: Bearer <token>" header. It returns ErrNoCredentials when
// there is no Authorization header or it uses another scheme, and
// ErrMalformedCredentials when there are several headers or the token has
// characters outside RFC 6750's b64token.
func BearerToken(h http.Header) (string, error) {
	values := h["Authorization"]
	switch len(values) {
	case 0:
		return "", ErrNoCredentials
	case 1:
	default:
		return "", ErrMalformedCredentials
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoCredentials
	}
	token = strings.Trim(token, " ")
	if token == "" || len(token) > MaxTokenBytes {
		return "", ErrMalformedCredentials
	}
	for i := range len(token) {
		if !isB64TokenByte(token[i]) {
			return "", ErrMalformedCredentials
		}
	}
	return token, nil
}

// isB64TokenByte reports whether c may appear in an RFC 6750 b64token.
func isB64TokenByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='
}
