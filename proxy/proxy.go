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

// Options configures a Handler.
type Options struct {
	// Upstream is the absolute URL requests are sent to; its path is
	// prepended to the request path. Required.
	Upstream *url.URL
	// StripPrefix is removed from the front of the request path before
	// forwarding; empty removes nothing. It must be a canonical prefix
	// without a trailing slash.
	StripPrefix string
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
	// header map is built per request.
	SetHeaders func(in *http.Request, out http.Header)
	// OnError, if set, is told the kind of each failed upstream exchange:
	// "timeout" (answered 504), "unavailable" (502) or "canceled" (the
	// client went away: nothing is answered and the handler panics with
	// http.ErrAbortHandler once OnError returns).
	OnError func(r *http.Request, kind string)
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

// New returns a handler that forwards every request it gets to
// opts.Upstream. It panics if opts.Upstream is nil: that is a wiring bug,
// not a runtime condition.
func New(opts Options) http.Handler {
	if opts.Upstream == nil {
		panic("proxy: Options.Upstream is nil")
	}
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport(TransportOptions{})
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// What leaves with every request, by whether the peer is trusted to
	// vouch for forwarding headers: one pass over the headers either way.
	dropTrusted := NewHeaderSet(routingOverrides, nil).Union(opts.Strip)
	dropUntrusted := NewHeaderSet(forwardingHeaders, nil).Union(dropTrusted)
	return &httputil.ReverseProxy{
		Transport:  transport,
		BufferPool: newBufferPool(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			if opts.StripPrefix != "" {
				p := strings.TrimPrefix(pr.Out.URL.Path, opts.StripPrefix)
				if !strings.HasPrefix(p, "/") {
					p = "/" + p
				}
				pr.Out.URL.Path, pr.Out.URL.RawPath = p, ""
			}
			pr.SetURL(opts.Upstream)
			trusted := opts.TrustedPeer != nil && opts.TrustedPeer(pr.In)
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
				dropTrusted.Remove(pr.Out.Header)
			} else {
				dropUntrusted.Remove(pr.Out.Header)
			}
			for _, name := range opts.StripCookies {
				removeCookie(pr.Out.Header, name)
			}
			if up := pr.Out.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
				// Only WebSocket is tunnelled; h2c and others would let a
				// client speak a protocol the gateway does not inspect.
				pr.Out.Header.Del("Upgrade")
				pr.Out.Header.Del("Connection")
			}
			if opts.SetHeaders != nil {
				opts.SetHeaders(pr.In, pr.Out.Header)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			kind, status := classifyError(r, err)
			if opts.OnError != nil {
				opts.OnError(r, kind)
			}
			if kind == "canceled" {
				logger.LogAttrs(r.Context(), slog.LevelDebug, "client went away before the upstream answered")
				// Returning without writing would let net/http complete
				// the response as an empty 200, which a client that only
				// half-closed its side still reads. Aborting closes the
				// connection (or resets the HTTP/2 stream) with no answer,
				// which is the only true one: the upstream's is lost.
				panic(http.ErrAbortHandler)
			}
			logger.LogAttrs(r.Context(), slog.LevelWarn, "upstream request failed",
				slog.String("upstream", opts.Upstream.Host), slog.String("kind", kind), slog.String("error", err.Error()))
			writeError(w, status)
		},
	}
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
