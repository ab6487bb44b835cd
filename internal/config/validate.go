package config

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/internal/keys"
	"github.com/authgate/authgate/internal/names"
	"github.com/authgate/authgate/internal/session"
)

// Limits and defaults that operators see in the reference.
const (
	MinSecretBytes     = 32
	MaxLeeway          = time.Minute
	MinBcryptCost      = 10
	MaxBcryptCost      = 14
	RecommendedCost    = 12
	MaxHeaderBytesCeil = 64 << 10
	maxConfigBytes     = 4 << 20
)

// DefaultIdentityHeader is the header that carries the username upstream.
const DefaultIdentityHeader = "X-Forwarded-User"

// DefaultStripHeaders are identity headers that some upstream framework or
// peer gateway trusts. A client must never be able to send them through, so
// they are removed from every proxied request; strip_headers adds to them.
var DefaultStripHeaders = []string{
	"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name",
	"X-Remote-User", "X-Remote-Groups", "X-Remote-Email", "X-User",
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups",
	"X-Forwarded-Preferred-Username", "X-Forwarded-Access-Token",
	"X-Webauth-User", "X-Authenticated-User", "X-Auth-Request-*",
}

// DemoPasswordHash is the hash of "testpassword" shipped in gateway.yaml;
// a config that uses it is loudly flagged as a demo.
const DemoPasswordHash = "$2a$12$yv7wg86zu3yq75dyTzJheubPcjCznR2tnan9J9CN4p3fAPUMvcA1K"

// validator turns the file types into a Config. It has no side effects: it
// reads no file and makes no key, only the document and the environment
// (for ${VAR}); what the document names is listed in a plan for load.
type validator struct {
	*report
	baseDir   string
	lookupEnv func(string) (string, bool)
	plan      *plan
}

// validate checks every value in fc and reports every problem to r.
func validate(fc *fileConfig, baseDir string, lookupEnv func(string) (string, bool), r *report) (*Config, *plan) {
	v := &validator{report: r, baseDir: baseDir, lookupEnv: lookupEnv, plan: &plan{accounts: newAccounts()}}
	cfg := &Config{
		Listen:               v.addr("listen", &fc.Listen, v.textOr("listen", &fc.Listen, "127.0.0.1:8080")),
		EchoListen:           v.addr("echo_listen", &fc.EchoListen, v.textOr("echo_listen", &fc.EchoListen, "")),
		MetricsListen:        "127.0.0.1:9090",
		DefaultDeny:          v.flag("default_deny", &fc.DefaultDeny),
		ForwardAuthorization: v.flag("forward_authorization", &fc.ForwardAuthorization),
	}
	if s, set := v.text("metrics_listen", &fc.MetricsListen); set {
		cfg.MetricsListen = v.addr("metrics_listen", &fc.MetricsListen, s)
	}
	if cfg.MetricsListen != "" && cfg.MetricsListen == cfg.Listen {
		v.fail("metrics_listen", where(&fc.MetricsListen, where(&fc.Listen, fc.At)), "must differ from listen: metrics never share the public listener")
	}
	if cfg.EchoListen != "" {
		v.warn("DEMO: the built-in echo upstream is listening on %s; this is a demo configuration, not for production", cfg.EchoListen)
	}
	cfg.Token = v.token(&fc.Token)
	v.users(fc)
	cfg.UpstreamHeaders = v.upstreamHeaders(&fc.UpstreamHeaders)
	cfg.IdentityHeader, cfg.StripHeaders, cfg.StripHeaderPrefixes = v.headers(fc)
	v.distinctIdentityHeaders(cfg.IdentityHeader, cfg.UpstreamHeaders, fc)
	cfg.TrustedProxies = v.trustedProxies(fc.TrustedProxies)
	cfg.Paths = v.paths(&fc.Paths)
	cfg.Routes = v.routes(fc.Routes, cfg.Paths)
	v.apiKeyRoutesExist(cfg.Routes)
	cfg.APIKeys, cfg.StripHeaders = v.apiKeysHeader(&fc.APIKeys, cfg.StripHeaders)
	cfg.Passkeys = v.passkeys(&fc.Passkeys)
	cfg.Log = v.log(&fc.Log)
	cfg.Server = v.server(&fc.Server)
	cfg.Transport = v.transport(&fc.Transport)
	cfg.Login = v.login(&fc.Login)
	cfg.Session = v.session(&fc.Session, cfg.Paths)
	v.cookieReach(cfg.Session, cfg.Routes)
	cfg.LoginPage = v.loginPage(&fc.LoginPage)
	cfg.Providers = v.providers(fc.Providers, cfg.Paths, &fc.Paths, fc.At)
	cfg.TLS = v.tls(&fc.TLS, cfg)
	v.signInMethod(fc, len(cfg.Token.TrustedIssuers) > 0 || len(cfg.Providers) > 0)
	cfg.Reload.Watch = true
	if b, set := scalarAs[bool](v, "reload.watch", &fc.Reload.Watch, "true or false"); set {
		cfg.Reload.Watch = b
	}
	cfg.State = v.state(&fc.State)
	return cfg, v.plan
}

// signInWays says what a config without any way to sign in lacks.
const signInWays = "define users (or htpasswd_file) for the password form, " +
	"providers for sign-in with an OpenID Connect provider, " +
	"or token.trusted_issuers for a forward-auth-only gateway that accepts an identity provider's tokens"

// signInMethod refuses a document with no way to sign in: no local user,
// no htpasswd file, no provider and no trusted issuer (elsewhere says
// whether there is one of the last two). Such a gateway starts and then
// answers every request 401, which looks like a bug in whatever is in
// front of it. Naming trusted issuers is how a forward-auth-only
// deployment for outside issuers says so. Whether an htpasswd file holds
// any user is checked once it is read.
func (v *validator) signInMethod(fc *fileConfig, elsewhere bool) {
	if elsewhere || v.plan.htpasswd.file != "" || len(v.plan.accounts.users) > 0 {
		return
	}
	for _, u := range fc.Users {
		if u != nil {
			return // defined, but wrong: that is reported where it is
		}
	}
	v.fail("", fc.At, "no way to sign in is configured: %s", signInWays)
}

// where is the position n was written at, or parent's when n is absent.
func where(n *yaml.Node, parent position) position {
	if n.Kind == 0 {
		return parent
	}
	return position{n.Line, n.Column}
}

func at(n *yaml.Node) position { return position{n.Line, n.Column} }

