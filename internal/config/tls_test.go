package config

import (
	"crypto/tls"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testcert"
)

// tlsFiles writes a CA, a serving pair, a second pair's key and a file
// that holds no PEM into dir: ca.pem, good.crt/.key, other.key, junk.
func tlsFiles(t *testing.T, dir string) {
	t.Helper()
	ca := testcert.NewCA(t, "test CA")
	ca.Server(t).Write(t, dir, "good")
	other := ca.Server(t)
	testcert.WriteFile(t, filepath.Join(dir, "other.key"), other.KeyPEM)
	testcert.WriteFile(t, filepath.Join(dir, "ca.pem"), ca.PEM)
	testcert.WriteFile(t, filepath.Join(dir, "junk"), []byte("not pem\n"))
	old := ca.Issue(t, testcert.Options{DNSNames: []string{"old.test"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	old.Write(t, dir, "expired")
}

// TestTLSSettings: each tls key, and routes[].tls, yields the typed value
// the listener and the proxy use; files are resolved against the config's
// folder and loaded.
func TestTLSSettings(t *testing.T) {
	dir := t.TempDir()
	tlsFiles(t, dir)
	tests := []struct {
		name, doc string
		check     func(t *testing.T, c *Config)
	}{
		{"no-tls-section-serves-plain-http", "listen: 127.0.0.1:8080\n", func(t *testing.T, c *Config) {
			if c.TLS != nil {
				t.Errorf("TLS = %+v, want nil", c.TLS)
			}
		}},
		{"files-with-defaults", "tls:\n  cert_file: good.crt\n  key_file: good.key\n", func(t *testing.T, c *Config) {
			want := TLS{CertFile: filepath.Join(dir, "good.crt"), KeyFile: filepath.Join(dir, "good.key"), MinVersion: tls.VersionTLS12, HSTSMaxAge: DefaultHSTSMaxAge}
			if *c.TLS != want {
				t.Errorf("TLS = %+v, want %+v", *c.TLS, want)
			}
			if len(c.Files) != 0 {
				t.Errorf("Files = %q, want none: the listener watches its certificate files itself", c.Files)
			}
		}},
		{"tls-1.3-unquoted-and-redirect", "tls:\n  cert_file: good.crt\n  key_file: good.key\n  min_version: 1.3\n  redirect_http: 127.0.0.1:8081\n  hsts_max_age: 0s\n", func(t *testing.T, c *Config) {
			if c.TLS.MinVersion != tls.VersionTLS13 || c.TLS.RedirectHTTP != "127.0.0.1:8081" || c.TLS.HSTSMaxAge != 0 {
				t.Errorf("TLS = %+v, want TLS 1.3, redirect on 127.0.0.1:8081, no HSTS", *c.TLS)
			}
		}},
		{"acme", "tls:\n  acme:\n    domains: [Auth.Example.COM., b.example.com]\n    email: ops@example.com\n    storage_dir: acme\n    ca_file: ca.pem\n", func(t *testing.T, c *Config) {
			a := c.TLS.ACME
			if a == nil || strings.Join(a.Domains, ",") != "auth.example.com,b.example.com" || a.Email != "ops@example.com" ||
				a.DirectoryURL != DefaultACMEDirectory || a.StorageDir != filepath.Join(dir, "acme") || a.Roots == nil {
				t.Errorf("ACME = %+v, want the domains lower-cased, the default directory, storage in the config's folder and roots loaded", a)
			}
			if c.TLS.CertFile != "" {
				t.Errorf("CertFile = %q with acme", c.TLS.CertFile)
			}
		}},
		{"client-auth", "tls:\n  cert_file: good.crt\n  key_file: good.key\n  client_auth:\n    ca_file: ca.pem\n", func(t *testing.T, c *Config) {
			if ca := c.TLS.ClientAuth; ca == nil || ca.CAs == nil || ca.UsernameFrom != UsernameFromSubjectCN {
				t.Errorf("ClientAuth = %+v, want the CA loaded and the username from the subject's CN", ca)
			}
		}},
		{"upstream-tls", "routes:\n  - path: /\n    upstream: https://10.0.0.1:8443\n    tls:\n      ca_file: ca.pem\n      server_name: App.Internal\n      client_cert_file: good.crt\n      client_key_file: good.key\n", func(t *testing.T, c *Config) {
			u := c.Routes[0].TLS
			if u == nil || u.RootCAs == nil || u.ServerName != "app.internal" || u.ClientCertificate == nil || u.ClientCertificate.Leaf == nil {
				t.Errorf("routes[0].TLS = %+v, want the CA, the server name and the client pair loaded", u)
			}
			if want := []string{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "good.crt"), filepath.Join(dir, "good.key")}; !slices.Equal(c.Files, want) {
				t.Errorf("Files = %q, want %q: a reload applies them", c.Files, want)
			}
		}},
		{"upstream-without-tls-section", "routes:\n  - path: /\n    upstream: https://10.0.0.1:8443\n", func(t *testing.T, c *Config) {
			if c.Routes[0].TLS != nil {
				t.Errorf("routes[0].TLS = %+v, want nil: the system's roots", c.Routes[0].TLS)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(withUser(tt.doc), dir, env(nil))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.doc, err)
			}
			tt.check(t, c)
		})
	}
}

// TestTLSProblems: every tls mistake is reported at its key and line,
// together, and none quotes a file's content or name.
func TestTLSProblems(t *testing.T) {
	dir := t.TempDir()
	tlsFiles(t, dir)
	tests := []struct{ doc, want string }{
		{"tls: {}\n", "1:6: tls: set cert_file and key_file, or acme"},
		{"tls:\n  cert_file: good.crt\n", "2:3: tls.key_file: is required with cert_file"},
		{"tls:\n  key_file: good.key\n", "2:3: tls.cert_file: is required with key_file"},
		{"tls:\n  cert_file: good.crt\n  key_file: good.key\n  acme:\n    domains: [a.example]\n    storage_dir: x\n", "2:3: tls: set cert_file and key_file, or acme, not both"},
		{"tls:\n  cert_file: good.crt\n  key_file: good.key\n  min_version: \"1.1\"\n", `4:16: tls.min_version: must be "1.2" or "1.3"`},
		{"tls:\n  cert_file: absent.crt\n  key_file: good.key\n", "2:14: tls.cert_file: cannot read the file: no such file or directory"},
		{"tls:\n  cert_file: junk\n  key_file: good.key\n", "2:14: tls.cert_file: the certificate file holds no PEM certificate"},
		{"tls:\n  cert_file: good.crt\n  key_file: good.crt\n", "3:13: tls.key_file: the key file holds no PEM private key"},
		{"tls:\n  cert_file: good.crt\n  key_file: other.key\n", "3:13: tls.key_file: the certificate and private key are not a usable pair: private key does not match public key"},
		{"tls:\n  cert_file: good.crt\n  key_file: good.key\n  redirect_http: 127.0.0.1:8080\nlisten: 127.0.0.1:8080\n", "4:18: tls.redirect_http: must differ from listen"},
		{"tls:\n  cert_file: good.crt\n  key_file: good.key\n  redirect_http: nope\n", "4:18: tls.redirect_http: must be host:port"},
		{"tls:\n  acme:\n    storage_dir: x\n", "3:5: tls.acme.domains: is required"},
		{"tls:\n  acme:\n    domains: ['*.example.com']\n    storage_dir: x\n", "3:15: tls.acme.domains[0]: a wildcard needs the DNS-01 challenge"},
		{"tls:\n  acme:\n    domains: [10.0.0.1]\n    storage_dir: x\n", "3:15: tls.acme.domains[0]: must be a DNS name, not an IP address"},
		{"tls:\n  acme:\n    domains: [a_b.example]\n    storage_dir: x\n", "3:15: tls.acme.domains[0]: must be a DNS name such as auth.example.com"},
		{"tls:\n  acme:\n    domains: [a.example, A.example]\n    storage_dir: x\n", "3:26: tls.acme.domains[1]: is listed twice"},
		{"tls:\n  acme:\n    domains: [a.example]\n", "3:5: tls.acme.storage_dir: is required"},
		{"tls:\n  acme:\n    domains: [a.example]\n    storage_dir: x\n    directory_url: http://ca.example/dir\n", "5:20: tls.acme.directory_url: must be an absolute https URL"},
		{"tls:\n  acme:\n    domains: [a.example]\n    storage_dir: x\n    email: ops\n", "5:12: tls.acme.email: must be an email address"},
		{"tls:\n  acme:\n    domains: [a.example]\n    storage_dir: x\n    ca_file: junk\n", "5:14: tls.acme.ca_file: holds no PEM certificate"},
		{"tls:\n  cert_file: good.crt\n  key_file: good.key\n  client_auth:\n    username_from: uid\n", "5:20: tls.client_auth.username_from: must be subject_cn, san_email or san_dns"},
		{"tls:\n  cert_file: good.crt\n  key_file: good.key\n  client_auth:\n    username_from: san_email\n", "5:5: tls.client_auth.ca_file: is required"},
		{"routes:\n  - path: /\n    upstream: http://10.0.0.1\n    tls:\n      ca_file: ca.pem\n", "5:7: routes[0].tls: applies to an https upstream, and this one is plain http"},
		{"routes:\n  - path: /\n    upstream: https://10.0.0.1\n    tls:\n      client_cert_file: good.crt\n", "5:7: routes[0].tls.client_key_file: is required with client_cert_file"},
		{"routes:\n  - path: /\n    upstream: https://10.0.0.1\n    tls:\n      ca_file: absent.pem\n", "5:16: routes[0].tls.ca_file: cannot read the file"},
		{"routes:\n  - path: /\n    upstream: https://10.0.0.1\n    tls:\n      server_name: app:8443\n", "5:20: routes[0].tls.server_name: must be a host name or IP address"},
		{"routes:\n  - path: /\n    upstream: https://10.0.0.1\n    tls:\n      insecure_skip_verify: true\n", "5:7: routes[0].tls.insecure_skip_verify: unknown key"},
	}
	for _, tt := range tests {
		_, err := Parse(withUser(tt.doc), dir, env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.doc, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "BEGIN")) {
			t.Errorf("Parse(%q) = %v: quotes a file", tt.doc, err)
		}
	}
}

// TestTLSWarnings: a certificate clients will refuse for its dates is
// said at start-up.
func TestTLSWarnings(t *testing.T) {
	dir := t.TempDir()
	tlsFiles(t, dir)
	c, err := Parse(withUser("tls:\n  cert_file: expired.crt\n  key_file: expired.key\n"), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Warnings, "\n"); !strings.Contains(got, "tls.cert_file: the certificate expired on") {
		t.Errorf("warnings = %q, want the expired certificate named", got)
	}
}
