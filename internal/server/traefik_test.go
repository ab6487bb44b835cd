package server

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// traefikDynamic is the part of a Traefik file-provider configuration the
// shipped example uses.
type traefikDynamic struct {
	HTTP struct {
		Middlewares map[string]struct {
			ForwardAuth *traefikForwardAuth `yaml:"forwardAuth"`
		} `yaml:"middlewares"`
		Routers map[string]struct {
			Rule        string   `yaml:"rule"`
			Middlewares []string `yaml:"middlewares"`
			Service     string   `yaml:"service"`
		} `yaml:"routers"`
		Services map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `yaml:"url"`
				} `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

// traefikForwardAuth is a forwardAuth middleware's settings.
type traefikForwardAuth struct {
	Address                  string   `yaml:"address"`
	TrustForwardHeader       bool     `yaml:"trustForwardHeader"`
	AuthResponseHeaders      []string `yaml:"authResponseHeaders"`
	AuthResponseHeadersRegex string   `yaml:"authResponseHeadersRegex"`
	AddAuthCookiesToResponse []string `yaml:"addAuthCookiesToResponse"`
}

// startTraefik serves in process what Traefik makes of
// examples/traefik/dynamic.yaml in front of f, and returns its base URL.
// Traefik cannot be installed here; the double does what its ForwardAuth
// middleware does (pkg/middlewares/auth/forward.go, v3):
//   - it asks the address with a GET carrying the client's headers, less
//     hop-by-hop ones and, without trustForwardHeader, the client's
//     X-Forwarded-*, plus X-Forwarded-For/Method/Proto/Port/Host/Uri of its
//     own;
//   - an answer outside 2xx goes to the client whole: status, every
//     header (Set-Cookie too; Location resolved against the address) and
//     body;
//   - on a 2xx, each authResponseHeaders name is removed from the request
//     and set from the answer when it has one; every request header
//     matching authResponseHeadersRegex is removed and every answer
//     header matching it copied; the answer's Set-Cookie reaches the
//     client only for the names in addAuthCookiesToResponse; then the
//     request goes on to the service.
func startTraefik(t *testing.T, f *fixture) string {
	t.Helper()
	shipped := example(t, "traefik/dynamic.yaml",
		"http://127.0.0.1:8080", f.url,
		"http://127.0.0.1:3000", f.upstream.URL)
	var conf traefikDynamic
	if err := yaml.Unmarshal([]byte(shipped), &conf); err != nil {
		t.Fatalf("examples/traefik/dynamic.yaml: %v", err)
	}
	fa := conf.HTTP.Middlewares["authgate"].ForwardAuth
	app, login := conf.HTTP.Routers["app"], conf.HTTP.Routers["authgate-login"]
	if fa == nil || len(app.Middlewares) != 1 || app.Middlewares[0] != "authgate" ||
		!strings.Contains(login.Rule, "Path(`/login`) || PathPrefix(`/login/`) || Path(`/logout`)") || len(login.Middlewares) != 0 {
		t.Fatalf("examples/traefik/dynamic.yaml no longer has the shape this double serves:\n%s", shipped)
	}
	service := func(name string) http.Handler {
		servers := conf.HTTP.Services[name].LoadBalancer.Servers
		if len(servers) != 1 {
			t.Fatalf("service %s: want one server", name)
		}
		target, err := url.Parse(servers[0].URL)
		if err != nil {
			t.Fatal(err)
		}
		return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host // passHostHeader, Traefik's default
		}}
	}
	var re *regexp.Regexp
	if fa.AuthResponseHeadersRegex != "" {
		re = regexp.MustCompile(fa.AuthResponseHeadersRegex)
	}
	protected := forwardAuthDouble(t, fa, re, service(app.Service))
	toAuthgate := service(login.Service)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/login/") || r.URL.Path == "/logout" {
			toAuthgate.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// traefikHopHeaders are the headers Traefik's ForwardAuth never passes on.
var traefikHopHeaders = []string{"Connection", "Keep-Alive", "Te", "Trailers", "Transfer-Encoding", "Upgrade"}

func forwardAuthDouble(t *testing.T, fa *traefikForwardAuth, re *regexp.Regexp, next http.Handler) http.Handler {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ask, err := http.NewRequestWithContext(req.Context(), "GET", fa.Address, nil)
		if err != nil {
			t.Error(err)
			return
		}
		ask.Header = req.Header.Clone()
		for _, v := range req.Header.Values("Connection") {
			for name := range strings.SplitSeq(v, ",") {
				ask.Header.Del(strings.TrimSpace(name))
			}
		}
		for _, name := range traefikHopHeaders {
			ask.Header.Del(name)
		}
		if !fa.TrustForwardHeader {
			for name := range ask.Header {
				if n := http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-")); strings.HasPrefix(n, "X-Forwarded-") || n == "X-Real-Ip" || n == "X-Scheme" {
					delete(ask.Header, name)
				}
			}
		}
		if _, ok := req.Header["User-Agent"]; !ok {
			ask.Header.Set("User-Agent", "")
		}
		ip, port, _ := net.SplitHostPort(req.RemoteAddr)
		_, hostPort, _ := net.SplitHostPort(req.Host)
		if hostPort == "" {
			hostPort = port
		}
		ask.Header.Set("X-Forwarded-For", ip)
		ask.Header.Set("X-Forwarded-Method", req.Method)
		ask.Header.Set("X-Forwarded-Proto", "http")
		ask.Header.Set("X-Forwarded-Port", hostPort)
		ask.Header.Set("X-Forwarded-Host", req.Host)
		ask.Header.Set("X-Forwarded-Uri", req.URL.RequestURI())
		answer, err := client.Do(ask)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		defer answer.Body.Close()
		body, _ := io.ReadAll(answer.Body)
		if answer.StatusCode < 200 || answer.StatusCode >= 300 {
			for name, values := range answer.Header {
				w.Header()[name] = append(w.Header()[name], values...)
			}
			for _, name := range traefikHopHeaders {
				w.Header().Del(name)
			}
			if location, err := answer.Location(); err == nil {
				w.Header().Set("Location", location.String())
			}
			w.WriteHeader(answer.StatusCode)
			w.Write(body)
			return
		}
		for _, name := range fa.AuthResponseHeaders {
			key := http.CanonicalHeaderKey(name)
			req.Header.Del(key)
			if values := answer.Header[key]; len(values) > 0 {
				req.Header[key] = append([]string(nil), values...)
			}
		}
		if re != nil {
			for name := range req.Header {
				if re.MatchString(name) {
					req.Header.Del(name)
				}
			}
			for name, values := range answer.Header {
				if re.MatchString(name) {
					req.Header[name] = append([]string(nil), values...)
				}
			}
		}
		var relay []*http.Cookie
		for _, c := range answer.Cookies() {
			for _, name := range fa.AddAuthCookiesToResponse {
				if c.Name == name {
					relay = append(relay, c)
				}
			}
		}
		if len(relay) == 0 {
			next.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		for name, values := range rec.Header() {
			w.Header()[name] = values
		}
		for _, c := range relay {
			w.Header().Add("Set-Cookie", c.String())
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// traefikGatewayConfig is what the Traefik example asks of authgate's
// config besides trusted_proxies: the Cookie answer it copies.
const traefikGatewayConfig = "upstream_headers:\n  forward_auth_cookie: true\n"

// TestTraefikForwardAuth runs the browser flow through the Traefik double
// and the shipped file-provider example.
func TestTraefikForwardAuth(t *testing.T) {
	f := newFixture(t, proxiedGatewayConfig+traefikGatewayConfig)
	browserSession(t, f, startTraefik(t, f))
}

func TestSessionSlidesThroughTraefik(t *testing.T) {
	f := newFixture(t, slidingConfig+traefikGatewayConfig)
	slidingSession(t, f, startTraefik(t, f))
}
