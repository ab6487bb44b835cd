package server

import (
	"crypto/x509"
	"log/slog"
	"net/http"

	"github.com/authgate/authgate/internal/config"
	"github.com/authgate/authgate/internal/names"
)

// clientCertificate is the client certificate r's TLS connection showed
// and the listener verified against tls.client_auth.ca_file; nil when
// certificates do not sign in here or none was shown.
func (g *Gateway) clientCertificate(r *http.Request) *x509.Certificate {
	if g.cfg.TLS == nil || g.cfg.TLS.ClientAuth == nil || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// certificateUser is the username a verified client certificate names
// where tls.client_auth.username_from says: exactly one such name, and
// one the names rule accepts; "" otherwise. A certificate naming two
// e-mail addresses names nobody: which one would be a guess.
func certificateUser(c *x509.Certificate, from string) string {
	var candidates []string
	switch from {
	case config.UsernameFromSubjectCN:
		candidates = []string{c.Subject.CommonName}
	case config.UsernameFromSANEmail:
		candidates = c.EmailAddresses
	case config.UsernameFromSANDNS:
		candidates = c.DNSNames
	}
	if len(candidates) != 1 || names.Check(candidates[0]) != nil {
		return ""
	}
	return candidates[0]
}

// certificateAccount is the local account a verified client certificate
// signs in as: the certificate says who, the account (users or
// htpasswd_file) what they may do, so groups, disabled and revocation
// apply as to a password login. ok is false when r showed no verified
// certificate.
func (g *Gateway) certificateAccount(r *http.Request) (username string, ok bool) {
	c := g.clientCertificate(r)
	if c == nil {
		return "", false
	}
	return certificateUser(c, g.cfg.TLS.ClientAuth.UsernameFrom), true
}

// certificateLogin signs in with the client certificate of reply's
// request, as a password login does, with amr "mtls" (RFC 8176: mutual
// TLS); rd is where a browser goes next.
func (g *Gateway) certificateLogin(reply loginReply, rd string) {
	r := reply.r
	username, _ := g.certificateAccount(r)
	a, found := g.users.Lookup(username)
	if username == "" || !found || a.Disabled {
		g.loginFailed(reply, "invalid_certificate", http.StatusUnauthorized, "invalid_credentials",
			"Your certificate does not name a user who may sign in here.")
		return
	}
	requestInfoFrom(r.Context()).user = username
	g.metrics.Login("success")
	g.logger.LogAttrs(r.Context(), slog.LevelInfo, "login succeeded", slog.String("user", username),
		slog.Bool("browser", reply.browser), slog.String("method", "certificate"))
	if err := g.beginSession(reply.w, r, a, []string{"mtls"}, reply.browser, g.redirects.Safe(rd, g.trust.Host(r))); err != nil {
		g.logger.LogAttrs(r.Context(), slog.LevelError, "begin session", slog.String("error", err.Error()))
		g.loginFailed(reply, "error", http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.")
	}
}