// value returns the scalar written at n with ${VAR} expanded, or nil when
// n is absent or empty. want says what belongs there, for a mapping or
// list found instead.
func (v *validator) value(path string, n *yaml.Node, want string) *yaml.Node {
	s := n
	if s.Kind == yaml.AliasNode {
		s = s.Alias
	}
	if s == nil || s.Kind == 0 || isNull(s) {
		return nil
	}
	if s.Kind != yaml.ScalarNode {
		v.fail(path, at(n), "must be %s, not %s", want, describe(s))
		return nil
	}
	if !strings.Contains(s.Value, "${") {
		return s
	}
	val, err := expandEnv(s.Value, v.lookupEnv)
	if err != nil {
		v.fail(path, at(n), "%v", err)
		return nil
	}
	out := &yaml.Node{Kind: yaml.ScalarNode, Style: s.Style, Tag: s.Tag, Value: val}
	if s.Style == 0 {
		// Written plain and untagged, the value is typed by what it says
		// once expanded, as if written so (max_header_bytes: ${N} is a
		// number), but never as empty: the document did give a value.
		// Quoted or tagged, it keeps its type. Only this one scalar
		// changes, so no variable can change the document's structure.
		out.Tag = ""
		if out.Tag = out.ShortTag(); out.Tag == "!!null" {
			out.Tag = "!!str"
		}
	}
	return out
}

// scalarAs decodes the value at n into a T by the decoder's own rules.
func scalarAs[T any](v *validator, path string, n *yaml.Node, want string) (T, bool) {
	var x T
	s := v.value(path, n, want)
	if s == nil {
		return x, false
	}
	if p, ok := any(&x).(*string); ok && s.ShortTag() == "!!str" {
		*p = s.Value // what Decode would do, without its cost
		return x, true
	}
	if _, ok := any(&x).(*int); ok && s.ShortTag() != "!!int" {
		// The decoder would truncate a decimal (1.5 becomes 1); digits
		// alone that are no !!int are too many for one.
		if s.ShortTag() == "!!float" && strings.Trim(s.Value, "+-0123456789_") == "" {
			v.fail(path, at(n), "is too large")
		} else {
			v.fail(path, at(n), "must be %s, not %s", want, describe(s))
		}
		return x, false
	}
	// The decoder's error quotes the value, so only whether it failed is used.
	if err := s.Decode(&x); err != nil {
		v.fail(path, at(n), "must be %s, not %s", want, describe(s))
		return x, false
	}
	return x, true
}

// text returns the string at n and whether one was written.
func (v *validator) text(path string, n *text) (string, bool) {
	return scalarAs[string](v, path, n, "text")
}

// textOr returns the string at n, or def when none or an empty one was
// written.
func (v *validator) textOr(path string, n *text, def string) string {
	if s, _ := v.text(path, n); s != "" {
		return s
	}
	return def
}

// number returns the whole number at n, or def when none or 0 was written.
func (v *validator) number(path string, n *number, def int) int {
	if i, _ := scalarAs[int](v, path, n, "a whole number"); i != 0 {
		return i
	}
	return def
}

func (v *validator) flag(path string, n *flag) bool {
	b, _ := scalarAs[bool](v, path, n, "true or false")
	return b
}

// duration returns the non-negative duration at n, or def when none was
// written or it is invalid (then reported).
func (v *validator) duration(path string, n *duration, def time.Duration) time.Duration {
	const want = "a duration such as 30s or 5m"
	s, ok := scalarAs[string](v, path, n, want)
	if !ok || s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.fail(path, at(n), "must be %s", want)
		return def
	}
	if d < 0 {
		v.fail(path, at(n), "must not be negative")
		return def
	}
	return d
}

// each calls f with the path, position and string of every element of a
// list of strings, skipping empty (null) ones as the decoder used to.
func (v *validator) each(path string, list []text, f func(path string, at position, s string)) {
	for i := range list {
		p := indexPath(path, i)
		if s, ok := v.text(p, &list[i]); ok {
			f(p, where(&list[i], position{}), s)
		}
	}
}

// addr checks the listen address s written at n; empty means none.
func (v *validator) addr(path string, n *text, s string) string {
	if s == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.fail(path, at(n), "must be host:port, as in 127.0.0.1:8080")
		return s
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.fail(path, at(n), "port must be a number from 0 to 65535")
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.fail(path, at(n), "host must be an IP address, localhost, or empty for all interfaces")
		}
	}
	return s
}

func (v *validator) token(ft *fileToken) Token {
	t := Token{
		TTL:      v.duration("token.ttl", &ft.TTL, 30*time.Minute),
		Issuer:   v.textOr("token.issuer", &ft.Issuer, "authgate"),
		Audience: v.textOr("token.audience", &ft.Audience, "authgate"),
		Leeway:   v.duration("token.leeway", &ft.Leeway, 30*time.Second),
	}
	if t.TTL == 0 {
		v.fail("token.ttl", at(&ft.TTL), "must be positive")
	} else if t.TTL > 24*time.Hour {
		v.warn("token.ttl is %s: bearer tokens that live longer than a day cannot be revoked by restarting with a new secret without logging everyone out", t.TTL)
	}
	if t.Leeway > MaxLeeway {
		v.fail("token.leeway", at(&ft.Leeway), "must be at most %s", MaxLeeway)
	}
	if !printable(t.Issuer) {
		v.fail("token.issuer", at(&ft.Issuer), "must be printable text")
	}
	if !printable(t.Audience) {
		v.fail("token.audience", at(&ft.Audience), "must be printable text")
	}
	v.keys(ft, &t)
	fr := &ft.Refresh
	t.Refresh = Refresh{
		Enabled:     v.flag("token.refresh.enabled", &fr.Enabled),
		TTL:         v.duration("token.refresh.ttl", &fr.TTL, 24*time.Hour),
		MaxLifetime: v.duration("token.refresh.max_lifetime", &fr.MaxLifetime, 30*24*time.Hour),
	}
	if t.Refresh.TTL == 0 || t.Refresh.MaxLifetime < t.Refresh.TTL {
		v.fail("token.refresh", fr.At, "ttl must be positive and max_lifetime at least ttl")
	}
	t.TrustedIssuers = v.trustedIssuers(ft.Trusted, t.Issuer)
	t.CacheSize = 10000
	if n, set := scalarAs[int](v, "token.cache_size", &ft.CacheSize, "a whole number"); set {
		t.CacheSize = n
		if n < 0 || n > 10_000_000 {
			v.fail("token.cache_size", at(&ft.CacheSize), "must be from 0 (off) to 10000000")
		}
	}
	return t
}

