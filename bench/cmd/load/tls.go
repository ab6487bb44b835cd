//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// writeCertificate writes a self-signed ECDSA P-256 certificate for
// 127.0.0.1 and its key into dir, for the TLS scenarios (wrk does not
// verify); ECDSA is what ACME gives browsers that support it.
func writeCertificate(dir string) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "authgate load test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		log.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	return certFile, keyFile
}

// withTLS writes a copy of the config at path, named name, that serves
// HTTPS with certFile and keyFile.
func withTLS(path, name, certFile, keyFile string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	b = append(b, []byte("tls:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+"\n")...)
	out := filepath.Join(filepath.Dir(path), name)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		log.Fatal(err)
	}
	return out
}
