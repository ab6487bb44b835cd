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
	mac := hmac.New(sha256.New, []byte("authgate oidc flow cookie v1"))
	mac.Write(material)
	return flowCookie{name: flowCookieName(secure), secure: secure, key: mac.Sum(nil)}
}

// flowCookieName names the flow cookie. Secure, it has the __Host- prefix:
// only this host over HTTPS can set it, so a sibling subdomain cannot
// plant a flow of its own (login CSRF).
func flowCookieName(secure bool) string {
	if secure {
		return "__Host-authgate_oidc"
	}
	return "authgate_oidc"
}

// ownCookies are the cookies the gateway sets, which no application behind
// it is given: the session (an upstream that logged or leaked it would
// hand out sessions) and the flow cookie (a sign-in's PKCE verifier).
func (g *Gateway) ownCookies() []string {
	return []string{g.cfg.Session.CookieName, flowCookieName(g.cfg.Session.Secure)}
}

func (c flowCookie) mac(payload string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// set stores f in the browser. SameSite=Lax: the provider sends the
// browser back with a top-level GET, which carries it.
func (c flowCookie) set(w http.ResponseWriter, f flow) {
	b, _ := json.Marshal(f)
	payload := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: payload + "." + c.mac(payload), Path: "/", MaxAge: int(flowTTL / time.Second),
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// clear deletes the cookie: each flow is used once.
func (c flowCookie) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.name, Value: "", Path: "/", MaxAge: -1, Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// read returns the flow the request carries if the gateway sealed it, it
// has not expired and it is for provider.
func (c flowCookie) read(r *http.Request, provider string, now time.Time) (flow, bool) {
	found := r.CookiesNamed(c.name)
	if len(found) != 1 {
		return flow{}, false
	}
	payload, mac, ok := strings.Cut(found[0].Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(c.mac(payload))) {
		return flow{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var f flow
	if err != nil || json.Unmarshal(b, &f) != nil || f.Provider != provider || now.Unix() > f.Expires || f.State == "" {
		return flow{}, false
	}
	return f, true
}
