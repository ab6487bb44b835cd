// Package auth turns a request's credentials into an identity or a sentinel
// error: it issues and verifies authgate's JWTs and checks passwords against
// bcrypt hashes. It knows nothing of routes or upstreams.
package auth

import "errors"

// Sentinel errors returned by this package. Callers branch on them with
// errors.Is; their text is for operators' logs, never for clients.
var (
	// ErrNoCredentials means the request carried no bearer token.
	ErrNoCredentials = errors.New("no credentials")
	// ErrMalformedCredentials means the Authorization header could not be
	// read as a single bearer token.
	ErrMalformedCredentials = errors.New("malformed credentials")
	// ErrTokenMalformed means the token is not a well-formed compact JWS
	// within the size limit.
	ErrTokenMalformed = errors.New("token malformed")
	// ErrTokenAlgorithm means the token's header names an algorithm or a
	// header parameter authgate does not accept.
	ErrTokenAlgorithm = errors.New("token algorithm or header not accepted")
	// ErrTokenSignature means the signature does not verify.
	ErrTokenSignature = errors.New("token signature invalid")
	// ErrTokenExpired means exp is in the past (beyond the leeway).
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenNotYetValid means nbf or iat is in the future.
	ErrTokenNotYetValid = errors.New("token not yet valid")
	// ErrTokenClaims means a required claim is missing or wrong (exp, iss,
	// aud, sub, jti).
	ErrTokenClaims = errors.New("token claims invalid")
	// ErrInvalidCredentials means the username or password is wrong. It
	// deliberately does not say which.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrPasswordTooLong means the password exceeds bcrypt's 72-byte input,
	// which bcrypt would otherwise silently truncate.
	ErrPasswordTooLong = errors.New("password longer than 72 bytes")
	// ErrBusy means too many password checks are running or queued.
	ErrBusy = errors.New("password checks saturated")
)
