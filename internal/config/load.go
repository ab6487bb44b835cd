package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/authgate/authgate/internal/keys"
)

// plan is what validation found the document names, for load to read or
// make; each file carries the YAML path and position of the key that
// named it, so that a problem with the file is reported there.
type plan struct {
	// keys are the token keys in document order: ready (an inline secret)
	// or to be read from a file.
	keys []keySlot
	// ephemeral asks for a key that lives as long as the process, because
	// the document names none.
	ephemeral bool
	// tokenAt and signingAt are where token and token.signing_key were
	// written, for problems found once the keys are loaded.
	tokenAt, signingAt         position
	htpasswd, groups, template fileRef
	accounts                   *accounts
	// allowed are the routes' allowed_users, checked against every user
	// once the htpasswd file is read.
	allowed []allowedUser
	// providerSecrets are the providers' client_secret_file.
	providerSecrets []providerSecret
	// tls names the certificates, keys and CAs of the tls sections.
	tls tlsPlan
	// totp are the users' totp_secret_file.
	totp []plannedTOTP
	// apiKeyNames maps each API key's name to its YAML path;
	// apiKeyRoutes are the routes the keys are limited to.
	apiKeyNames map[string]string
	// apiKeyHashes maps each API key's hash to its YAML path.
	apiKeyHashes map[[32]byte]string
	apiKeyRoutes []apiKeyRoute
	// hasPasskeys says some user has passkeys, which need the passkeys
	// section.
	hasPasskeys bool
	// redisPassword is state.redis.password_file.
	redisPassword fileRef
}

type keySlot struct {
	// id is the key's kid; empty for the legacy secret, whose kid is
	// derived from it.
	id  string
	key keys.Key // when ready
	src fileRef  // otherwise
	// pem says src is a PEM key of the token's algorithm, not an HS256
	// secret.
	pem bool
}

type fileRef struct {
	path string // the YAML path of the key naming the file
	at   position
	file string // the name resolved against the config's directory; empty for none
}

type allowedUser struct{ path, name string }

// load reads what p names into cfg and makes what it asks for, reporting
// problems to r. It runs after validation, even when that found problems,
// so that one run reports everything; it makes an ephemeral key only for
// a config that is otherwise valid.
func load(cfg *Config, p *plan, r *report) {
	t := &cfg.Token
	cfg.Files = p.files(t.TrustedIssuers)
	for _, ps := range p.providerSecrets {
		if data, ok := readFile(r, ps.src, 64<<10); ok {
			s := strings.TrimRight(string(data), "\r\n")
			if strings.TrimSpace(s) == "" {
				r.fail(ps.src.path, ps.src.at, "the file is empty")
				continue
			}
			cfg.Providers[ps.index].ClientSecret = s
		}
	}
	for _, ks := range p.keys {
		if ks.src.file == "" {
			t.Keys = append(t.Keys, ks.key)
			continue
		}
		data, ok := readFile(r, ks.src, 64<<10)
		if !ok {
			continue
		}
		if ks.pem {
			k, err := keys.ParsePEM(ks.id, t.Algorithm, data)
			if err != nil {
				// ParsePEM says what kind of key was found, never its bytes.
				r.fail(ks.src.path, ks.src.at, "%v", err)
				continue
			}
			t.Keys = append(t.Keys, k)
		} else if s := r.secret(ks.src.path, ks.src.at, bytes.TrimRight(data, "\r\n")); s != nil {
			t.Keys = append(t.Keys, secretKey(ks.id, s))
		}
	}
	empty := loadHtpasswd(r, p)
	p.accounts.warnLowCost(r)
	cfg.Users = p.accounts.users
	if empty && len(cfg.Users) == 0 && len(t.TrustedIssuers) == 0 && len(cfg.Providers) == 0 {
		r.fail(p.htpasswd.path, p.htpasswd.at, "the file holds no user, and nothing else lets anyone sign in: %s", signInWays)
	}
	if p.groups.file != "" {
		loadGroups(r, p.groups, cfg.Users)
	}
	loadTOTP(r, p.totp, cfg.Users)
	warnMFAWithoutFactor(r, cfg.Users)
	known := map[string]bool{}
	for _, u := range cfg.Users {
		known[u.Username] = true
	}
	for _, a := range p.allowed {
		if !known[a.name] {
			r.warn("%s: no local user %q is defined", a.path, a.name)
		}
	}
	if p.template.file != "" {
		if data, ok := readFile(r, p.template, 1<<20); ok {
			// Parsed once, here; the server executes it.
			tmpl, err := template.New("login").Parse(string(data))
			if err != nil {
				r.fail(p.template.path, p.template.at, "%v", err)
			} else {
				cfg.LoginPage.Template = tmpl
			}
		}
	}
	loadTLS(r, &p.tls, cfg.TLS)
	loadState(cfg, p, r)
	if len(r.problems) > 0 {
		return
	}
	if p.ephemeral {
		ephemeralKey(r, t)
	}
	signingKey(r, t, p)
}

