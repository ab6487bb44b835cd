package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/keys"
)

func TestVerifiedCache(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	tokens, err := NewTokens(TokenOptions{Keys: []keys.Key{keys.Secret("k1", secret)}, SigningKey: "k1", Issuer: "authgate", Audience: "authgate", TTL: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(tokens, 32)
	ctx := context.Background()
	issued, _ := tokens.Issue(Subject{Username: "alice"})
	for range 2 {
		if id, err := v.Verify(ctx, issued.Token); err != nil || id.Username != "alice" {
			t.Fatalf("Verify = %v, %v", id, err)
		}
	}
	tampered := issued.Token[:len(issued.Token)-2] + "AA"
	if _, err := v.Verify(ctx, tampered); err == nil {
		t.Errorf("a tampered copy of a cached token was accepted")
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, issued.Token); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("a cached token past exp = %v, want ErrTokenExpired", err)
	}
	// Bounded: many tokens never grow it past its size.
	for i := range 200 {
		tok, _ := tokens.Issue(Subject{Username: fmt.Sprint("u", i)})
		v.Verify(ctx, tok.Token)
	}
	n := 0
	for i := range v.cache.shards {
		n += len(v.cache.shards[i].entries)
	}
	if n > 32 {
		t.Errorf("cache holds %d entries, want at most 32", n)
	}
}

// TestKeepCache: a verifier built for a reloaded config answers from the
// old one's cache (so the caller must keep it only while every cached
// token would still verify), and one without a cache keeps none.
func TestKeepCache(t *testing.T) {
	opts := TokenOptions{Keys: []keys.Key{keys.Secret("k1", secret)}, SigningKey: "k1", Issuer: "authgate", Audience: "authgate", TTL: time.Minute}
	tokens, _ := NewTokens(opts)
	old := NewVerifier(tokens, 32)
	issued, _ := tokens.Issue(Subject{Username: "alice"})
	if _, err := old.Verify(context.Background(), issued.Token); err != nil {
		t.Fatal(err)
	}
	// Another key only: the token is known from the cache alone.
	opts.Keys, opts.SigningKey = []keys.Key{keys.Secret("k2", secret)}, "k2"
	other, _ := NewTokens(opts)
	kept := NewVerifier(other, 32)
	kept.KeepCache(old)
	if _, err := kept.Verify(context.Background(), issued.Token); err != nil {
		t.Errorf("a verifier that kept the cache: %v, want the cached identity", err)
	}
	uncached := NewVerifier(other, 0)
	uncached.KeepCache(old)
	if _, err := uncached.Verify(context.Background(), issued.Token); err == nil {
		t.Error("a verifier configured without a cache took one over")
	}
}
