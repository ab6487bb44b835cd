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

	"github.com/authgate/authgate/internal/metrics"
	"github.com/authgate/authgate/internal/route"
)

// requestInfo is what the access log and metrics learn about a request as
// it passes through the handlers.
type requestInfo struct {
	id      string
	route   string
	user    string
	reason  string
	metrics *metrics.Route
	// forwardAuth, for a forward-auth request, is the route its original
	// request was judged by (the "unmatched" metrics when none).
	forwardAuth *metrics.Route
	// caller is who a proxied request is forwarded for; nil on a public
	// route.
	caller *principal
	// assertion is what gate signed for the upstream, when configured.
	assertion string
	// Header values kept here rather than allocated per request: the
	// request ID for the client and for the upstream, the username.
	idForClient, idForUpstream, username [1]string
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

// front is the outermost handler of every request. It assigns the request
// ID; refuses what no route may see and puts the path in its canonical
// form, the one both the routing decision and the upstream use; turns a
// panic into a 500 with a fixed body (the stack goes to the log only); and
// when the response is done writes the access-log line and the metrics.
// It is one handler rather than a chain of three so that a request is
// copied once, not three times: this runs on every proxied request.
func (g *Gateway) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w}
		info := &rec.info
		info.id = g.ids.next(r.Header.Get("X-Request-Id"))
		info.idForClient[0], info.idForUpstream[0] = info.id, info.id
		w.Header()["X-Request-Id"] = info.idForClient[:]
		if r.TLS != nil && g.hsts != nil {
			w.Header()["Strict-Transport-Security"] = g.hsts
		}
		if d, ok := w.(writeDeadliner); ok && g.cfg.Server.SendTimeout > 0 {
			// Each request starts with a fresh write deadline; a deadline
			// left by the previous response on a kept-alive connection
			// must not cut this one.
			rec.deadliner, rec.sendTimeout = d, g.cfg.Server.SendTimeout
			rec.pushDeadline(start)
		}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, info)
		defer func() {
			v := recover()
			aborted := v != nil && g.recovered(ctx, rec, v)
			g.logRequest(ctx, r, rec, start)
			if aborted {
				panic(v)
			}
		}()
		switch r.Method {
		case http.MethodConnect, http.MethodTrace:
			// CONNECT would open a tunnel; TRACE would reflect the
			// client's headers (cookies, tokens) back in the body.
			rec.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
			g.reject(rec, info, http.StatusMethodNotAllowed, "method_not_allowed")
			return
		}
		if g.misdirected(r) {
			g.reject(rec, info, http.StatusMisdirectedRequest, "misdirected")
			return
		}
		p, err := route.CanonicalPath(r.RequestURI)
		if err != nil {
			g.reject(rec, info, http.StatusBadRequest, "bad_request")
			return
		}
		r2 := r.WithContext(ctx)
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2.URL = &u
		if r.Body != nil && r.Body != http.NoBody && g.cfg.Server.ReadTimeout > 0 {
			r2.Body = bodyDeadline(w, r.Body, g.cfg.Server.ReadTimeout)
		}
		next.ServeHTTP(rec, r2)
		if rec.status == 0 && ctx.Err() != nil {
			// The client went away (net/http cancels the request when it
			// reads EOF, which a client that only half-closed its side
			// also sends) and nothing was answered. Returning would let
			// net/http complete an empty 200 that the half-closed client
			// still reads; aborting closes the connection unanswered.
			if info.reason == "" {
				info.reason = reasonClientCanceled
			}
			panic(http.ErrAbortHandler)
		}
	})
}

// reasonClientCanceled is the access log's reason for a request whose
// client went away before it was answered (status 499).
const reasonClientCanceled = "client_canceled"

// upstreamFailureReason is the access log's reason for a failed upstream
// exchange of the proxy's kind.
func upstreamFailureReason(kind string) string {
	switch kind {
	case "canceled":
		return reasonClientCanceled
	case "timeout":
		return "upstream_timeout"
	default:
		return "upstream_unavailable"
	}
}

// recovered handles a handler's panic value v and reports whether the
// panic must go on up: http.ErrAbortHandler, which is how ReverseProxy
// aborts a response whose upstream failed mid-body, must. Anything else is
// logged without its value (which may hold a secret) and answered 500
// unless the response has started.
func (g *Gateway) recovered(ctx context.Context, rec *responseRecorder, v any) (reraise bool) {
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		return true
	}
	g.logger.LogAttrs(ctx, slog.LevelError, "handler panicked",
		slog.String("panic_type", typeName(v)), slog.String("stack", string(debug.Stack())))
	if rec.status == 0 {
		writeJSONError(rec, http.StatusInternalServerError, "internal_error")
	}
	return false
}

// logRequest writes the access-log line and the metrics of a finished
// request.
func (g *Gateway) logRequest(ctx context.Context, r *http.Request, rec *responseRecorder, start time.Time) {
	info := &rec.info
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
	if info.forwardAuth != nil {
		info.forwardAuth.ForwardAuth(status)
	}
	if g.accessLog == nil {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("path", logPath(r)),
		slog.String("route", info.route),
		slog.Int("status", status),
		// Milliseconds with microsecond precision: the unit operators
		// compare latencies in.
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("bytes", rec.bytes),
		slog.String("user", info.user),
		slog.String("client_ip", g.trust.ClientIP(r).String()))
	if info.reason != "" {
		attrs = append(attrs, slog.String("deny_reason", info.reason))
	}
	attrs = append(attrs, slog.String("request_id", info.id))
	g.accessLog.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// reject answers a request refused before routing.
func (g *Gateway) reject(w http.ResponseWriter, info *requestInfo, status int, code string) {
	info.route, info.metrics, info.reason = "", g.own["rejected"], code
	writeJSONError(w, status, code)
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

// writeDeadliner is the part of net/http's ResponseWriter that
// http.ResponseController would reach, asked for directly so that no
// controller is allocated per request.
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// responseRecorder remembers the status and size of a response for the
// access log, and keeps a write deadline ahead of each write so a client
// that stops reading is cut off after sendTimeout while a stream that keeps
// flowing is not. Unwrap lets http.ResponseController reach the connection
// for flushing (SSE) and hijacking (WebSocket). It also holds the request's
// requestInfo, so one allocation serves both.
type responseRecorder struct {
	http.ResponseWriter
	info   requestInfo
	status int
	bytes  int64
	// deadliner is nil when there is no send timeout.
	deadliner   writeDeadliner
	sendTimeout time.Duration
	deadlineSet time.Time
}

// pushDeadline moves the write deadline to sendTimeout from now. Moving a
// deadline costs a timer update, so a write within an eighth of the
// timeout of the last move keeps the deadline it has: a stalled client is
// cut off between 7/8 of sendTimeout and sendTimeout after its last write.
func (w *responseRecorder) pushDeadline(now time.Time) {
	w.deadlineSet = now
	_ = w.deadliner.SetWriteDeadline(now.Add(w.sendTimeout))
}

// clearDeadline removes the write deadline before a connection is handed
// over to a WebSocket tunnel, which may stay quiet for a long time.
func (w *responseRecorder) clearDeadline() {
	if w.deadliner != nil {
		_ = w.deadliner.SetWriteDeadline(time.Time{})
		w.deadliner = nil
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
	if w.deadliner != nil {
		if now := time.Now(); now.Sub(w.deadlineSet) > w.sendTimeout/8 {
			w.pushDeadline(now)
		}
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
