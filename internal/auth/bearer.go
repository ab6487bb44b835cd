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
func isB64TokenByte(c byte) bool { return b64TokenBytes[c] }

// b64TokenBytes is a lookup table: this check runs over every byte of
// every token on every request.
var b64TokenBytes = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/' || b == '='
	}
	return t
}()

// compactShape reports whether raw can be a JWS in compact serialisation:
// at most MaxTokenBytes, three segments, and nothing but base64url
// characters between the dots. Go's base64 decoders skip CR and LF even
// in strict mode, so without this check a token with a line break inside a
// segment verified as the same token: a second spelling (found by
// FuzzVerify).
func compactShape(raw string) bool {
	if len(raw) > MaxTokenBytes {
		return false
	}
	dots := 0
	for i := range len(raw) {
		switch c := raw[i]; {
		case c == '.':
			dots++
		case !base64URLBytes[c]:
			return false
		}
	}
	return dots == 2
}

// base64URLBytes is the unpadded base64url alphabet as a lookup table.
var base64URLBytes = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_'
	}
	return t
}()
