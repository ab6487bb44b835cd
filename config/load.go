package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/keys"
	"github.com/authgate/authgate/names"
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

// Load reads, expands, decodes and validates the config file at path.
// Relative file references in it are resolved against the file's directory.
// The error, when not nil, lists every problem found, one per line, each
// prefixed with its YAML path.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := readLimited(path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, filepath.Dir(path), lookupEnv)
}

// Parse is Load for a document already in memory; baseDir resolves relative
// file references.
func Parse(data []byte, baseDir string, lookupEnv func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("config is empty")
	}
	var problems []error
	expandNode(&doc, "", lookupEnv, &problems)
	expanded := len(problems)
	checkNode(&doc, reflect.TypeOf(fileConfig{}), "", &problems, 0)
	var fc fileConfig
	// The decoder fills every field that fits and skips the rest, which
	// checkNode has reported; its own messages are not used.
	if err := doc.Decode(&fc); err != nil && len(problems) == expanded {
		problems = append(problems, decodeProblem(err))
	}
	// Validate even when decoding found problems, so that one run reports
	// everything; a field the decoder could not fill is not reported twice.
	reported := map[string]bool{}
	for _, p := range problems {
		var pr *Problem
		if errors.As(p, &pr) {
			reported[pr.Path] = true
		}
	}
	v := &validator{baseDir: baseDir}
	cfg := v.build(&fc)
	for _, p := range v.problems {
		var pr *Problem
		if errors.As(p, &pr) && reported[pr.Path] {
			continue
		}
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	cfg.Warnings = v.warnings
	return cfg, nil
}

// Problem is one invalid value, located by its YAML path.
type Problem struct {
	Path string
	// Line is the value's line in the file; 0 when the problem is not
	// about one place in it.
	Line int
	Msg  string
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return p.Path + ": " + p.Msg + " (line " + strconv.Itoa(p.Line) + ")"
	}
	return p.Path + ": " + p.Msg
}

func problem(path, msg string) error { return &Problem{Path: path, Msg: msg} }

func problemAt(path string, line int, msg string) error {
	return &Problem{Path: path, Line: line, Msg: msg}
}

// decodeProblem reports a decoder failure that checkNode did not foresee.
// A *yaml.TypeError quotes the values it could not decode, so only their
// number is told; the decoder's other errors (excessive aliasing, an
// anchor that contains itself) are fixed texts that name no value.
func decodeProblem(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%d values could not be decoded into their keys' types", len(te.Errors))
	}
	return fmt.Errorf("decode: %w", err)
}

type validator struct {
	baseDir  string
	problems []error
	warnings []string
}

func (v *validator) fail(path, format string, args ...any) {
	v.problems = append(v.problems, problem(path, fmt.Sprintf(format, args...)))
}

func (v *validator) warn(format string, args ...any) {
	v.warnings = append(v.warnings, fmt.Sprintf(format, args...))
}

func (v *validator) build(fc *fileConfig) *Config {
	cfg := &Config{
		Listen:               v.addr("listen", fc.Listen, "127.0.0.1:8080"),
		ForwardAuthorization: fc.ForwardAuthorization,
	}
	cfg.MetricsListen = "127.0.0.1:9090"
	if fc.MetricsListen != nil {
		cfg.MetricsListen = *fc.MetricsListen
		if cfg.MetricsListen != "" {
			v.addr("metrics_listen", cfg.MetricsListen, "")
		}
	}
	if cfg.MetricsListen != "" && cfg.MetricsListen == cfg.Listen {
		v.fail("metrics_listen", "must differ from listen: metrics never share the public listener")
	}
	if fc.EchoListen != "" {
		cfg.EchoListen = v.addr("echo_listen", fc.EchoListen, "")
		v.warn("DEMO: the built-in echo upstream is listening on %s; this is a demo configuration, not for production", fc.EchoListen)
	}
	cfg.Token = v.token(&fc.Token)
	cfg.Users = v.users(fc)
	cfg.DefaultDeny = fc.DefaultDeny
	cfg.UpstreamHeaders = v.upstreamHeaders(&fc.UpstreamHeaders)
	cfg.IdentityHeader, cfg.StripHeaders, cfg.StripHeaderPrefixes = v.headers(fc)
	cfg.TrustedProxies = v.trustedProxies(fc.TrustedProxies)
	cfg.Paths = v.paths(&fc.Paths)
	cfg.Routes = v.routes(fc.Routes, cfg.Users, cfg.Paths)
	cfg.Log = v.log(&fc.Log)
	cfg.Server = v.server(&fc.Server)
	cfg.Transport = v.transport(&fc.Transport)
	cfg.Login = v.login(&fc.Login)
	cfg.Session = v.session(&fc.Session, cfg.Paths)
	cfg.LoginPage = v.loginPage(&fc.LoginPage)
	return cfg
}

