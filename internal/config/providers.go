package config

import (
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Provider is an OpenID Connect provider people may sign in with: the
// login page shows a button for it, and a person it vouches for gets an
// authgate session as after a password login.
type Provider struct {
	// ID names the provider in URLs ({paths.login}/{id}), metrics and the
	// sessions it began: lower-case letters, digits and '-'.
	ID string
	// Name is the button's label; it defaults to ID.
	Name string
	// Issuer is the provider's issuer URL: discovery is fetched from
	// Issuer + "/.well-known/openid-configuration" and the ID token's iss
	// must equal it exactly.
	Issuer   string
	ClientID string
	// ClientSecret is from client_secret or client_secret_file; empty for
	// a public client, which relies on PKCE alone.
	ClientSecret string
	// Scopes are requested at the provider; they always include openid.
	Scopes []string
	// UsernameClaim names the claim that becomes the username (the
	// identity header); default preferred_username.
	UsernameClaim string
	// GroupsClaim names the claim listing the user's groups; empty for
	// none.
	GroupsClaim string
	// AllowedGroups, when set, admit only members of one of them.
	AllowedGroups []string
	// AllowedEmailDomains, when set, admit only users whose verified email
	// (email_verified true) is in one of them; lower case.
	AllowedEmailDomains []string
	// MapToLocal lets a person the provider names like a local user sign
	// in as that local user. False (the default) refuses them: an outside
	// identity never acts as a local one unless the operator says so.
	MapToLocal bool
}

// LogValue keeps the client secret out of logs.
func (p Provider) LogValue() slog.Value { return slog.StringValue(p.ID) }

type fileProvider struct {
	At                  position `yaml:",inline"`
	ID                  text     `yaml:"id"`
	Name                text     `yaml:"name"`
	Issuer              text     `yaml:"issuer"`
	ClientID            text     `yaml:"client_id"`
	ClientSecret        text     `yaml:"client_secret"`
	ClientSecretFile    text     `yaml:"client_secret_file"`
	Scopes              []text   `yaml:"scopes"`
	UsernameClaim       text     `yaml:"username_claim"`
	GroupsClaim         text     `yaml:"groups_claim"`
	AllowedGroups       []text   `yaml:"allowed_groups"`
	AllowedEmailDomains []text   `yaml:"allowed_email_domains"`
	MapToLocal          flag     `yaml:"map_to_local"`
}

// providerSecret is a provider's client_secret_file, for load to read into
// the provider at index.
type providerSecret struct {
	index int
	src   fileRef
}

// providers checks the providers list. Secrets in files are left to the
// plan; nothing is fetched: discovery is the gateway's business once it
// runs, so that `authgate check` works offline.
func (v *validator) providers(list []*fileProvider, paths Paths, fp *filePaths, parent position) []Provider {
	if len(list) > 0 {
		// Sign-in through a provider is served under {paths.login}/.
		for _, other := range []struct {
			key, path string
			n         *text
		}{
			{"refresh", paths.Refresh, &fp.Refresh}, {"logout", paths.Logout, &fp.Logout}, {"verify", paths.Verify, &fp.Verify},
			{"healthz", paths.Healthz, &fp.Healthz}, {"readyz", paths.Readyz, &fp.Readyz},
		} {
			if strings.HasPrefix(other.path, paths.Login+"/") {
				v.fail("paths."+other.key, where(other.n, where(&fp.Login, parent)), "must not be under paths.login when providers are configured: %s/{id} is the sign-in with provider {id}", paths.Login)
			}
		}
	}
	var out []Provider
	ids := map[string]string{}
	for i, fp := range list {
		if fp == nil {
			continue
		}
		path := indexPath("providers", i)
		p := Provider{
			ID:            v.textOr(path+".id", &fp.ID, ""),
			Issuer:        v.textOr(path+".issuer", &fp.Issuer, ""),
			ClientID:      v.textOr(path+".client_id", &fp.ClientID, ""),
			UsernameClaim: v.textOr(path+".username_claim", &fp.UsernameClaim, "preferred_username"),
			GroupsClaim:   v.textOr(path+".groups_claim", &fp.GroupsClaim, ""),
			MapToLocal:    v.flag(path+".map_to_local", &fp.MapToLocal),
		}
		p.Name = v.textOr(path+".name", &fp.Name, p.ID)
		switch prev, dup := ids[p.ID]; {
		case !validProviderID(p.ID):
			v.fail(path+".id", where(&fp.ID, fp.At), "must be 1 to 32 lower-case letters, digits or '-': it appears in URLs")
		case slices.Contains(authMethods, p.ID):
			v.fail(path+".id", at(&fp.ID), "is a sign-in method's name (RFC 8176), which sessions' amr would confuse with it: pick another")
		case dup:
			v.fail(path+".id", at(&fp.ID), "is already used by %s", prev)
		default:
			ids[p.ID] = path + ".id"
		}
		if !printable(p.Name) || len(p.Name) > 100 {
			v.fail(path+".name", at(&fp.Name), "must be printable text of at most 100 bytes")
		}
		v.providerIssuer(path, fp, p.Issuer)
		if p.ClientID == "" || !printable(p.ClientID) {
			v.fail(path+".client_id", where(&fp.ClientID, fp.At), "is required")
		}
		secret, secretSet := v.text(path+".client_secret", &fp.ClientSecret)
		file, fileSet := v.text(path+".client_secret_file", &fp.ClientSecretFile)
		switch {
		case secretSet && fileSet:
			v.fail(path+".client_secret_file", at(&fp.ClientSecretFile), "set client_secret or client_secret_file, not both")
		case secretSet && strings.TrimSpace(secret) == "":
			// An unset variable must not silently make a public client.
			v.fail(path+".client_secret", at(&fp.ClientSecret), "is empty or only whitespace: leave it out for a public client (PKCE alone)")
		case secretSet:
			p.ClientSecret = secret
		case fileSet && strings.TrimSpace(file) == "":
			v.fail(path+".client_secret_file", at(&fp.ClientSecretFile), "is empty or only whitespace: name the file that holds the secret")
		case fileSet:
			v.plan.providerSecrets = append(v.plan.providerSecrets, providerSecret{index: len(out), src: v.fileRef(path+".client_secret_file", &fp.ClientSecretFile, file)})
		}
		v.each(path+".scopes", fp.Scopes, func(sp string, at position, s string) {
			if !plainToken(s, 64) && !strings.ContainsAny(s, ":/") {
				v.fail(sp, at, "must be a scope name such as openid or email")
			}
			p.Scopes = append(p.Scopes, s)
		})
		switch {
		case len(fp.Scopes) == 0:
			p.Scopes = []string{"openid", "profile", "email"}
		case !slices.Contains(p.Scopes, "openid"):
			v.fail(path+".scopes", at(&fp.Scopes[0]), "must include openid")
		}
		for _, c := range []struct {
			key   string
			n     *text
			value string
		}{{"username_claim", &fp.UsernameClaim, p.UsernameClaim}, {"groups_claim", &fp.GroupsClaim, p.GroupsClaim}} {
			if c.value != "" && !plainToken(c.value, 64) && !strings.ContainsAny(c.value, ":/") {
				v.fail(path+"."+c.key, at(c.n), "must be a claim name")
			}
		}
		v.each(path+".allowed_groups", fp.AllowedGroups, func(gp string, at position, g string) {
			if msg := usernameProblem(g); msg != "" {
				v.fail(gp, at, "%s", msg)
			}
			p.AllowedGroups = append(p.AllowedGroups, g)
		})
		if len(p.AllowedGroups) > 0 && p.GroupsClaim == "" {
			v.fail(path+".groups_claim", where(&fp.GroupsClaim, fp.At), "is required with allowed_groups: it names the claim the groups are read from")
		}
		v.each(path+".allowed_email_domains", fp.AllowedEmailDomains, func(dp string, at position, d string) {
			d = strings.ToLower(strings.TrimPrefix(d, "@"))
			if h, ok := normalizeHost(d); !ok || h != d || strings.Contains(d, ":") {
				v.fail(dp, at, "must be a domain name such as example.com")
			}
			p.AllowedEmailDomains = append(p.AllowedEmailDomains, d)
		})
		out = append(out, p)
	}
	return out
}

// providerIssuer checks a provider's issuer: an https URL (OpenID
// Connect's rule), or http on a loopback host, for tests and local
// development.
func (v *validator) providerIssuer(path string, fp *fileProvider, issuer string) {
	if issuer == "" {
		v.fail(path+".issuer", where(&fp.Issuer, fp.At), "is required")
		return
	}
	u, err := url.Parse(issuer)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !printable(issuer):
		v.fail(path+".issuer", at(&fp.Issuer), "must be an https URL without query or fragment, such as https://idp.example.com")
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	case u.Scheme != "https":
		v.fail(path+".issuer", at(&fp.Issuer), "must be an https URL (http only on a loopback address)")
	}
}

// authMethods are RFC 8176's amr values: a session's amr names its
// provider's id, which must not read as one of them.
var authMethods = []string{"face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop", "pwd", "rba", "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia"}

// validProviderID is the rule for a provider's id, which appears in URL
// paths, metric labels and sessions' amr.
func validProviderID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
