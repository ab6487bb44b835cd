package tlsconf

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testcert"
)

// loads records what OnLoad was told.
type loads struct {
	mu  sync.Mutex
	all []string
}

func (l *loads) record(name string, notAfter time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	state := "ok"
	if !ok {
		state = "failed"
		if !notAfter.IsZero() {
			state = "failed with an expiry"
		}
	}
	l.all = append(l.all, name+" "+state)
}

func (l *loads) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, ", ")
}

// serve serves HTTPS with c's TLS config on loopback until the test ends
// and returns its address.
func serve(t *testing.T, c *Certs) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	}), TLSConfig: c.TLSConfig(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// handshake connects to addr trusting roots and returns the serial of the
// certificate served.
func handshake(addr string, cfg *tls.Config) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// TestCertificateFilesRotateUnderHandshakes: the certificate files are
// replaced again and again, by rename and by rewriting in place, while
// clients keep connecting; every handshake succeeds, and each new pair is
// served once its writes have settled.
func TestCertificateFilesRotateUnderHandshakes(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "rotation CA")
	certFile, keyFile := ca.Server(t).Write(t, dir, "serving")
	var got loads
	c, err := New(Options{CertFile: certFile, KeyFile: keyFile, OnLoad: got.record, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(t.Context())
	defer c.Close()
	addr := serve(t, c)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}

	const clients, rotations = 4, 6
	var handshakes, failures atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := handshake(addr, client); err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
				handshakes.Add(1)
			}
		})
	}
	for i := range rotations {
		next := ca.Server(t)
		if i%2 == 0 {
			// Written beside and renamed over, the way certbot's and
			// Kubernetes' atomic updates look.
			tmpCert, tmpKey := next.Write(t, dir, "next")
			if err := os.Rename(tmpKey, keyFile); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmpCert, certFile); err != nil {
				t.Fatal(err)
			}
		} else {
			// Rewritten in place, one file after the other: for a moment
			// the pair does not match.
			testcert.WriteFile(t, certFile, next.CertPEM)
			testcert.WriteFile(t, keyFile, next.KeyPEM)
		}
		want := next.Cert.SerialNumber.String()
		deadline := time.Now().Add(5 * time.Second)
		for {
			serial, err := handshake(addr, client)
			if err == nil && serial == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rotation %d: serial %s (%v) after 5s, want %s; loads: %s", i, serial, err, want, &got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d handshakes failed during %d rotations; first: %v", n, handshakes.Load(), rotations, firstFailure.Load())
	}
	t.Logf("%d handshakes, 0 failed, across %d rotations; loads: %s", handshakes.Load(), rotations, &got)
}

// TestBrokenPairKeepsTheOneInService: a key that does not match the new
// certificate (or a file that is gone) is refused, the certificate in
// service stays and the failure is reported; a good pair then replaces it.
func TestBrokenPairKeepsTheOneInService(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "broken-pair CA")
	first := ca.Server(t)
	certFile, keyFile := first.Write(t, dir, "serving")
	var got loads
	c, err := New(Options{CertFile: certFile, KeyFile: keyFile, OnLoad: got.record})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}

	testcert.WriteFile(t, keyFile, ca.Server(t).KeyPEM)
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Errorf("Reload with a mismatched key = %v, want a mismatch", err)
	}
	os.Remove(certFile)
	if err := c.Reload(); err == nil {
		t.Errorf("Reload with the certificate gone = nil, want an error")
	}
	if serial, err := handshake(addr, client); err != nil || serial != first.Cert.SerialNumber.String() {
		t.Errorf("after broken reloads, handshake = %s, %v; want the first certificate", serial, err)
	}
	second := ca.Server(t)
	second.Write(t, dir, "serving")
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload with a good pair = %v", err)
	}
	if serial, err := handshake(addr, client); err != nil || serial != second.Cert.SerialNumber.String() {
		t.Errorf("after a good reload, handshake = %s, %v; want the second certificate", serial, err)
	}
	if want := "file ok, file failed, file failed, file ok"; got.String() != want {
		t.Errorf("OnLoad saw %q, want %q", got.String(), want)
	}
	if _, err := New(Options{CertFile: certFile, KeyFile: filepath.Join(dir, "absent.key")}); err == nil {
		t.Errorf("New with a missing key = nil, want an error: nothing to serve")
	}
}

