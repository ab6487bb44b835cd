package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/authgate/authgate/internal/config"
)

// TestCertificateUser: a certificate names a user only with exactly one
// name where username_from looks, and one the names rule accepts.
func TestCertificateUser(t *testing.T) {
	tests := []struct {
		name string
		cert x509.Certificate
		from string
		want string
	}{
		{"subject-cn", x509.Certificate{Subject: pkix.Name{CommonName: "robot"}}, config.UsernameFromSubjectCN, "robot"},
		{"empty-cn", x509.Certificate{}, config.UsernameFromSubjectCN, ""},
		{"cn-with-a-comma", x509.Certificate{Subject: pkix.Name{CommonName: "a,b"}}, config.UsernameFromSubjectCN, ""},
		{"one-email", x509.Certificate{EmailAddresses: []string{"ops@example.com"}}, config.UsernameFromSANEmail, "ops@example.com"},
		{"two-emails", x509.Certificate{EmailAddresses: []string{"a@example.com", "b@example.com"}}, config.UsernameFromSANEmail, ""},
		{"one-dns-name", x509.Certificate{DNSNames: []string{"build.example.com"}, Subject: pkix.Name{CommonName: "x"}}, config.UsernameFromSANDNS, "build.example.com"},
		{"no-dns-name", x509.Certificate{Subject: pkix.Name{CommonName: "x"}}, config.UsernameFromSANDNS, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := certificateUser(&tt.cert, tt.from); got != tt.want {
				t.Errorf("certificateUser(%s) = %q, want %q", tt.from, got, tt.want)
			}
		})
	}
}
