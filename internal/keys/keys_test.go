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

func TestParseJWKSRoundTrip(t *testing.T) {
	var ks []Key
	for _, alg := range []string{RS256, ES256, EdDSA} {
		k, _, _, err := Generate("kid-"+alg, alg)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	doc := JWKS(ks)
	all, err := ParseJWKS(doc, Algorithms)
	if err != nil || len(all) != 3 {
		t.Fatalf("ParseJWKS = %d keys, %v; want 3", len(all), err)
	}
	for i, k := range all {
		if k.ID != ks[i].ID || k.Algorithm != ks[i].Algorithm || k.CanSign() {
			t.Errorf("key %d = %v, want public %v", i, k, ks[i])
		}
	}
	only, _ := ParseJWKS(doc, []string{EdDSA})
	if len(only) != 1 || only[0].Algorithm != EdDSA {
		t.Errorf("filtered to EdDSA = %v", only)
	}
	bad := `{"keys":[{"kty":"RSA","kid":"weak","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","kid":"off-curve","x":"` +
		strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"},{"kty":"oct","kid":"sym","k":"c2VjcmV0"},{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`
	if got, err := ParseJWKS([]byte(bad), Algorithms); err != nil || len(got) != 0 {
		t.Errorf("weak, off-curve, symmetric and kid-less keys were accepted: %v %v", got, err)
	}
}

// TestVerifies: a key and its public half verify the same tokens; another
// key, id or algorithm does not.
func TestVerifies(t *testing.T) {
	for _, alg := range []string{RS256, ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k, _, public, err := Generate("a", alg)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := ParsePEM("a", alg, public)
			other, _, _, _ := Generate("a", alg)
			renamed := pub
			renamed.ID = "b"
			for _, tt := range []struct {
				name string
				a, b Key
				want bool
			}{
				{"private-and-public-half", k, pub, true},
				{"public-half-and-private", pub, k, true},
				{"another-key", k, other, false},
				{"another-id", k, renamed, false},
			} {
				if got := tt.a.Verifies(tt.b); got != tt.want {
					t.Errorf("%s: Verifies = %v, want %v", tt.name, got, tt.want)
				}
			}
		})
	}
	s1, s2 := []byte("0123456789abcdef0123456789abcdef"), []byte("0123456789abcdef0123456789abcdeX")
	if !Secret("s", s1).Verifies(Secret("s", append([]byte(nil), s1...))) || Secret("s", s1).Verifies(Secret("s", s2)) {
		t.Error("HS256 secrets: Verifies compares the wrong thing")
	}
	ed, _, _, _ := Generate("s", EdDSA)
	if Secret("s", s1).Verifies(ed) || ed.Verifies(Secret("s", s1)) {
		t.Error("a secret and a key pair verify the same tokens")
	}
}
