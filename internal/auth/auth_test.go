package auth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/internal/keys"
)

var secret = []byte("k3V9q2LmX8rT5wZ1yB7nC4dF6gH0jQ2s")

func newTokens(t *testing.T, now func() time.Time) *Tokens {
	t.Helper()
	tokens, err := NewTokens(TokenOptions{Keys: []keys.Key{keys.Secret("k1", secret)}, SigningKey: "k1", Issuer: "authgate", Audience: "authgate", TTL: time.Minute, Leeway: 10 * time.Second, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func TestIssueThenVerify(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	tokens := newTokens(t, now)
	issued, err := tokens.Issue(Subject{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if issued.ExpiresIn != 60 || issued.TokenID == "" {
		t.Errorf("Issue = %+v, want 60s lifetime and a jti", issued)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(issued.Token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	claims := parsed.Claims.(jwt.MapClaims)
	for _, k := range []string{"sub", "iat", "nbf", "exp", "iss", "aud", "jti"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("token lacks claim %s", k)
		}
	}
	if parsed.Header["alg"] != "HS256" {
		t.Errorf("alg = %v, want HS256", parsed.Header["alg"])
	}
	tests := []struct {
		name    string
		advance time.Duration
		wantErr error
	}{
		{"fresh", 0, nil},
		{"just-before-expiry", 59 * time.Second, nil},
		{"inside-leeway", 65 * time.Second, nil},
		{"expired", 71 * time.Second, ErrTokenExpired},
		{"before-issue-beyond-leeway", -20 * time.Second, ErrTokenNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifier := newTokens(t, func() time.Time { return clock.Add(tt.advance) })
			id, err := verifier.Verify(issued.Token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (id.Username != "alice" || id.TokenID != issued.TokenID) {
				t.Errorf("identity = %+v", id)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	tokens := newTokens(t, nil)
	now := time.Now()
	sign := func(m jwt.SigningMethod, c jwt.MapClaims, key any, hdr map[string]any) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = "k1"
		for k, v := range hdr {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(kv ...any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "iss": "authgate", "aud": "authgate", "jti": "j", "exp": now.Add(time.Minute).Unix()}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"none", sign(jwt.SigningMethodNone, claims(), jwt.UnsafeAllowNoneSignatureType, nil), ErrTokenSignature},
		{"hs512", sign(jwt.SigningMethodHS512, claims(), secret, nil), ErrTokenSignature},
		{"wrong-key", sign(jwt.SigningMethodHS256, claims(), []byte(strings.Repeat("x", 32)+"y"), nil), ErrTokenSignature},
		{"typ-not-jwt", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"typ": "at+jwt+evil"}), ErrTokenAlgorithm},
		{"x5u", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"x5u": "http://127.0.0.1:1/"}), ErrTokenAlgorithm},
		{"x5c", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"x5c": []string{"MIIB"}}), ErrTokenAlgorithm},
		{"crit", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"crit": []string{"exp"}}), ErrTokenAlgorithm},
		{"kid-empty", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"kid": ""}), ErrTokenAlgorithm},
		{"kid-unknown", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"kid": "k2"}), ErrTokenAlgorithm},
		{"kid-not-a-string", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"kid": 1}), ErrTokenAlgorithm},
		{"kid-missing", sign(jwt.SigningMethodHS256, claims(), secret, map[string]any{"kid": nil}), ErrTokenAlgorithm},
		{"wrong-iss", sign(jwt.SigningMethodHS256, claims("iss", "other"), secret, nil), ErrTokenClaims},
		{"aud-list-without-ours", sign(jwt.SigningMethodHS256, claims("aud", []string{"a", "b"}), secret, nil), ErrTokenClaims},
		{"missing-exp", sign(jwt.SigningMethodHS256, claims("exp", nil), secret, nil), ErrTokenClaims},
		{"exp-string", sign(jwt.SigningMethodHS256, claims("exp", "4102444800"), secret, nil), ErrTokenMalformed},
		{"sub-number", sign(jwt.SigningMethodHS256, claims("sub", 7), secret, nil), ErrTokenMalformed},
		{"sub-with-crlf", sign(jwt.SigningMethodHS256, claims("sub", "a\r\nb"), secret, nil), ErrTokenClaims},
		{"sub-with-comma", sign(jwt.SigningMethodHS256, claims("sub", "alice,admin"), secret, nil), ErrTokenClaims},
		{"amr-with-crlf", sign(jwt.SigningMethodHS256, claims("amr", []string{"pwd\r\nx"}), secret, nil), ErrTokenClaims},
		{"amr-upper-case", sign(jwt.SigningMethodHS256, claims("amr", []string{"PWD"}), secret, nil), ErrTokenClaims},
		{"amr-too-many", sign(jwt.SigningMethodHS256, claims("amr", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}), secret, nil), ErrTokenClaims},
		{"amr-not-a-list", sign(jwt.SigningMethodHS256, claims("amr", "pwd"), secret, nil), ErrTokenMalformed},
		{"missing-jti", sign(jwt.SigningMethodHS256, claims("jti", nil), secret, nil), ErrTokenClaims},
		{"oversized", "a." + strings.Repeat("b", MaxTokenBytes) + ".c", ErrTokenMalformed},
		{"one-segment", "abc", ErrTokenMalformed},
		{"empty", "", ErrTokenMalformed},
		{"many-dots", strings.Repeat(".", 1000), ErrTokenMalformed},
		// Valid tokens respelled: base64 decoders skip line breaks and
		// accept the standard alphabet's padding; none is the same token.
		{"line-break-in-signature", respell(sign(jwt.SigningMethodHS256, claims(), secret, nil), 2, "\n"), ErrTokenMalformed},
		{"carriage-return-in-payload", respell(sign(jwt.SigningMethodHS256, claims(), secret, nil), 1, "\r"), ErrTokenMalformed},
		{"padding-after-signature", sign(jwt.SigningMethodHS256, claims(), secret, nil) + "=", ErrTokenMalformed},
		{"space-in-header", respell(sign(jwt.SigningMethodHS256, claims(), secret, nil), 0, " "), ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tokens.Verify(tt.token); !errors.Is(err, tt.want) {
				t.Errorf("Verify(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
		err    error
	}{
		{"none", nil, "", ErrNoCredentials},
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", nil},
		{"case-insensitive-scheme", []string{"BEARER abc"}, "abc", nil},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", ErrNoCredentials},
		{"empty-token", []string{"Bearer "}, "", ErrMalformedCredentials},
		{"two-headers", []string{"Bearer a", "Bearer b"}, "", ErrMalformedCredentials},
		{"bad-characters", []string{"Bearer a,b"}, "", ErrMalformedCredentials},
		{"space-inside", []string{"Bearer a b"}, "", ErrMalformedCredentials},
		{"too-long", []string{"Bearer " + strings.Repeat("a", MaxTokenBytes+1)}, "", ErrMalformedCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BearerToken(http.Header{"Authorization": tt.values})
			if tt.values == nil {
				got, err = BearerToken(http.Header{})
			}
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.values, got, err, tt.want, tt.err)
			}
		})
	}
}

// respell inserts extra into the middle of segment i of a compact token.
func respell(token string, i int, extra string) string {
	parts := strings.Split(token, ".")
	mid := len(parts[i]) / 2
	parts[i] = parts[i][:mid] + extra + parts[i][mid:]
	return strings.Join(parts, ".")
}
