package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultACMEDirectory is Let's Encrypt's production directory, used when
// tls.acme.directory_url is left out.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// DefaultHSTSMaxAge is the max-age of Strict-Transport-Security when
// tls.hsts_max_age is left out: one year, what the HSTS preload list and
// Mozilla's server-side TLS guidelines ask for.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// Client-certificate sign-in: where the username is read from.
const (
	UsernameFromSubjectCN = "subject_cn"
	UsernameFromSANEmail  = "san_email"
	UsernameFromSANDNS    = "san_dns"
)

// maxPEMBytes bounds a certificate, key or CA file.
const maxPEMBytes = 1 << 20

// tlsPlan is what validation found the tls sections name, for load.
type tlsPlan struct {
	// cert and key are tls.cert_file and tls.key_file.
	cert, key fileRef
	// acmeCA and clientCA are tls.acme.ca_file and tls.client_auth.ca_file.
	acmeCA, clientCA fileRef
	upstream         []upstreamTLSPlan
}

// upstreamTLSPlan is one route's tls files, loaded into dst.
type upstreamTLSPlan struct {
	dst           *UpstreamTLS
	ca, cert, key fileRef
}

// tls checks the tls section; nil when the document has none.
func (v *validator) tls(ft *fileTLS, cfg *Config) *TLS {
	if ft.At.Line == 0 {
		return nil
	}
	t := &TLS{HSTSMaxAge: v.duration("tls.hsts_max_age", &ft.HSTSMaxAge, DefaultHSTSMaxAge)}
	switch s := v.textOr("tls.min_version", &ft.MinVersion, "1.2"); s {
	case "1.2":
		t.MinVersion = tls.VersionTLS12
	case "1.3":
		t.MinVersion = tls.VersionTLS13
	default:
		// RFC 8996 deprecates TLS 1.0 and 1.1.
		v.fail("tls.min_version", at(&ft.MinVersion), `must be "1.2" or "1.3": TLS 1.0 and 1.1 are deprecated (RFC 8996)`)
	}
	cert, _ := v.text("tls.cert_file", &ft.CertFile)
	key, _ := v.text("tls.key_file", &ft.KeyFile)
	acme := ft.ACME.At.Line != 0
	switch {
	case acme && (cert != "" || key != ""):
		v.fail("tls", ft.At, "set cert_file and key_file, or acme, not both")
	case acme:
	case cert == "" && key == "":
		v.fail("tls", ft.At, "set cert_file and key_file, or acme")
	case cert == "":
		v.fail("tls.cert_file", where(&ft.CertFile, ft.At), "is required with key_file")
	case key == "":
		v.fail("tls.key_file", where(&ft.KeyFile, ft.At), "is required with cert_file")
	default:
		v.plan.tls.cert = v.fileRef("tls.cert_file", &ft.CertFile, cert)
		v.plan.tls.key = v.fileRef("tls.key_file", &ft.KeyFile, key)
		t.CertFile, t.KeyFile = v.plan.tls.cert.file, v.plan.tls.key.file
	}
	if acme {
		t.ACME = v.acme(&ft.ACME)
	}
	if s, _ := v.text("tls.redirect_http", &ft.RedirectHTTP); s != "" {
		t.RedirectHTTP = v.addr("tls.redirect_http", &ft.RedirectHTTP, s)
		for _, other := range []struct{ key, addr string }{{"listen", cfg.Listen}, {"metrics_listen", cfg.MetricsListen}, {"echo_listen", cfg.EchoListen}} {
			if other.addr != "" && other.addr == t.RedirectHTTP && !strings.HasSuffix(other.addr, ":0") {
				v.fail("tls.redirect_http", at(&ft.RedirectHTTP), "must differ from %s", other.key)
			}
		}
	}
	if ft.ClientAuth.At.Line != 0 {
		t.ClientAuth = v.clientAuth(&ft.ClientAuth)
	}
	return t
}