func (v *validator) trustedIssuers(list []*fileIssuer, own string) []TrustedIssuer {
	var out []TrustedIssuer
	used := map[string]string{own: "token.issuer"}
	for i, fi := range list {
		if fi == nil {
			continue
		}
		p := indexPath("token.trusted_issuers", i)
		ti := TrustedIssuer{
			Issuer:        v.textOr(p+".issuer", &fi.Issuer, ""),
			Audience:      v.textOr(p+".audience", &fi.Audience, ""),
			JWKSURL:       v.textOr(p+".jwks_url", &fi.JWKSURL, ""),
			UsernameClaim: v.textOr(p+".username_claim", &fi.UsernameClaim, "sub"),
			GroupsClaim:   v.textOr(p+".groups_claim", &fi.GroupsClaim, ""),
		}
		jwksFile := v.textOr(p+".jwks_file", &fi.JWKSFile, "")
		switch prev, dup := used[ti.Issuer]; {
		case ti.Issuer == "" || !printable(ti.Issuer):
			v.fail(p+".issuer", where(&fi.Issuer, fi.At), "is required")
		case dup:
			v.fail(p+".issuer", at(&fi.Issuer), "is already used by %s", prev)
		default:
			used[ti.Issuer] = p + ".issuer"
		}
		if ti.Audience == "" {
			v.fail(p+".audience", where(&fi.Audience, fi.At), "is required: a token meant for another service must not be accepted")
		}
		switch {
		case (ti.JWKSURL == "") == (jwksFile == ""):
			v.fail(p, fi.At, "set exactly one of jwks_url and jwks_file")
		case ti.JWKSURL != "":
			if u, err := url.Parse(ti.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				v.fail(p+".jwks_url", at(&fi.JWKSURL), "must be an absolute http(s) URL")
			} else if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
				v.warn("%s.jwks_url is plain HTTP: anyone on the path can substitute keys", p)
			}
		default:
			ti.JWKSFile = v.resolve(jwksFile)
		}
		if len(fi.Algorithms) == 0 {
			v.fail(p+".algorithms", fi.At, "is required, e.g. [RS256]")
		}
		v.each(p+".algorithms", fi.Algorithms, func(path string, at position, a string) {
			if a == keys.HS256 || !slices.Contains(keys.Algorithms, a) {
				v.fail(path, at, "must be RS256, ES256 or EdDSA")
			}
			ti.Algorithms = append(ti.Algorithms, a)
		})
		out = append(out, ti)
	}
	return out
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// keys checks the signing and verification keys: one legacy secret, or a
// list of keys of the configured algorithm with one chosen to sign. Inline
// secrets become keys here; files are left to the plan. Every value is
// read even when an earlier one is wrong, so each problem is reported.
func (v *validator) keys(ft *fileToken, t *Token) {
	t.Algorithm = v.textOr("token.algorithm", &ft.Algorithm, keys.HS256)
	known := slices.Contains(keys.Algorithms, t.Algorithm)
	if !known {
		v.fail("token.algorithm", at(&ft.Algorithm), "must be one of %s", strings.Join(keys.Algorithms, ", "))
	}
	hmac := t.Algorithm == keys.HS256
	t.SigningKey, _ = v.text("token.signing_key", &ft.SigningKey)
	v.plan.tokenAt, v.plan.signingAt = ft.At, where(&ft.SigningKey, ft.At)
	secret, secretSet := v.text("token.secret", &ft.Secret)
	secretFile, fileSet := v.text("token.secret_file", &ft.SecretFile)
	// An empty secret is a mistake (AUTHGATE_SECRET set but empty, say),
	// not a request for a random key: that would start, and every restart
	// and every other replica would refuse the tokens of this one.
	// Whitespace alone is as empty: a variable set to a space or a newline.
	if secretSet && strings.TrimSpace(secret) == "" {
		v.fail("token.secret", at(&ft.Secret), "is empty or only whitespace: set a secret of 32 bytes or more, or leave the key out for a random one that dies with the process")
		secret = ""
	}
	if fileSet && strings.TrimSpace(secretFile) == "" {
		v.fail("token.secret_file", at(&ft.SecretFile), "is empty or only whitespace: name the file that holds the secret")
		secretFile = ""
	}
	legacy := secret != "" || secretFile != ""
	// usable says the keys can be planned: the algorithm is known and the
	// document does not name keys two ways.
	usable := known
	switch {
	case legacy && len(ft.Keys) > 0:
		v.fail("token", ft.At, "set secret or secret_file, or keys, not both")
		usable = false
	case secret != "" && secretFile != "":
		v.fail("token.secret_file", at(&ft.SecretFile), "set secret or secret_file, not both")
	case legacy && known && !hmac:
		path, n := "token.secret", &ft.Secret
		if secret == "" {
			path, n = "token.secret_file", &ft.SecretFile
		}
		v.fail(path, at(n), "%s signs with key pairs: list them under token.keys", t.Algorithm)
	case legacy && usable:
		v.secretSlot("token", "", ft.At, secret, &ft.Secret, secretFile, &ft.SecretFile)
	case !legacy && len(ft.Keys) == 0:
		v.plan.ephemeral = true
	}
	ids := map[string]string{}
	for i, fk := range ft.Keys {
		if fk == nil {
			continue
		}
		p := indexPath("token.keys", i)
		id, _ := v.text(p+".id", &fk.ID)
		secret, _ := v.text(p+".secret", &fk.Secret)
		secretFile, _ := v.text(p+".secret_file", &fk.SecretFile)
		keyFile, _ := v.text(p+".key_file", &fk.KeyFile)
		prev, dup := ids[id]
		switch {
		case !validKeyID(id):
			v.fail(p+".id", where(&fk.ID, fk.At), "must be 1 to 64 letters, digits, '.', '_' or '-'")
			continue
		case dup:
			v.fail(p+".id", at(&fk.ID), "is already used by %s", prev)
			continue
		}
		ids[id] = p
		switch {
		case !usable:
		case hmac && keyFile != "":
			v.fail(p+".key_file", at(&fk.KeyFile), "HS256 keys are secrets: use secret or secret_file")
		case hmac && secret != "" && secretFile != "":
			v.fail(p+".secret_file", at(&fk.SecretFile), "set secret or secret_file, not both")
		case hmac:
			v.secretSlot(p, id, fk.At, secret, &fk.Secret, secretFile, &fk.SecretFile)
		case secret != "" || secretFile != "":
			path, n := p+".secret", &fk.Secret
			if secret == "" {
				path, n = p+".secret_file", &fk.SecretFile
			}
			v.fail(path, at(n), "%s keys are PEM key pairs: use key_file", t.Algorithm)
		case keyFile == "":
			v.fail(p+".key_file", fk.At, "is required")
		default:
			v.plan.keys = append(v.plan.keys, keySlot{id: id, pem: true, src: v.fileRef(p+".key_file", &fk.KeyFile, keyFile)})
		}
	}
	if _, ok := ids[t.SigningKey]; t.SigningKey != "" && !ok && len(ft.Keys) > 0 {
		v.fail("token.signing_key", at(&ft.SigningKey), "names no key in token.keys")
	}
}

