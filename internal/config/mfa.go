package config

import (
	"encoding/base32"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// APIKeyHashPrefix starts every users[].api_keys[].hash: the hash's
// algorithm, so that another can be added without guessing.
const APIKeyHashPrefix = "sha256:"

// MinTOTPSecretBytes is the shortest TOTP secret accepted: RFC 4226
// section 4 requires 128 bits (and recommends 160, which totp-enroll
// makes).
const MinTOTPSecretBytes = 16

// plannedTOTP is a user's totp_secret_file, for load to read into the
// user of that name.
type plannedTOTP struct {
	username string
	src      fileRef
}

// apiKeyRoute is a route name an API key is limited to, checked once the
// routes are known.
type apiKeyRoute struct {
	path string
	at   position
	name string
}

// factors checks a config user's second factor, API keys and require_mfa
// (p is the user's YAML path), setting them on u. A secret's value is
// never echoed.
func (v *validator) factors(p string, fu *fileUser, u *User) {
	u.RequireMFA = v.flag(p+".require_mfa", &fu.RequireMFA)
	secret, inline := v.text(p+".totp_secret", &fu.TOTPSecret)
	file, fromFile := v.text(p+".totp_secret_file", &fu.TOTPSecretFile)
	switch {
	case inline && fromFile:
		v.fail(p+".totp_secret_file", at(&fu.TOTPSecretFile), "set totp_secret or totp_secret_file, not both")
	case inline:
		if msg := TOTPSecretProblem(secret); msg != "" {
			v.fail(p+".totp_secret", at(&fu.TOTPSecret), "%s", msg)
		} else {
			u.TOTPSecret = NormalizeTOTPSecret(secret)
		}
	case fromFile && strings.TrimSpace(file) == "":
		v.fail(p+".totp_secret_file", at(&fu.TOTPSecretFile), "is empty: name the file totp-enroll wrote")
	case fromFile:
		name, _ := v.text(p+".username", &fu.Username)
		v.plan.totp = append(v.plan.totp, plannedTOTP{username: name, src: v.fileRef(p+".totp_secret_file", &fu.TOTPSecretFile, file)})
	}
	for i, fp := range fu.Passkeys {
		if fp == nil {
			continue
		}
		pp := indexPath(p+".passkeys", i)
		var k Passkey
		k.Name, _ = v.text(pp+".name", &fp.Name)
		id, _ := v.text(pp+".id", &fp.ID)
		pub, _ := v.text(pp+".public_key", &fp.PublicKey)
		var err error
		if k.ID, err = base64.RawURLEncoding.DecodeString(id); err != nil || len(k.ID) == 0 || len(k.ID) > 1023 {
			v.fail(pp+".id", where(&fp.ID, fp.At), "must be the credential ID in base64url, as the account page shows it")
		}
		if k.PublicKey, err = base64.RawURLEncoding.DecodeString(pub); err != nil || len(k.PublicKey) == 0 {
			v.fail(pp+".public_key", where(&fp.PublicKey, fp.At), "must be the COSE public key in base64url, as the account page shows it")
		}
		k.BackupEligible = v.flag(pp+".backup_eligible", &fp.BackupEligible)
		v.plan.hasPasskeys = true
		u.Passkeys = append(u.Passkeys, k)
	}
	if v.plan.apiKeyNames == nil {
		v.plan.apiKeyNames, v.plan.apiKeyHashes = map[string]string{}, map[[32]byte]string{}
	}
	for i, fk := range fu.APIKeys {
		if fk == nil {
			continue
		}
		kp := indexPath(p+".api_keys", i)
		var k APIKey
		k.Name, _ = v.text(kp+".name", &fk.Name)
		switch prev, dup := v.plan.apiKeyNames[k.Name]; {
		case !plainToken(k.Name, 64):
			v.fail(kp+".name", where(&fk.Name, fk.At), "must be 1 to 64 letters, digits, '.', '_' or '-' (it labels metrics)")
		case dup:
			v.fail(kp+".name", at(&fk.Name), "is already the name of %s: each API key needs its own", prev)
		default:
			v.plan.apiKeyNames[k.Name] = kp
		}
		hash, _ := v.text(kp+".hash", &fk.Hash)
		if h, ok := ParseAPIKeyHash(hash); ok {
			k.Hash = h
			if prev, dup := v.plan.apiKeyHashes[h]; dup {
				// One key listed twice would act as whichever user came last.
				v.fail(kp+".hash", at(&fk.Hash), "is the same key as %s: give each machine a key of its own", prev)
			}
			v.plan.apiKeyHashes[h] = kp
		} else {
			v.fail(kp+".hash", where(&fk.Hash, fk.At), "must be %s and 43 base64url characters, as authgate apikey new prints it", APIKeyHashPrefix)
		}
		if s, _ := v.text(kp+".expires", &fk.Expires); s != "" {
			t, err := parseExpiry(s)
			if err != nil {
				v.fail(kp+".expires", at(&fk.Expires), "must be a date (2026-12-31) or an RFC 3339 time")
			}
			k.Expires = t
		}
		v.each(kp+".routes", fk.Routes, func(path string, at position, name string) {
			v.plan.apiKeyRoutes = append(v.plan.apiKeyRoutes, apiKeyRoute{path, at, name})
			k.Routes = append(k.Routes, name)
		})
		v.each(kp+".methods", fk.Methods, func(path string, at position, m string) {
			if !isMethodToken(m) {
				v.fail(path, at, "must be an HTTP method such as GET (case matters)")
			}
			k.Methods = append(k.Methods, m)
		})
		u.APIKeys = append(u.APIKeys, k)
	}
}

// apiKeyRoutesExist refuses an API key limited to a route no route is
// named: the limit would silently admit nothing.
func (v *validator) apiKeyRoutesExist(routes []Route) {
	for _, r := range v.plan.apiKeyRoutes {
		if !slices.ContainsFunc(routes, func(rt Route) bool { return rt.Name == r.name }) {
			v.fail(r.path, r.at, "names no route (routes are named by name, or host+path when unnamed)")
		}
	}
}

// apiKeysHeader checks api_keys.header, which is added to the headers
// stripped before proxying: an upstream never sees a key.
func (v *validator) apiKeysHeader(fa *fileAPIKeys, strip []string) (APIKeys, []string) {
	s := v.textOr("api_keys.header", &fa.Header, "")
	if s == "" {
		return APIKeys{}, strip
	}
	h := http.CanonicalHeaderKey(s)
	if !validHeaderName(h) || slices.Contains(reservedHeaders, h) {
		v.fail("api_keys.header", at(&fa.Header), "must be a header name other than one the gateway manages itself, such as Authorization or Cookie")
		return APIKeys{}, strip
	}
	if !slices.Contains(strip, h) {
		strip = append(strip, h)
		slices.Sort(strip)
	}
	return APIKeys{Header: h}, strip
}

// parseExpiry reads an API key's expires: a date means the end of that
// day in UTC.
func parseExpiry(s string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.Add(24 * time.Hour), nil
	}
	return time.Parse(time.RFC3339, s)
}

