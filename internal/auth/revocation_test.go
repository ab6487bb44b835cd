package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"testing"
	"time"
)

func TestSessionClaimsRoundTrip(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	tokens := newTokens(t, func() time.Time { return clock })
	tests := []struct {
		name    string
		subject Subject
	}{
		{"without", Subject{Username: "alice"}},
		{"with", Subject{Username: "alice", SessionID: "s1", Epoch: 1_800_000_000_123_456, SessionEnd: clock.Add(12 * time.Hour), AMR: []string{"pwd", "otp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued, err := tokens.Issue(tt.subject)
			if err != nil {
				t.Fatal(err)
			}
			id, err := tokens.Verify(issued.Token)
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
			if id.Epoch != tt.subject.Epoch || !id.SessionEnd.Equal(tt.subject.SessionEnd) {
				t.Errorf("got epoch %d, session end %v; want %d, %v", id.Epoch, id.SessionEnd, tt.subject.Epoch, tt.subject.SessionEnd)
			}
			if !slices.Equal(id.AMR, tt.subject.AMR) {
				t.Errorf("got amr %q, want %q", id.AMR, tt.subject.AMR)
			}
		})
	}
}

func TestFingerprintIsOfTheSignedContent(t *testing.T) {
	sum := sha256.Sum256([]byte("aGVhZGVy.cGF5bG9hZA"))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	tests := []struct {
		name  string
		token string
	}{
		{"one-signature", "aGVhZGVy.cGF5bG9hZA.c2lnbmF0dXJl"},
		{"another-signature", "aGVhZGVy.cGF5bG9hZA.b3RoZXI"},
		{"no-signature", "aGVhZGVy.cGF5bG9hZA."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fingerprint(tt.token); got != want {
				t.Errorf("Fingerprint(%q) = %q, want %q", tt.token, got, want)
			}
		})
	}
	if Fingerprint("aGVhZGVy.b3RoZXI.c2lnbmF0dXJl") == want {
		t.Errorf("another payload has the same fingerprint")
	}
}
