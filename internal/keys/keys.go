// Package keys loads, generates and publishes token signing keys: HMAC
// secrets for HS256, and RSA (RS256), P-256 ECDSA (ES256) and Ed25519
// (EdDSA) key pairs from PEM. It knows nothing of tokens themselves.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
)

// Algorithms authgate signs and verifies with.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Algorithms lists the accepted algorithm names.
var Algorithms = []string{HS256, RS256, ES256, EdDSA}

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// Key is one key: private (can sign) or public only (verify-only).
type Key struct {
	// ID is the kid tokens carry.
	ID string
	// Algorithm is one of Algorithms.
	Algorithm string
	// Private signs: []byte for HS256, else a crypto.Signer; nil for a
	// verify-only key.
	Private any
	// Public verifies: []byte for HS256, else the public key.
	Public any
}

// CanSign reports whether the key has its private half.
func (k Key) CanSign() bool { return k.Private != nil }

// Verifies reports whether k checks exactly the tokens o checks: the same
// kid, algorithm and public key (or secret). Whether either can sign does
// not matter.
func (k Key) Verifies(o Key) bool {
	if k.ID != o.ID || k.Algorithm != o.Algorithm {
		return false
	}
	switch p := k.Public.(type) {
	case []byte:
		q, ok := o.Public.([]byte)
		return ok && hmac.Equal(p, q)
	case interface{ Equal(crypto.PublicKey) bool }:
		// *rsa.PublicKey, *ecdsa.PublicKey and ed25519.PublicKey.
		return p.Equal(o.Public)
	}
	return false
}

// LogValue keeps key material out of logs.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID), slog.String("alg", k.Algorithm), slog.Bool("private", k.CanSign()))
}

// String implements fmt.Stringer without the key material.
func (k Key) String() string {
	return fmt.Sprintf("key %s (%s, private=%v)", k.ID, k.Algorithm, k.CanSign())
}

// Secret makes an HS256 key.
func Secret(id string, secret []byte) Key {
	return Key{ID: id, Algorithm: HS256, Private: secret, Public: secret}
}

// SecretID derives a kid for a secret that was configured without one: a
// hash prefix, which identifies the key without revealing it.
func SecretID(secret []byte) string {
	sum := sha256.Sum256(append([]byte("authgate kid "), secret...))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// ParsePEM reads a PEM private key (PKCS#8, PKCS#1 or SEC 1) or public key
// (PKIX) and checks that it suits alg.
func ParsePEM(id, alg string, data []byte) (Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return Key{}, errors.New("no PEM block")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	case "PUBLIC KEY":
		parsed, err = x509.ParsePKIXPublicKey(block.Bytes)
	default:
		return Key{}, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	k := Key{ID: id, Algorithm: alg}
	if signer, ok := parsed.(crypto.Signer); ok {
		k.Private, k.Public = signer, signer.Public()
	} else {
		k.Public = parsed
	}
	if err := check(alg, k.Public); err != nil {
		return Key{}, err
	}
	return k, nil
}

// check reports whether pub is a key for alg.
func check(alg string, pub any) error {
	switch alg {
	case RS256:
		if p, ok := pub.(*rsa.PublicKey); !ok {
			return fmt.Errorf("%s needs an RSA key, not %T", alg, pub)
		} else if p.N.BitLen() < MinRSABits {
			return fmt.Errorf("RSA key has %d bits; at least %d are required", p.N.BitLen(), MinRSABits)
		}
	case ES256:
		if p, ok := pub.(*ecdsa.PublicKey); !ok || p.Curve != elliptic.P256() {
			return fmt.Errorf("%s needs a P-256 ECDSA key, not %T", alg, pub)
		}
	case EdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return fmt.Errorf("%s needs an Ed25519 key, not %T", alg, pub)
		}
	default:
		return fmt.Errorf("algorithm %q takes no key pair", alg)
	}
	return nil
}

