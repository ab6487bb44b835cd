package server

import (
	"net/http"
	"strconv"

	"github.com/authgate/authgate/internal/session"
	"github.com/authgate/authgate/internal/tlsconf"
)

// newCerts builds the public listener's certificates from the config;
// nil when it serves plain HTTP.
func (g *Gateway) newCerts() (*tlsconf.Certs, error) {
	t := g.cfg.TLS
	if t == nil {
		return nil, nil
	}
	o := tlsconf.Options{
		CertFile: t.CertFile, KeyFile: t.KeyFile, MinVersion: t.MinVersion,
		Logger: g.logger, OnLoad: g.metrics.TLSCertificateLoaded,
	}
	if a := t.ACME; a != nil {
		o.ACME = &tlsconf.ACME{Domains: a.Domains, Email: a.Email, DirectoryURL: a.DirectoryURL, Roots: a.Roots, StorageDir: a.StorageDir}
	}
	if t.ClientAuth != nil {
		o.ClientCAs = t.ClientAuth.CAs
	}
	return tlsconf.New(o)
}

// ReloadCertificates re-reads the TLS certificate files of the running
// listener now, as SIGHUP does; a pair that cannot be used leaves the one
// in service, and the error says why. It does nothing before Run or
// without tls.
func (l *Live) ReloadCertificates() error {
	if c := l.certs.Load(); c != nil {
		return c.Reload()
	}
	return nil
}

// hstsHeader is the Strict-Transport-Security value for HTTPS answers
// (RFC 6797); nil when the config serves plain HTTP or asks for none. No
// includeSubDomains: the gateway cannot know that every subdomain serves
// HTTPS.
func hstsHeader(maxAgeSeconds int64) []string {
	if maxAgeSeconds <= 0 {
		return nil
	}
	return []string{"max-age=" + strconv.FormatInt(maxAgeSeconds, 10)}
}

// misdirected reports whether r came on a TLS connection made for
// another host than its Host names, where routes are chosen by host: the
// certificate the client checked is not the one for the host it asks for
// (a connection reused across hosts, or domain fronting). RFC 9110 §15.5.20
// answers 421, and the client retries on a connection of its own.
func (g *Gateway) misdirected(r *http.Request) bool {
	return g.hostRoutes && r.TLS != nil && r.TLS.ServerName != "" && !session.SameHost(r.TLS.ServerName, r.Host)
}
