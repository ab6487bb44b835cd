package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/authgate/authgate/internal/config"
)

// flowTTL is how long a browser has between leaving for a provider and
// coming back.
const flowTTL = 10 * time.Minute

// flow is one sign-in through a provider in progress, kept in the browser
// that started it: state and nonce bind the provider's answer to this
// browser, verifier is PKCE's secret, rd where to go afterwards.
type flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	RD       string `json:"rd"`
	Expires  int64  `json:"exp"`
}

// flowCookie seals flows into a short-lived cookie. The MAC's key derives
// from the token signing key, so every replica sharing the config accepts
// the cookie another set, and nothing new needs configuring.
type flowCookie struct {
	name   string
	secure bool
	key    []byte
}

func newFlowCookie(t config.Token, secure bool) flowCookie {
	return newSealedCookie(t, secure, flowCookieBase, "authgate oidc flow cookie v1")
}

// newSealedCookie is a flowCookie called name, whose MAC key derives from
// the signing key under label: each use has a key of its own, so that one
// cookie can never pass for another.
func newSealedCookie(t config.Token, secure bool, name, label string) flowCookie {
	var material []byte
	for _, k := range t.Keys {
		if k.ID != t.SigningKey {
			continue
		}
		if s, ok := k.Private.([]byte); ok {
			material = s
		} else if der, err := x509.MarshalPKCS8PrivateKey(k.Private); err == nil {
			material = der
		}
	}
	mac := hmac.New(sha256.New, []byte(label))
	mac.Write(material)
	return flowCookie{name: sealedCookieName(name, secure), secure: secure, key: mac.Sum(nil)}
}

// sealedCookieName is the name a sealed cookie called name goes by.
// Secure, it has the __Host- prefix: only this host over HTTPS can set
// it, so a sibling subdomain cannot plant a flow of its own (login CSRF).
func sealedCookieName(name string, secure bool) string {
	if secure {
		return "__Host-" + name
	}
	return name
}

// The names newSealedCookie is called with.
const (
	flowCookieBase     = "authgate_oidc"
	ceremonyCookieBase = "authgate_webauthn"
	pendingCookieBase  = "authgate_mfa"
)

// ownCookieNames are the cookies a gateway with session settings s sets,
// which no application behind it is given: the session (an upstream that
// logged or leaked it would hand out sessions) and the sealed ones (a
// sign-in's PKCE verifier, a ceremony's challenge, a half-done login).
func ownCookieNames(s config.Session) []string {
	own := []string{s.CookieName}
	for _, n := range []string{flowCookieBase, ceremonyCookieBase, pendingCookieBase} {
		own = append(own, sealedCookieName(n, s.Secure))
	}
	return own
}

func (c flowCookie) mac(payload string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// set stores f in the browser. SameSite=Lax: the provider sends the
// browser back with a top-level GET, which carries it.
func (c flowCookie) set(w http.ResponseWriter, f flow) { c.seal(w, f, flowTTL) }

// seal stores v, as JSON under the MAC, in the browser for ttl.
func (c flowCookie) seal(w http.ResponseWriter, v any, ttl time.Duration) {
	b, _ := json.Marshal(v)
	payload := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: payload + "." + c.mac(payload), Path: "/", MaxAge: int(ttl / time.Second),
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// open decodes into v the value the request's cookie holds, if the
// gateway sealed it; the caller checks its expiry.
func (c flowCookie) open(r *http.Request, v any) bool {
	found := r.CookiesNamed(c.name)
	if len(found) != 1 {
		return false
	}
	payload, mac, ok := strings.Cut(found[0].Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(c.mac(payload))) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	return err == nil && json.Unmarshal(b, v) == nil
}

// clear deletes the cookie: each flow is used once.
func (c flowCookie) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.name, Value: "", Path: "/", MaxAge: -1, Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// read returns the flow the request carries if the gateway sealed it, it
// has not expired and it is for provider.
func (c flowCookie) read(r *http.Request, provider string, now time.Time) (flow, bool) {
	var f flow
	if !c.open(r, &f) || f.Provider != provider || now.Unix() > f.Expires || f.State == "" {
		return flow{}, false
	}
	return f, true
}