// secretSlot plans an HS256 key given inline (checked now) or in a file
// (checked once read). An empty id is derived from the secret.
func (v *validator) secretSlot(path, id string, parent position, inline string, inlineNode *text, file string, fileNode *text) {
	switch {
	case inline != "":
		if s := v.secret(path+".secret", at(inlineNode), []byte(inline)); s != nil {
			v.plan.keys = append(v.plan.keys, keySlot{id: id, key: secretKey(id, s)})
		}
	case file != "":
		v.plan.keys = append(v.plan.keys, keySlot{id: id, src: v.fileRef(path+".secret_file", fileNode, file)})
	default:
		v.fail(path+".secret", where(inlineNode, parent), "is required")
	}
}

func secretKey(id string, s []byte) keys.Key {
	if id == "" {
		id = keys.SecretID(s)
	}
	return keys.Secret(id, s)
}

// fileRef names a file to load and the key that named it.
func (v *validator) fileRef(path string, n *text, name string) fileRef {
	return fileRef{path: path, at: at(n), file: v.resolve(name)}
}

func validKeyID(id string) bool { return plainToken(id, 64) }

// secret checks key material without ever echoing it.
func (r *report) secret(path string, at position, s []byte) []byte {
	if len(bytes.TrimSpace(s)) == 0 {
		r.fail(path, at, "is empty or only whitespace; generate a secret with: openssl rand -base64 48")
		return nil
	}
	if len(s) < MinSecretBytes {
		r.fail(path, at, "must be at least %d bytes (it has %d); generate one with: openssl rand -base64 48", MinSecretBytes, len(s))
		return nil
	}
	if isExampleSecret(s) {
		r.fail(path, at, "is a well-known example or low-entropy value; generate one with: openssl rand -base64 48")
		return nil
	}
	return s
}

// isExampleSecret catches secrets copied from documentation or typed by hand:
// values that name themselves as placeholders, or use few distinct bytes.
func isExampleSecret(s []byte) bool {
	lower := strings.ToLower(string(s))
	for _, word := range []string{
		"changeme", "change-me", "change_me", "changethis", "example", "placeholder", "replace", "openssl rand",
		"your-256-bit-secret", "secret-at-least", "secretkey", "secret-key", "supersecret", "mysecret",
		"test-secret", "testsecret", "password", "default", "dummy", "sample", "insecure", "0123456789", "abcdefgh", "qwerty",
	} {
		if strings.Contains(lower, word) {
			return true
		}
	}
	distinct := map[byte]struct{}{}
	for _, c := range s {
		distinct[c] = struct{}{}
	}
	return len(distinct) < 10
}

// accounts collects users from the document and, once loaded, the htpasswd
// file, refusing two whose names fold to one.
type accounts struct {
	users []User
	// seen maps a folded name to the YAML path and position of its
	// definition.
	seen map[string]definition
	// lowCost counts the users whose hash is below RecommendedCost, and
	// names the first few: one warning for them all, not one per user.
	lowCost      int
	lowCostNames []string
}

// definition is where an account was defined, for messages: a YAML path
// and position, and for an htpasswd entry its line and user.
type definition struct {
	path string
	at   position
	line int // of the htpasswd file; 0 for the YAML document
	user string
}

// prefix names an htpasswd entry at the front of a message. It is built
// only for a message: 100,000 entries need none.
func (d definition) prefix() string {
	if d.line == 0 {
		return ""
	}
	return fmt.Sprintf("line %d: user %q: ", d.line, d.user)
}

func (d definition) String() string {
	if d.line != 0 {
		return d.path + " " + strings.TrimSuffix(d.prefix(), ": ")
	}
	return fmt.Sprintf("%s (line %d)", d.path, d.at.Line)
}

// warnLowCost warns once about every hash below RecommendedCost.
func (a *accounts) warnLowCost(r *report) {
	switch {
	case a.lowCost == 0:
		return
	case a.lowCost > len(a.lowCostNames):
		r.warn("%d users (%s, …) have a bcrypt cost below the recommended %d", a.lowCost, strings.Join(a.lowCostNames, ", "), RecommendedCost)
	case a.lowCost == 1:
		r.warn("user %s: bcrypt cost is below the recommended %d", a.lowCostNames[0], RecommendedCost)
	default:
		r.warn("users %s: bcrypt cost is below the recommended %d", strings.Join(a.lowCostNames, ", "), RecommendedCost)
	}
}

func newAccounts() *accounts { return &accounts{seen: map[string]definition{}} }

// add checks one account defined at name (its YAML path and position, or
// its htpasswd line) whose hash is at hash. passwordHash is kept as it is,
// not copied: from an htpasswd file it is a slice of the file's bytes.
func (a *accounts) add(r *report, name definition, hash definition, username string, passwordHash []byte, u User) {
	if msg := usernameProblem(username); msg != "" {
		r.fail(name.path, name.at, "%s%s", name.prefix(), msg)
		return
	}
	// The login throttle keys on the folded name: two accounts that fold
	// together would share a bucket, and one's success would clear the
	// other's lockout.
	folded := names.Fold(username)
	if prev, dup := a.seen[folded]; dup {
		r.fail(name.path, name.at, "%sis already defined at %s; usernames must differ in more than case or Unicode width", name.prefix(), prev)
		return
	}
	a.seen[folded] = name
	cost, msg := hashProblem(r, username, passwordHash)
	if msg != "" {
		r.fail(hash.path, hash.at, "%s%s", hash.prefix(), msg)
		return
	}
	if cost < RecommendedCost {
		if a.lowCost++; len(a.lowCostNames) < 3 {
			a.lowCostNames = append(a.lowCostNames, strconv.Quote(username))
		}
	}
	u.Username, u.PasswordHash = username, passwordHash
	a.users = append(a.users, u)
}

func (v *validator) users(fc *fileConfig) {
	for i, fu := range fc.Users {
		if fu == nil {
			continue
		}
		p := indexPath("users", i)
		u := User{Source: "config", Disabled: v.flag(p+".disabled", &fu.Disabled)}
		v.each(p+".groups", fu.Groups, func(path string, at position, g string) {
			if msg := usernameProblem(g); msg != "" {
				v.fail(path, at, "group name %s", msg)
			}
			u.Groups = append(u.Groups, g)
		})
		v.factors(p, fu, &u)
		u.Email, _ = v.text(p+".email", &fu.Email)
		if u.Email != "" && (!printable(u.Email) || !strings.Contains(u.Email, "@") || strings.ContainsAny(u.Email, ", ;\"")) {
			v.fail(p+".email", at(&fu.Email), "must be an email address")
		}
		name, _ := v.text(p+".username", &fu.Username)
		hash, _ := v.text(p+".password_hash", &fu.PasswordHash)
		v.plan.accounts.add(v.report, definition{path: p + ".username", at: where(&fu.Username, fu.At)},
			definition{path: p + ".password_hash", at: where(&fu.PasswordHash, fu.At)}, name, []byte(hash), u)
	}
	if name, _ := v.text("htpasswd_file", &fc.HtpasswdFile); name != "" {
		v.plan.htpasswd = v.fileRef("htpasswd_file", &fc.HtpasswdFile, name)
	}
	if name, _ := v.text("htpasswd_groups_file", &fc.HtpasswdGroupsFile); name != "" {
		v.plan.groups = v.fileRef("htpasswd_groups_file", &fc.HtpasswdGroupsFile, name)
	}
}

