// Package accesslog writes one line per request in the same JSON or text
// format as log/slog's handlers, without slog's per-record machinery.
//
// An access-log line is written for every request, so its cost is part of
// the gateway's cost per request: through slog.JSONHandler it measured
// several microseconds and a dozen allocations (attribute records, a float
// marshalled by encoding/json); appending the fixed fields straight into a
// pooled buffer costs a fraction of that. The output is byte for byte what
// slog's handlers would write for the same attributes, which the tests
// check, so the access log and the rest of the log read alike.
package accesslog

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Entry is one request's line. Empty DenyReason is left out.
type Entry struct {
	Time       time.Time
	Method     string
	Path       string
	Route      string
	Status     int
	Duration   time.Duration
	Bytes      int64
	User       string
	ClientIP   string
	DenyReason string
	RequestID  string
}

// Logger writes entries to an io.Writer, one Write call per line, so lines
// from concurrent requests never interleave when the writer serialises
// its writes (as os.File and slog's handlers do).
type Logger struct {
	out  io.Writer
	json bool
	pool sync.Pool
}

// New returns a Logger writing JSON lines (as slog.JSONHandler) when json
// is true and key=value lines (as slog.TextHandler) otherwise.
func New(out io.Writer, json bool) *Logger {
	return &Logger{out: out, json: json, pool: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

// Log writes e. Write errors are dropped: a full disk must not fail requests.
func (l *Logger) Log(e *Entry) {
	bp := l.pool.Get().(*[]byte)
	b := (*bp)[:0]
	if l.json {
		b = appendJSON(b, e)
	} else {
		b = appendText(b, e)
	}
	_, _ = l.out.Write(b)
	if cap(b) <= 4096 { // an outsized line is not kept for the next one
		*bp = b
		l.pool.Put(bp)
	}
}

// durationMillis is the duration in milliseconds with microsecond
// precision, the unit operators compare latencies in.
func durationMillis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func appendJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.Path)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"duration_ms":`...)
	// slog marshals floats with encoding/json, which uses this format
	// for every value a duration can have (below 1e21).
	b = strconv.AppendFloat(b, durationMillis(e.Duration), 'f', -1, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, e.User)
	b = append(b, `,"client_ip":`...)
	b = appendJSONString(b, e.ClientIP)
	if e.DenyReason != "" {
		b = append(b, `,"deny_reason":`...)
		b = appendJSONString(b, e.DenyReason)
	}
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, e.RequestID)
	return append(b, "}\n"...)
}

func appendText(b []byte, e *Entry) []byte {
	b = append(b, "time="...)
	b = e.Time.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level=INFO msg=request method="...)
	b = appendTextString(b, e.Method)
	b = append(b, " path="...)
	b = appendTextString(b, e.Path)
	b = append(b, " route="...)
	b = appendTextString(b, e.Route)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, " duration_ms="...)
	b = strconv.AppendFloat(b, durationMillis(e.Duration), 'g', -1, 64)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, " user="...)
	b = appendTextString(b, e.User)
	b = append(b, " client_ip="...)
	b = appendTextString(b, e.ClientIP)
	if e.DenyReason != "" {
		b = append(b, " deny_reason="...)
		b = appendTextString(b, e.DenyReason)
	}
	b = append(b, " request_id="...)
	b = appendTextString(b, e.RequestID)
	return append(b, '\n')
}

// appendJSONString quotes s as slog's JSON handler does: the escapes of
// encoding/json without its HTML escaping, invalid UTF-8 replaced.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but they end lines in JavaScript.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendTextString writes s bare when slog's text handler would, and
// Go-quoted otherwise.
func appendTextString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c == ' ' || c == '=' || c == '"' || c < 0x20) {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
