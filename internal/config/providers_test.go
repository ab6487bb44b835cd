package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestProviders: a provider alone is a way to sign in, its defaults are
// filled in, and its secret file is read and listed for reloads.
func TestProviders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "corp.secret"), []byte("s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `providers:
  - id: corp
    name: Corporate sign-in
    issuer: https://idp.example.com
    client_id: authgate
    client_secret_file: corp.secret
    groups_claim: groups
    allowed_groups: [staff]
    allowed_email_domains: ["@Example.COM"]
  - id: public-app
    issuer: http://127.0.0.1:5556/dex
    client_id: pub
    scopes: [openid, email]
    map_to_local: true
`
	cfg, err := Parse([]byte(doc), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 2 {
		t.Fatalf("got %d providers", len(cfg.Providers))
	}
	corp, pub := cfg.Providers[0], cfg.Providers[1]
	if corp.ClientSecret != "s3cr3t-from-file" || corp.Name != "Corporate sign-in" || corp.UsernameClaim != "preferred_username" ||
		!slices.Equal(corp.Scopes, []string{"openid", "profile", "email"}) || !slices.Equal(corp.AllowedEmailDomains, []string{"example.com"}) ||
		!slices.Equal(corp.AllowedGroups, []string{"staff"}) || corp.MapToLocal {
		t.Errorf("corp = %+v", corp)
	}
	if pub.ClientSecret != "" || pub.Name != "public-app" || !pub.MapToLocal || !slices.Equal(pub.Scopes, []string{"openid", "email"}) {
		t.Errorf("public-app = %+v", pub)
	}
	if !slices.Contains(cfg.Files, filepath.Join(dir, "corp.secret")) {
		t.Errorf("Files = %q, want the client_secret_file", cfg.Files)
	}
}

// TestProviderProblems: each mistake is reported at its key, all at once,
// and no secret is echoed.
func TestProviderProblems(t *testing.T) {
	doc := `users:
  - {username: alice, password_hash: "` + hash10 + `"}
providers:
  - id: Corp
    issuer: http://idp.example.com
    client_secret: "hunter2-secret-value"
    client_secret_file: x
  - id: ok
    issuer: https://idp.example.com?x=1
    client_id: a
    scopes: [profile]
    allowed_groups: [staff]
  - id: ok
    issuer: https://idp.example.com
    client_id: a
    client_secret: ""
    allowed_email_domains: ["not a domain"]
  - {id: x, client_id: a}
paths:
  logout: /login/out
`
	_, err := Parse([]byte(doc), t.TempDir(), env(nil))
	if err == nil {
		t.Fatal("want problems")
	}
	var got []string
	for _, p := range problemsOf(t, err) {
		got = append(got, p.Path)
	}
	want := []string{
		"providers[0].id", "providers[0].issuer", "providers[0].client_id", "providers[0].client_secret_file",
		"providers[1].issuer", "providers[1].scopes", "providers[1].groups_claim",
		"providers[2].id", "providers[2].client_secret", "providers[2].allowed_email_domains[0]",
		"providers[3].issuer", "paths.logout",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems at\n%q\nwant\n%q\n(%v)", got, want, err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a secret is echoed: %v", err)
	}
}

// TestProviderIsASignInMethod: a config whose only way in is a provider
// is accepted; an empty htpasswd file beside a provider is not fatal.
func TestProviderIsASignInMethod(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.htpasswd"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `htpasswd_file: empty.htpasswd
providers:
  - {id: corp, issuer: "https://idp.example.com", client_id: a}
`
	if _, err := Parse([]byte(doc), dir, env(nil)); err != nil {
		t.Fatal(err)
	}
}

// TestProviderExamplesLoad: every snippet in examples/providers is a valid
// config, with its variables set.
func TestProviderExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("../../examples/providers/*.yaml")
	if len(files) < 4 {
		t.Fatalf("examples: %q", files)
	}
	anything := func(string) (string, bool) { return "from-the-environment", true }
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(data, t.TempDir(), anything)
		if err != nil || len(cfg.Providers) != 1 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
