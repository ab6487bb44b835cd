// Package tlsconf is the public listener's TLS: the certificate, from
// files it re-reads when they change or from an ACME CA (RFC 8555) that
// it renews with; the tls.Config that hands that certificate out to every
// handshake; and the handler of the plain-HTTP listener, which sends
// browsers to https and answers ACME HTTP-01 challenges.
//
// A certificate is swapped under the running listener: handshakes in
// progress finish with the one they started with, connections stay open,
// and a replacement that cannot be used leaves the one in service.
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/authgate/authgate/internal/watch"
)

// Options configure the certificates. Set CertFile and KeyFile, or ACME.
type Options struct {
	// CertFile and KeyFile name a PEM certificate chain and its private
	// key.
	CertFile, KeyFile string
	// ACME, when not nil, obtains the certificates from an ACME CA.
	ACME *ACME
	// MinVersion is the lowest TLS version accepted; zero means TLS 1.2.
	MinVersion uint16
	// ClientCAs, when not nil, makes the listener ask for a client
	// certificate and verify one that is sent against these CAs; a
	// client may still send none.
	ClientCAs *x509.CertPool
	// Logger receives what happens to the certificates; nil discards it.
	Logger *slog.Logger
	// OnLoad, if set, is told of every attempt to put a certificate in
	// service: its name ("file", or the ACME domain), and when it expires
	// or, if the attempt failed (the previous one stays), a zero time.
	OnLoad func(name string, notAfter time.Time, ok bool)
	// PollInterval is how often the files are looked at for a change;
	// with ACME, how often each domain's certificate is looked at for a
	// renewal (which the ACME client makes by itself). Zero means a
	// second for files and a minute for ACME.
	PollInterval time.Duration
}

// ACME says where certificates come from and where they are kept.
type ACME struct {
	// Domains are the names certificates are obtained for; a handshake
	// for any other name is refused.
	Domains []string
	// Email is the account's contact; empty for none.
	Email string
	// DirectoryURL is the CA's directory.
	DirectoryURL string
	// Roots verify the CA; nil means the system's roots.
	Roots *x509.CertPool
	// StorageDir keeps the account key and the certificates, so that a
	// restart, or another replica sharing the folder, reuses them.
	StorageDir string
}

// FileName is the name OnLoad reports a certificate from files under.
const FileName = "file"

// Certs hands out the current certificate to handshakes and keeps it
// current.
type Certs struct {
	opts   Options
	logger *slog.Logger
	// current is the certificate from files; nil with ACME.
	current atomic.Pointer[tls.Certificate]
	// manager obtains and renews ACME certificates; nil with files.
	manager *autocert.Manager

	// mu serialises loading the files: the watch loop and Reload.
	mu sync.Mutex
	// loaded is what the files looked like when they were last read.
	loaded watch.Stamps

	stop context.CancelFunc
	done sync.WaitGroup
}

// New loads the certificate files, or prepares the ACME client (it asks
// the CA for nothing until Start) and makes its storage folder.
func New(o Options) (*Certs, error) {
	c := &Certs{opts: o, logger: o.Logger}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if o.ACME == nil {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("tls: a certificate file and a key file, or ACME, are required")
		}
		if err := c.Reload(); err != nil {
			return nil, err
		}
		return c, nil
	}
	a := o.ACME
	// The folder holds the ACME account's private key and the
	// certificates' keys: only the gateway's user may read it.
	if err := os.MkdirAll(a.StorageDir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: acme storage: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: a.Roots, MinVersion: tls.VersionTLS12}
	c.manager = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.StorageDir),
		HostPolicy: autocert.HostWhitelist(a.Domains...),
		Email:      a.Email,
		Client: &acme.Client{
			DirectoryURL: a.DirectoryURL,
			HTTPClient:   &http.Client{Transport: transport, Timeout: time.Minute},
			UserAgent:    "authgate",
		},
	}
	return c, nil
}

// cipherSuites are the TLS 1.2 suites offered: forward secret and
// authenticated encryption only (Mozilla's "intermediate" list less the
// DHE suites Go does not implement). TLS 1.3's are all of that kind and
// not configurable.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig is the public listener's TLS configuration: HTTP/2 and
// HTTP/1.1 by ALPN, the current certificate for every handshake.
func (c *Certs) TLSConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:     c.opts.MinVersion,
		CipherSuites:   cipherSuites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: c.getCertificate,
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if c.manager != nil {
		// TLS-ALPN-01 (RFC 8737): the CA's validation handshake asks for
		// this protocol and gets the challenge certificate.
		cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto)
		cfg.GetCertificate = c.manager.GetCertificate
	}
	if c.opts.ClientCAs != nil {
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = c.opts.ClientCAs
	}
	return cfg
}

