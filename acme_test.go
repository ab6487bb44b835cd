package main

// End-to-end tests of ACME against Let's Encrypt's test CA, Pebble, built
// from testdata/pebble (a module of its own) and run on loopback with its
// DNS companion answering 127.0.0.1 for every name, so that the CA's
// validation really connects to the gateway: TLS-ALPN-01 on its HTTPS
// listener, HTTP-01 on its tls.redirect_http listener.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testcert"
)

// pebbleBinaries builds pebble and pebble-challtestsrv into a folder of
// the test's and returns it; the Go build cache makes it quick after the
// first time. It skips (fails in CI) when they cannot be built, as when
// the module proxy cannot be reached.
func pebbleBinaries(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err == nil {
		dir := t.TempDir()
		cmd := exec.Command(goCmd, "build", "-o", dir+string(filepath.Separator),
			"github.com/letsencrypt/pebble/v2/cmd/pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv")
		cmd.Dir = filepath.Join("testdata", "pebble")
		out, berr := cmd.CombinedOutput()
		if berr == nil {
			return dir
		}
		err = fmt.Errorf("%v\n%s", berr, out)
	}
	if os.Getenv("AUTHGATE_REQUIRE_INTEGRATION") != "" {
		t.Fatalf("cannot build Pebble (testdata/pebble): %v", err)
	}
	t.Skipf("cannot build Pebble (testdata/pebble), skipping the ACME tests: %v", err)
	return ""
}

// pebbleCA is a Pebble ACME server on loopback.
type pebbleCA struct {
	directory string
	// apiCA signs the certificate of Pebble's own API, for tls.acme.ca_file.
	apiCA *testcert.CA
	// roots verify the certificates Pebble issues.
	roots *x509.CertPool
}

// startPebble starts Pebble, which validates HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort of whatever its DNS server says a name is
// (127.0.0.1), and issues certificates valid for validity.
func startPebble(t *testing.T, bin string, httpPort, tlsPort string, validity time.Duration) *pebbleCA {
	t.Helper()
	dir := t.TempDir()
	p := &pebbleCA{apiCA: testcert.NewCA(t, "Pebble API CA")}
	certFile, keyFile := p.apiCA.Server(t).Write(t, dir, "pebble")
	api, management, dns := freePort(t), freePort(t), freePort(t)
	hp, tp := atoi(t, httpPort), atoi(t, tlsPort)
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": api, "managementListenAddress": management,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": hp, "tlsPort": tp, "ocspResponderURL": "", "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": int(validity.Seconds())}},
	}})
	cfgFile := filepath.Join(dir, "pebble.json")
	testcert.WriteFile(t, cfgFile, cfg)

	startProcess(t, dns, filepath.Join(dir, "challtestsrv.log"), nil, filepath.Join(bin, "pebble-challtestsrv"),
		"-dnsserver", dns, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-management", freePort(t))
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"}
	startProcess(t, api, filepath.Join(dir, "pebble.log"), env, filepath.Join(bin, "pebble"), "-config", cfgFile, "-dnsserver", dns)
	p.directory = "https://" + api + "/dir"

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.apiCA.Pool()}}, Timeout: 10 * time.Second}
	// startProcess waited for the API listener; the management one comes
	// up beside it, a moment later on a busy machine.
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = c.Get("https://" + management + "/roots/0"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	root, _ := io.ReadAll(resp.Body)
	p.roots = x509.NewCertPool()
	if !p.roots.AppendCertsFromPEM(root) {
		t.Fatalf("Pebble's root: %s", root)
	}
	return p
}

// startProcess runs a program until the test ends and waits until addr
// accepts connections.
func startProcess(t *testing.T, addr, logFile string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		out.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("%s:\n%s", filepath.Base(name), log)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited before listening:\n%s", name, log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not listen on %s", name, addr)
}