func (v *validator) acme(fa *fileACME) *ACME {
	a := &ACME{
		DirectoryURL: v.textOr("tls.acme.directory_url", &fa.DirectoryURL, DefaultACMEDirectory),
		Email:        v.textOr("tls.acme.email", &fa.Email, ""),
	}
	v.each("tls.acme.domains", fa.Domains, func(path string, at position, d string) {
		name := strings.TrimSuffix(strings.ToLower(d), ".")
		switch {
		case strings.HasPrefix(name, "*."):
			v.fail(path, at, "a wildcard needs the DNS-01 challenge, which authgate does not answer: list each name")
		case isIP(name):
			v.fail(path, at, "must be a DNS name, not an IP address")
		case !dnsName(name) || !strings.Contains(name, "."):
			v.fail(path, at, "must be a DNS name such as auth.example.com")
		case slices.Contains(a.Domains, name):
			v.fail(path, at, "is listed twice")
		}
		a.Domains = append(a.Domains, name)
	})
	if len(fa.Domains) == 0 {
		v.fail("tls.acme.domains", fa.At, "is required: the names to obtain a certificate for, as in [auth.example.com]")
	}
	if a.Email != "" && (!printable(a.Email) || strings.Count(a.Email, "@") != 1 || strings.ContainsAny(a.Email, ", ;\"<>")) {
		v.fail("tls.acme.email", at(&fa.Email), "must be an email address")
	}
	if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		v.fail("tls.acme.directory_url", at(&fa.DirectoryURL), "must be an absolute https URL, as in %s", DefaultACMEDirectory)
	}
	if dir, _ := v.text("tls.acme.storage_dir", &fa.StorageDir); dir != "" {
		a.StorageDir = v.resolve(dir)
	} else {
		v.fail("tls.acme.storage_dir", where(&fa.StorageDir, fa.At), "is required: the certificates and the account key are kept there, so that a restart (or another replica sharing it) does not ask for new ones")
	}
	if name, _ := v.text("tls.acme.ca_file", &fa.CAFile); name != "" {
		v.plan.tls.acmeCA = v.fileRef("tls.acme.ca_file", &fa.CAFile, name)
	}
	return a
}

func (v *validator) clientAuth(fc *fileClientAuth) *ClientAuth {
	c := &ClientAuth{UsernameFrom: v.textOr("tls.client_auth.username_from", &fc.UsernameFrom, UsernameFromSubjectCN)}
	switch c.UsernameFrom {
	case UsernameFromSubjectCN, UsernameFromSANEmail, UsernameFromSANDNS:
	default:
		v.fail("tls.client_auth.username_from", at(&fc.UsernameFrom), "must be %s, %s or %s", UsernameFromSubjectCN, UsernameFromSANEmail, UsernameFromSANDNS)
	}
	if name, _ := v.text("tls.client_auth.ca_file", &fc.CAFile); name != "" {
		v.plan.tls.clientCA = v.fileRef("tls.client_auth.ca_file", &fc.CAFile, name)
	} else {
		v.fail("tls.client_auth.ca_file", where(&fc.CAFile, fc.At), "is required: the CAs whose client certificates may sign in")
	}
	return c
}

// upstreamTLS checks routes[i].tls for route r, whose prefix is p.
func (v *validator) upstreamTLS(p string, ft *fileUpstreamTLS, r *Route) {
	if ft.At.Line == 0 {
		return
	}
	p += ".tls"
	u := &UpstreamTLS{}
	if r.Upstream != nil && r.Upstream.Scheme != "https" {
		v.fail(p, ft.At, "applies to an https upstream, and this one is plain http")
	}
	if s, _ := v.text(p+".server_name", &ft.ServerName); s != "" {
		u.ServerName = strings.TrimSuffix(strings.ToLower(s), ".")
		if !dnsName(u.ServerName) && !isIP(u.ServerName) {
			v.fail(p+".server_name", at(&ft.ServerName), "must be a host name or IP address the upstream's certificate names, without a port")
		}
	}
	plan := upstreamTLSPlan{dst: u}
	if name, _ := v.text(p+".ca_file", &ft.CAFile); name != "" {
		plan.ca = v.fileRef(p+".ca_file", &ft.CAFile, name)
	}
	cert, _ := v.text(p+".client_cert_file", &ft.ClientCertFile)
	key, _ := v.text(p+".client_key_file", &ft.ClientKeyFile)
	switch {
	case cert == "" && key == "":
	case cert == "":
		v.fail(p+".client_cert_file", where(&ft.ClientCertFile, ft.At), "is required with client_key_file")
	case key == "":
		v.fail(p+".client_key_file", where(&ft.ClientKeyFile, ft.At), "is required with client_cert_file")
	default:
		plan.cert = v.fileRef(p+".client_cert_file", &ft.ClientCertFile, cert)
		plan.key = v.fileRef(p+".client_key_file", &ft.ClientKeyFile, key)
	}
	v.plan.tls.upstream = append(v.plan.tls.upstream, plan)
	r.TLS = u
}

