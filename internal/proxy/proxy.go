// Package proxy forwards requests to an upstream safely.
//
// It knows nothing of tokens or users: the caller decides who may pass and
// hands over the headers the upstream should see (Options.SetHeaders). The proxy guarantees that every client-sent copy of
// those and of any other identity header is removed first, in every
// spelling, and that forwarding headers are believed only from trusted
// peers.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configures what the proxies of every route share.
type Options struct {
	// Transport sends the requests; nil means NewTransport(TransportOptions{}).
	Transport http.RoundTripper
	// Strip removes headers, by name, from every outbound request.
	Strip *HeaderSet
	// StripCookies removes these cookies (exact names) from the outbound
	// Cookie header, leaving the others as the client sent them.
	StripCookies []string
	// TrustedPeer reports whether the request's peer may vouch for
	// X-Forwarded-For/Host/Proto, Forwarded and X-Real-IP; nil trusts none.
	TrustedPeer func(*http.Request) bool
	// Logger receives upstream errors; nil discards them.
	Logger *slog.Logger
	// SetHeaders, if set, is called with the inbound request and the
	// outbound request's headers after all stripping, to set the headers
	// the upstream should see; values it sets replace, never append to,
	// anything the client sent. It writes into out directly so that no
	// header map is built per request. It only copies facts decided before
	// the proxy ran: it cannot fail.
	SetHeaders func(in *http.Request, out http.Header)
	// OnError, if set, is told the kind of each failed upstream exchange:
	// "timeout" (answered 504), "unavailable" (502) or "canceled" (the
	// client went away: nothing is answered and the handler panics with
	// http.ErrAbortHandler once OnError returns).
	OnError func(r *http.Request, kind string)
}

// Proxy holds what the proxies of every route share, built once: the
// transport and its pool, the copy buffers, and the sets of headers to
// drop. Its To makes a route's proxy cheaply, so thousands of routes cost
// little more than one.
type Proxy struct {
	opts      Options
	transport http.RoundTripper
	logger    *slog.Logger
	buffers   bufferPool
	// What leaves with every request, by whether the peer is trusted to
	// vouch for forwarding headers: one pass over the headers either way.
	dropTrusted, dropUntrusted *HeaderSet
}

// routingOverrides are headers that some frameworks let a client use to
// change the method, path or port the application sees (X-Original-URL
// bypasses in IIS and Symfony, method overrides in Rails and Express). The
// gateway decided on the request as sent, so they never reach an upstream.
var routingOverrides = []string{
	"X-Original-Url", "X-Original-Uri", "X-Original-Method", "X-Rewrite-Url",
	"X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Uri", "X-Forwarded-Method",
	"X-Forwarded-Server", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Url-Scheme",
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "Front-End-Https",
}

// forwardingHeaders are passed on from trusted peers and dropped otherwise.
var forwardingHeaders = []string{"X-Real-Ip", "Forwarded"}

// New returns the shared part of the routes' proxies.
func New(opts Options) *Proxy {
	p := &Proxy{opts: opts, transport: opts.Transport, logger: opts.Logger, buffers: newBufferPool()}
	if p.transport == nil {
		p.transport = NewTransport(TransportOptions{})
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.dropTrusted = NewHeaderSet(routingOverrides, nil).Union(opts.Strip)
	p.dropUntrusted = NewHeaderSet(forwardingHeaders, nil).Union(p.dropTrusted)
	return p
}

// To returns a handler that forwards every request it gets to upstream
// (an absolute URL whose path is prepended to the request path), with
// stripPrefix (a canonical prefix without a trailing slash; empty for
// none) first removed from the request path. It panics if upstream is
// nil: that is a wiring bug, not a runtime condition.
func (p *Proxy) To(upstream *url.URL, stripPrefix string) http.Handler {
	return p.ToVia(upstream, stripPrefix, p.transport)
}

// ToVia is To sending through transport instead of the shared one: for an
// upstream with TLS settings of its own.
func (p *Proxy) ToVia(upstream *url.URL, stripPrefix string, transport http.RoundTripper) http.Handler {
	if upstream == nil {
		panic("proxy: nil upstream")
	}
	return &httputil.ReverseProxy{
		Transport:  transport,
		BufferPool: p.buffers,
		Rewrite: func(pr *httputil.ProxyRequest) {
			if stripPrefix != "" {
				path := strings.TrimPrefix(pr.Out.URL.Path, stripPrefix)
				if !strings.HasPrefix(path, "/") {
					path = "/" + path
				}
				pr.Out.URL.Path, pr.Out.URL.RawPath = path, ""
			}
			pr.SetURL(upstream)
			p.rewrite(pr)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.failed(w, r, upstream, err)
		},
	}
}

// rewrite applies the header policy to an outbound request whose URL is
// set.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	trusted := p.opts.TrustedPeer != nil && p.opts.TrustedPeer(pr.In)
	if trusted {
		// ReverseProxy dropped these before Rewrite; restore what a
		// trusted hop vouched for and append this hop.
		copyHeader(pr.Out.Header, pr.In.Header, "X-Forwarded-For")
	}
	pr.SetXForwarded()
	if trusted {
		copyHeader(pr.Out.Header, pr.In.Header, "X-Forwarded-Host")
		copyHeader(pr.Out.Header, pr.In.Header, "X-Forwarded-Proto")
		copyHeader(pr.Out.Header, pr.In.Header, "Forwarded")
		p.dropTrusted.Remove(pr.Out.Header)
	} else {
		p.dropUntrusted.Remove(pr.Out.Header)
	}
	removeCookies(pr.Out.Header, p.opts.StripCookies)
	if up := pr.Out.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
		// Only WebSocket is tunnelled; h2c and others would let a
		// client speak a protocol the gateway does not inspect.
		pr.Out.Header.Del("Upgrade")
		pr.Out.Header.Del("Connection")
	}
	if p.opts.SetHeaders != nil {
		p.opts.SetHeaders(pr.In, pr.Out.Header)
	}
}

