package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/keys"
)

// KeySet finds an external issuer's verification key by kid.
type KeySet interface {
	Key(ctx context.Context, kid string) (keys.Key, error)
}

// ExternalOptions describes an identity provider whose tokens are accepted.
type ExternalOptions struct {
	// Issuer is the iss the provider's tokens carry.
	Issuer string
	// Audience must be among the tokens' aud.
	Audience string
	// Algorithms are the only ones accepted; never HS256, whose key would
	// have to be shared.
	Algorithms []string
	// UsernameClaim names the claim holding the username; "" means sub.
	UsernameClaim string
	// GroupsClaim names a claim holding the user's groups; "" means none.
	GroupsClaim string
	// Keys supplies the provider's public keys.
	Keys KeySet
	// Leeway tolerates clock skew.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MaxExternalLifetime bounds how far ahead a trusted provider's token may
// expire; one that would live longer is refused. A logout, and a logout
// everywhere, is remembered only as long as the tokens it ends can live,
// and a provider's tokens can carry any exp: without a bound, a token
// logged out today could work again once its revocation was forgotten.
// Providers' access and ID tokens live minutes to hours.
const MaxExternalLifetime = 7 * 24 * time.Hour

// External verifies one provider's tokens.
type External struct {
	opts   ExternalOptions
	parser *jwt.Parser
	now    func() time.Time
}

// NewExternal returns a verifier for one provider.
func NewExternal(o ExternalOptions) *External {
	if o.UsernameClaim == "" {
		o.UsernameClaim = "sub"
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &External{opts: o, parser: pinnedParser(o.Algorithms, o.Issuer, o.Audience, o.Leeway, now), now: now}
}

// Verify checks a provider token and maps its claims to an Identity.
func (e *External) Verify(ctx context.Context, raw string) (Identity, error) {
	if !compactShape(raw) {
		return Identity{}, ErrTokenMalformed
	}
	c := jwt.MapClaims{}
	_, err := e.parser.ParseWithClaims(raw, c, func(tok *jwt.Token) (any, error) {
		if err := refuseKeyHeaders(tok); err != nil {
			return nil, err
		}
		kid, ok := tok.Header["kid"].(string)
		if !ok {
			return nil, errHeaderRejected
		}
		// A token's jku or x5u never selects a key: only the configured
		// key set is consulted.
		k, err := e.opts.Keys.Key(ctx, kid)
		if err != nil || k.Algorithm != tok.Method.Alg() || k.Public == nil {
			return nil, errHeaderRejected
		}
		return k.Public, nil
	})
	if err != nil {
		return Identity{}, classify(err)
	}
	name, _ := c[e.opts.UsernameClaim].(string)
	if !plainName(name) {
		return Identity{}, ErrTokenClaims
	}
	id := Identity{Username: name, External: e.opts.Issuer}
	if jti, ok := c["jti"].(string); ok && len(jti) <= 128 {
		id.TokenID = jti
	}
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	if id.ExpiresAt.After(e.now().Add(MaxExternalLifetime)) {
		return Identity{}, ErrTokenClaims
	}
	if iat, err := c.GetIssuedAt(); err == nil && iat != nil {
		id.IssuedAt = iat.Time
	}
	if e.opts.GroupsClaim != "" {
		id.Groups = groupsOf(c[e.opts.GroupsClaim])
	}
	return id, nil
}

// groupsOf reads a groups claim: a list of strings, or one string. Names
// that could not sit safely in a header are dropped.
func groupsOf(v any) []string {
	var out []string
	add := func(s string) {
		if plainName(s) {
			out = append(out, s)
		}
	}
	switch g := v.(type) {
	case string:
		add(g)
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				add(s)
			}
		}
	}
	return out
}

// Verifier dispatches a token to authgate's own keys or to the provider
// its iss names, remembering tokens that verified.
type Verifier struct {
	own      *Tokens
	external map[string]*External
	cache    *verifiedCache
}

// NewVerifier returns a Verifier for own tokens and the given providers;
// cacheSize bounds how many verified tokens it remembers (0: none).
func NewVerifier(own *Tokens, cacheSize int, external ...*External) *Verifier {
	v := &Verifier{own: own, external: map[string]*External{}}
	if cacheSize > 0 {
		v.cache = newVerifiedCache(cacheSize, own.now)
	}
	for _, e := range external {
		v.external[e.opts.Issuer] = e
	}
	return v
}

// KeepCache makes v remember what old had verified, so that a reload does
// not cost every token in use a second signature check. Call it only when
// every token old accepted would verify the same way with v (no key old
// used is gone or changed, nor any other setting of verification); a v
// or old without a cache keeps none.
func (v *Verifier) KeepCache(old *Verifier) {
	if v.cache != nil && old.cache != nil {
		v.cache = old.cache
	}
}

// Verify checks raw with the verifier its issuer calls for.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if v.cache != nil {
		if id, ok := v.cache.get(raw); ok {
			return id, nil
		}
	}
	id, err := v.verify(ctx, raw)
	if err == nil && v.cache != nil {
		v.cache.put(raw, id)
	}
	return id, err
}

func (v *Verifier) verify(ctx context.Context, raw string) (Identity, error) {
	if len(v.external) == 0 {
		return v.own.Verify(raw)
	}
	iss, err := peekIssuer(raw)
	if err != nil {
		return Identity{}, err
	}
	if iss == v.own.issuer {
		return v.own.Verify(raw)
	}
	if e, ok := v.external[iss]; ok {
		return e.Verify(ctx, raw)
	}
	return Identity{}, ErrTokenClaims
}

// peekIssuer reads iss from the unverified payload, only to choose which
// keys to verify with; nothing else is trusted before verification.
func peekIssuer(raw string) (string, error) {
	if !compactShape(raw) {
		return "", ErrTokenMalformed
	}
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return "", ErrTokenMalformed
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", ErrTokenMalformed
	}
	return c.Issuer, nil
}
