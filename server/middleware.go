package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/metrics"
	"github.com/authgate/authgate/route"
)

// requestInfo is what the access log and metrics learn about a request as
// it passes through the handlers; one is allocated per request.
type requestInfo struct {
	id      string
	route   string
	user    string
	reason  string
	metrics *metrics.Route
	// upstream is what the proxy sets on the request it forwards.
	upstream http.Header
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// contextHandler adds the request ID to every record logged with a
// request's context, so no per-request logger needs to be built.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, rec slog.Record) error {
	if info := requestInfoFrom(ctx); info != nil {
		rec.AddAttrs(slog.String("request_id", info.id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// observe assigns the request ID, then writes one access-log line and the
// request metrics when the response is done.
func (g *Gateway) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: g.ids.next(r.Header.Get("X-Request-Id"))}
		w.Header()["X-Request-Id"] = []string{info.id}
		rec := &responseRecorder{ResponseWriter: w}
		if g.cfg.Server.SendTimeout > 0 {
			// Each request starts with a fresh write deadline; a deadline
			// left by the previous response on a kept-alive connection
			// must not cut this one.
			rec.sendTimeout = g.cfg.Server.SendTimeout
			rec.rc = http.NewResponseController(w)
			_ = rec.rc.SetWriteDeadline(time.Now().Add(rec.sendTimeout))
		}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, info)
		defer func() {
			status := rec.status
			if status == 0 {
				if ctx.Err() != nil {
					status = 499 // client closed the request before a response
				} else {
					status = http.StatusOK
				}
			}
			elapsed := time.Since(start)
			m := info.metrics
			if m == nil {
				m = g.own["unmatched"]
			}
			m.Observe(status, elapsed)
			attrs := make([]slog.Attr, 0, 10)
			attrs = append(attrs,
				slog.String("method", r.Method),
				slog.String("path", logPath(r)),
				slog.String("route", info.route),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.Int64("bytes", rec.bytes),
				slog.String("user", info.user),
				slog.String("client_ip", g.trust.ClientIP(r).String()),
			)
			if info.reason != "" {
				attrs = append(attrs, slog.String("deny_reason", info.reason))
			}
			attrs = append(attrs, slog.String("request_id", info.id))
			// The base handler: the request ID is already among the attrs.
			g.accessLog.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// logPath is the request path without its query, which may carry secrets,
// capped in length.
func logPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if len(p) > 256 {
		p = p[:256] + "..."
	}
	return p
}

// requestIDs keeps a client's X-Request-Id when it is short and plain, so
// traces join up across hops, and makes a fresh one otherwise: a random
// per-process prefix and a counter, unique without a random read per
// request (request IDs need not be unguessable).
type requestIDs struct {
	prefix  string
	counter atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

func (ids *requestIDs) next(given string) string {
	if given != "" && len(given) <= 128 {
		ok := true
		for i := range len(given) {
			c := given[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
				ok = false
				break
			}
		}
		if ok {
			return given
		}
	}
	var buf [32]byte
	copy(buf[:16], ids.prefix)
	n := ids.counter.Add(1)
	const digits = "0123456789abcdef"
	for i := 31; i >= 16; i-- {
		buf[i] = digits[n&0xf]
		n >>= 4
	}
	return string(buf[:])
}

// recoverPanics turns a handler panic into a 500 with a fixed body; the
// stack goes to the log only. http.ErrAbortHandler is re-raised: it is how
// ReverseProxy aborts a response whose upstream failed mid-body.
func (g *Gateway) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			g.logger.LogAttrs(r.Context(), slog.LevelError, "handler panicked",
				slog.String("panic_type", typeName(v)), slog.String("stack", string(debug.Stack())))
			if rec, ok := w.(*responseRecorder); !ok || rec.status == 0 {
				writeJSONError(w, http.StatusInternalServerError, "internal_error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case error:
		return "error"
	default:
		return "other"
	}
}

// sanitize refuses what no route may see and puts the path in its
// canonical form, the one both the routing decision and the upstream use.
func (g *Gateway) sanitize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodConnect, http.MethodTrace:
			// CONNECT would open a tunnel; TRACE would reflect the
			// client's headers (cookies, tokens) back in the body.
			w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
			g.reject(w, r, http.StatusMethodNotAllowed, "method_not_allowed")
			return
		}
		p, err := route.CanonicalPath(r.RequestURI)
		if err != nil {
			g.reject(w, r, http.StatusBadRequest, "bad_request")
			return
		}
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = &u
		if r.Body != nil && r.Body != http.NoBody && g.cfg.Server.ReadTimeout > 0 {
			r2.Body = bodyDeadline(w, r.Body, g.cfg.Server.ReadTimeout)
		}
		next.ServeHTTP(w, r2)
	})
}

// reject answers a request refused before routing.
func (g *Gateway) reject(w http.ResponseWriter, r *http.Request, status int, code string) {
	if info := requestInfoFrom(r.Context()); info != nil {
		info.route, info.metrics, info.reason = "", g.own["rejected"], code
	}
	writeJSONError(w, status, code)
}

// bodyDeadline bounds the time spent reading a request body (slow-body
// attacks) without bounding the response, which may stream for hours: the
// read deadline is set when reading starts and cleared at the body's end.
func bodyDeadline(w http.ResponseWriter, body io.ReadCloser, d time.Duration) io.ReadCloser {
	return &deadlineBody{ReadCloser: body, rc: http.NewResponseController(w), d: d}
}

type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	d       time.Duration
	started bool
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		// Only a complete body lifts the deadline: after a timeout the
		// server still drains the rest and must not wait forever.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// responseRecorder remembers the status and size of a response for the
// access log, and pushes the write deadline forward before each write so a
// client that stops reading is cut off after sendTimeout while a stream that
// keeps flowing is not. Unwrap lets http.ResponseController reach the
// connection for flushing (SSE) and hijacking (WebSocket).
type responseRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	sendTimeout time.Duration
	rc          *http.ResponseController
}

// clearDeadline removes the write deadline before a connection is handed
// over to a WebSocket tunnel, which may stay quiet for a long time.
func (w *responseRecorder) clearDeadline() {
	if w.rc != nil {
		_ = w.rc.SetWriteDeadline(time.Time{})
		w.rc = nil
	}
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.rc != nil {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.sendTimeout))
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