// usernameProblem applies names.Check, the one rule shared with the names
// a trusted provider's token carries: no control, invisible, space or
// separator characters (README's , : ; " \), in any Unicode spelling.
func usernameProblem(name string) string {
	if err := names.Check(name); err != nil {
		return err.Error()
	}
	return ""
}

// hashProblem checks a bcrypt hash and returns its cost, or what is wrong
// with it.
func hashProblem(r *report, user string, hash []byte) (cost int, problem string) {
	const notBcrypt = "is not a bcrypt hash (make one with: authgate hash-password)"
	if len(hash) == 0 {
		return 0, "is empty"
	}
	if len(hash) != 60 || nonBcryptKind(string(hash[:7])) != "" || !bcryptAlphabet(hash[7:]) {
		return 0, notBcrypt
	}
	cost, err := bcrypt.Cost(hash)
	if err != nil {
		return 0, notBcrypt
	}
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return 0, fmt.Sprintf("has bcrypt cost %d; it must be from %d to %d", cost, MinBcryptCost, MaxBcryptCost)
	}
	if string(hash) == DemoPasswordHash {
		r.warn("DEMO: user %q has the published demo password; replace it before exposing this gateway", user)
	}
	return cost, ""
}

func bcryptAlphabet(s []byte) bool {
	for i := range len(s) {
		c := s[i]
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// reservedHeaders cannot be identity headers: the gateway or the HTTP
// machinery sets them itself.
var reservedHeaders = []string{
	"Authorization", "Cookie", "Host", "Connection", "Content-Length", "Content-Type",
	"Transfer-Encoding", "Upgrade", "Te", "Trailer", "Forwarded", "X-Forwarded-For",
	"X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id",
}

func (v *validator) upstreamHeaders(fu *fileUpstream) UpstreamHeaders {
	u := UpstreamHeaders{
		Groups:            "X-Forwarded-Groups",
		Email:             "X-Forwarded-Email",
		AssertionTTL:      v.duration("upstream_headers.assertion_ttl", &fu.AssertionTTL, time.Minute),
		ForwardAuthCookie: v.flag("upstream_headers.forward_auth_cookie", &fu.ForwardAuthCookie),
	}
	for _, h := range []struct {
		path string
		n    *text
		dst  *string
	}{
		{"upstream_headers.groups", &fu.Groups, &u.Groups}, {"upstream_headers.email", &fu.Email, &u.Email},
		{"upstream_headers.token", &fu.Token, &u.Token}, {"upstream_headers.assertion", &fu.Assertion, &u.Assertion},
	} {
		if s, set := v.text(h.path, h.n); set {
			*h.dst = s
		}
		if *h.dst == "" {
			continue
		}
		*h.dst = http.CanonicalHeaderKey(*h.dst)
		if !validHeaderName(*h.dst) || slices.Contains(reservedHeaders, *h.dst) {
			v.fail(h.path, at(h.n), "must be a header name the gateway does not manage itself")
		}
	}
	if u.AssertionTTL <= 0 || u.AssertionTTL > 10*time.Minute {
		v.fail("upstream_headers.assertion_ttl", at(&fu.AssertionTTL), "must be from 1s to 10m")
	}
	return u
}

// distinctIdentityHeaders refuses identity headers that would carry two
// things at once: one header for the user and the groups, or a header
// forward-auth answers with (Remote-User, Remote-Groups, Remote-Email)
// named for something else, would make an upstream read a group or an
// email, or the token, as the user's name, and the two modes disagree.
func (v *validator) distinctIdentityHeaders(identity string, u UpstreamHeaders, fc *fileConfig) {
	type header struct {
		path, name, means string
		n                 *text
	}
	all := []header{
		{"identity_header", identity, "user", &fc.IdentityHeader},
		{"upstream_headers.groups", u.Groups, "groups", &fc.UpstreamHeaders.Groups},
		{"upstream_headers.email", u.Email, "email", &fc.UpstreamHeaders.Email},
		{"upstream_headers.token", u.Token, "token", &fc.UpstreamHeaders.Token},
		{"upstream_headers.assertion", u.Assertion, "assertion", &fc.UpstreamHeaders.Assertion},
	}
	forwardAuth := map[string]string{"Remote-User": "user", "Remote-Groups": "groups", "Remote-Email": "email"}
	seen := map[string]header{}
	for _, h := range all {
		if h.name == "" {
			continue
		}
		// Spellings an application may read as one (X-Forwarded_User).
		key := http.CanonicalHeaderKey(strings.NewReplacer("_", "-", ".", "-").Replace(h.name))
		if prev, dup := seen[key]; dup {
			if h.n.Kind == 0 { // a default: the one the operator wrote is the one to change
				h, prev = prev, h
			}
			v.fail(h.path, at(h.n), "is the same header as %s: each identity header must carry one thing", prev.path)
			continue
		}
		seen[key] = h
		if means, ok := forwardAuth[key]; ok && means != h.means {
			v.fail(h.path, at(h.n), "%s is the header forward-auth answers with for the %s: choose another name", key, means)
		}
	}
}

func (v *validator) headers(fc *fileConfig) (identity string, strip, prefixes []string) {
	identity = DefaultIdentityHeader
	if s := v.textOr("identity_header", &fc.IdentityHeader, ""); s != "" {
		identity = http.CanonicalHeaderKey(s)
		if !validHeaderName(identity) {
			v.fail("identity_header", at(&fc.IdentityHeader), "must be a valid header name")
		} else if slices.Contains(reservedHeaders, identity) {
			v.fail("identity_header", at(&fc.IdentityHeader), "must not be a header the gateway manages itself, such as Authorization, Cookie or Host")
		}
	}
	names := append(slices.Clone(DefaultStripHeaders), identity)
	v.each("strip_headers", fc.StripHeaders, func(path string, at position, h string) {
		if !validHeaderName(strings.TrimSuffix(h, "*")) {
			v.fail(path, at, "must be a header name, optionally ending in * for a prefix")
			return
		}
		names = append(names, h)
	})
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			prefixes = append(prefixes, http.CanonicalHeaderKey(p))
		} else {
			strip = append(strip, http.CanonicalHeaderKey(n))
		}
	}
	slices.Sort(strip)
	return identity, slices.Compact(strip), prefixes
}