func (v *validator) addr(path, s, def string) string {
	if s == "" {
		s = def
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.fail(path, "must be host:port, as in 127.0.0.1:8080")
		return s
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.fail(path, "port must be a number from 0 to 65535")
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.fail(path, "host must be an IP address, localhost, or empty for all interfaces")
		}
	}
	return s
}

func (v *validator) duration(path, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.fail(path, "must be a duration such as 30s or 5m")
		return def
	}
	if d < 0 {
		v.fail(path, "must not be negative")
		return def
	}
	return d
}

func (v *validator) token(ft *fileToken) Token {
	t := Token{
		TTL:      v.duration("token.ttl", ft.TTL, 30*time.Minute),
		Issuer:   orDefault(ft.Issuer, "authgate"),
		Audience: orDefault(ft.Audience, "authgate"),
		Leeway:   v.duration("token.leeway", ft.Leeway, 30*time.Second),
	}
	if t.TTL == 0 {
		v.fail("token.ttl", "must be positive")
	} else if t.TTL > 24*time.Hour {
		v.warn("token.ttl is %s: bearer tokens that live longer than a day cannot be revoked by restarting with a new secret without logging everyone out", t.TTL)
	}
	if t.Leeway > MaxLeeway {
		v.fail("token.leeway", "must be at most %s", MaxLeeway)
	}
	for path, s := range map[string]string{"token.issuer": t.Issuer, "token.audience": t.Audience} {
		if !printable(s) {
			v.fail(path, "must be printable text")
		}
	}
	v.keys(ft, &t)
	t.Refresh = Refresh{
		Enabled:     ft.Refresh.Enabled,
		TTL:         v.duration("token.refresh.ttl", ft.Refresh.TTL, 24*time.Hour),
		MaxLifetime: v.duration("token.refresh.max_lifetime", ft.Refresh.MaxLifetime, 30*24*time.Hour),
	}
	if t.Refresh.TTL == 0 || t.Refresh.MaxLifetime < t.Refresh.TTL {
		v.fail("token.refresh", "ttl must be positive and max_lifetime at least ttl")
	}
	t.TrustedIssuers = v.trustedIssuers(ft.Trusted, t.Issuer)
	t.CacheSize = 10000
	if ft.CacheSize != nil {
		t.CacheSize = *ft.CacheSize
	}
	if t.CacheSize < 0 || t.CacheSize > 10_000_000 {
		v.fail("token.cache_size", "must be from 0 (off) to 10000000")
	}
	return t
}

