package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/keys"
)

// TestFlowCookie: the flow cookie is __Host- prefixed when Secure,
// SameSite=Lax and HttpOnly, and is read back only unaltered, unexpired,
// for its provider and under the key of the config that sealed it.
func TestFlowCookie(t *testing.T) {
	tok := config.Token{Keys: []keys.Key{keys.Secret("k1", []byte(testSecret))}, SigningKey: "k1"}
	c := newFlowCookie(tok, true)
	now := time.Unix(1_800_000_000, 0)
	f := flow{Provider: "corp", State: "st", Nonce: "n", Verifier: "v", RD: "/x", Expires: now.Add(flowTTL).Unix()}
	rec := httptest.NewRecorder()
	c.set(rec, f)
	set := rec.Result().Cookies()[0]
	if set.Name != "__Host-authgate_oidc" || !set.Secure || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/" || set.Domain != "" {
		t.Fatalf("cookie %+v", set)
	}
	if c := newFlowCookie(tok, false); c.name != "authgate_oidc" {
		t.Errorf("insecure cookie name %q", c.name)
	}
	read := func(value, provider string, at time.Time, with flowCookie) bool {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: set.Name, Value: value})
		got, ok := with.read(r, provider, at)
		return ok && got == f
	}
	other := newFlowCookie(config.Token{Keys: []keys.Key{keys.Secret("k2", []byte(strings.Repeat("q7", 16)))}, SigningKey: "k2"}, true)
	payload, mac, _ := strings.Cut(set.Value, ".")
	for name, ok := range map[string]bool{
		"as sealed":             read(set.Value, "corp", now, c),
		"another provider":      !read(set.Value, "other", now, c),
		"expired":               !read(set.Value, "corp", now.Add(flowTTL+time.Second), c),
		"another key":           !read(set.Value, "corp", now, other),
		"altered payload":       !read(payload+"x."+mac, "corp", now, c),
		"no MAC":                !read(payload, "corp", now, c),
		"MAC of another cookie": !read(payload+"."+strings.Repeat("A", len(mac)), "corp", now, c),
	} {
		if !ok {
			t.Errorf("%s: read gave the wrong answer", name)
		}
	}
}