// Generate makes a new key pair for alg and returns it with its private
// (PKCS#8) and public (PKIX) PEM encodings.
func Generate(id, alg string) (k Key, privatePEM, publicPEM []byte, err error) {
	var signer crypto.Signer
	switch alg {
	case RS256:
		signer, err = rsa.GenerateKey(rand.Reader, 3072)
	case ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return Key{}, nil, nil, fmt.Errorf("cannot generate a key pair for %q (use one of RS256, ES256, EdDSA)", alg)
	}
	if err != nil {
		return Key{}, nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return Key{}, nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return Key{}, nil, nil, err
	}
	k = Key{ID: id, Algorithm: alg, Private: signer, Public: signer.Public()}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// JWK is a public key in RFC 7517 form.
type JWK struct {
	KeyType string `json:"kty"`
	ID      string `json:"kid"`
	Use     string `json:"use"`
	Alg     string `json:"alg"`
	Curve   string `json:"crv,omitempty"`
	X       string `json:"x,omitempty"`
	Y       string `json:"y,omitempty"`
	N       string `json:"n,omitempty"`
	E       string `json:"e,omitempty"`
}

// PublicJWK returns k's public half as a JWK. HS256 keys have none: a
// symmetric key is never published.
func PublicJWK(k Key) (JWK, bool) {
	b64 := base64.RawURLEncoding.EncodeToString
	j := JWK{ID: k.ID, Use: "sig", Alg: k.Algorithm}
	switch p := k.Public.(type) {
	case *rsa.PublicKey:
		j.KeyType, j.N, j.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		ecdh, err := p.ECDH()
		if err != nil {
			return JWK{}, false
		}
		raw := ecdh.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
		j.KeyType, j.Curve, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:65])
	case ed25519.PublicKey:
		j.KeyType, j.Curve, j.X = "OKP", "Ed25519", b64(p)
	default:
		return JWK{}, false
	}
	return j, true
}

// JWKS renders the public keys among ks as a JWK Set document.
func JWKS(ks []Key) []byte {
	set := struct {
		Keys []JWK `json:"keys"`
	}{Keys: []JWK{}}
	for _, k := range ks {
		if j, ok := PublicJWK(k); ok {
			set.Keys = append(set.Keys, j)
		}
	}
	b, _ := json.Marshal(set)
	return b
}

// ParseJWKS reads the public keys of a JWK Set that suit one of algs. Keys
// for other algorithms or of unknown types are skipped; private members
// are ignored; a key without kid is skipped, since tokens must name theirs.
func ParseJWKS(data []byte, algs []string) ([]Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	var out []Key
	for _, raw := range set.Keys {
		var j JWK
		if err := json.Unmarshal(raw, &j); err != nil || j.ID == "" || (j.Use != "" && j.Use != "sig") {
			continue
		}
		pub, alg, err := j.public()
		if err != nil {
			continue
		}
		if j.Alg != "" && j.Alg != alg {
			continue
		}
		for _, allowed := range algs {
			if allowed == alg {
				out = append(out, Key{ID: j.ID, Algorithm: alg, Public: pub})
			}
		}
	}
	return out, nil
}

// public decodes the key and the algorithm its type implies.
func (j JWK) public() (any, string, error) {
	b64 := base64.RawURLEncoding.DecodeString
	switch {
	case j.KeyType == "RSA":
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, "", errors.New("bad RSA key")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < MinRSABits || pub.E < 3 {
			return nil, "", errors.New("weak RSA key")
		}
		return pub, RS256, nil
	case j.KeyType == "EC" && j.Curve == "P-256":
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, "", errors.New("bad EC key")
		}
		// Parsing the uncompressed point checks that it is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, "", err
		}
		return pub, ES256, nil
	case j.KeyType == "OKP" && j.Curve == "Ed25519":
		x, err := b64(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, "", errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), EdDSA, nil
	}
	return nil, "", errors.New("unsupported key type")
}