// files lists, once each, the files the document names: those load reads
// and the trusted issuers' key sets.
func (p *plan) files(issuers []TrustedIssuer) []string {
	var out []string
	add := func(f string) {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, ks := range p.keys {
		add(ks.src.file)
	}
	add(p.htpasswd.file)
	add(p.groups.file)
	add(p.template.file)
	for _, ti := range issuers {
		add(ti.JWKSFile)
	}
	for _, ps := range p.providerSecrets {
		add(ps.src.file)
	}
	for _, t := range p.totp {
		add(t.src.file)
	}
	// The routes' upstream TLS files apply with the config. The listener's
	// certificate files are watched by the listener itself, and the rest
	// of tls only a restart applies.
	for _, u := range p.tls.upstream {
		add(u.ca.file)
		add(u.cert.file)
		add(u.key.file)
	}
	add(p.redisPassword.file)
	return out
}

// signingKey picks the key new tokens are signed with, or checks the one
// the document named.
func signingKey(r *report, t *Token, p *plan) {
	if t.SigningKey == "" {
		if i := slices.IndexFunc(t.Keys, keys.Key.CanSign); i >= 0 {
			t.SigningKey = t.Keys[i].ID
		}
	}
	i := slices.IndexFunc(t.Keys, func(k keys.Key) bool { return k.ID == t.SigningKey })
	switch {
	case len(t.Keys) == 0:
	case t.SigningKey == "":
		r.fail("token.keys", p.tokenAt, "no key can sign: at least one needs its private key")
	case i < 0:
		r.fail("token.signing_key", p.signingAt, "names no key in token.keys")
	case !t.Keys[i].CanSign():
		r.fail("token.signing_key", p.signingAt, "names a public key, which cannot sign")
	}
}

// ephemeralKey makes a key that lives as long as the process.
func ephemeralKey(r *report, t *Token) {
	t.SecretGenerated = true
	if t.Algorithm == keys.HS256 {
		s := make([]byte, MinSecretBytes)
		rand.Read(s) // never fails: it crashes the program first (Go 1.24)
		t.Keys = []keys.Key{keys.Secret(keys.SecretID(s), s)}
		r.warn("no token.secret configured: using a random secret, so tokens will not survive a restart and replicas will not accept each other's tokens")
		return
	}
	k, _, _, err := keys.Generate("ephemeral", t.Algorithm)
	if err != nil {
		r.fail("token.keys", position{}, "generate a key: %v", err)
		return
	}
	t.Keys = []keys.Key{k}
	r.warn("no token.keys configured: using a random %s key pair, so tokens will not survive a restart; make one with: authgate keygen --alg %s", t.Algorithm, t.Algorithm)
}

// loadHtpasswd adds the users of the htpasswd file, if one is named, and
// reports whether it was read and holds no entry at all.
func loadHtpasswd(r *report, p *plan) (empty bool) {
	if p.htpasswd.file == "" {
		return false
	}
	data, ok := readFile(r, p.htpasswd, 16<<20)
	if !ok {
		return false
	}
	entries, problems := parseHtpasswd(data)
	for _, msg := range problems {
		r.fail(p.htpasswd.path, p.htpasswd.at, "%s", msg)
	}
	for _, e := range entries {
		// Names from the file may be quoted: they are not document values.
		d := definition{path: p.htpasswd.path, at: p.htpasswd.at, line: e.line, user: e.username}
		p.accounts.add(r, d, d, e.username, e.hash, User{Source: "htpasswd"})
	}
	return len(entries) == 0 && len(problems) == 0
}

// loadGroups reads an Apache AuthGroupFile ("group: user user ...") and
// adds each group to its members.
func loadGroups(r *report, ref fileRef, users []User) {
	data, ok := readFile(r, ref, 16<<20)
	if !ok {
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
			r.fail(ref.path, ref.at, "line %d: want group: user user ...", n+1)
			continue
		}
		for _, m := range strings.Fields(members) {
			if i, ok := index[m]; ok {
				if !slices.Contains(users[i].Groups, group) {
					users[i].Groups = append(users[i].Groups, group)
				}
			} else {
				r.warn("%s: line %d: no user %q", ref.path, n+1, m)
			}
		}
	}
}

// readFile reads the file ref names, reporting a failure at ref's key.
func readFile(r *report, ref fileRef, limit int64) ([]byte, bool) {
	data, err := readLimited(ref.file, limit)
	if err != nil {
		r.fail(ref.path, ref.at, "%s", fileProblem(err))
		return nil, false
	}
	return data, true
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

// readLimited reads a whole file, refusing one larger than limit. The
// read itself is bounded: a device or pipe (/dev/zero) reports no size.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, &tooLargeError{path: path, limit: limit}
	}
	return data, nil
}
