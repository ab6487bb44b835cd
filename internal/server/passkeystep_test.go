package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// softKey is a passkey held in the test: an ES256 key answering
// WebAuthn assertions as an authenticator would (WebAuthn 6.3.3), for
// testing our refusals without a browser. The Chromium tests use a real
// browser's virtual authenticator.
type softKey struct {
	user  string
	id    []byte
	key   *ecdsa.PrivateKey
	count uint32
}

func newSoftKey(t *testing.T, user string) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{user: user, id: id, key: key}
}

// line is the key's users[].passkeys line.
func (k *softKey) line(t *testing.T) string {
	t.Helper()
	pub, err := k.key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	point := pub.Bytes() // 0x04 || x || y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         int64(webauthncose.P256), XCoord: point[1:33], YCoord: point[33:],
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return "- {name: soft, id: " + enc(k.id) + ", public_key: " + enc(cose) + "}"
}

// assert answers the challenge of a begin response for origin and rpID,
// with or without user verification.
func (k *softKey) assert(t *testing.T, begin, origin, rpID string, verified bool) string {
	t.Helper()
	var options struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(begin), &options); err != nil || options.PublicKey.Challenge == "" {
		t.Fatalf("begin answered %q", begin)
	}
	client, _ := json.Marshal(map[string]string{"type": "webauthn.get", "challenge": options.PublicKey.Challenge, "origin": origin})
	rp := sha256.Sum256([]byte(rpID))
	flags := byte(0x01) // user present
	if verified {
		flags |= 0x04
	}
	k.count++
	data := append(append(rp[:], flags), binary.BigEndian.AppendUint32(nil, k.count)...)
	clientHash := sha256.Sum256(client)
	digest := sha256.Sum256(append(append([]byte(nil), data...), clientHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	out, _ := json.Marshal(map[string]any{
		"id": enc(k.id), "rawId": enc(k.id), "type": "public-key",
		"response": map[string]string{
			"authenticatorData": enc(data), "clientDataJSON": enc(client), "signature": enc(sig),
			"userHandle": enc(userHandle(k.user)),
		},
	})
	return string(out)
}

// passkeyStepConfig gives alice and bob a passkey each under
// passkeys.sign_in, and adds a route that requires a second factor.
func passkeyStepConfig(t *testing.T, signIn string, alice, bob *softKey) string {
	doc := strings.NewReplacer(
		"  - username: alice\n    password_hash: \""+aliceHash+"\"\n",
		"  - username: alice\n    password_hash: \""+aliceHash+"\"\n    passkeys:\n      "+alice.line(t)+"\n",
		"  - username: bob\n    password_hash: \""+bobHash+"\"\n",
		"  - username: bob\n    password_hash: \""+bobHash+"\"\n    passkeys:\n      "+bob.line(t)+"\n",
		"routes:\n", "routes:\n  - path: /mfa/\n    upstream: UPSTREAM\n    require_mfa: true\n",
	).Replace(baseConfig)
	doc += "passkeys:\n  rp_id: gw.test\n  origins: [https://gw.test]\n"
	if signIn != "" {
		doc += "  sign_in: " + signIn + "\n"
	}
	return doc
}

// cookieValue is the value of the cookie name resp sets, "" for none.
func cookieValue(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// TestPasskeySecondStep: with passkeys.sign_in second_factor, alice's
// right password leads a browser to the passkey step (a pending cookie,
// no session), whose assertion must be by one of her passkeys: bob's is
// refused, as is a step without its pending cookie, after it expired, or
// whose ceremony was begun for another user's password; without user
// verification the session's amr holds no second factor. Her own
// verified passkey starts a session with amr [pwd hwk], which a
// require_mfa route admits. An API client is told passkey_required after
// the right password only, and the passwordless ceremony is refused.
func TestPasskeySecondStep(t *testing.T) {
	alice, bob := newSoftKey(t, "alice"), newSoftKey(t, "bob")
	f := newFixtureFrom(t, passkeyStepConfig(t, "second_factor", alice, bob))
	const origin, rpID = "https://gw.test", "gw.test"

	// password signs in as user from a browser and returns the pending cookie.
	password := func(user, pass string) string {
		t.Helper()
		resp, body, session := f.browserLogin(t, user, pass, "/mfa/x")
		pending := cookieValue(resp, "__Host-authgate_mfa")
		if resp.StatusCode != 200 || session != "" || pending == "" || !strings.Contains(body, `id="passkey-step"`) || strings.Contains(body, `name="otp"`) {
			t.Fatalf("%s's password = %d session=%v pending=%v, want 200, the passkey step, no session", user, resp.StatusCode, session != "", pending != "")
		}
		return pending
	}
	// call posts to a passkey endpoint with the cookies given.
	call := func(path string, body string, cookies ...string) (*http.Response, string) {
		t.Helper()
		h := http.Header{"Origin": {f.url}, "Content-Type": {"application/json"}}
		if len(cookies) > 0 {
			h.Set("Cookie", strings.Join(cookies, "; "))
		}
		return f.do(t, "POST", "/login/passkey/"+path, h, body)
	}
	// begin starts the step for pending and returns the options and the
	// ceremony cookie.
	begin := func(pending string) (string, string) {
		t.Helper()
		resp, body := call("step/begin", "", "__Host-authgate_mfa="+pending)
		if resp.StatusCode != 200 {
			t.Fatalf("step/begin = %d %s", resp.StatusCode, body)
		}
		return body, "__Host-authgate_webauthn=" + cookieValue(resp, "__Host-authgate_webauthn")
	}
	reason := func(resp *http.Response) string { return resp.Header.Get("X-Authgate-Reason") }

	// Refusals.
	pending := password("alice", alicePassword)
	options, ceremony := begin(pending)
	if resp, _ := call("step/finish", bob.assert(t, options, origin, rpID, true), "__Host-authgate_mfa="+pending, ceremony); resp.StatusCode != 401 || reason(resp) != "passkey_invalid" || cookieValue(resp, "__Host-authgate") != "" {
		t.Errorf("bob's passkey at alice's step = %d %q, want 401 passkey_invalid", resp.StatusCode, reason(resp))
	}
	options, ceremony = begin(pending)
	if resp, _ := call("step/finish", alice.assert(t, options, origin, rpID, true), ceremony); resp.StatusCode != 400 || reason(resp) != "passkey_ceremony" {
		t.Errorf("step without its pending cookie = %d %q, want 400 passkey_ceremony", resp.StatusCode, reason(resp))
	}
	if resp, _ := call("step/begin", ""); resp.StatusCode != 400 || reason(resp) != "passkey_ceremony" {
		t.Errorf("step/begin without a pending cookie = %d %q, want 400 passkey_ceremony", resp.StatusCode, reason(resp))
	}
	options, ceremony = begin(pending)
	bobPending := password("bob", "bobpassword")
	if resp, _ := call("step/finish", alice.assert(t, options, origin, rpID, true), "__Host-authgate_mfa="+bobPending, ceremony); resp.StatusCode != 400 || reason(resp) != "passkey_ceremony" {
		t.Errorf("alice's step finished under bob's pending cookie = %d %q, want 400 passkey_ceremony", resp.StatusCode, reason(resp))
	}
	for _, path := range []string{"login/begin", "login/finish"} {
		if resp, _ := call(path, "{}"); resp.StatusCode != 403 || reason(resp) != "passwordless_disabled" {
			t.Errorf("passwordless %s under sign_in second_factor = %d %q, want 403 passwordless_disabled", path, resp.StatusCode, reason(resp))
		}
	}
	if _, body := f.do(t, "GET", "/login", http.Header{"Accept": {htmlAccept}}, ""); strings.Contains(body, `id="passkey"`) {
		t.Error("the login page offers passwordless sign-in under sign_in second_factor")
	}
	jsonLogin := func(user, pass string) (int, string) {
		resp, body := f.do(t, "POST", "/login", http.Header{"Content-Type": {"application/json"}}, `{"username":"`+user+`","password":"`+pass+`"}`)
		return resp.StatusCode, strings.TrimSpace(body)
	}
	if status, body := jsonLogin("alice", alicePassword); status != 403 || body != `{"error":"passkey_required"}` {
		t.Errorf("API login with alice's password = %d %s, want 403 passkey_required", status, body)
	}
	if status, body := jsonLogin("alice", "nope"); status != 401 || !strings.Contains(body, "invalid_credentials") {
		t.Errorf("API login with a wrong password = %d %s, want 401 invalid_credentials", status, body)
	}

	// Without user verification, which passkeys.user_verification
	// requires by default.
	options, ceremony = begin(pending)
	if resp, _ := call("step/finish", alice.assert(t, options, origin, rpID, false), "__Host-authgate_mfa="+pending, ceremony); resp.StatusCode != 401 || reason(resp) != "passkey_invalid" {
		t.Errorf("unverified passkey step = %d %q, want 401 passkey_invalid", resp.StatusCode, reason(resp))
	}

	// Alice's own passkey, verified.
	pending = password("alice", alicePassword)
	options, ceremony = begin(pending)
	resp, _ := call("step/finish", alice.assert(t, options, origin, rpID, true), "__Host-authgate_mfa="+pending, ceremony)
	session := cookieValue(resp, "__Host-authgate")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/mfa/x" || session == "" {
		t.Fatalf("alice's passkey step = %d %q session=%v, want 303 to /mfa/x with a session", resp.StatusCode, resp.Header.Get("Location"), session != "")
	}
	if id, err := f.gw.verifier.Verify(t.Context(), session); err != nil || strings.Join(id.AMR, " ") != "pwd hwk" {
		t.Errorf("session amr = %v (%v), want [pwd hwk]", id.AMR, err)
	}
	if resp, _ := f.do(t, "GET", "/mfa/x", cookieHeader(session), ""); resp.StatusCode != 200 {
		t.Errorf("the passkey step's session on /mfa/x = %d, want 200", resp.StatusCode)
	}
	if resp, _ := call("step/finish", alice.assert(t, options, origin, rpID, true), "__Host-authgate_mfa="+pending, ceremony); resp.StatusCode != 400 {
		t.Errorf("the step's ceremony replayed = %d, want 400", resp.StatusCode)
	}

	// The pending step expires.
	pending = password("alice", alicePassword)
	f.advance(6 * time.Minute)
	if resp, _ := call("step/begin", "", "__Host-authgate_mfa="+pending); resp.StatusCode != 400 || reason(resp) != "passkey_ceremony" {
		t.Errorf("step/begin after the pending step expired = %d %q, want 400 passkey_ceremony", resp.StatusCode, reason(resp))
	}
	if want := `authgate_second_factor_attempts_total{factor="passkey",outcome="required"}`; !strings.Contains(metricsText(f), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// TestPasskeyStepUnverified: where user verification is only preferred,
// an unverified passkey step signs in with amr [pwd user], which is no
// second factor: a require_mfa route refuses it.
func TestPasskeyStepUnverified(t *testing.T) {
	alice, bob := newSoftKey(t, "alice"), newSoftKey(t, "bob")
	f := newFixtureFrom(t, passkeyStepConfig(t, "second_factor", alice, bob)+"  user_verification: preferred\n")
	resp, _, _ := f.browserLogin(t, "alice", alicePassword, "/mfa/x")
	pending := "__Host-authgate_mfa=" + cookieValue(resp, "__Host-authgate_mfa")
	h := http.Header{"Origin": {f.url}, "Cookie": {pending}}
	resp, options := f.do(t, "POST", "/login/passkey/step/begin", h, "")
	h.Set("Cookie", pending+"; __Host-authgate_webauthn="+cookieValue(resp, "__Host-authgate_webauthn"))
	resp, _ = f.do(t, "POST", "/login/passkey/step/finish", h, alice.assert(t, options, "https://gw.test", "gw.test", false))
	session := cookieValue(resp, "__Host-authgate")
	if id, err := f.gw.verifier.Verify(t.Context(), session); resp.StatusCode != 303 || err != nil || strings.Join(id.AMR, " ") != "pwd user" {
		t.Fatalf("unverified passkey step = %d amr %v (%v), want 303 and [pwd user]", resp.StatusCode, id.AMR, err)
	}
	if resp, _ := f.do(t, "GET", "/mfa/x", cookieHeader(session), ""); resp.StatusCode != 403 || resp.Header.Get("X-Authgate-Reason") != "mfa_required" {
		t.Errorf("unverified passkey step's session on /mfa/x = %d, want 403 mfa_required", resp.StatusCode)
	}
}

// TestPasskeySignInModes: passkeys.sign_in decides what a user with a
// passkey does after their password. passwordless (the default, what
// configs before the key did) signs them in with the password alone and
// offers no passkey step; both offers the step and passwordless sign-in,
// and a user with TOTP as well is offered the code beside the passkey.
func TestPasskeySignInModes(t *testing.T) {
	alice, bob := newSoftKey(t, "alice"), newSoftKey(t, "bob")
	for _, c := range []struct {
		name, signIn, extra     string
		step, otp, passwordless bool
	}{
		{"default", "", "", false, false, true},
		{"passwordless", "passwordless", "", false, false, true},
		{"both", "both", "", true, false, true},
		{"both-with-totp", "both", "    totp_secret: " + totpSecret + "\n", true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := passkeyStepConfig(t, c.signIn, alice, bob)
			doc = strings.Replace(doc, "    passkeys:\n      "+alice.line(t), c.extra+"    passkeys:\n      "+alice.line(t), 1)
			f := newFixtureFrom(t, doc)
			resp, body, session := f.browserLogin(t, "alice", alicePassword, "/")
			if got := strings.Contains(body, `id="passkey-step"`); got != c.step || strings.Contains(body, `name="otp"`) != c.otp || (session != "") == (c.step || c.otp) {
				t.Errorf("alice's password = %d session=%v passkey step=%v code=%v, want step=%v code=%v", resp.StatusCode, session != "", got, strings.Contains(body, `name="otp"`), c.step, c.otp)
			}
			_, page := f.do(t, "GET", "/login", http.Header{"Accept": {htmlAccept}}, "")
			if strings.Contains(page, `id="passkey"`) != c.passwordless {
				t.Errorf("login page offers passwordless sign-in: %v, want %v", !c.passwordless, c.passwordless)
			}
			if resp, _ := f.do(t, "POST", "/login/passkey/login/begin", http.Header{"Origin": {f.url}}, ""); resp.StatusCode != 200 {
				t.Errorf("passwordless begin = %d, want 200", resp.StatusCode)
			}
		})
	}
}