// failed answers a failed upstream exchange.
func (p *Proxy) failed(w http.ResponseWriter, r *http.Request, upstream *url.URL, err error) {
	kind, status := classifyError(r, err)
	if p.opts.OnError != nil {
		p.opts.OnError(r, kind)
	}
	if kind == "canceled" {
		p.logger.LogAttrs(r.Context(), slog.LevelDebug, "client went away before the upstream answered")
		// Returning without writing would let net/http complete the
		// response as an empty 200, which a client that only half-closed
		// its side still reads. Aborting closes the connection (or resets
		// the HTTP/2 stream) with no answer, which is the only true one:
		// the upstream's is lost.
		panic(http.ErrAbortHandler)
	}
	p.logger.LogAttrs(r.Context(), slog.LevelWarn, "upstream request failed",
		slog.String("upstream", upstream.Host), slog.String("kind", kind), slog.String("error", err.Error()))
	writeError(w, status)
}

func copyHeader(dst, src http.Header, name string) {
	if v, ok := src[name]; ok {
		dst[name] = v
	}
}

// classifyError sorts a failed exchange into client gone, timeout or
// unavailable.
func classifyError(r *http.Request, err error) (kind string, status int) {
	if r.Context().Err() != nil && !errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		return "canceled", 0
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout", http.StatusGatewayTimeout
	}
	return "unavailable", http.StatusBadGateway
}

// writeError answers with a fixed body: upstream error text would leak
// internal addresses and library details.
func writeError(w http.ResponseWriter, status int) {
	body := `{"error":"bad_gateway"}`
	if status == http.StatusGatewayTimeout {
		body = `{"error":"gateway_timeout"}`
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// TransportOptions sizes the connection pool to upstreams. Zero fields take
// the defaults noted.
type TransportOptions struct {
	// DialTimeout bounds connecting; default 10s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers; default 60s.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes pooled connections idle this long; default 90s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost keeps this many warm connections per upstream;
	// default 256 (Go's default of 2 makes a loaded proxy redial constantly).
	MaxIdleConnsPerHost int
	// TLS verifies https upstreams and holds a client certificate for
	// them; nil verifies against the system's roots and shows none.
	TLS *tls.Config
}

// NewTransport returns a transport for proxying: no environment proxy, no
// transparent decompression, bounded waits and a pool sized for load.
func NewTransport(o TransportOptions) *http.Transport {
	def := func(d, v time.Duration) time.Duration {
		if d == 0 {
			return v
		}
		return d
	}
	idle := o.MaxIdleConnsPerHost
	if idle == 0 {
		idle = 256
	}
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: def(o.DialTimeout, 10*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       def(o.IdleConnTimeout, 90*time.Second),
		ResponseHeaderTimeout: def(o.ResponseHeaderTimeout, 60*time.Second),
		TLSClientConfig:       o.TLS,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// bufferPool recycles the 32 KiB copy buffers ReverseProxy would otherwise
// allocate per response.
type bufferPool struct{ pool *sync.Pool }

func newBufferPool() bufferPool {
	return bufferPool{pool: &sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p bufferPool) Put(b []byte) { p.pool.Put(&b) }
