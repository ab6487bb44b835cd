package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenOptions configures Tokens.
type TokenOptions struct {
	// Secret is the HS256 key; it must be at least 32 bytes.
	Secret []byte
	// Issuer is written to iss and required on verification.
	Issuer string
	// Audience is written to aud and required on verification.
	Audience string
	// TTL is the lifetime of issued tokens; it must be positive.
	TTL time.Duration
	// Leeway tolerates clock skew on exp, nbf and iat; zero tolerates none.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Tokens issues and verifies authgate's HS256 JWTs.
type Tokens struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

// Identity is what a verified token says about its bearer.
type Identity struct {
	// Username is the token's sub.
	Username string
	// TokenID is the token's jti; revocation keys on it, never on the raw
	// token, whose base64 has several spellings.
	TokenID string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// AuthTime is when the password was checked; zero if the token has no
	// auth_time.
	AuthTime time.Time
}

// Issued is a freshly signed token.
type Issued struct {
	Token     string
	ExpiresAt time.Time
	// ExpiresIn is the lifetime in whole seconds, as OAuth 2.0's expires_in.
	ExpiresIn int64
	TokenID   string
}

// NewTokens validates opts and returns a Tokens.
func NewTokens(opts TokenOptions) (*Tokens, error) {
	if len(opts.Secret) < 32 {
		return nil, errors.New("token secret must be at least 32 bytes")
	}
	if opts.TTL <= 0 {
		return nil, errors.New("token TTL must be positive")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Tokens{
		secret:   opts.Secret,
		issuer:   opts.Issuer,
		audience: opts.Audience,
		ttl:      opts.TTL,
		now:      now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(opts.Issuer),
			jwt.WithAudience(opts.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(opts.Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// Issue signs a token for username that lives the configured TTL, for a
// password checked just now.
func (t *Tokens) Issue(username string) (Issued, error) {
	now := t.now().Truncate(time.Second)
	return t.IssueUntil(username, now, now.Add(t.ttl))
}

// IssueUntil signs a token for username expiring at exp, recording authTime
// as when the password was checked.
func (t *Tokens) IssueUntil(username string, authTime, exp time.Time) (Issued, error) {
	id, err := randomID()
	if err != nil {
		return Issued{}, fmt.Errorf("issue token: %w", err)
	}
	now := t.now().Truncate(time.Second)
	exp = exp.Truncate(time.Second)
	c := claims{
		Subject:   username,
		Issuer:    t.issuer,
		Audience:  jwt.ClaimStrings{t.audience},
		IssuedAt:  &numericDate{*jwt.NewNumericDate(now)},
		NotBefore: &numericDate{*jwt.NewNumericDate(now)},
		ExpiresAt: &numericDate{*jwt.NewNumericDate(exp)},
		AuthTime:  &numericDate{*jwt.NewNumericDate(authTime.Truncate(time.Second))},
		ID:        id,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString(t.secret)
	if err != nil {
		return Issued{}, fmt.Errorf("sign token: %w", err)
	}
	return Issued{Token: signed, ExpiresAt: exp, ExpiresIn: int64(exp.Sub(now) / time.Second), TokenID: id}, nil
}

// Verify checks raw's size, shape, algorithm, signature and claims and
// returns the identity it carries, or one of the ErrToken* sentinels.
func (t *Tokens) Verify(raw string) (Identity, error) {
	if len(raw) > MaxTokenBytes || strings.Count(raw, ".") != 2 {
		return Identity{}, ErrTokenMalformed
	}
	var c claims
	_, err := t.parser.ParseWithClaims(raw, &c, t.key)
	if err != nil {
		return Identity{}, classify(err)
	}
	if !plainName(c.Subject) || c.ID == "" || len(c.ID) > 128 {
		return Identity{}, ErrTokenClaims
	}
	return Identity{Username: c.Subject, TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time, AuthTime: c.GetAuthTime()}, nil
}

// errHeaderRejected marks a token whose header asks for something authgate
// never honours.
var errHeaderRejected = errors.New("header parameter not accepted")

// key returns the one HS256 secret. Header parameters that would let the
// token choose its own key (jwk, jku, x5u, x5c), name one (kid: authgate's
// HS256 tokens carry none) or demand extensions (crit) are refused outright
// rather than ignored.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	for _, name := range []string{"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "kid", "crit", "b64"} {
		if _, present := tok.Header[name]; present {
			return nil, errHeaderRejected
		}
	}
	if typ, present := tok.Header["typ"]; present {
		if s, ok := typ.(string); !ok || !strings.EqualFold(s, "JWT") {
			return nil, errHeaderRejected
		}
	}
	return t.secret, nil
}

// classify maps golang-jwt's errors onto this package's sentinels.
func classify(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrTokenAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// Also a token whose alg is outside WithValidMethods ("none", RS256):
		// golang-jwt reports both the same way.
		return ErrTokenSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrTokenNotYetValid
	default:
		return ErrTokenClaims
	}
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// plainName reports whether a subject can be placed in a header as it is:
// non-empty, bounded, no control characters, commas or spaces. Config
// refuses such usernames too; this catches a forged or foreign token.
func plainName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c == 0x7f || c == ',' || c == ';' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
