package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodKeyHash = "sha256:R6U2dyGFumcw4LxcX5N3PPnQmha1Md3jLfVRkL9YMuI"

// TestFactorsAndAPIKeys: the second-factor, require_mfa and API key keys
// type their values, and every mistake is reported at its path without
// the secret's value.
func TestFactorsAndAPIKeys(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "alice.totp")
	os.WriteFile(secretFile, []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n"), 0o600)
	open := filepath.Join(dir, "open.totp")
	os.WriteFile(open, []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n"), 0o644)
	head := "token:\n  secret: " + secret + "\nroutes:\n  - {name: ro, path: /ro, upstream: http://127.0.0.1:1, require_mfa: true}\nusers:\n  - username: alice\n    password_hash: \"" + hash10 + "\"\n"

	cfg, err := Parse([]byte(head+"    totp_secret_file: alice.totp\n    require_mfa: true\n    api_keys:\n      - {name: ci, hash: \""+goodKeyHash+"\", expires: 2030-01-31, routes: [ro], methods: [GET]}\napi_keys:\n  header: x-api-key\n"), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	u, k := cfg.Users[0], cfg.Users[0].APIKeys[0]
	if u.TOTPSecret != "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" || !u.RequireMFA || !cfg.Routes[0].RequireMFA {
		t.Errorf("user = secret %v require_mfa %v, route require_mfa %v", u.TOTPSecret != "", u.RequireMFA, cfg.Routes[0].RequireMFA)
	}
	if k.Name != "ci" || !k.Expires.Equal(time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)) || k.Routes[0] != "ro" || k.Methods[0] != "GET" {
		t.Errorf("api key = %+v", k)
	}
	if cfg.APIKeys.Header != "X-Api-Key" || !strings.Contains(strings.Join(cfg.StripHeaders, ","), "X-Api-Key") {
		t.Errorf("api_keys.header = %q, stripped %v; want X-Api-Key, stripped", cfg.APIKeys.Header, cfg.StripHeaders)
	}

	for _, c := range []struct{ name, doc, want string }{
		{"inline-and-file", "    totp_secret: JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n    totp_secret_file: alice.totp\n", "users[0].totp_secret_file: set totp_secret or totp_secret_file, not both"},
		{"not-base32", "    totp_secret: not-base-32!\n", "users[0].totp_secret: must be base32"},
		{"too-short", "    totp_secret: JBSWY3DP\n", "users[0].totp_secret: is too short"},
		{"file-readable-by-others", "    totp_secret_file: open.totp\n", "users[0].totp_secret_file: the file is readable by other users"},
		{"bad-hash", "    api_keys:\n      - {name: ci, hash: \"ag_plaintext\"}\n", "users[0].api_keys[0].hash: must be sha256:"},
		{"bad-name", "    api_keys:\n      - {name: \"a b\", hash: \"" + goodKeyHash + "\"}\n", "users[0].api_keys[0].name: must be 1 to 64"},
		{"duplicate-name", "    api_keys:\n      - {name: ci, hash: \"" + goodKeyHash + "\"}\n      - {name: ci, hash: \"" + goodKeyHash + "\"}\n", "users[0].api_keys[1].name: is already the name of users[0].api_keys[0]"},
		{"duplicate-key", "    api_keys:\n      - {name: ci, hash: \"" + goodKeyHash + "\"}\n      - {name: cd, hash: \"" + goodKeyHash + "\"}\n", "users[0].api_keys[1].hash: is the same key as users[0].api_keys[0]"},
		{"bad-expiry", "    api_keys:\n      - {name: ci, hash: \"" + goodKeyHash + "\", expires: soon}\n", "users[0].api_keys[0].expires: must be a date"},
		{"unknown-route", "    api_keys:\n      - {name: ci, hash: \"" + goodKeyHash + "\", routes: [nope]}\n", "users[0].api_keys[0].routes[0]: names no route"},
		{"bad-method", "    api_keys:\n      - {name: ci, hash: \"" + goodKeyHash + "\", methods: [\"GET /\"]}\n", "users[0].api_keys[0].methods[0]: must be an HTTP method"},
	} {
		_, err := Parse([]byte(head+c.doc), dir, env(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Parse = %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "JBSWY3DP") {
			t.Errorf("%s: the problem echoes the secret: %v", c.name, err)
		}
	}
	_, err = Parse([]byte("token:\n  secret: "+secret+"\nusers:\n  - {username: a, password_hash: \""+hash10+"\"}\nroutes:\n  - {path: /, upstream: http://127.0.0.1:1, public: true, require_mfa: true}\n"), dir, env(nil))
	if err == nil || !strings.Contains(err.Error(), "routes[0].require_mfa: contradicts public") {
		t.Errorf("public route with require_mfa: Parse = %v", err)
	}
	cfg, err = Parse([]byte(head+"    require_mfa: true\n"), dir, env(nil))
	if err != nil || !strings.Contains(strings.Join(cfg.Warnings, "\n"), `user "alice" has require_mfa but no second factor`) {
		t.Errorf("require_mfa without a factor: %v, warnings %q", err, cfg.Warnings)
	}
}

// TestPasskeySignIn: passkeys.sign_in defaults to passwordless, which
// configs written before it had, takes second_factor and both, and
// reports anything else at its path.
func TestPasskeySignIn(t *testing.T) {
	head := "token:\n  secret: " + secret + "\nusers:\n  - {username: a, password_hash: \"" + hash10 + "\"}\nroutes:\n  - {path: /, upstream: http://127.0.0.1:1}\npasskeys:\n  rp_id: example.com\n  origins: [https://example.com]\n"
	for _, c := range []struct {
		doc                        string
		passwordless, secondFactor bool
	}{
		{"", true, false},
		{"  sign_in: passwordless\n", true, false},
		{"  sign_in: second_factor\n", false, true},
		{"  sign_in: both\n", true, true},
	} {
		cfg, err := Parse([]byte(head+c.doc), t.TempDir(), env(nil))
		if err != nil {
			t.Fatalf("%q: %v", c.doc, err)
		}
		if p := cfg.Passkeys; p.Passwordless() != c.passwordless || p.SecondFactor() != c.secondFactor {
			t.Errorf("%q: passwordless %v second factor %v, want %v %v", c.doc, p.Passwordless(), p.SecondFactor(), c.passwordless, c.secondFactor)
		}
	}
	_, err := Parse([]byte(head+"  sign_in: password\n"), t.TempDir(), env(nil))
	if err == nil || !strings.Contains(err.Error(), "passkeys.sign_in: must be passwordless, second_factor or both") {
		t.Errorf("sign_in: password: Parse = %v", err)
	}
}
