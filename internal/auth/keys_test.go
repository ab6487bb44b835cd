package auth

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/keys"
)

func generated(t *testing.T, id, alg string) keys.Key {
	t.Helper()
	k, _, _, err := keys.Generate(id, alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func publicOnly(k keys.Key) keys.Key {
	k.Private = nil
	return k
}

func tokensWith(t *testing.T, signing string, ks ...keys.Key) *Tokens {
	t.Helper()
	tokens, err := NewTokens(TokenOptions{Keys: ks, SigningKey: signing, Issuer: "authgate", Audience: "authgate", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func TestEveryAlgorithmSignsAndVerifies(t *testing.T) {
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			tokens := tokensWith(t, "k", generated(t, "k", alg))
			issued, err := tokens.Issue(Subject{Username: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			parsed, _, _ := jwt.NewParser().ParseUnverified(issued.Token, jwt.MapClaims{})
			if parsed.Header["alg"] != alg || parsed.Header["kid"] != "k" {
				t.Errorf("header = %v, want alg %s kid k", parsed.Header, alg)
			}
			if id, err := tokens.Verify(issued.Token); err != nil || id.Username != "alice" {
				t.Errorf("Verify = %+v, %v", id, err)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	old, next := generated(t, "2026-05", keys.EdDSA), generated(t, "2026-11", keys.EdDSA)
	before := tokensWith(t, "2026-05", old)
	oldToken, _ := before.Issue(Subject{Username: "alice"})

	// Step 1: the new key signs, the old one only verifies.
	during := tokensWith(t, "2026-11", next, publicOnly(old))
	if _, err := during.Verify(oldToken.Token); err != nil {
		t.Fatalf("a token signed by the old key stopped working during rotation: %v", err)
	}
	newToken, _ := during.Issue(Subject{Username: "alice"})
	if _, err := before.Verify(newToken.Token); !errors.Is(err, ErrTokenAlgorithm) {
		t.Errorf("a gateway without the new key accepted its token: %v", err)
	}
	// Step 2: the old key is removed after the longest token lifetime.
	after := tokensWith(t, "2026-11", next)
	if _, err := after.Verify(newToken.Token); err != nil {
		t.Errorf("new token after rotation: %v", err)
	}
	if _, err := after.Verify(oldToken.Token); !errors.Is(err, ErrTokenAlgorithm) {
		t.Errorf("a token signed by the removed key = %v, want ErrTokenAlgorithm", err)
	}
}

func TestAlgorithmConfusionIsRefused(t *testing.T) {
	rsaKey := generated(t, "k", keys.RS256)
	tokens := tokensWith(t, "k", rsaKey)
	der, _ := x509.MarshalPKIXPublicKey(rsaKey.Public)
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	claims := jwt.MapClaims{"sub": "alice", "iss": "authgate", "aud": "authgate", "jti": "j", "exp": time.Now().Add(time.Minute).Unix()}
	for name, secret := range map[string][]byte{"public-pem-as-hmac-secret": publicPEM, "public-der-as-hmac-secret": der} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["kid"] = "k"
		forged, _ := tok.SignedString(secret)
		if _, err := tokens.Verify(forged); err == nil {
			t.Errorf("%s: an HS256 token keyed with the RSA public key was accepted", name)
		}
	}
	// A token from another algorithm's key with a matching kid.
	edTokens := tokensWith(t, "k", generated(t, "k", keys.EdDSA))
	edToken, _ := edTokens.Issue(Subject{Username: "alice"})
	if _, err := tokens.Verify(edToken.Token); err == nil {
		t.Errorf("an RS256 gateway accepted an EdDSA token")
	}
}

func TestNewTokensRefusesBadKeySets(t *testing.T) {
	ed, rs := generated(t, "a", keys.EdDSA), generated(t, "b", keys.RS256)
	for name, opts := range map[string]TokenOptions{
		"mixed-algorithms": {Keys: []keys.Key{ed, rs}, SigningKey: "a", TTL: time.Minute},
		"no-signing-key":   {Keys: []keys.Key{ed}, SigningKey: "zz", TTL: time.Minute},
		"public-signer":    {Keys: []keys.Key{publicOnly(ed)}, SigningKey: "a", TTL: time.Minute},
		"short-secret":     {Keys: []keys.Key{keys.Secret("s", []byte("short"))}, SigningKey: "s", TTL: time.Minute},
	} {
		if _, err := NewTokens(opts); err == nil {
			t.Errorf("%s: NewTokens accepted it", name)
		}
	}
}
