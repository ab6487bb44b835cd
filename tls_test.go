package main

// End-to-end tests of HTTPS: run() serving tls with certificate files made
// in process, real TLS clients on loopback.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/echo"
	"github.com/authgate/authgate/internal/testcert"
)

// tlsSite is a gateway serving HTTPS with certificates from a test CA.
type tlsSite struct {
	*gateway
	ca                *testcert.CA
	dir               string
	certFile, keyFile string
	configPath        string
}

// startTLS starts a gateway serving HTTPS for localhost from files, in
// front of an echo upstream, with extra appended to its config (which
// may use the placeholders UPSTREAM and DIR).
func startTLS(t *testing.T, extra string) *tlsSite {
	t.Helper()
	s := &tlsSite{ca: testcert.NewCA(t, "authgate test CA"), dir: t.TempDir()}
	s.certFile, s.keyFile = s.ca.Server(t, "auth.test", "app.test").Write(t, s.dir, "serving")
	upstream := httptest.NewServer(echo.Handler())
	t.Cleanup(upstream.Close)
	doc := `listen: ` + freePort(t) + `
metrics_listen: ` + freePort(t) + `
token:
  secret: "` + testSecret + `"
users:
  - username: alice
    password_hash: "` + aliceHash + `"
tls:
  cert_file: serving.crt
  key_file: serving.key
` + strings.NewReplacer("UPSTREAM", upstream.URL, "DIR", s.dir).Replace(extra)
	if !strings.Contains(extra, "routes:") {
		doc += "routes:\n  - path: /\n    upstream: " + upstream.URL + "\n"
	}
	s.configPath = filepath.Join(s.dir, "gateway.yaml")
	testcert.WriteFile(t, s.configPath, []byte(doc))
	s.gateway = startGatewayAt(t, s.configPath, nil)
	return s
}

// client is an HTTPS client trusting the test CA; http1 keeps it to
// HTTP/1.1, otherwise it negotiates HTTP/2.
func (s *tlsSite) client(http1 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()}, ForceAttemptHTTP2: !http1}
	if http1 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (s *tlsSite) url(path string) string { return "https://" + s.addrs.Gateway.String() + path }

// scrape returns the gateway's metrics.
func (s *tlsSite) scrape(t *testing.T) string { return scrapeMetrics(t, s.gateway) }

// TestHTTPSServesHTTP2AndHTTP1WithHSTS: with tls set, the public
// listener speaks HTTPS, HTTP/2 by ALPN and HTTP/1.1; every answer
// carries Strict-Transport-Security; the health probe follows the
// listener onto HTTPS; the certificate's expiry is a metric.
func TestHTTPSServesHTTP2AndHTTP1WithHSTS(t *testing.T) {
	s := startTLS(t, "")
	for _, tt := range []struct {
		name  string
		http1 bool
		proto string
	}{{"http2", false, "HTTP/2.0"}, {"http1.1", true, "HTTP/1.1"}} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/healthz", "/app/"} {
				resp, err := s.client(tt.http1).Get(s.url(path))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.Proto != tt.proto || resp.TLS == nil {
					t.Errorf("GET %s = %s, want %s over TLS", path, resp.Proto, tt.proto)
				}
				if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
					t.Errorf("GET %s: Strict-Transport-Security = %q, want max-age=31536000", path, got)
				}
			}
		})
	}
	if resp, err := http.Get("http://" + s.addrs.Gateway.String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS listener = %d, want net/http's 400", resp.StatusCode)
		}
	}
	if r := runCommand(t, nil, "", "healthcheck", "-config", s.configPath); r.code != 0 {
		t.Errorf("healthcheck -config of an HTTPS listener = exit %d, want 0\n%s", r.code, r.stderr)
	}
	metrics := s.scrape(t)
	for _, want := range []string{
		`authgate_tls_certificate_last_reload_successful{certificate="file"} 1`,
		`authgate_tls_certificate_expiry_timestamp_seconds{certificate="file"} `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestHTTPSWithCurl: curl, a client that is not Go's, negotiates HTTP/2
// with the gateway and sees HSTS.
func TestHTTPSWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("AUTHGATE_REQUIRE_INTEGRATION") != "" {
			t.Fatal("curl not found: install the Debian package \"curl\"")
		}
		t.Skip("curl not found: install the Debian package \"curl\" to run this test")
	}
	s := startTLS(t, "")
	caFile := filepath.Join(s.dir, "ca.pem")
	testcert.WriteFile(t, caFile, s.ca.PEM)
	out, err := exec.Command(curl, "--silent", "--show-error", "--http2", "--cacert", caFile, "--include",
		"--write-out", "\nhttp_version=%{http_version}\n", s.url("/healthz")).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	got := strings.ToLower(string(out))
	for _, want := range []string{"http_version=2", "strict-transport-security: max-age=31536000"} {
		if !strings.Contains(got, want) {
			t.Errorf("curl --http2 output lacks %q:\n%s", want, out)
		}
	}
}