func (c *Certs) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// HTTPHandler is the plain-HTTP listener's handler: ACME HTTP-01
// challenges are answered, and every other request is redirected (308,
// which keeps the method and body) to the same URL on https, on
// httpsPort unless that is 443.
func (c *Certs) HTTPHandler(httpsPort string) http.Handler {
	redirect := redirectToHTTPS(httpsPort)
	if c.manager == nil {
		return redirect
	}
	challenges := c.manager.HTTPHandler(redirect)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The ACME client checks Host against the domains as it is, but a
		// validator may name the port (Pebble does): auth.example.com:80
		// is auth.example.com.
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = host
		}
		challenges.ServeHTTP(w, r)
	})
}

func redirectToHTTPS(port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" || strings.ContainsAny(host, "/\\@ ") {
			http.Error(w, "Bad Request: a Host is required", http.StatusBadRequest)
			return
		}
		if port != "443" {
			host = net.JoinHostPort(host, port)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// Start keeps the certificates current until ctx ends or Close is
// called: it watches the files, or obtains a certificate for each ACME
// domain at once (retrying while the CA cannot issue) and then watches
// for the renewals the ACME client makes. With ACME it must run once the
// listeners serve: the CA's validation connects to them.
func (c *Certs) Start(ctx context.Context) {
	ctx, c.stop = context.WithCancel(ctx)
	if c.manager == nil {
		c.done.Go(func() { c.watchFiles(ctx) })
		return
	}
	for _, d := range c.opts.ACME.Domains {
		c.done.Go(func() { c.keepACME(ctx, d) })
	}
}

// Close stops what Start began and waits for it.
func (c *Certs) Close() {
	if c.stop != nil {
		c.stop()
	}
	c.done.Wait()
}

// Reload reads the certificate files now (SIGHUP does). When they cannot
// be used, the certificate in service stays and the error says why.
// With ACME it does nothing: the ACME client renews by itself.
func (c *Certs) Reload() error {
	if c.manager != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Stamped before reading: a write during the read shows as a change
	// at the next look instead of being taken for what was read.
	c.loaded = watch.Take(c.files())
	cert, err := tls.LoadX509KeyPair(c.opts.CertFile, c.opts.KeyFile)
	if err != nil {
		err = fmt.Errorf("tls: load the certificate files: %w", err)
		c.report(FileName, nil, err)
		return err
	}
	c.current.Store(&cert)
	c.report(FileName, cert.Leaf, nil)
	return nil
}

// report logs and tells OnLoad what loading a certificate came to.
func (c *Certs) report(name string, leaf *x509.Certificate, err error) {
	if err != nil {
		msg := "TLS certificate cannot be used; the one in service stays"
		if c.manager != nil {
			msg = "TLS certificate cannot be obtained from the ACME CA; retrying"
		}
		c.logger.Warn(msg, "certificate", name, "error", err)
		if c.opts.OnLoad != nil {
			c.opts.OnLoad(name, time.Time{}, false)
		}
		return
	}
	c.logger.Info("TLS certificate in service", "certificate", name, "subject", leaf.Subject.CommonName,
		"names", strings.Join(leaf.DNSNames, ","), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	if c.opts.OnLoad != nil {
		c.opts.OnLoad(name, leaf.NotAfter, true)
	}
}

// watchFiles reloads the files once a change to them has settled (seen
// by package watch, as the config's files are): a change is applied when
// the next look finds nothing changed since, so a certificate and key
// written one after the other are read as a pair.
func (c *Certs) watchFiles(ctx context.Context) {
	tick := time.NewTicker(c.interval(time.Second))
	defer tick.Stop()
	var seen watch.Stamps
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := watch.Take(c.files())
		c.mu.Lock()
		changed := !now.Same(c.loaded)
		c.mu.Unlock()
		switch {
		case !changed:
			seen = nil
		case seen == nil || !now.Same(seen):
			seen = now // wait for the writes to settle
		default:
			seen = nil
			c.logger.Info("TLS certificate files changed; reloading")
			_ = c.Reload() // reported
		}
	}
}

// keepACME obtains domain's certificate, retrying with a growing pause
// while the CA cannot issue, then looks at it every poll interval to
// report the renewals the ACME client makes in the background.
func (c *Certs) keepACME(ctx context.Context, domain string) {
	pause := time.Second
	var last time.Time
	for {
		cert, err := c.manager.GetCertificate(helloFor(domain))
		switch {
		case err != nil:
			c.report(domain, nil, err)
		case !cert.Leaf.NotAfter.Equal(last):
			last = cert.Leaf.NotAfter
			c.report(domain, cert.Leaf, nil)
		}
		wait := c.interval(time.Minute)
		if err != nil {
			wait, pause = pause, min(2*pause, 10*time.Minute)
		} else {
			pause = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// helloFor is the handshake of a client that asks for domain and
// supports ECDSA, for which the ACME client obtains (or finds in store)
// an ECDSA certificate, the one modern clients get.
func helloFor(domain string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:        domain,
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.X25519, tls.CurveP256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
	}
}

func (c *Certs) files() []string { return []string{c.opts.CertFile, c.opts.KeyFile} }

func (c *Certs) interval(def time.Duration) time.Duration {
	if c.opts.PollInterval > 0 {
		return c.opts.PollInterval
	}
	return def
}