// TestOnlyModernTLS: TLS 1.0 and 1.1, suites without forward secrecy or
// AEAD, and TLS 1.2 where 1.3 is the minimum are refused; HTTP/2 and
// HTTP/1.1 are both offered.
func TestOnlyModernTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "versions CA")
	certFile, keyFile := ca.Server(t).Write(t, dir, "serving")
	serveMin := func(minVersion uint16) string {
		c, err := New(Options{CertFile: certFile, KeyFile: keyFile, MinVersion: minVersion})
		if err != nil {
			t.Fatal(err)
		}
		return serve(t, c)
	}
	addr12, addr13 := serveMin(0), serveMin(tls.VersionTLS13)
	base := func() *tls.Config { return &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"} }
	tests := []struct {
		name   string
		addr   string
		client func(*tls.Config)
		ok     bool
	}{
		{"tls-1.0", addr12, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }, false},
		{"tls-1.1", addr12, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }, false},
		{"rsa-key-exchange", addr12, func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA}
		}, false},
		{"cbc-only", addr12, func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
		}, false},
		{"3des", addr12, func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}
		}, false},
		{"tls-1.2-aead", addr12, func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		}, true},
		{"tls-1.3", addr12, func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }, true},
		{"tls-1.2-where-1.3-is-the-minimum", addr13, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.client(cfg)
			_, err := handshake(tt.addr, cfg)
			if (err == nil) != tt.ok {
				t.Errorf("handshake = %v, want success %v", err, tt.ok)
			}
		})
	}
	for _, proto := range []string{"h2", "http/1.1"} {
		cfg := base()
		cfg.NextProtos = []string{proto}
		conn, err := tls.Dial("tcp", addr12, cfg)
		if err != nil {
			t.Fatalf("ALPN %s: %v", proto, err)
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != proto {
			t.Errorf("ALPN offering %s negotiated %q", proto, got)
		}
		conn.Close()
	}
}

// TestRedirectToHTTPS: the plain listener sends every request to the same
// host, path and query on https, keeping the method (308).
func TestRedirectToHTTPS(t *testing.T) {
	tests := []struct {
		port, method, host, target string
		status                     int
		location                   string
	}{
		{"8443", "GET", "auth.example.com", "/app/x?a=1&b=2", 308, "https://auth.example.com:8443/app/x?a=1&b=2"},
		{"443", "GET", "auth.example.com:80", "/", 308, "https://auth.example.com/"},
		{"443", "POST", "auth.example.com", "/login", 308, "https://auth.example.com/login"},
		{"8443", "GET", "[::1]:8080", "/p", 308, "https://[::1]:8443/p"},
		{"443", "GET", "[::1]", "/p", 308, "https://[::1]/p"},
		{"443", "GET", "", "/p", 400, ""},
	}
	for _, tt := range tests {
		c := &Certs{}
		r := httptest.NewRequest(tt.method, "http://placeholder"+tt.target, nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		c.HTTPHandler(tt.port).ServeHTTP(w, r)
		if w.Code != tt.status || w.Header().Get("Location") != tt.location {
			t.Errorf("%s %s (Host %q, https port %s) = %d %q, want %d %q", tt.method, tt.target, tt.host, tt.port, w.Code, w.Header().Get("Location"), tt.status, tt.location)
		}
	}
}

// TestClientCertificatesAreVerifiedIfSent: with client CAs, a client may
// connect without a certificate; one from another CA, or expired, is
// refused in the handshake; a good one is verified.
func TestClientCertificatesAreVerifiedIfSent(t *testing.T) {
	dir := t.TempDir()
	ca, clients, other := testcert.NewCA(t, "server CA"), testcert.NewCA(t, "client CA"), testcert.NewCA(t, "other CA")
	certFile, keyFile := ca.Server(t).Write(t, dir, "serving")
	c, err := New(Options{CertFile: certFile, KeyFile: keyFile, ClientCAs: clients.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c)
	tests := []struct {
		name string
		cert *testcert.Leaf
		ok   bool
	}{
		{"none", nil, true},
		{"good", clients.Issue(t, testcert.Options{CommonName: "robot", Client: true}), true},
		{"other-ca", other.Issue(t, testcert.Options{CommonName: "robot", Client: true}), false},
		{"expired", clients.Issue(t, testcert.Options{CommonName: "robot", Client: true, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
			if tt.cert != nil {
				// Sent whatever CAs the server names: a Go client would
				// otherwise keep back a certificate of another CA.
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tt.cert.TLS, nil }
			}
			// The server judges the client's certificate after the client
			// has finished its side, so the refusal shows on the first read.
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
			resp, err := client.Get("https://" + addr + "/")
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("GET with client certificate %s = %v, want success %v", tt.name, err, tt.ok)
			}
		})
	}
}
