// Package tarpit answers a throttled client's further sign-in attempts on
// its kept-alive connection off the path that serves proxied requests.
//
// A brute-force tool keeps a fixed number of connections busy and sends
// its next attempt the moment it has an answer. Once its client is
// throttled, every answer is the same 429, yet through net/http each still
// costs a goroutine wake-up, a parsed request with its header map, a
// timer for the hold and the response machinery, all on the Ps that serve
// proxied requests and in the same first-come queue: on a gateway with one
// core, 64 such connections add milliseconds to every proxied request.
//
// A Pit takes such a connection over (the server hijacks it at the first
// throttled answer). One OS thread of low priority (see lowprio) reads the
// pit's connections through an epoll set of its own, so none of their
// traffic wakes the runtime's network poller, and answers each plain
// repeat of the attempt with the same 429, after the same hold, as the
// server would have. Anything else it hands back to the server untouched:
// a request that is not a plain `POST` of the sign-in path, one it cannot
// frame with certainty (chunked, Expect, Connection, Upgrade, obs-fold,
// control bytes, a head over 8 KiB), a browser's, or any request once the
// client is no longer throttled. The pit never decides anything the server
// would not: it only refuses.
package tarpit

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Attempt is a sign-in attempt the pit refuses.
type Attempt struct {
	// Client is the client's address (the connection's peer).
	Client netip.Addr
	// RequestID is the client's X-Request-Id header, as sent; empty when
	// there was none.
	RequestID string
	// Wait is how long the client is still throttled, for Retry-After.
	Wait time.Duration
	// Received is when the attempt was read.
	Received time.Time
}

// Options configures a Pit.
type Options struct {
	// LoginPath is the path the pit answers POSTs to.
	LoginPath string
	// MaxBody is the largest request body the pit discards itself.
	MaxBody int64
	// Wait reports how long client is still throttled; zero hands the
	// connection back to the server.
	Wait func(client netip.Addr) time.Duration
	// Hold returns how long to hold the next answer.
	Hold func() time.Duration
	// Answer appends the complete HTTP/1.1 response to a when it is due
	// (and does the request's logging and metrics).
	Answer func(dst []byte, a Attempt, now time.Time) []byte
	// Rejoin hands a connection back to the HTTP server, which serves it
	// as if newly accepted. Bytes the pit read and did not consume come
	// first when it reads.
	Rejoin func(net.Conn)
	// Run runs the pit's loop on a low-priority thread and returns when
	// the loop does (lowprio.Runner.Run).
	Run func(func())
	// MaxConns caps connections held at once; Take refuses beyond it.
	MaxConns int
	// IdleTimeout closes a held connection with no request in progress;
	// HeadTimeout closes one whose request is incomplete for that long.
	IdleTimeout, HeadTimeout time.Duration
}

// maxHead is the largest request head the pit frames itself; a sign-in
// attempt from a tool is a few hundred bytes.
const maxHead = 8 << 10

// verdict is what the pit makes of the bytes at the start of a buffer.
type verdict int

const (
	needMore verdict = iota // no complete head yet
	attempt                 // a repeat of the attempt: refuse it
	handBack                // anything else: the server decides
)

// head is a request head the pit refuses.
type head struct {
	size          int   // bytes of the head, final CRLF included
	contentLength int64 // bytes of body after it
	requestID     []byte
}

// frame looks at the request starting at b. Anything it does not fully
// recognise as a plain repeat of the attempt is handed back: being strict
// costs nothing here, since the server then does what it always does.
func frame(b []byte, loginPath string, maxBody int64) (verdict, head) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= maxHead {
			return handBack, head{}
		}
		return needMore, head{}
	}
	if end+4 > maxHead {
		return handBack, head{}
	}
	lines := b[:end+2]
	nl := bytes.Index(lines, []byte("\r\n"))
	if string(lines[:nl]) != "POST "+loginPath+" HTTP/1.1" {
		return handBack, head{}
	}
	h := head{size: end + 4}
	var hosts, lengths int
	for rest := lines[nl+2:]; len(rest) > 0; {
		nl := bytes.Index(rest, []byte("\r\n"))
		line := rest[:nl]
		rest = rest[nl+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) || !isFieldValue(line[colon+1:]) {
			return handBack, head{}
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			if !isPlainHost(value) {
				return handBack, head{} // Go's server has rules of its own for these
			}
			hosts++
		case bytes.EqualFold(name, []byte("Content-Length")):
			lengths++
			n, ok := parseLength(value, maxBody)
			if !ok {
				return handBack, head{}
			}
			h.contentLength = n
		case bytes.EqualFold(name, []byte("X-Request-Id")):
			if h.requestID == nil {
				h.requestID = value
			}
		case bytes.EqualFold(name, []byte("Accept")):
			if bytes.Contains(value, []byte("text/html")) {
				return handBack, head{} // a browser gets the sign-in page
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Connection")),
			bytes.EqualFold(name, []byte("Expect")), bytes.EqualFold(name, []byte("Upgrade")),
			bytes.EqualFold(name, []byte("Trailer")), bytes.EqualFold(name, []byte("Te")):
			return handBack, head{}
		}
	}
	if hosts != 1 || lengths > 1 {
		return handBack, head{}
	}
	return attempt, h
}

// parseLength reads a Content-Length: digits only, at most max.
func parseLength(v []byte, max int64) (int64, bool) {
	if len(v) == 0 || len(v) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= max
}

// isToken reports whether b is an RFC 9110 token (a field name).
func isToken(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// isPlainHost reports whether b is a non-empty host[:port] of letters,
// digits and . - _ : [ ] only.
func isPlainHost(b []byte) bool {
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return false
		}
	}
	return len(b) > 0
}

// isFieldValue reports whether b holds no control bytes but tab.
func isFieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// prefixConn is a connection handed back with bytes the pit had read.
type prefixConn struct {
	net.Conn
	pending []byte
}

// NetConn returns the connection underneath.
func (c *prefixConn) NetConn() net.Conn { return c.Conn }

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
