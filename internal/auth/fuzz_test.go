package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/keys"
)

// FuzzVerify: nothing panics, and no input is accepted unless its signature
// is exactly the canonical HMAC-SHA256 of its first two segments under the
// secret, with every segment in canonical unpadded base64url: no alternate
// spelling of a token, and no token the key did not sign.
func FuzzVerify(f *testing.F) {
	clock := time.Unix(1_800_000_000, 0)
	tokens, err := NewTokens(TokenOptions{Keys: []keys.Key{keys.Secret("k1", secret)}, SigningKey: "k1", Issuer: "authgate", Audience: "authgate", TTL: time.Hour, Now: func() time.Time { return clock }})
	if err != nil {
		f.Fatal(err)
	}
	for _, user := range []string{"alice", "bob", "u"} {
		tok, err := tokens.Issue(Subject{Username: user})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok.Token)
	}
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := tokens.Verify(raw); err != nil {
			return
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %q with %d segments", raw, len(parts))
		}
		for _, p := range parts {
			b, err := base64.RawURLEncoding.Strict().DecodeString(p)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
				t.Fatalf("accepted %q with a non-canonical segment %q", raw, p)
			}
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); parts[2] != want {
			t.Fatalf("accepted %q whose signature is not the key's", raw)
		}
	})
}
