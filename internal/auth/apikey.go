package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// APIKeyPrefix starts every API key, so that a key is told from a JWT
// (which starts "ey") without parsing either, and secret scanners can
// find one pasted where it should not be.
const APIKeyPrefix = "ag_"

// apiKeyBytes is the key's randomness: 256 bits, far beyond guessing, so
// its hash needs no stretching (SECURITY.md).
const apiKeyBytes = 32

// NewAPIKey makes a random API key and its hash.
func NewAPIKey() (key string, hash [32]byte) {
	b := make([]byte, apiKeyBytes)
	rand.Read(b) // never fails: it crashes the program first (Go 1.24)
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key)
}

// HashAPIKey is the hash the config keeps of key: SHA-256 of the whole
// key as sent.
func HashAPIKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// LooksLikeAPIKey reports whether a credential is meant as an API key.
func LooksLikeAPIKey(s string) bool { return strings.HasPrefix(s, APIKeyPrefix) }