func (v *validator) trustedIssuers(list []fileIssuer, own string) []TrustedIssuer {
	var out []TrustedIssuer
	seen := map[string]bool{own: true}
	for i, fi := range list {
		p := indexPath("token.trusted_issuers", i)
		ti := TrustedIssuer{Issuer: fi.Issuer, Audience: fi.Audience, JWKSURL: fi.JWKSURL, Algorithms: fi.Algorithms,
			UsernameClaim: orDefault(fi.UsernameClaim, "sub"), GroupsClaim: fi.GroupsClaim}
		switch {
		case fi.Issuer == "" || !printable(fi.Issuer):
			v.fail(p+".issuer", "is required")
		case seen[fi.Issuer]:
			v.fail(p+".issuer", "%q is already authgate's own issuer or another trusted issuer", fi.Issuer)
		}
		seen[fi.Issuer] = true
		if fi.Audience == "" {
			v.fail(p+".audience", "is required: a token meant for another service must not be accepted")
		}
		switch {
		case (fi.JWKSURL == "") == (fi.JWKSFile == ""):
			v.fail(p, "set exactly one of jwks_url and jwks_file")
		case fi.JWKSURL != "":
			if u, err := url.Parse(fi.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				v.fail(p+".jwks_url", "must be an absolute http(s) URL")
			} else if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
				v.warn("%s.jwks_url is plain HTTP: anyone on the path can substitute keys", p)
			}
		default:
			ti.JWKSFile = v.resolve(fi.JWKSFile)
		}
		if len(fi.Algorithms) == 0 {
			v.fail(p+".algorithms", "is required, e.g. [RS256]")
		}
		for j, a := range fi.Algorithms {
			if a == keys.HS256 || !slices.Contains(keys.Algorithms, a) {
				v.fail(indexPath(p+".algorithms", j), "must be RS256, ES256 or EdDSA")
			}
		}
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

// keys loads the signing and verification keys: one legacy secret, or a
// list of keys of the configured algorithm with one chosen to sign.
func (v *validator) keys(ft *fileToken, t *Token) {
	t.Algorithm = orDefault(ft.Algorithm, keys.HS256)
	if !slices.Contains(keys.Algorithms, t.Algorithm) {
		v.fail("token.algorithm", "must be one of %s", strings.Join(keys.Algorithms, ", "))
		return
	}
	hmac := t.Algorithm == keys.HS256
	legacy := ft.Secret != "" || ft.SecretFile != ""
	switch {
	case legacy && len(ft.Keys) > 0:
		v.fail("token", "set secret or secret_file, or keys, not both")
		return
	case ft.Secret != "" && ft.SecretFile != "":
		v.fail("token", "set secret or secret_file, not both")
		return
	case legacy && !hmac:
		v.fail("token.secret", "%s signs with key pairs: list them under token.keys", t.Algorithm)
		return
	case legacy:
		if s := v.secretValue("token", ft.Secret, ft.SecretFile); s != nil {
			t.Keys = []keys.Key{keys.Secret(keys.SecretID(s), s)}
		}
	case len(ft.Keys) == 0:
		v.ephemeralKey(t)
	}
	seen := map[string]bool{}
	for i, fk := range ft.Keys {
		p := indexPath("token.keys", i)
		if !validKeyID(fk.ID) {
			v.fail(p+".id", "must be 1 to 64 letters, digits, '.', '_' or '-'")
			continue
		}
		if seen[fk.ID] {
			v.fail(p+".id", "%q is already used by another key", fk.ID)
			continue
		}
		seen[fk.ID] = true
		switch {
		case hmac && fk.KeyFile != "":
			v.fail(p+".key_file", "HS256 keys are secrets: use secret or secret_file")
		case hmac:
			if fk.Secret != "" && fk.SecretFile != "" {
				v.fail(p, "set secret or secret_file, not both")
			} else if s := v.secretValue(p, fk.Secret, fk.SecretFile); s != nil {
				t.Keys = append(t.Keys, keys.Secret(fk.ID, s))
			}
		case fk.Secret != "" || fk.SecretFile != "":
			v.fail(p, "%s keys are PEM key pairs: use key_file", t.Algorithm)
		case fk.KeyFile == "":
			v.fail(p+".key_file", "is required")
		default:
			data, err := readLimited(v.resolve(fk.KeyFile), 64<<10)
			if err != nil {
				v.fail(p+".key_file", "%s", fileProblem(err))
				continue
			}
			k, err := keys.ParsePEM(fk.ID, t.Algorithm, data)
			if err != nil {
				v.fail(p+".key_file", "%s: %v", fk.KeyFile, err)
				continue
			}
			t.Keys = append(t.Keys, k)
		}
	}
	t.SigningKey = ft.SigningKey
	if t.SigningKey == "" {
		for _, k := range t.Keys {
			if k.CanSign() {
				t.SigningKey = k.ID
				break
			}
		}
	}
	if len(t.Keys) == 0 {
		return // already reported
	}
	i := slices.IndexFunc(t.Keys, func(k keys.Key) bool { return k.ID == t.SigningKey })
	switch {
	case t.SigningKey == "":
		v.fail("token.keys", "no key can sign: at least one needs its private key")
	case i < 0:
		v.fail("token.signing_key", "names no key in token.keys")
	case !t.Keys[i].CanSign():
		v.fail("token.signing_key", "key %q is public only and cannot sign", t.SigningKey)
	}
}

// secretValue reads an HS256 secret given inline or in a file.
func (v *validator) secretValue(path, inline, file string) []byte {
	if inline != "" {
		return v.secret(path+".secret", []byte(inline))
	}
	if file == "" {
		v.fail(path+".secret", "is required")
		return nil
	}
	data, err := readLimited(v.resolve(file), 64<<10)
	if err != nil {
		v.fail(path+".secret_file", "%s", fileProblem(err))
		return nil
	}
	return v.secret(path+".secret_file", bytes.TrimRight(data, "\r\n"))
}

// ephemeralKey makes a key that lives as long as the process.
func (v *validator) ephemeralKey(t *Token) {
	t.SecretGenerated = true
	if t.Algorithm == keys.HS256 {
		s := make([]byte, MinSecretBytes)
		if _, err := rand.Read(s); err != nil {
			v.fail("token.secret", "generate a random secret: %v", err)
			return
		}
		t.Keys = []keys.Key{keys.Secret(keys.SecretID(s), s)}
		v.warn("no token.secret configured: using a random secret, so tokens will not survive a restart and replicas will not accept each other's tokens")
		return
	}
	k, _, _, err := keys.Generate("ephemeral", t.Algorithm)
	if err != nil {
		v.fail("token.keys", "generate a key: %v", err)
		return
	}
	t.Keys = []keys.Key{k}
	v.warn("no token.keys configured: using a random %s key pair, so tokens will not survive a restart; make one with: authgate keygen --alg %s", t.Algorithm, t.Algorithm)
}

func validKeyID(id string) bool { return plainToken(id, 64) }

// secret checks key material without ever echoing it.
func (v *validator) secret(path string, s []byte) []byte {
	if len(s) < MinSecretBytes {
		v.fail(path, "must be at least %d bytes (it has %d); generate one with: openssl rand -base64 48", MinSecretBytes, len(s))
		return nil
	}
	if isExampleSecret(s) {
		v.fail(path, "is a well-known example or low-entropy value; generate one with: openssl rand -base64 48")
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

func (v *validator) users(fc *fileConfig) []User {
	var users []User
	type definition struct{ path, name string }
	seen := map[string]definition{}
	add := func(namePath, hashPath, source, name, hash string, extra User) {
		if msg := usernameProblem(name); msg != "" {
			v.fail(namePath, "%s", msg)
			return
		}
		// The login throttle keys on the folded name: two accounts that
		// fold together would share a bucket, and one's success would
		// clear the other's lockout.
		folded := names.Fold(name)
		if prev, dup := seen[folded]; dup {
			if prev.name == name {
				v.fail(namePath, "user %q is already defined at %s", name, prev.path)
			} else {
				v.fail(namePath, "user %q is already defined at %s as %q (usernames must differ in more than case or Unicode width)", name, prev.path, prev.name)
			}
			return
		}
		seen[folded] = definition{namePath, name}
		if msg := v.hashProblem(name, hash); msg != "" {
			v.fail(hashPath, "user %q: %s", name, msg)
			return
		}
		users = append(users, User{Username: name, PasswordHash: []byte(hash), Source: source,
			Groups: extra.Groups, Email: extra.Email, Disabled: extra.Disabled})
	}
	for i, u := range fc.Users {
		p := indexPath("users", i)
		for j, g := range u.Groups {
			if msg := usernameProblem(g); msg != "" {
				v.fail(indexPath(p+".groups", j), "group name %s", msg)
			}
		}
		if u.Email != "" && (!printable(u.Email) || !strings.Contains(u.Email, "@") || strings.ContainsAny(u.Email, ", ;\"")) {
			v.fail(p+".email", "must be an email address")
		}
		add(p+".username", p+".password_hash", "config", u.Username, u.PasswordHash, User{Groups: u.Groups, Email: u.Email, Disabled: u.Disabled})
	}
	if fc.HtpasswdFile != "" {
		file := v.resolve(fc.HtpasswdFile)
		data, err := readLimited(file, 16<<20)
		if err != nil {
			v.fail("htpasswd_file", "%s", fileProblem(err))
		} else {
			entries, problems := parseHtpasswd(data)
			for _, msg := range problems {
				v.fail("htpasswd_file", "%s: %s", fc.HtpasswdFile, msg)
			}
			for _, e := range entries {
				where := fmt.Sprintf("htpasswd_file %s: line %d", fc.HtpasswdFile, e.line)
				add(where, where, "htpasswd", e.username, e.hash, User{})
			}
		}
	}
	if fc.HtpasswdGroupsFile != "" {
		v.groupsFile(fc.HtpasswdGroupsFile, users)
	}
	return users
}

// groupsFile reads an Apache AuthGroupFile ("group: user user ...") and
// adds each group to its members.
func (v *validator) groupsFile(path string, users []User) {
	data, err := readLimited(v.resolve(path), 16<<20)
	if err != nil {
		v.fail("htpasswd_groups_file", "%s", fileProblem(err))
		return
	}
	index := map[string]int{}
	for i, u := range users {
		index[u.Username] = i
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		group, members, ok := strings.Cut(line, ":")
		group = strings.TrimSpace(group)
		if !ok || usernameProblem(group) != "" {
			v.fail("htpasswd_groups_file", "%s: line %d: want group: user user ...", path, n+1)
			continue
		}
		for _, m := range strings.Fields(members) {
			if i, ok := index[m]; ok {
				if !slices.Contains(users[i].Groups, group) {
					users[i].Groups = append(users[i].Groups, group)
				}
			} else {
				v.warn("htpasswd_groups_file %s: line %d: no user %q", path, n+1, m)
			}
		}
	}
}

func (v *validator) upstreamHeaders(fu *fileUpstream) UpstreamHeaders {
	u := UpstreamHeaders{
		Groups:       "X-Forwarded-Groups",
		Email:        "X-Forwarded-Email",
		Token:        fu.Token,
		Assertion:    fu.Assertion,
		AssertionTTL: v.duration("upstream_headers.assertion_ttl", fu.AssertionTTL, time.Minute),
	}
	if fu.Groups != nil {
		u.Groups = *fu.Groups
	}
	if fu.Email != nil {
		u.Email = *fu.Email
	}
	for path, name := range map[string]*string{"upstream_headers.groups": &u.Groups, "upstream_headers.email": &u.Email,
		"upstream_headers.token": &u.Token, "upstream_headers.assertion": &u.Assertion} {
		if *name == "" {
			continue
		}
		*name = http.CanonicalHeaderKey(*name)
		if !validHeaderName(*name) || slices.Contains(reservedHeaders, *name) {
			v.fail(path, "must be a header name the gateway does not manage itself")
		}
	}
	if u.AssertionTTL <= 0 || u.AssertionTTL > 10*time.Minute {
		v.fail("upstream_headers.assertion_ttl", "must be from 1s to 10m")
	}
	return u
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

func (v *validator) hashProblem(user, hash string) string {
	if hash == "" {
		return "is empty"
	}
	if len(hash) != 60 || nonBcryptKind(hash) != "" || !bcryptAlphabet(hash[7:]) {
		return "is not a bcrypt hash (make one with: authgate hash-password)"
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return "is not a bcrypt hash (make one with: authgate hash-password)"
	}
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return fmt.Sprintf("has bcrypt cost %d; it must be from %d to %d", cost, MinBcryptCost, MaxBcryptCost)
	}
	if cost < RecommendedCost {
		v.warn("user %q: bcrypt cost %d is below the recommended %d", user, cost, RecommendedCost)
	}
	if hash == DemoPasswordHash {
		v.warn("DEMO: user %q has the published demo password; replace it before exposing this gateway", user)
	}
	return ""
}

func bcryptAlphabet(s string) bool {
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

func (v *validator) headers(fc *fileConfig) (identity string, strip, prefixes []string) {
	identity = DefaultIdentityHeader
	if fc.IdentityHeader != "" {
		identity = http.CanonicalHeaderKey(fc.IdentityHeader)
		if !validHeaderName(identity) {
			v.fail("identity_header", "must be a valid header name")
		} else if slices.Contains(reservedHeaders, identity) {
			v.fail("identity_header", "must not be %s, which the gateway manages itself", identity)
		}
	}
	names := append(slices.Clone(DefaultStripHeaders), identity)
	for i, h := range fc.StripHeaders {
		name := strings.TrimSuffix(h, "*")
		if !validHeaderName(name) {
			v.fail(indexPath("strip_headers", i), "must be a header name, optionally ending in * for a prefix")
			continue
		}
		names = append(names, h)
	}
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

func (v *validator) trustedProxies(list []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range list {
		p := indexPath("trusted_proxies", i)
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				v.fail(p, "must be an IP address or CIDR, as in 10.0.0.0/8")
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		if pfx.Bits() == 0 {
			v.warn("trusted_proxies[%d] is %s: every client can forge X-Forwarded-For and friends", i, s)
		}
		out = append(out, pfx.Masked())
	}
	return out
}

func (v *validator) paths(fp *filePaths) Paths {
	p := Paths{
		Refresh: orDefault(fp.Refresh, "/token/refresh"),
		Login:   orDefault(fp.Login, "/login"),
		Logout:  orDefault(fp.Logout, "/logout"),
		Verify:  orDefault(fp.Verify, "/verify"),
		Healthz: orDefault(fp.Healthz, "/healthz"),
		Readyz:  orDefault(fp.Readyz, "/readyz"),
	}
	seen := map[string]string{}
	for name, val := range map[string]string{"paths.refresh": p.Refresh, "paths.login": p.Login, "paths.logout": p.Logout, "paths.verify": p.Verify, "paths.healthz": p.Healthz, "paths.readyz": p.Readyz} {
		if msg := pathProblem(val); msg != "" {
			v.fail(name, "%s", msg)
		}
		if other, dup := seen[val]; dup {
			// Map order is random; report the pair in a stable order.
			a, b := min(name, other), max(name, other)
			v.fail(b, "is the same path as %s", a)
		}
		seen[val] = name
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

func (v *validator) routes(frs []fileRoute, users []User, paths Paths) []Route {
	known := map[string]bool{}
	for _, u := range users {
		known[u.Username] = true
	}
	var out []Route
	seen := map[string]string{}
	for i, fr := range frs {
		p := indexPath("routes", i)
		r := Route{Public: fr.Public, StripPrefix: fr.StripPrefix}
		if msg := pathProblem(fr.Path); msg != "" {
			v.fail(p+".path", "%s", msg)
		}
		r.Path = fr.Path
		if r.Path != "/" {
			r.Path = strings.TrimSuffix(r.Path, "/")
		}
		if fr.Host != "" {
			host, ok := normalizeHost(fr.Host)
			if !ok {
				v.fail(p+".host", "must be a host name, optionally with :port")
			}
			r.Host = host
		}
		r.Upstream = v.upstream(p+".upstream", fr.Upstream)
		if fr.Public && (len(fr.AllowedUsers) > 0 || len(fr.AllowedGroups) > 0) {
			v.fail(p, "public and allowed_users or allowed_groups contradict each other")
		}
		for j, g := range fr.AllowedGroups {
			if msg := usernameProblem(g); msg != "" {
				v.fail(indexPath(p+".allowed_groups", j), "group name %s", msg)
			}
		}
		for j, m := range fr.Methods {
			if !isMethodToken(m) {
				v.fail(indexPath(p+".methods", j), "must be an HTTP method such as GET (case matters)")
			}
		}
		r.AllowedGroups, r.Methods = fr.AllowedGroups, fr.Methods
		for j, name := range fr.AllowedUsers {
			if msg := usernameProblem(name); msg != "" {
				v.fail(indexPath(p+".allowed_users", j), "username %s", msg)
			} else if !known[name] {
				v.warn("%s.allowed_users[%d]: no local user %q is defined", p, j, name)
			}
		}
		r.AllowedUsers = fr.AllowedUsers
		r.Name = fr.Name
		if r.Name == "" {
			r.Name = r.Host + r.Path
		}
		if !printable(r.Name) {
			v.fail(p+".name", "must be printable text")
		}
		key := r.Host + " " + r.Path
		if prev, dup := seen[key]; dup {
			v.fail(p, "same host and path as %s", prev)
		}
		seen[key] = p
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

func (v *validator) upstream(path, s string) *url.URL {
	u, err := url.Parse(s)
	switch {
	case s == "":
		v.fail(path, "is required")
	case err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.fail(path, "must be an absolute http(s) URL, as in http://127.0.0.1:9000")
	case u.User != nil:
		v.fail(path, "must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.fail(path, "must not have a query or fragment")
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
	switch fl.Format {
	case "", "text":
	case "json":
		l.JSON = true
	default:
		v.fail("log.format", "must be text or json")
	}
	if fl.Level != "" {
		if err := l.Level.UnmarshalText([]byte(fl.Level)); err != nil {
			v.fail("log.level", "must be debug, info, warn or error")
		}
	}
	l.FlushInterval = v.duration("log.flush_interval", fl.FlushInterval, 0)
	if l.FlushInterval > 10*time.Second {
		v.fail("log.flush_interval", "must be at most 10s: lines held longer are lost in a crash and late for whoever tails the log")
	}
	return l
}

func (v *validator) server(fs *fileServer) Server {
	s := Server{
		ReadHeaderTimeout: v.duration("server.read_header_timeout", fs.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       v.duration("server.read_timeout", fs.ReadTimeout, 60*time.Second),
		WriteTimeout:      v.duration("server.write_timeout", fs.WriteTimeout, 0),
		SendTimeout:       v.duration("server.send_timeout", fs.SendTimeout, 60*time.Second),
		IdleTimeout:       v.duration("server.idle_timeout", fs.IdleTimeout, 120*time.Second),
		ShutdownGrace:     v.duration("server.shutdown_grace", fs.ShutdownGrace, 30*time.Second),
		MaxHeaderBytes:    orDefaultInt(fs.MaxHeaderBytes, 32<<10),
		MaxConnections:    orDefaultInt(fs.MaxConnections, 16384),
	}
	if s.ReadHeaderTimeout == 0 {
		v.fail("server.read_header_timeout", "must be positive: without it a slow client can hold a connection forever")
	}
	if s.IdleTimeout == 0 {
		v.fail("server.idle_timeout", "must be positive")
	}
	if s.MaxHeaderBytes < 1024 || s.MaxHeaderBytes > MaxHeaderBytesCeil {
		v.fail("server.max_header_bytes", "must be from 1024 to %d", MaxHeaderBytesCeil)
	}
	if fs.GCHeadroomMiB != nil {
		// Accepted so that no config breaks; the runtime is tuned from the
		// environment only.
		v.warn("server.gc_headroom_mib is no longer used and is ignored: tune the garbage collector with the GOGC and GOMEMLIMIT environment variables (see README)")
	}
	if s.MaxConnections < 1 {
		v.fail("server.max_connections", "must be positive")
	}
	return s
}

func (v *validator) transport(ft *fileTransport) Transport {
	t := Transport{
		DialTimeout:           v.duration("transport.dial_timeout", ft.DialTimeout, 10*time.Second),
		ResponseHeaderTimeout: v.duration("transport.response_header_timeout", ft.ResponseHeaderTimeout, 60*time.Second),
		IdleConnTimeout:       v.duration("transport.idle_conn_timeout", ft.IdleConnTimeout, 90*time.Second),
		MaxIdleConnsPerHost:   orDefaultInt(ft.MaxIdleConnsPerHost, 256),
	}
	if t.ResponseHeaderTimeout == 0 {
		v.fail("transport.response_header_timeout", "must be positive: a hanging upstream must end in 504")
	}
	if t.MaxIdleConnsPerHost < 1 {
		v.fail("transport.max_idle_conns_per_host", "must be positive")
	}
	return t
}

func (v *validator) login(fl *fileLogin) Login {
	l := Login{
		MaxBodyBytes:  int64(orDefaultInt(fl.MaxBodyBytes, 8<<10)),
		MaxConcurrent: orDefaultInt(fl.MaxConcurrent, runtime.GOMAXPROCS(0)),
	}
	l.MaxQueue = orDefaultInt(fl.MaxQueue, 4*l.MaxConcurrent)
	if l.MaxBodyBytes < 256 || l.MaxBodyBytes > 1<<20 {
		v.fail("login.max_body_bytes", "must be from 256 to 1048576")
	}
	if l.MaxConcurrent < 1 {
		v.fail("login.max_concurrent", "must be positive")
	}
	if l.MaxQueue < 0 {
		v.fail("login.max_queue", "must not be negative")
	}
	l.ShedDelay = v.duration("login.shed_delay", fl.ShedDelay, time.Second)
	if l.ShedDelay > 10*time.Second {
		v.fail("login.shed_delay", "must be at most 10s")
	}
	l.User = v.throttle("login.throttle.user", fl.Throttle.User, 10, 30*time.Second)
	l.Client = v.throttle("login.throttle.client", fl.Throttle.Client, 30, 2*time.Second)
	l.ThrottleSlots = orDefaultInt(fl.Throttle.Slots, 8192)
	if l.ThrottleSlots < 16 || l.ThrottleSlots > 1<<20 {
		v.fail("login.throttle.slots", "must be from 16 to 1048576")
	}
	return l
}

func (v *validator) throttle(path string, fb fileBucket, burst int, interval time.Duration) Throttle {
	t := Throttle{
		Burst:    orDefaultInt(fb.Burst, burst),
		Interval: v.duration(path+".interval", fb.Interval, interval),
	}
	if t.Burst < 1 {
		v.fail(path+".burst", "must be positive")
	}
	if t.Interval <= 0 {
		v.fail(path+".interval", "must be positive")
	}
	return t
}

func (v *validator) session(fs *fileSession, paths Paths) Session {
	s := Session{
		CookieDomain:   strings.TrimPrefix(strings.ToLower(fs.CookieDomain), "."),
		Secure:         !fs.InsecureCookie,
		TTL:            v.duration("session.ttl", fs.TTL, 30*time.Minute),
		MaxLifetime:    v.duration("session.max_lifetime", fs.MaxLifetime, 12*time.Hour),
		LoginURL:       fs.LoginURL,
		LogoutRedirect: orDefault(fs.LogoutRedirect, paths.Login),
	}
	name := orDefault(fs.CookieName, "authgate")
	if !validCookieName(name) || strings.HasPrefix(strings.ToLower(name), "__") {
		v.fail("session.cookie_name", "must be a cookie name of letters, digits, - and _ (the __Host- prefix is added by authgate)")
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
			v.fail("session.cookie_domain", "must be a domain name such as example.com")
		}
		v.warn("session.cookie_domain is %s: every subdomain of it can read the session cookie; run only trusted sites there", s.CookieDomain)
	}
	if !s.Secure {
		v.warn("session.insecure_cookie is set: the session cookie is sent over plain HTTP; use this only for local development")
	}
	if s.TTL == 0 {
		v.fail("session.ttl", "must be positive")
	}
	if s.MaxLifetime < s.TTL {
		v.fail("session.max_lifetime", "must be at least session.ttl")
	}
	for i, h := range fs.AllowedRedirectHosts {
		host, ok := normalizeHost(h)
		if !ok {
			v.fail(indexPath("session.allowed_redirect_hosts", i), "must be a host name")
		}
		s.AllowedRedirectHosts = append(s.AllowedRedirectHosts, host)
	}
	if s.LoginURL != "" {
		if u, err := url.Parse(s.LoginURL); err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			v.fail("session.login_url", "must be an absolute http(s) URL without a query, as in https://auth.example.com/login")
		}
	}
	if u, err := url.Parse(s.LogoutRedirect); err != nil || (!strings.HasPrefix(s.LogoutRedirect, "/") && !(u.IsAbs() && (u.Scheme == "http" || u.Scheme == "https"))) || strings.HasPrefix(s.LogoutRedirect, "//") {
		v.fail("session.logout_redirect", "must be a path such as /login or an absolute http(s) URL")
	}
	return s
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
	p := LoginPage{Title: orDefault(fl.Title, "Sign in"), LogoURL: fl.LogoURL}
	if !printable(p.Title) || len(p.Title) > 200 {
		v.fail("login_page.title", "must be printable text of at most 200 bytes")
	}
	if p.LogoURL != "" {
		if u, err := url.Parse(p.LogoURL); err != nil || (u.Scheme != "https" && !strings.HasPrefix(p.LogoURL, "/")) || strings.HasPrefix(p.LogoURL, "//") {
			v.fail("login_page.logo_url", "must be an https URL or a path on this host")
		}
	}
	if fl.TemplateFile != "" {
		data, err := readLimited(v.resolve(fl.TemplateFile), 1<<20)
		if err != nil {
			v.fail("login_page.template_file", "%s", fileProblem(err))
		} else if _, err := template.New("login").Parse(string(data)); err != nil {
			v.fail("login_page.template_file", "%v", err)
		} else {
			p.Template = string(data)
		}
	}
	return p
}

func (v *validator) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.baseDir, p)
}

// tooLargeError is readLimited's refusal of a file over its limit.
type tooLargeError struct {
	path  string
	limit int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes", e.path, e.limit)
}

// fileProblem says why a file the config names could not be read, without
// its name: the name is a config value, and a secret put under secret_file
// by mistake (secret_file: ${SECRET}) would otherwise be printed as a path.
// The YAML path and line say which file it was.
func fileProblem(err error) string {
	var big *tooLargeError
	var pe *fs.PathError
	switch {
	case errors.As(err, &big):
		return fmt.Sprintf("the file is larger than %d bytes", big.limit)
	case errors.As(err, &pe):
		return "cannot read the file: " + pe.Err.Error()
	default:
		return "cannot read the file"
	}
}

// readLimited reads a whole file, refusing one larger than limit.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, &tooLargeError{path: path, limit: limit}
	}
	buf := bytes.NewBuffer(make([]byte, 0, st.Size()))
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf.Bytes(), nil
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDefaultInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// LogValue keeps a Config's secret out of logs even if the whole struct is
// logged by mistake.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("listen", c.Listen), slog.Int("routes", len(c.Routes)), slog.Int("users", len(c.Users)))
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
