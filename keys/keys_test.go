package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

func TestGenerateParseAndPublish(t *testing.T) {
	for _, tt := range []struct{ alg, kty, crv string }{{RS256, "RSA", ""}, {ES256, "EC", "P-256"}, {EdDSA, "OKP", "Ed25519"}} {
		t.Run(tt.alg, func(t *testing.T) {
			k, private, public, err := Generate("kid-1", tt.alg)
			if err != nil {
				t.Fatal(err)
			}
			fromPrivate, err := ParsePEM("kid-1", tt.alg, private)
			if err != nil || !fromPrivate.CanSign() {
				t.Fatalf("ParsePEM(private) = %v, %v", fromPrivate, err)
			}
			fromPublic, err := ParsePEM("kid-1", tt.alg, public)
			if err != nil || fromPublic.CanSign() {
				t.Fatalf("ParsePEM(public) = %v, %v", fromPublic, err)
			}
			j, ok := PublicJWK(k)
			if !ok || j.KeyType != tt.kty || j.Curve != tt.crv || j.ID != "kid-1" || j.Alg != tt.alg || j.Use != "sig" {
				t.Errorf("JWK = %+v", j)
			}
			set := string(JWKS([]Key{k}))
			if strings.Contains(set, `"d"`) || strings.Contains(set, "PRIVATE") {
				t.Errorf("the JWKS leaks private material: %s", set)
			}
		})
	}
}

func TestSecretsAreNeverPublished(t *testing.T) {
	set := JWKS([]Key{Secret("s", []byte("0123456789abcdef0123456789abcdef"))})
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(set, &doc); err != nil || len(doc.Keys) != 0 {
		t.Errorf("JWKS of an HS256 key = %s, want an empty set", set)
	}
	if k := Secret("s", []byte("topsecretvalue")); strings.Contains(k.String(), "topsecret") {
		t.Errorf("Key.String leaks the secret")
	}
}

func TestParsePEMRefuses(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p384)
	_, edPrivate, _, _ := Generate("x", EdDSA)
	tests := []struct {
		name, alg string
		data      []byte
		want      string
	}{
		{"small-rsa", RS256, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), "at least 2048"},
		{"p384-for-es256", ES256, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), "P-256"},
		{"ed25519-for-rs256", RS256, edPrivate, "needs an RSA key"},
		{"certificate", RS256, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "unsupported PEM block"},
		{"not-pem", EdDSA, []byte("hello"), "no PEM block"},
	}
	for _, tt := range tests {
		if _, err := ParsePEM("x", tt.alg, tt.data); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParsePEM = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