func validHeaderName(s string) bool { return plainToken(s, 128) }

// plainToken reports whether s is 1 to maxLen letters, digits, '-', '_' or '.'.
func plainToken(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func (v *validator) trustedProxies(list []text) []netip.Prefix {
	var out []netip.Prefix
	v.each("trusted_proxies", list, func(path string, at position, s string) {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				v.fail(path, at, "must be an IP address or CIDR, as in 10.0.0.0/8")
				return
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		if pfx.Bits() == 0 {
			v.warn("%s is %s: every client can forge X-Forwarded-For and friends", path, s)
		}
		out = append(out, pfx.Masked())
	})
	return out
}

func (v *validator) paths(fp *filePaths) Paths {
	p := Paths{
		Refresh: v.textOr("paths.refresh", &fp.Refresh, "/token/refresh"),
		Login:   v.textOr("paths.login", &fp.Login, "/login"),
		Logout:  v.textOr("paths.logout", &fp.Logout, "/logout"),
		Verify:  v.textOr("paths.verify", &fp.Verify, "/verify"),
		Healthz: v.textOr("paths.healthz", &fp.Healthz, "/healthz"),
		Readyz:  v.textOr("paths.readyz", &fp.Readyz, "/readyz"),
	}
	seen := map[string]string{}
	for _, o := range []struct {
		path string
		n    *text
		val  string
	}{
		{"paths.refresh", &fp.Refresh, p.Refresh}, {"paths.login", &fp.Login, p.Login}, {"paths.logout", &fp.Logout, p.Logout},
		{"paths.verify", &fp.Verify, p.Verify}, {"paths.healthz", &fp.Healthz, p.Healthz}, {"paths.readyz", &fp.Readyz, p.Readyz},
	} {
		val := o.val
		if msg := pathProblem(val); msg != "" {
			v.fail(o.path, at(o.n), "%s", msg)
		}
		if other, dup := seen[val]; dup {
			v.fail(o.path, at(o.n), "is the same path as %s", other)
		}
		seen[val] = o.path
	}
	return p
}

// pathProblem accepts only canonical absolute paths, so that a configured
// prefix can be compared byte for byte with a canonical request path.
func pathProblem(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must start with /"
	case strings.Contains(p, "//"):
		return "must not contain //"
	case strings.ContainsAny(p, "?#;%\\"):
		return "must not contain ? # ; % or \\"
	case !printable(p) || strings.ContainsAny(p, " \t"):
		return "must be printable and contain no spaces"
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "must not contain . or .. segments"
		}
	}
	return ""
}

func (v *validator) routes(frs []*fileRoute, paths Paths) []Route {
	var out []Route
	seen, names := map[string]string{}, map[string]string{}
	for i, fr := range frs {
		if fr == nil {
			continue
		}
		p := indexPath("routes", i)
		r := Route{Public: v.flag(p+".public", &fr.Public), StripPrefix: v.flag(p+".strip_prefix", &fr.StripPrefix)}
		r.Path, _ = v.text(p+".path", &fr.Path)
		if msg := pathProblem(r.Path); msg != "" {
			v.fail(p+".path", where(&fr.Path, fr.At), "%s", msg)
		}
		if r.Path != "/" {
			r.Path = strings.TrimSuffix(r.Path, "/")
		}
		if h := v.textOr(p+".host", &fr.Host, ""); h != "" {
			host, ok := normalizeHost(h)
			if !ok {
				v.fail(p+".host", at(&fr.Host), "must be a host name, optionally with :port")
			}
			r.Host = host
		}
		r.RequireMFA = v.flag(p+".require_mfa", &fr.RequireMFA)
		if r.Public && r.RequireMFA {
			v.fail(p+".require_mfa", at(&fr.RequireMFA), "contradicts public: a public route asks nobody to sign in")
		}
		r.Upstream = v.upstream(p+".upstream", &fr.Upstream, fr.At)
		v.upstreamTLS(p, &fr.TLS, &r)
		v.each(p+".allowed_groups", fr.AllowedGroups, func(path string, at position, g string) {
			if msg := usernameProblem(g); msg != "" {
				v.fail(path, at, "group name %s", msg)
			}
			r.AllowedGroups = append(r.AllowedGroups, g)
		})
		v.each(p+".allowed_users", fr.AllowedUsers, func(path string, at position, name string) {
			if msg := usernameProblem(name); msg != "" {
				v.fail(path, at, "username %s", msg)
			} else {
				v.plan.allowed = append(v.plan.allowed, allowedUser{path, name})
			}
			r.AllowedUsers = append(r.AllowedUsers, name)
		})
		if r.Public && (len(r.AllowedUsers) > 0 || len(r.AllowedGroups) > 0) {
			v.fail(p+".public", at(&fr.Public), "contradicts allowed_users and allowed_groups: a public route admits everyone")
		}
		v.each(p+".methods", fr.Methods, func(path string, at position, m string) {
			if !isMethodToken(m) {
				v.fail(path, at, "must be an HTTP method such as GET (case matters)")
			}
			r.Methods = append(r.Methods, m)
		})
		r.Name = v.textOr(p+".name", &fr.Name, r.Host+r.Path)
		if !printable(r.Name) {
			v.fail(p+".name", at(&fr.Name), "must be printable text")
		}
		if prev, dup := seen[r.Host+" "+r.Path]; dup {
			v.fail(p+".path", where(&fr.Path, fr.At), "same host and path as %s", prev)
		} else if prev, dup := names[r.Name]; dup {
			// The name labels metrics and is the audience of upstream
			// assertions: two routes with one name would accept each
			// other's assertions.
			v.fail(p+".name", where(&fr.Name, fr.At), "is already the name of %s: each route needs its own", prev)
		} else {
			seen[r.Host+" "+r.Path], names[r.Name] = p, p
		}
		for _, own := range []string{paths.Refresh, paths.Login, paths.Logout, paths.Verify, paths.Healthz, paths.Readyz} {
			// A catch-all "/" covers them by design; a narrower route that
			// does is probably a mistake.
			if r.Path != "/" && (own == r.Path || strings.HasPrefix(own, r.Path+"/")) {
				v.warn("%s covers the gateway's own path %s, which wins over the route", p, own)
			}
		}
		out = append(out, r)
	}
	return out
}