// ParseAPIKeyHash reads an API key hash as the config spells it.
func ParseAPIKeyHash(s string) ([32]byte, bool) {
	var h [32]byte
	rest, ok := strings.CutPrefix(s, APIKeyHashPrefix)
	if !ok {
		return h, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != len(h) {
		return h, false
	}
	copy(h[:], b)
	return h, true
}

// NormalizeTOTPSecret is s as authenticator apps and the TOTP library
// read it: upper case, without spaces or padding.
func NormalizeTOTPSecret(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	return strings.TrimRight(s, "=")
}

// TOTPSecretProblem says what is wrong with a TOTP secret, without
// echoing it; "" when it is fine.
func TOTPSecretProblem(s string) string {
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(NormalizeTOTPSecret(s))
	switch {
	case strings.TrimSpace(s) == "":
		return "is empty"
	case err != nil:
		return "must be base32 (A–Z, 2–7), as authgate totp-enroll writes it"
	case len(b) < MinTOTPSecretBytes:
		return "is too short: a TOTP secret needs at least 128 bits (make one with authgate totp-enroll)"
	}
	return ""
}

// loadTOTP reads the users' totp_secret_file. A file readable by others
// is refused: whoever reads it has the second factor.
func loadTOTP(r *report, planned []plannedTOTP, users []User) {
	for _, t := range planned {
		i := slices.IndexFunc(users, func(u User) bool { return u.Username == t.username })
		if i < 0 {
			continue // the user itself was refused, and reported
		}
		if info, err := os.Stat(t.src.file); err == nil && info.Mode().Perm()&0o077 != 0 {
			r.fail(t.src.path, t.src.at, "the file is readable by other users (mode %04o): chmod 600 it", info.Mode().Perm())
			continue
		}
		data, ok := readFile(r, t.src, 4<<10)
		if !ok {
			continue
		}
		s := string(data)
		if msg := TOTPSecretProblem(s); msg != "" {
			r.fail(t.src.path, t.src.at, "the file's secret %s", msg)
			continue
		}
		users[i].TOTPSecret = NormalizeTOTPSecret(s)
	}
}

// warnMFAWithoutFactor names the users whose require_mfa cannot be met:
// they cannot sign in until a factor is enrolled.
func warnMFAWithoutFactor(r *report, users []User) {
	for _, u := range users {
		if u.RequireMFA && u.TOTPSecret == "" && len(u.Passkeys) == 0 {
			r.warn("user %q has require_mfa but no second factor enrolled (totp_secret_file): they cannot sign in until one is", u.Username)
		}
	}
}

// passkeys checks the passkeys section: the relying party a user's
// passkeys are bound to.
func (v *validator) passkeys(fp *filePasskeys) *Passkeys {
	rpID, set := v.text("passkeys.rp_id", &fp.RPID)
	if !set && len(fp.Origins) == 0 {
		if v.plan.hasPasskeys {
			v.fail("passkeys", fp.At, "users have passkeys: set passkeys.rp_id and passkeys.origins")
		}
		return nil
	}
	p := &Passkeys{RPID: strings.ToLower(rpID), RPName: v.textOr("passkeys.rp_name", &fp.RPName, "authgate"),
		UserVerification: v.textOr("passkeys.user_verification", &fp.UserVerification, "required"),
		SignIn:           v.textOr("passkeys.sign_in", &fp.SignIn, "passwordless")}
	if h, ok := normalizeHost(p.RPID); !ok || h != p.RPID || strings.Contains(h, ":") || net.ParseIP(h) != nil {
		v.fail("passkeys.rp_id", where(&fp.RPID, fp.At), "must be a host name without port (browsers refuse IP addresses), such as example.com")
	}
	v.each("passkeys.origins", fp.Origins, func(path string, at position, o string) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			v.fail(path, at, "must be an origin such as https://app.example.com")
			return
		}
		host := strings.ToLower(u.Hostname())
		if host != p.RPID && !strings.HasSuffix(host, "."+p.RPID) {
			v.fail(path, at, "must be passkeys.rp_id or a subdomain of it")
		}
		p.Origins = append(p.Origins, strings.ToLower(u.Scheme+"://"+u.Host))
	})
	if len(p.Origins) == 0 {
		v.fail("passkeys.origins", fp.At, "is required: the origins sign-in pages are served from")
	}
	if !slices.Contains([]string{"required", "preferred", "discouraged"}, p.UserVerification) {
		v.fail("passkeys.user_verification", at(&fp.UserVerification), "must be required, preferred or discouraged")
	}
	if !slices.Contains([]string{"passwordless", "second_factor", "both"}, p.SignIn) {
		v.fail("passkeys.sign_in", at(&fp.SignIn), "must be passwordless, second_factor or both")
	}
	return p
}