func atoi(t *testing.T, port string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(port, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// acmeGateway starts a gateway on listen that gets its certificate for
// auth.test from p, keeping it in storage; redirect, when set, is its
// plain listener.
func acmeGateway(t *testing.T, p *pebbleCA, listen, redirect, storage string) *gateway {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "pebble-api-ca.pem")
	testcert.WriteFile(t, caFile, p.apiCA.PEM)
	doc := `listen: ` + listen + `
metrics_listen: ` + freePort(t) + `
token:
  secret: "` + testSecret + `"
users:
  - username: alice
    password_hash: "` + aliceHash + `"
routes:
  - path: /
    upstream: http://127.0.0.1:9
tls:
  acme:
    domains: [auth.test]
    email: ops@example.com
    directory_url: ` + p.directory + `
    ca_file: ` + caFile + `
    storage_dir: ` + storage + `
`
	if redirect != "" {
		doc += "  redirect_http: " + redirect + "\n"
	}
	path := filepath.Join(dir, "gateway.yaml")
	testcert.WriteFile(t, path, []byte(doc))
	return startGatewayAt(t, path, nil)
}

// served connects to the gateway as a client asking for auth.test and
// trusting p's roots, waiting up to a minute for a certificate to be in
// service, and returns it.
func served(t *testing.T, g *gateway, p *pebbleCA) *x509.Certificate {
	t.Helper()
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", g.addrs.Gateway.String(),
			&tls.Config{ServerName: "auth.test", RootCAs: p.roots, NextProtos: []string{"h2"}})
		if err != nil {
			last = err
			continue
		}
		defer conn.Close()
		if proto := conn.ConnectionState().NegotiatedProtocol; proto != "h2" {
			t.Errorf("ALPN with an ACME certificate = %q, want h2", proto)
		}
		return conn.ConnectionState().PeerCertificates[0]
	}
	t.Fatalf("no certificate from Pebble served within a minute: %v\n%s", last, g.logs)
	return nil
}

// TestACMEWithPebble: certificates obtained at start through each
// challenge, kept so that a restart asks for none, and renewed before
// they expire, all against a real ACME server whose validation reaches
// the gateway.
func TestACMEWithPebble(t *testing.T) {
	bin := pebbleBinaries(t)

	t.Run("tls-alpn-01-then-restart-reuses-storage", func(t *testing.T) {
		listen := freePort(t)
		p := startPebble(t, bin, portOf(deadAddrMain(t)), portOf(listen), 90*24*time.Hour)
		storage := filepath.Join(t.TempDir(), "acme")
		g := acmeGateway(t, p, listen, "", storage)
		first := served(t, g, p)
		// Logged once the certificate is stored, which may follow the
		// first handshake that uses it.
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(g.logs.String(), "TLS certificate in service"); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("the certificate obtained was not logged:\n%s", g.logs)
				break
			}
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			m := scrapeMetrics(t, g)
			if strings.Contains(m, `authgate_tls_certificate_last_reload_successful{certificate="auth.test"} 1`) &&
				strings.Contains(m, fmt.Sprintf(`authgate_tls_certificate_expiry_timestamp_seconds{certificate="auth.test"} %g`, float64(first.NotAfter.Unix()))) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics do not show the certificate for auth.test:\n%s", m)
			}
		}
		if info, err := os.Stat(storage); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("storage_dir = %v, %v; want mode 0700", info.Mode(), err)
		}
		if err := g.stop(t); err != nil {
			t.Fatal(err)
		}
		again := acmeGateway(t, p, listen, "", storage)
		if second := served(t, again, p); second.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Errorf("after a restart over the same storage_dir, serial %s, want %s: the certificate was obtained again", second.SerialNumber, first.SerialNumber)
		}
	})

	t.Run("http-01-on-the-redirect-listener", func(t *testing.T) {
		// TLS-ALPN-01 is tried first and fails (Pebble validates it on a
		// port nothing listens on); HTTP-01 then passes on redirect_http.
		redirect := freePort(t)
		p := startPebble(t, bin, portOf(redirect), portOf(deadAddrMain(t)), 90*24*time.Hour)
		g := acmeGateway(t, p, freePort(t), redirect, filepath.Join(t.TempDir(), "acme"))
		if cert := served(t, g, p); cert.DNSNames[0] != "auth.test" {
			t.Errorf("certificate for %v, want auth.test", cert.DNSNames)
		}
	})

	t.Run("renewed-before-expiry", func(t *testing.T) {
		// A certificate valid for 15s is renewed in its last third, as
		// one valid for 90 days is in its last 30.
		listen := freePort(t)
		p := startPebble(t, bin, portOf(deadAddrMain(t)), portOf(listen), 15*time.Second)
		g := acmeGateway(t, p, listen, "", filepath.Join(t.TempDir(), "acme"))
		first := served(t, g, p)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			cert := served(t, g, p)
			if cert.SerialNumber.Cmp(first.SerialNumber) != 0 {
				if !cert.NotAfter.After(first.NotAfter) {
					t.Errorf("renewed certificate expires %s, not after the first's %s", cert.NotAfter, first.NotAfter)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("certificate not renewed within 30s of a 15s validity\n%s", g.logs)
			}
		}
	})
}

// scrapeMetrics returns what g's metrics listener serves.
func scrapeMetrics(t *testing.T, g *gateway) string {
	t.Helper()
	resp, err := http.Get("http://" + g.addrs.Metrics.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// deadAddrMain is a loopback address nothing listens on.
func deadAddrMain(t *testing.T) string { return freePort(t) }
