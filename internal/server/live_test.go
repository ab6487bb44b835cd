package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/keys"
)

// TestSameVerification: the verified-token cache carries over a reload only
// when every token it holds would still verify: keys may be added and the
// signer may change; a key dropped or changed, or any other setting a
// token is checked against, drops it.
func TestSameVerification(t *testing.T) {
	secret := func(id, s string) keys.Key { return keys.Secret(id, []byte(s)) }
	a, b := secret("a", testSecret), secret("b", testSecret[1:]+"x")
	base := config.Token{Algorithm: keys.HS256, Keys: []keys.Key{a}, SigningKey: "a", Issuer: "i", Audience: "u", Leeway: time.Second, CacheSize: 10}
	issuer := config.TrustedIssuer{Issuer: "https://idp", Audience: "u", JWKSURL: "https://idp/keys", Algorithms: []string{keys.RS256}}
	tests := []struct {
		name   string
		change func(*config.Token)
		want   bool
	}{
		{"unchanged", func(*config.Token) {}, true},
		{"key-added", func(t *config.Token) { t.Keys = []keys.Key{a, b} }, true},
		{"signer-changed", func(t *config.Token) { t.Keys, t.SigningKey = []keys.Key{b, a}, "b" }, true},
		{"ttl-changed", func(t *config.Token) { t.TTL = time.Hour }, true},
		{"key-dropped", func(t *config.Token) { t.Keys = []keys.Key{b} }, false},
		{"key-material-changed", func(t *config.Token) { t.Keys = []keys.Key{secret("a", testSecret[1:]+"y")} }, false},
		{"issuer-changed", func(t *config.Token) { t.Issuer = "j" }, false},
		{"audience-changed", func(t *config.Token) { t.Audience = "v" }, false},
		{"leeway-changed", func(t *config.Token) { t.Leeway = 0 }, false},
		{"cache-size-changed", func(t *config.Token) { t.CacheSize = 20 }, false},
		{"provider-added", func(t *config.Token) { t.TrustedIssuers = []config.TrustedIssuer{issuer} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base
			tt.change(&next)
			if got := sameVerification(base, next); got != tt.want {
				t.Errorf("sameVerification = %v, want %v", got, tt.want)
			}
		})
	}
	withIssuer := base
	withIssuer.TrustedIssuers = []config.TrustedIssuer{issuer}
	if !sameVerification(withIssuer, withIssuer) {
		t.Error("an unchanged provider with a JWKS URL drops the cache")
	}
	fromFile := issuer
	fromFile.JWKSURL, fromFile.JWKSFile = "", "/keys.json"
	withIssuer.TrustedIssuers = []config.TrustedIssuer{fromFile}
	if sameVerification(withIssuer, withIssuer) {
		t.Error("a provider whose keys come from a file keeps the cache: the file may be what changed")
	}
}

// TestReloadedGatewaySharesUpstreamConnections builds gateways from new
// configs with the serving one as Previous, as a reload does: they share
// its transport, and so its warm upstream connections, while the transport
// settings are the same.
func TestReloadedGatewaySharesUpstreamConnections(t *testing.T) {
	build := func(doc string, prev *Gateway) *Gateway {
		t.Helper()
		cfg, err := config.Parse([]byte("token:\n  secret: \""+testSecret+"\"\nusers:\n  - {username: alice, password_hash: \""+aliceHash+"\"}\n"+doc), t.TempDir(), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(cfg, Options{Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	first := build("", nil)
	reloaded := build("routes:\n  - {path: /a, upstream: \"http://127.0.0.1:1\"}\n", first)
	if reloaded.transport != first.transport {
		t.Error("the same transport settings got a new transport: warm upstream connections lost")
	}
	if changed := build("transport:\n  dial_timeout: 3s\n", reloaded); changed.transport == reloaded.transport {
		t.Error("new transport settings kept the old transport")
	}
}

// TestReplaceAfterShutdownIsRefused: once Run is ending, a reload that
// finishes late does not bring a gateway back that answers /readyz 200.
func TestReplaceAfterShutdownIsRefused(t *testing.T) {
	f := newFixture(t, "")
	l := NewLive(f.gw)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.current.Load().start(ctx)
	l.end()
	next := newFixture(t, "").gw
	if err := l.Replace(ctx, next); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Replace after the end = %v, want ErrShuttingDown", err)
	}
	if l.Current() != f.gw || next.ready.Load() || f.gw.ready.Load() {
		t.Errorf("after a refused Replace: current is the new gateway %v, new ready %v, old ready %v; want the old one, neither ready",
			l.Current() == next, next.ready.Load(), f.gw.ready.Load())
	}
}
