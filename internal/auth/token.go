package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/keys"
	"github.com/authgate/authgate/internal/names"
)

// TokenOptions configures Tokens.
type TokenOptions struct {
	// Keys verify tokens, each chosen by the token's kid; all must share
	// one algorithm. HS256 secrets must be at least 32 bytes.
	Keys []keys.Key
	// SigningKey is the kid of the key that signs new tokens; it must be
	// among Keys and have its private half.
	SigningKey string
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

// Tokens issues and verifies authgate's JWTs.
type Tokens struct {
	signer   keys.Key
	method   jwt.SigningMethod
	byID     map[string]keys.Key
	jwks     []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

// Subject is who a token is issued to.
type Subject struct {
	Username string
	// Groups are copied into the token for upstreams that read it.
	Groups []string
	// Generation changes when the user's password does; tokens of an older
	// generation are refused.
	Generation string
	// SessionID names the login session (sid): its refresh tokens and every
	// access token it produced, so logout can revoke them all.
	SessionID string
	// AuthTime is when the password was checked; zero means now.
	AuthTime time.Time
	// Epoch is the user's revocation epoch read when the session began:
	// "log out everywhere" raises the stored epoch, and tokens carrying an
	// older one are refused. Zero is written as no claim.
	Epoch int64
	// SessionEnd is the latest expiry any token of the session can have,
	// so that a revocation of the session is kept exactly that long; zero
	// means no claim.
	SessionEnd time.Time
	// AMR lists how the user proved who they are at login (RFC 8176:
	// "pwd", later "otp", "hwk" or a provider's id); every token of the
	// session carries it.
	AMR []string
	// Provider is the id of the OpenID Connect provider whose user this
	// is, not a local account's; empty for a local account.
	Provider string
}

// Identity is what a verified token says about its bearer.
type Identity struct {
	// Username is the token's sub.
	Username string
	// Groups is the token's groups claim.
	Groups []string
	// Generation is the token's gen claim.
	Generation string
	// SessionID is the token's sid claim.
	SessionID string
	// IssuedAt is the token's iat.
	IssuedAt time.Time
	// External is the issuer of a token from a trusted identity provider;
	// empty for authgate's own tokens.
	External string
	// TokenID is the token's jti; revocation keys on it, never on the raw
	// token, whose base64 has several spellings.
	TokenID string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// AuthTime is when the password was checked; zero if the token has no
	// auth_time.
	AuthTime time.Time
	// Epoch is the token's epoch claim; 0 if it has none.
	Epoch int64
	// SessionEnd is the token's sid_exp; zero if it has none.
	SessionEnd time.Time
	// AMR is the token's amr claim.
	AMR []string
	// Provider is the token's idp claim: the OpenID Connect provider whose
	// user this is; empty for a local account.
	Provider string
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
	if opts.TTL <= 0 {
		return nil, errors.New("token TTL must be positive")
	}
	byID := make(map[string]keys.Key, len(opts.Keys))
	var signer keys.Key
	for _, k := range opts.Keys {
		if k.Algorithm != opts.Keys[0].Algorithm {
			return nil, fmt.Errorf("key %q is %s, but key %q is %s: one algorithm at a time", k.ID, k.Algorithm, opts.Keys[0].ID, opts.Keys[0].Algorithm)
		}
		if s, ok := k.Public.([]byte); ok && len(s) < 32 {
			return nil, fmt.Errorf("key %q: HS256 secrets must be at least 32 bytes", k.ID)
		}
		byID[k.ID] = k
		if k.ID == opts.SigningKey {
			signer = k
		}
	}
	if !signer.CanSign() {
		return nil, fmt.Errorf("signing key %q is missing or has no private key", opts.SigningKey)
	}
	method := jwt.GetSigningMethod(signer.Algorithm)
	if method == nil {
		return nil, fmt.Errorf("unknown algorithm %q", signer.Algorithm)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Tokens{
		signer:   signer,
		method:   method,
		byID:     byID,
		jwks:     keys.JWKS(opts.Keys),
		issuer:   opts.Issuer,
		audience: opts.Audience,
		ttl:      opts.TTL,
		now:      now,
		parser:   pinnedParser([]string{method.Alg()}, opts.Issuer, opts.Audience, opts.Leeway, now),
	}, nil
}

// Issue signs a token for s that lives the configured TTL.
func (t *Tokens) Issue(s Subject) (Issued, error) {
	return t.IssueUntil(s, t.now().Truncate(time.Second).Add(t.ttl))
}

// IssueUntil signs a token for s expiring at exp.
func (t *Tokens) IssueUntil(s Subject, exp time.Time) (Issued, error) {
	return t.sign(s, t.audience, exp)
}

// IssueAssertion signs a short-lived statement of s's identity for an
// upstream. Its audience is not authgate's, so an upstream cannot replay it
// to authgate as a bearer token.
func (t *Tokens) IssueAssertion(s Subject, audience string, exp time.Time) (Issued, error) {
	if audience == t.audience {
		return Issued{}, errors.New("an assertion's audience must differ from the gateway's")
	}
	return t.sign(s, audience, exp)
}

func (t *Tokens) sign(s Subject, audience string, exp time.Time) (Issued, error) {
	id, err := randomID()
	if err != nil {
		return Issued{}, fmt.Errorf("issue token: %w", err)
	}
	now := t.now().Truncate(time.Second)
	exp = exp.Truncate(time.Second)
	authTime := s.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	c := claims{
		Subject:    s.Username,
		Groups:     s.Groups,
		Generation: s.Generation,
		SessionID:  s.SessionID,
		Issuer:     t.issuer,
		Audience:   jwt.ClaimStrings{audience},
		IssuedAt:   &numericDate{*jwt.NewNumericDate(now)},
		NotBefore:  &numericDate{*jwt.NewNumericDate(now)},
		ExpiresAt:  &numericDate{*jwt.NewNumericDate(exp)},
		AuthTime:   &numericDate{*jwt.NewNumericDate(authTime.Truncate(time.Second))},
		ID:         id,
		Epoch:      s.Epoch,
		AMR:        s.AMR,
		Provider:   s.Provider,
	}
	if !s.SessionEnd.IsZero() {
		c.SessionEnd = &numericDate{*jwt.NewNumericDate(s.SessionEnd.Truncate(time.Second))}
	}
	tok := jwt.NewWithClaims(t.method, &c)
	tok.Header["kid"] = t.signer.ID
	signed, err := tok.SignedString(t.signer.Private)
	if err != nil {
		return Issued{}, fmt.Errorf("sign token: %w", err)
	}
	return Issued{Token: signed, ExpiresAt: exp, ExpiresIn: int64(exp.Sub(now) / time.Second), TokenID: id}, nil
}

// Verify checks raw's size, shape, algorithm, signature and claims and
// returns the identity it carries, or one of the ErrToken* sentinels.
func (t *Tokens) Verify(raw string) (Identity, error) {
	if !compactShape(raw) {
		return Identity{}, ErrTokenMalformed
	}
	var c claims
	_, err := t.parser.ParseWithClaims(raw, &c, t.key)
	if err != nil {
		return Identity{}, classify(err)
	}
	if !plainName(c.Subject) || c.ID == "" || len(c.ID) > 128 || len(c.SessionID) > 128 || len(c.Generation) > 64 {
		return Identity{}, ErrTokenClaims
	}
	for _, g := range c.Groups {
		if !plainName(g) {
			return Identity{}, ErrTokenClaims
		}
	}
	if len(c.AMR) > 8 || slices.ContainsFunc(c.AMR, func(m string) bool { return !methodName(m) }) || c.Provider != "" && !methodName(c.Provider) {
		return Identity{}, ErrTokenClaims
	}
	id := Identity{Username: c.Subject, Groups: c.Groups, Generation: c.Generation, SessionID: c.SessionID,
		TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time, AuthTime: c.GetAuthTime(), Epoch: c.Epoch, SessionEnd: c.getSessionEnd(),
		AMR: c.AMR, Provider: c.Provider}
	if c.IssuedAt != nil {
		id.IssuedAt = c.IssuedAt.Time
	}
	return id, nil
}

// Fingerprint names a token by a SHA-256 of its signed content (header
// and payload), for revoking a provider's token, whose jti may be missing,
// long, a number, or not unique. It leaves the signature out: an ECDSA
// signature has a second valid form (s and n-s), which would let the
// token's holder make an unrevoked copy. The content has one spelling only
// in a token that verified: compactShape admits nothing but unpadded
// base64url and strict decoding refuses stray trailing bits. raw must have
// verified.
func Fingerprint(raw string) string {
	signed := raw[:max(strings.LastIndexByte(raw, '.'), 0)]
	sum := sha256.Sum256([]byte(signed))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// errHeaderRejected marks a token whose header asks for something authgate
// never honours.
var errHeaderRejected = errors.New("header parameter not accepted")

// key returns the key the token's kid names. Header parameters that would
// let the token bring or fetch its own key (jwk, jku, x5u, x5c) or demand
// extensions (crit) are refused outright rather than ignored, and an
// unknown or malformed kid is refused: it never yields an empty key.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	if err := refuseKeyHeaders(tok); err != nil {
		return nil, err
	}
	kid, ok := tok.Header["kid"].(string)
	if !ok {
		return nil, errHeaderRejected
	}
	k, known := t.byID[kid]
	if !known || k.Algorithm != tok.Method.Alg() || k.Public == nil {
		return nil, errHeaderRejected
	}
	return k.Public, nil
}

// JWKS is the JWK Set of the public keys (none for HS256), for
// /.well-known/jwks.json.
func (t *Tokens) JWKS() []byte { return t.jwks }

// Algorithm is the algorithm tokens are signed with.
func (t *Tokens) Algorithm() string { return t.method.Alg() }

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

// plainName reports whether a user or group name can be placed in a header
// as it is: names.Check, the rule the config applies to local users, so a
// forged or foreign token cannot name someone no config could define.
func plainName(s string) bool {
	return names.Check(s) == nil
}

// refuseKeyHeaders refuses header parameters that would let a token bring
// or fetch its own key, or demand extensions authgate does not implement.
func refuseKeyHeaders(tok *jwt.Token) error {
	for _, name := range []string{"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"} {
		if _, present := tok.Header[name]; present {
			return errHeaderRejected
		}
	}
	if typ, present := tok.Header["typ"]; present {
		if s, ok := typ.(string); !ok || (!strings.EqualFold(s, "JWT") && !strings.EqualFold(s, "at+jwt")) {
			return errHeaderRejected
		}
	}
	return nil
}

// pinnedParser accepts only the given algorithms, issuer and audience,
// requires exp, refuses an iat in the future and non-canonical base64.
func pinnedParser(methods []string, issuer, audience string, leeway time.Duration, now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
}

// methodName reports whether m can name an authentication method: a short
// lower-case word (RFC 8176's values, or a provider id), nothing a header
// or log line could misread.
func methodName(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := range len(m) {
		if c := m[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