// loadTLS reads the certificates, keys and CAs the tls sections name.
func loadTLS(r *report, p *tlsPlan, t *TLS) {
	if p.cert.file != "" {
		if c, ok := loadPair(r, p.cert, p.key); ok {
			checkServing(r, p.cert, c.Leaf)
		}
	}
	if p.acmeCA.file != "" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if loadCAs(r, p.acmeCA, roots) && t != nil && t.ACME != nil {
			t.ACME.Roots = roots
		}
	}
	if p.clientCA.file != "" {
		cas := x509.NewCertPool()
		if loadCAs(r, p.clientCA, cas) && t != nil && t.ClientAuth != nil {
			t.ClientAuth.CAs = cas
		}
	}
	for _, u := range p.upstream {
		if u.ca.file != "" {
			cas := x509.NewCertPool()
			if loadCAs(r, u.ca, cas) {
				u.dst.RootCAs = cas
			}
		}
		if u.cert.file != "" {
			if c, ok := loadPair(r, u.cert, u.key); ok {
				u.dst.ClientCertificate = c
			}
		}
	}
}

// keyPair parses a PEM certificate chain and private key, or says what is
// wrong with them in words that quote neither.
func keyPair(certPEM, keyPEM []byte) (*tls.Certificate, string) {
	if !hasPEM(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return nil, "the certificate file holds no PEM certificate"
	}
	if !hasPEM(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) {
		return nil, "the key file holds no PEM private key"
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// X509KeyPair's errors are fixed sentences (a mismatch, a key it
		// cannot parse); none quotes the key.
		return nil, "the certificate and private key are not a usable pair: " + strings.TrimPrefix(err.Error(), "tls: ")
	}
	return &c, ""
}

// loadPair reads a certificate chain and its key, reporting a problem
// with either at the key that named it.
func loadPair(r *report, cert, key fileRef) (*tls.Certificate, bool) {
	certPEM, ok := readFile(r, cert, maxPEMBytes)
	keyPEM, ok2 := readFile(r, key, maxPEMBytes)
	if !ok || !ok2 {
		return nil, false
	}
	c, problem := keyPair(certPEM, keyPEM)
	switch {
	case problem == "":
		return c, true
	case strings.HasPrefix(problem, "the certificate file"):
		r.fail(cert.path, cert.at, "%s", problem)
	default:
		r.fail(key.path, key.at, "%s", problem)
	}
	return nil, false
}

// checkServing warns about a serving certificate that browsers will
// refuse for its dates.
func checkServing(r *report, ref fileRef, leaf *x509.Certificate) {
	if leaf == nil {
		return
	}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		r.warn("%s: the certificate expired on %s: clients will refuse it", ref.path, leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		r.warn("%s: the certificate is not valid before %s: clients will refuse it until then", ref.path, leaf.NotBefore.UTC().Format(time.RFC3339))
	case leaf.NotAfter.Sub(now) < 14*24*time.Hour:
		r.warn("%s: the certificate expires on %s", ref.path, leaf.NotAfter.UTC().Format(time.DateOnly))
	}
}

// loadCAs adds the PEM certificates of the file ref names to pool.
func loadCAs(r *report, ref fileRef, pool *x509.CertPool) bool {
	data, ok := readFile(r, ref, maxPEMBytes)
	if !ok {
		return false
	}
	if !pool.AppendCertsFromPEM(data) {
		r.fail(ref.path, ref.at, "holds no PEM certificate")
		return false
	}
	return true
}

// hasPEM reports whether data holds a PEM block whose type passes want.
func hasPEM(data []byte, want func(string) bool) bool {
	for len(bytes.TrimSpace(data)) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if want(b.Type) {
			return true
		}
	}
	return false
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// dnsName reports whether s is a DNS host name: dot-separated labels of
// letters, digits and inner hyphens, each 1 to 63 bytes, 253 in all.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 || isIP(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}
