package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/authgate/authgate/accesslog"
	"github.com/authgate/authgate/lowprio"
	"github.com/authgate/authgate/tarpit"
	"github.com/authgate/authgate/throttle"
)

// throttledBody is the body of a throttled API client's 429.
const throttledBody = `{"error":"too_many_requests"}` + "\n"

// newTarpit returns the pit for the public listener, whose connections
// go back to the server through rejoin; nil when the platform has none
// (throttled answers then all go through net/http). The pit holds up to
// server.max_connections connections besides the server's own.
func (g *Gateway) newTarpit(rejoin func(net.Conn)) *tarpit.Pit {
	pit, err := tarpit.New(tarpit.Options{
		LoginPath:   g.cfg.Paths.Login,
		MaxBody:     g.cfg.Login.MaxBodyBytes,
		Wait:        func(client netip.Addr) time.Duration { return g.clientLimit.Wait(throttle.ClientKey(client)) },
		Hold:        g.shedDelay,
		Answer:      g.tarpitAnswer,
		Rejoin:      rejoin,
		Run:         func(f func()) { g.lowprio.RunAt(lowprio.Deferential, f) },
		MaxConns:    g.cfg.Server.MaxConnections,
		IdleTimeout: g.cfg.Server.IdleTimeout,
		HeadTimeout: g.cfg.Server.ReadHeaderTimeout,
	})
	if err != nil {
		g.logger.Debug("throttled logins answered by net/http only", "reason", err.Error())
		return nil
	}
	return pit
}

// intoTarpit hands the connection of a throttled API client to the pit,
// which answers this attempt and the client's plain repeats of it on a
// low-priority thread (see package tarpit). It reports false, and the
// caller answers as usual, when the request or connection is not one the
// pit can carry on with byte for byte: not HTTP/1.1 keep-alive, TLS, a
// chunked or oversized body, Expect, another request target, or a peer
// that is a trusted proxy (whose connection carries other clients too).
func (g *Gateway) intoTarpit(w http.ResponseWriter, r *http.Request, wait time.Duration) bool {
	pit := g.pit.Load()
	if pit == nil || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close || r.TLS != nil ||
		r.ContentLength < 0 || r.ContentLength > g.cfg.Login.MaxBodyBytes || r.RequestURI != g.cfg.Paths.Login ||
		r.Header.Get("Expect") != "" || g.trust.TrustedPeer(r) || !pit.Room() {
		return false
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	first := tarpit.Attempt{Client: g.trust.ClientIP(r), RequestID: r.Header.Get("X-Request-Id"), Wait: wait, Received: time.Now()}
	if !pit.Take(conn, buffered, r.ContentLength, first) {
		// Rare: the pit filled up since Room, or the socket could not be
		// duplicated. The attempt is answered here, and the connection
		// ends with it.
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = conn.Write(g.tarpitAnswer(nil, first, time.Now()))
		conn.Close()
	}
	// The pit answers, logs and counts this request.
	requestInfoFrom(r.Context()).tarpitted = true
	return true
}

// tarpitAnswer appends the pit's answer to an attempt: what login writes
// for a throttled API client, header for header (a test compares them),
// and logs and counts it the same way.
func (g *Gateway) tarpitAnswer(dst []byte, a tarpit.Attempt, now time.Time) []byte {
	id := g.ids.next(a.RequestID)
	dst = append(dst, "HTTP/1.1 429 Too Many Requests\r\nCache-Control: no-store\r\nContent-Type: application/json\r\nPragma: no-cache\r\nRetry-After: "...)
	dst = strconv.AppendInt(dst, int64((a.Wait+time.Second-1)/time.Second), 10)
	dst = append(dst, "\r\nX-Content-Type-Options: nosniff\r\nX-Request-Id: "...)
	dst = append(dst, id...)
	dst = append(dst, "\r\nDate: "...)
	dst = now.UTC().AppendFormat(dst, http.TimeFormat)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(throttledBody)), 10)
	dst = append(dst, "\r\n\r\n"+throttledBody...)

	g.metrics.Login("throttled")
	elapsed := now.Sub(a.Received)
	g.own["login"].Observe(http.StatusTooManyRequests, elapsed)
	if ctx := context.Background(); g.logger.Enabled(ctx, slog.LevelDebug) {
		g.logger.LogAttrs(ctx, slog.LevelDebug, "login failed", slog.String("outcome", "throttled"), slog.String("request_id", id))
	}
	if g.accessLog != nil {
		g.accessLog.Log(&accesslog.Entry{
			Time:       now,
			Method:     http.MethodPost,
			Path:       g.cfg.Paths.Login,
			Route:      "login",
			Status:     http.StatusTooManyRequests,
			Duration:   elapsed,
			Bytes:      int64(len(throttledBody)),
			ClientIP:   a.Client.String(),
			DenyReason: "throttled",
			RequestID:  id,
		})
	}
	return dst
}