// TestBrowserLoginOverHTTPS: the Secure __Host- session cookie set by a
// login over HTTPS comes back and lets the browser through, and the
// gateway sees no login loop to warn about.
func TestBrowserLoginOverHTTPS(t *testing.T) {
	s := startTLS(t, "")
	c := s.client(false)
	form := url.Values{"username": {"alice"}, "password": {"alicepassword"}, "rd": {"/app/"}}
	req, _ := http.NewRequest("POST", s.url("/login"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", "https://"+s.addrs.Gateway.String())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-authgate" {
			cookie = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == nil || !cookie.Secure {
		t.Fatalf("browser login over HTTPS = %d, cookies %v; want 303 and a Secure __Host-authgate cookie", resp.StatusCode, resp.Cookies())
	}
	req, _ = http.NewRequest("GET", s.url("/app/"), nil)
	req.AddCookie(cookie)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"alice"`) {
		t.Errorf("GET /app/ with the session cookie = %d %s, want the upstream's answer for alice", resp.StatusCode, body)
	}
	if strings.Contains(s.logs.String(), "session cookie cannot work") {
		t.Errorf("the gateway warned of a login loop over HTTPS:\n%s", s.logs)
	}
}

// TestRedirectHTTPListener: tls.redirect_http answers every plain request
// with 308 to the same path and query on the HTTPS listener, and sends no
// HSTS over plain HTTP (RFC 6797 §7.2).
func TestRedirectHTTPListener(t *testing.T) {
	s := startTLS(t, "  redirect_http: 127.0.0.1:0\n")
	if s.addrs.Redirect == nil {
		t.Fatal("no redirect listener reported")
	}
	_, httpsPort, _ := net.SplitHostPort(s.addrs.Gateway.String())
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, "http://"+s.addrs.Redirect.String()+"/app/x?a=1", nil)
		req.Host = "auth.test"
		resp, err := s.client(false).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "https://auth.test:" + httpsPort + "/app/x?a=1"
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Errorf("%s on the plain listener = %d %q, want 308 %q", method, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("the plain listener sent Strict-Transport-Security")
		}
	}
}

// TestMisdirectedRequest: where routes name hosts, a request whose Host
// is not the name the TLS connection was made for is answered 421, so
// that a client retries on a connection for the right host.
func TestMisdirectedRequest(t *testing.T) {
	s := startTLS(t, "routes:\n  - host: app.test\n    path: /\n    upstream: UPSTREAM\n")
	for _, tt := range []struct {
		sni, host string
		status    int
	}{{"app.test", "app.test", 401}, {"auth.test", "app.test", 421}, {"app.test", "APP.test:443", 401}} {
		c := s.client(false)
		c.Transport.(*http.Transport).TLSClientConfig.ServerName = tt.sni
		req, _ := http.NewRequest("GET", s.url("/"), nil)
		req.Host = tt.host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("SNI %s, Host %s = %d, want %d", tt.sni, tt.host, resp.StatusCode, tt.status)
		}
	}
}

// TestCertificateFilesReloadWhileServing: replacing the certificate files
// puts the new certificate in service within seconds, with no failed
// request meanwhile on new and kept-alive connections; a broken pair
// leaves the one in service and sets the reload metric to 0.
func TestCertificateFilesReloadWhileServing(t *testing.T) {
	s := startTLS(t, "")
	serial := func() (string, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.addrs.Gateway.String(),
			&tls.Config{RootCAs: s.ca.Pool(), ServerName: "auth.test"})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	var requests, failures atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, keepAlive := range []bool{true, false} {
		wg.Go(func() {
			c := s.client(false)
			c.Transport.(*http.Transport).DisableKeepAlives = !keepAlive
			for range 20000 {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(s.url("/healthz"))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = &url.Error{Op: "status", URL: resp.Status}
					}
				}
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
				requests.Add(1)
			}
		})
	}
	next := s.ca.Server(t, "auth.test")
	tmpCert, tmpKey := next.Write(t, s.dir, "next")
	os.Rename(tmpKey, s.keyFile)
	os.Rename(tmpCert, s.certFile)
	want := next.Cert.SerialNumber.String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := serial()
		if err == nil && got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serial %s (%v) 10s after the files were replaced, want %s\n%s", got, err, want, s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests failed while the certificate was replaced; first: %v", n, requests.Load(), firstFailure.Load())
	}

	// A key of another certificate: refused, the one in service stays.
	testcert.WriteFile(t, s.keyFile, s.ca.Server(t).KeyPEM)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(s.scrape(t), `authgate_tls_certificate_last_reload_successful{certificate="file"} 0`) {
		if time.Now().After(deadline) {
			t.Fatalf("the reload metric did not drop to 0 within 10s of a broken key\n%s", s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := serial(); err != nil || got != want {
		t.Errorf("after a broken key, serial = %s (%v), want the one in service, %s", got, err, want)
	}
	if !strings.Contains(s.logs.String(), "TLS certificate cannot be used; the one in service stays") {
		t.Errorf("the broken pair was not logged:\n%s", s.logs)
	}
}

// TestUpstreamTLS: a route's tls verifies an upstream behind a private CA
// and shows it a client certificate; an upstream whose certificate does
// not verify (another CA, another name, or no tls section for a private
// CA) gets no request and the client a 502.
func TestUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	upstreamCA, clientCA, otherCA := testcert.NewCA(t, "upstream CA"), testcert.NewCA(t, "gateway client CA"), testcert.NewCA(t, "other CA")
	testcert.WriteFile(t, filepath.Join(dir, "upstream-ca.pem"), upstreamCA.PEM)
	clientCA.Issue(t, testcert.Options{CommonName: "authgate", Client: true}).Write(t, dir, "client")
	var reached atomic.Int64
	start := func(ca *testcert.CA, names []string, clients *x509.CertPool) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			who := "anonymous"
			if len(r.TLS.PeerCertificates) > 0 {
				who = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			io.WriteString(w, "client="+who)
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, testcert.Options{DNSNames: names, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).TLS}}
		if clients != nil {
			srv.TLS.ClientAuth, srv.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clients
		}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	private := start(upstreamCA, []string{"app.internal"}, nil)
	mutual := start(upstreamCA, []string{"app.internal"}, clientCA.Pool())
	foreign := start(otherCA, []string{"app.internal"}, nil)
	doc := "routes:\n" +
		"  - {path: /private/, upstream: '" + private.URL + "', public: true, tls: {ca_file: " + dir + "/upstream-ca.pem, server_name: app.internal}}\n" +
		"  - {path: /ip-name/, upstream: '" + private.URL + "', public: true, tls: {ca_file: " + dir + "/upstream-ca.pem}}\n" +
		"  - {path: /mutual/, upstream: '" + mutual.URL + "', public: true, tls: {ca_file: " + dir + "/upstream-ca.pem, server_name: app.internal, client_cert_file: " + dir + "/client.crt, client_key_file: " + dir + "/client.key}}\n" +
		"  - {path: /mutual-without-cert/, upstream: '" + mutual.URL + "', public: true, tls: {ca_file: " + dir + "/upstream-ca.pem, server_name: app.internal}}\n" +
		"  - {path: /foreign/, upstream: '" + foreign.URL + "', public: true, tls: {ca_file: " + dir + "/upstream-ca.pem, server_name: app.internal}}\n" +
		"  - {path: /wrong-name/, upstream: '" + private.URL + "', public: true, tls: {ca_file: " + dir + "/upstream-ca.pem, server_name: other.internal}}\n" +
		"  - {path: /system-roots/, upstream: '" + private.URL + "', public: true}\n"
	s := startTLS(t, doc)
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/private/", 200, "client=anonymous"},
		{"/ip-name/", 200, "client=anonymous"},
		{"/mutual/", 200, "client=authgate"},
		{"/mutual-without-cert/", 502, ""},
		{"/foreign/", 502, ""},
		{"/wrong-name/", 502, ""},
		{"/system-roots/", 502, ""},
	} {
		before := reached.Load()
		resp, err := s.client(false).Get(s.url(tt.path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.body != "" && string(b) != tt.body) {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, b, tt.status, tt.body)
		}
		if tt.status == 502 && reached.Load() != before {
			t.Errorf("GET %s reached an upstream whose certificate does not verify", tt.path)
		}
	}
}

// TestCheckContactsNoACMEServer: `authgate check` of an ACME config reads the
// document and its files but contacts no CA and creates no storage.
func TestCheckContactsNoACMEServer(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var contacted atomic.Bool
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			contacted.Store(true)
			c.Close()
		}
	}()
	path := filepath.Join(dir, "gateway.yaml")
	testcert.WriteFile(t, path, []byte(`token:
  secret: "`+testSecret+`"
users:
  - username: alice
    password_hash: "`+aliceHash+`"
tls:
  acme:
    domains: [auth.example.com]
    directory_url: https://`+ln.Addr().String()+`/directory
    storage_dir: acme
`))
	r := runCommand(t, nil, "", "check", "-config", path)
	if r.code != 0 || !strings.Contains(r.stdout, "is valid") {
		t.Fatalf("check = exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if contacted.Load() {
		t.Errorf("check contacted the ACME directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "acme")); !os.IsNotExist(err) {
		t.Errorf("check created the storage folder (stat: %v)", err)
	}
}

// TestClientCertificateSignIn: with tls.client_auth, a client certificate
// the CA issued signs in as the local user it names, as a password would
// (amr "mtls"): a machine with an empty POST gets a token, a browser a
// button on the login page and then a session; a certificate naming no
// user, or a disabled one, does not sign in; without a certificate
// nothing changes.
func TestClientCertificateSignIn(t *testing.T) {
	clients := testcert.NewCA(t, "client CA")
	dir := t.TempDir()
	testcert.WriteFile(t, filepath.Join(dir, "clients.pem"), clients.PEM)
	s := startTLS(t, "  client_auth:\n    ca_file: "+dir+"/clients.pem\n"+
		"routes:\n  - path: /\n    upstream: UPSTREAM\n")
	withCert := func(cn string) *http.Client {
		c := s.client(false)
		leaf := clients.Issue(t, testcert.Options{CommonName: cn, Client: true})
		c.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{leaf.TLS}
		return c
	}
	post := func(c *http.Client, body, contentType string, browser bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url("/login"), strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if browser {
			req.Header.Set("Accept", "text/html")
			req.Header.Set("Origin", "https://"+s.addrs.Gateway.String())
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// A machine: an empty POST with its certificate.
	resp := post(withCert("alice"), "", "", false)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("certificate sign-in = %d, want 200 and a token", resp.StatusCode)
	}
	if amr := claim(t, tok.AccessToken, "amr"); fmt.Sprint(amr) != "[mtls]" {
		t.Errorf("token amr = %v, want [mtls]", amr)
	}
	req, _ := http.NewRequest("GET", s.url("/app/"), nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := s.client(false).Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET with the certificate's token = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	// A browser: the login page offers the certificate, its form signs in.
	browser := withCert("alice")
	page, err := browser.Get(s.url("/login?rd=/app/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(body), "Sign in with your certificate") || !strings.Contains(string(body), "<strong>alice</strong>") {
		t.Errorf("login page with a certificate does not offer it:\n%s", body)
	}
	resp = post(browser, "rd=%2Fapp%2F", "application/x-www-form-urlencoded", true)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/" || len(resp.Cookies()) == 0 {
		t.Errorf("browser certificate sign-in = %d to %q with %d cookies, want 303 to /app/ with the session cookie", resp.StatusCode, resp.Header.Get("Location"), len(resp.Cookies()))
	}

	// Refused: a certificate naming nobody here; no certificate at all.
	if resp := post(withCert("mallory"), "", "", false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("certificate for an unknown user = %d, want 401", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	if resp := post(s.client(false), "rd=%2F", "application/x-www-form-urlencoded", false); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a form without credentials and without a certificate = %d, want 400", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	page, err = s.client(false).Get(s.url("/login"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(page.Body)
	page.Body.Close()
	if strings.Contains(string(body), "certificate") {
		t.Errorf("login page without a certificate mentions one:\n%s", body)
	}
}

// claim returns one claim of a JWT's payload, unverified.
func claim(t *testing.T, token, name string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims[name]
}

// TestShippedTLSExamples: the standalone examples load (with test files
// where they name the operator's), and the compose file publishes only
// authgate.
func TestShippedTLSExamples(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "examples CA")
	certFile, keyFile := ca.Server(t).Write(t, dir, "tls")
	htpasswd := filepath.Join(dir, "htpasswd")
	testcert.WriteFile(t, htpasswd, []byte("alice:"+aliceHash+"\n"))
	env := map[string]string{"AUTHGATE_SECRET": testSecret}
	for _, tt := range []struct{ file, from, to string }{
		{"gateway.yaml", "/etc/authgate/users.htpasswd", htpasswd},
		{"gateway-files.yaml", "/etc/authgate/users/htpasswd", htpasswd},
	} {
		b, err := os.ReadFile(filepath.Join("examples", "standalone", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		doc := strings.NewReplacer(tt.from, tt.to, "/etc/authgate/tls/tls.crt", certFile, "/etc/authgate/tls/tls.key", keyFile).Replace(string(b))
		path := filepath.Join(dir, tt.file)
		testcert.WriteFile(t, path, []byte(doc))
		if r := runCommand(t, env, "", "check", "-config", path); r.code != 0 {
			t.Errorf("examples/standalone/%s: check = exit %d\n%s%s", tt.file, r.code, r.stdout, r.stderr)
		}
	}
	// The Kubernetes example's config, as its ConfigMap holds it.
	manifest, err := os.ReadFile(filepath.Join("examples", "kubernetes", "tls.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, cfg, ok := strings.Cut(string(manifest), "  gateway.yaml: |\n")
	cfg, _, _ = strings.Cut(cfg, "\n---")
	if !ok {
		t.Fatal("examples/kubernetes/tls.yaml has no gateway.yaml")
	}
	cfg = strings.NewReplacer("\n    ", "\n", "/etc/authgate/users/htpasswd", htpasswd,
		"/etc/authgate/tls/tls.crt", certFile, "/etc/authgate/tls/tls.key", keyFile).Replace("\n" + cfg)
	path := filepath.Join(dir, "kubernetes-tls.yaml")
	testcert.WriteFile(t, path, []byte(strings.TrimPrefix(cfg, "\n    ")))
	if r := runCommand(t, env, "", "check", "-config", path); r.code != 0 || !strings.Contains(cfg, "cert_file:") {
		t.Errorf("examples/kubernetes/tls.yaml: check = exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	compose, err := os.ReadFile(filepath.Join("examples", "standalone", "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if app := compose[strings.Index(string(compose), "  app:"):]; strings.Contains(string(app), "ports:") {
		t.Errorf("the standalone compose example publishes the app's port, bypassing authgate")
	}
}

// TestTLSOnReload: SIGHUP re-reads the certificate files, even a change
// the once-a-second look cannot see (same size, time put back); a reload
// applies tls.hsts_max_age at once and keeps the listener's other TLS
// settings until a restart, saying so.
func TestTLSOnReload(t *testing.T) {
	s := startTLS(t, "")
	serial := func() string {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.addrs.Gateway.String(),
			&tls.Config{RootCAs: s.ca.Pool(), ServerName: "auth.test", MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS 1.2 handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	oldCert, err := os.ReadFile(s.certFile)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(s.certFile)
	if err != nil {
		t.Fatal(err)
	}
	var next *testcert.Leaf
	for range 200 {
		if l := s.ca.Server(t, "auth.test", "app.test"); len(l.CertPEM) == len(oldCert) {
			next = l
			break
		}
	}
	if next == nil {
		t.Skip("no certificate of the same size in 200 tries")
	}
	keyInfo, _ := os.Stat(s.keyFile)
	for _, f := range []struct {
		path string
		data []byte
		at   time.Time
	}{{s.certFile, next.CertPEM, info.ModTime()}, {s.keyFile, next.KeyPEM, keyInfo.ModTime()}} {
		file, err := os.OpenFile(f.path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		file.WriteAt(f.data, 0)
		file.Close()
		os.Chtimes(f.path, f.at, f.at)
	}
	time.Sleep(2500 * time.Millisecond) // longer than the look takes to apply a change it sees
	if got := serial(); got != first {
		t.Fatalf("the certificate changed without SIGHUP; the test cannot tell SIGHUP's doing")
	}

	// One SIGHUP, for the files and for a config that changes the HSTS
	// max-age (applied) and the minimum TLS version (a restart's).
	doc, _ := os.ReadFile(s.configPath)
	edited := strings.Replace(string(doc), "tls:\n", "tls:\n  hsts_max_age: 60s\n  min_version: \"1.3\"\n", 1)
	testcert.WriteFile(t, s.configPath, []byte(edited))
	s.hup <- syscall.SIGHUP
	want := next.Cert.SerialNumber.String()
	for deadline := time.Now().Add(10 * time.Second); serial() != want; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not put the new certificate in service within 10s\n%s", s.logs)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := s.client(false).Get(s.url("/healthz"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Strict-Transport-Security") == "max-age=60" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Strict-Transport-Security = %q 10s after the reload, want max-age=60", resp.Header.Get("Strict-Transport-Security"))
		}
	}
	if !strings.Contains(s.scrape(t), "authgate_config_restart_required 1") {
		t.Errorf("changing tls.min_version did not say a restart is required")
	}
	serial() // TLS 1.2 is still accepted: min_version waits for a restart
}