func (v *validator) upstream(path string, n *text, parent position) *url.URL {
	s, _ := v.text(path, n)
	u, err := url.Parse(s)
	switch {
	case s == "":
		v.fail(path, where(n, parent), "is required")
	case err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.fail(path, at(n), "must be an absolute http(s) URL, as in http://127.0.0.1:9000")
	case u.User != nil:
		v.fail(path, at(n), "must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.fail(path, at(n), "must not have a query or fragment")
	default:
		return u
	}
	return nil
}

// normalizeHost lower-cases a host, drops a trailing dot and a default port.
func normalizeHost(h string) (string, bool) {
	h = strings.ToLower(h)
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, ""
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || strings.ContainsAny(host, "/?#@ \\%") || !printable(host) {
		return "", false
	}
	if port == "80" || port == "443" || port == "" {
		return host, true
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

func (v *validator) log(fl *fileLog) Log {
	var l Log
	switch v.textOr("log.format", &fl.Format, "") {
	case "", "text":
	case "json":
		l.JSON = true
	default:
		v.fail("log.format", at(&fl.Format), "must be text or json")
	}
	if s := v.textOr("log.level", &fl.Level, ""); s != "" {
		if err := l.Level.UnmarshalText([]byte(s)); err != nil {
			v.fail("log.level", at(&fl.Level), "must be debug, info, warn or error")
		}
	}
	l.FlushInterval = v.duration("log.flush_interval", &fl.FlushInterval, 0)
	if l.FlushInterval > 10*time.Second {
		v.fail("log.flush_interval", at(&fl.FlushInterval), "must be at most 10s: lines held longer are lost in a crash and late for whoever tails the log")
	}
	return l
}

func (v *validator) server(fs *fileServer) Server {
	s := Server{
		ReadHeaderTimeout: v.duration("server.read_header_timeout", &fs.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       v.duration("server.read_timeout", &fs.ReadTimeout, 60*time.Second),
		WriteTimeout:      v.duration("server.write_timeout", &fs.WriteTimeout, 0),
		SendTimeout:       v.duration("server.send_timeout", &fs.SendTimeout, 60*time.Second),
		IdleTimeout:       v.duration("server.idle_timeout", &fs.IdleTimeout, 120*time.Second),
		ShutdownGrace:     v.duration("server.shutdown_grace", &fs.ShutdownGrace, 30*time.Second),
		MaxHeaderBytes:    v.number("server.max_header_bytes", &fs.MaxHeaderBytes, 32<<10),
		MaxConnections:    v.number("server.max_connections", &fs.MaxConnections, 16384),
	}
	if s.ReadHeaderTimeout == 0 {
		v.fail("server.read_header_timeout", at(&fs.ReadHeaderTimeout), "must be positive: without it a slow client can hold a connection forever")
	}
	if s.IdleTimeout == 0 {
		v.fail("server.idle_timeout", at(&fs.IdleTimeout), "must be positive")
	}
	if s.MaxHeaderBytes < 1024 || s.MaxHeaderBytes > MaxHeaderBytesCeil {
		v.fail("server.max_header_bytes", at(&fs.MaxHeaderBytes), "must be from 1024 to %d", MaxHeaderBytesCeil)
	}
	if fs.GCHeadroomMiB.Kind != 0 {
		// Accepted so that no config breaks; the runtime is tuned from the
		// environment only.
		v.warn("server.gc_headroom_mib is no longer used and is ignored: tune the garbage collector with the GOGC and GOMEMLIMIT environment variables (see README)")
	}
	if s.MaxConnections < 1 {
		v.fail("server.max_connections", at(&fs.MaxConnections), "must be positive")
	}
	return s
}

func (v *validator) transport(ft *fileTransport) Transport {
	t := Transport{
		DialTimeout:           v.duration("transport.dial_timeout", &ft.DialTimeout, 10*time.Second),
		ResponseHeaderTimeout: v.duration("transport.response_header_timeout", &ft.ResponseHeaderTimeout, 60*time.Second),
		IdleConnTimeout:       v.duration("transport.idle_conn_timeout", &ft.IdleConnTimeout, 90*time.Second),
		MaxIdleConnsPerHost:   v.number("transport.max_idle_conns_per_host", &ft.MaxIdleConnsPerHost, 256),
	}
	if t.ResponseHeaderTimeout == 0 {
		v.fail("transport.response_header_timeout", at(&ft.ResponseHeaderTimeout), "must be positive: a hanging upstream must end in 504")
	}
	if t.MaxIdleConnsPerHost < 1 {
		v.fail("transport.max_idle_conns_per_host", at(&ft.MaxIdleConnsPerHost), "must be positive")
	}
	return t
}

func (v *validator) login(fl *fileLogin) Login {
	l := Login{
		MaxBodyBytes:  int64(v.number("login.max_body_bytes", &fl.MaxBodyBytes, 8<<10)),
		MaxConcurrent: v.number("login.max_concurrent", &fl.MaxConcurrent, runtime.GOMAXPROCS(0)),
	}
	l.MaxQueue = v.number("login.max_queue", &fl.MaxQueue, 4*max(l.MaxConcurrent, 1))
	if l.MaxBodyBytes < 256 || l.MaxBodyBytes > 1<<20 {
		v.fail("login.max_body_bytes", at(&fl.MaxBodyBytes), "must be from 256 to 1048576")
	}
	if l.MaxConcurrent < 1 {
		v.fail("login.max_concurrent", at(&fl.MaxConcurrent), "must be positive")
	}
	if l.MaxQueue < 0 {
		v.fail("login.max_queue", at(&fl.MaxQueue), "must not be negative")
	}
	l.ShedDelay = v.duration("login.shed_delay", &fl.ShedDelay, time.Second)
	if l.ShedDelay > 10*time.Second {
		v.fail("login.shed_delay", at(&fl.ShedDelay), "must be at most 10s")
	}
	l.User = v.throttle("login.throttle.user", &fl.Throttle.User, 10, 30*time.Second)
	l.Client = v.throttle("login.throttle.client", &fl.Throttle.Client, 30, 2*time.Second)
	l.ThrottleSlots = v.number("login.throttle.slots", &fl.Throttle.Slots, 8192)
	if l.ThrottleSlots < 16 || l.ThrottleSlots > 1<<20 {
		v.fail("login.throttle.slots", at(&fl.Throttle.Slots), "must be from 16 to 1048576")
	}
	return l
}

func (v *validator) throttle(path string, fb *fileBucket, burst int, interval time.Duration) Throttle {
	t := Throttle{
		Burst:    v.number(path+".burst", &fb.Burst, burst),
		Interval: v.duration(path+".interval", &fb.Interval, interval),
	}
	if t.Burst < 1 {
		v.fail(path+".burst", at(&fb.Burst), "must be positive")
	}
	if t.Interval <= 0 {
		v.fail(path+".interval", at(&fb.Interval), "must be positive")
	}
	return t
}

func (v *validator) session(fs *fileSession, paths Paths) Session {
	s := Session{
		CookieDomain:   strings.TrimPrefix(strings.ToLower(v.textOr("session.cookie_domain", &fs.CookieDomain, "")), "."),
		Secure:         !v.flag("session.insecure_cookie", &fs.InsecureCookie),
		TTL:            v.duration("session.ttl", &fs.TTL, 30*time.Minute),
		MaxLifetime:    v.duration("session.max_lifetime", &fs.MaxLifetime, 12*time.Hour),
		LoginURL:       v.textOr("session.login_url", &fs.LoginURL, ""),
		LogoutRedirect: v.textOr("session.logout_redirect", &fs.LogoutRedirect, paths.Login),
	}
	name := v.textOr("session.cookie_name", &fs.CookieName, "authgate")
	if !validCookieName(name) || strings.HasPrefix(strings.ToLower(name), "__") {
		v.fail("session.cookie_name", at(&fs.CookieName), "must be a cookie name of letters, digits, - and _ (the __Host- prefix is added by authgate)")
	}
	s.CookieName = name
	// __Host- makes browsers refuse the cookie unless it is Secure,
	// host-only and Path=/, so no subdomain or plain-HTTP page can plant
	// or overwrite it.
	if s.CookieDomain == "" && s.Secure {
		s.CookieName = "__Host-" + name
	}
	if s.CookieDomain != "" {
		if h, ok := normalizeHost(s.CookieDomain); !ok || strings.Contains(h, ":") || !strings.Contains(h, ".") {
			v.fail("session.cookie_domain", at(&fs.CookieDomain), "must be a domain name such as example.com")
		}
		v.warn("session.cookie_domain is %s: every subdomain of it can read the session cookie; run only trusted sites there", s.CookieDomain)
	}
	if !s.Secure {
		v.warn("session.insecure_cookie is set: the session cookie is sent over plain HTTP; use this only for local development")
	}
	if s.TTL == 0 {
		v.fail("session.ttl", at(&fs.TTL), "must be positive")
	}
	if s.MaxLifetime < s.TTL {
		v.fail("session.max_lifetime", where(&fs.MaxLifetime, fs.At), "must be at least session.ttl")
	}
	v.each("session.allowed_redirect_hosts", fs.AllowedRedirectHosts, func(path string, at position, h string) {
		host, ok := normalizeHost(h)
		if !ok {
			v.fail(path, at, "must be a host name")
		}
		s.AllowedRedirectHosts = append(s.AllowedRedirectHosts, host)
	})
	if s.LoginURL != "" {
		if u, err := url.Parse(s.LoginURL); err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			v.fail("session.login_url", at(&fs.LoginURL), "must be an absolute http(s) URL without a query, as in https://auth.example.com/login")
		}
	}
	// Left out, it is paths.login, checked there.
	if u, err := url.Parse(s.LogoutRedirect); fs.LogoutRedirect.Kind != 0 && (err != nil || (!strings.HasPrefix(s.LogoutRedirect, "/") && !(u.IsAbs() && (u.Scheme == "http" || u.Scheme == "https"))) || strings.HasPrefix(s.LogoutRedirect, "//")) {
		v.fail("session.logout_redirect", at(&fs.LogoutRedirect), "must be a path such as /login or an absolute http(s) URL")
	}
	return s
}

// cookieReach warns about session settings that send browsers round a
// login loop: the sign-in sets a cookie the browser refuses, or never
// sends where it is needed, and the browser is back at the login page
// with no error. The gateway explains the same on its login page when it
// sees it happen, by the same browser rules (package session); this says
// it before anyone tries.
func (v *validator) cookieReach(s Session, routes []Route) {
	if u, err := url.Parse(s.LoginURL); s.LoginURL != "" && err == nil && u.Host != "" {
		host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		switch {
		case s.Secure && !session.SecureContext(u.Scheme, u.Host):
			v.warn("session.login_url is plain HTTP, but the session cookie is Secure: browsers drop it, and every sign-in ends back at the login page; serve the login page over HTTPS (or, for local development only, set session.insecure_cookie: true)")
		case s.CookieDomain != "" && !session.UnderDomain(host, s.CookieDomain):
			v.warn("session.login_url's host %s is not under session.cookie_domain %s: browsers refuse the session cookie it sets, and every sign-in ends back at the login page; set cookie_domain to a domain the login page and the applications share", host, s.CookieDomain)
		case s.CookieDomain == "" && !onlyHost(routes, host):
			v.warn("session.login_url is on %s and session.cookie_domain is not set: the session cookie is for %s alone, so an application on any other host never receives it and sends the browser back to the login page; set session.cookie_domain to a domain they share (as example.com), or leave login_url empty to sign in on each application's own host", host, host)
		}
	}
	if s.CookieDomain == "" {
		return
	}
	for i, r := range routes {
		if r.Host != "" && !r.Public && !session.UnderDomain(r.Host, s.CookieDomain) {
			v.warn("routes[%d].host %s is not under session.cookie_domain %s: browsers never send the session cookie there, so a browser that signs in comes back to the login page; name a host under %s, or change cookie_domain", i, r.Host, s.CookieDomain, s.CookieDomain)
		}
	}
}

// onlyHost reports whether some route names a host and every protected
// route is on host, so a cookie for host alone reaches all of them.
func onlyHost(routes []Route, host string) bool {
	named := false
	for _, r := range routes {
		switch {
		case r.Public:
		case !session.SameHost(r.Host, host):
			return false
		default:
			named = true
		}
	}
	return named
}

func validCookieName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func (v *validator) loginPage(fl *fileLoginPage) LoginPage {
	p := LoginPage{Title: v.textOr("login_page.title", &fl.Title, "Sign in"), LogoURL: v.textOr("login_page.logo_url", &fl.LogoURL, "")}
	if !printable(p.Title) || len(p.Title) > 200 {
		v.fail("login_page.title", at(&fl.Title), "must be printable text of at most 200 bytes")
	}
	if p.LogoURL != "" {
		if u, err := url.Parse(p.LogoURL); err != nil || (u.Scheme != "https" && !strings.HasPrefix(p.LogoURL, "/")) || strings.HasPrefix(p.LogoURL, "//") {
			v.fail("login_page.logo_url", at(&fl.LogoURL), "must be an https URL or a path on this host")
		}
	}
	if name, _ := v.text("login_page.template_file", &fl.TemplateFile); name != "" {
		v.plan.template = v.fileRef("login_page.template_file", &fl.TemplateFile, name)
	}
	return p
}

func (v *validator) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.baseDir, p)
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func isMethodToken(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := range len(m) {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
