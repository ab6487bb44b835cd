package accesslog

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// slogLine is what slog's handler writes for e with the attributes the
// gateway used to log through it: the format this package must keep.
func slogLine(t *testing.T, json bool, e *Entry) string {
	t.Helper()
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, nil)
	if json {
		h = slog.NewJSONHandler(&buf, nil)
	}
	rec := slog.NewRecord(e.Time, slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("method", e.Method),
		slog.String("path", e.Path),
		slog.String("route", e.Route),
		slog.Int("status", e.Status),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.Int64("bytes", e.Bytes),
		slog.String("user", e.User),
		slog.String("client_ip", e.ClientIP),
	)
	if e.DenyReason != "" {
		rec.AddAttrs(slog.String("deny_reason", e.DenyReason))
	}
	rec.AddAttrs(slog.String("request_id", e.RequestID))
	if err := h.Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestLinesMatchSlog(t *testing.T) {
	strs := []string{
		"", "plain", "with space", "a=b", `quo"te`, `back\slash`, "tab\t", "nl\n", "cr\r",
		"\x00nul", "\x1bescape", "\x7fdel", "ünïcode", "line\u2028sep", "para\u2029sep", "\xffinvalid",
		"nbsp\u00a0", "emoji 😀", "<html>&amp;", "zero\u200bwidth", "/api/items?x=1",
	}
	durations := []time.Duration{0, time.Microsecond, 999 * time.Microsecond, 123 * time.Millisecond,
		1234567 * time.Microsecond, time.Hour, 1500 * time.Nanosecond}
	times := []time.Time{
		time.Date(2026, 11, 26, 11, 41, 17, 687799518, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 6, 1, 0, 0, 0, 120000000, time.FixedZone("CEST", 2*3600)),
	}
	for _, json := range []bool{true, false} {
		for i, s := range strs {
			e := &Entry{
				Time: times[i%len(times)], Method: "GET", Path: s, Route: s, Status: 200 + i,
				Duration: durations[i%len(durations)], Bytes: int64(i * 1000), User: s, ClientIP: "127.0.0.1",
				RequestID: s,
			}
			if i%2 == 1 {
				e.DenyReason = s
			}
			var buf bytes.Buffer
			New(&buf, json).Log(e)
			if got, want := buf.String(), slogLine(t, json, e); got != want {
				t.Errorf("json=%v Log(%q):\n got %s\nwant %s", json, s, got, want)
			}
		}
	}
}

// TestOneWritePerLine: concurrent requests share the writer, so each line
// must arrive in a single Write.
func TestOneWritePerLine(t *testing.T) {
	var w countingWriter
	l := New(&w, true)
	for range 3 {
		l.Log(&Entry{Time: time.Now(), Method: "GET", Path: "/", RequestID: "x"})
	}
	if w.writes != 3 {
		t.Errorf("writes = %d, want 3", w.writes)
	}
}

type countingWriter struct{ writes int }

func (w *countingWriter) Write(p []byte) (int, error) {
	if p[len(p)-1] != '\n' {
		panic("partial line")
	}
	w.writes++
	return len(p), nil
}

func BenchmarkLog(b *testing.B) {
	e := &Entry{Time: time.Now(), Method: "GET", Path: "/api/items", Route: "/api/", Status: 200,
		Duration: 1234 * time.Microsecond, Bytes: 6, User: "alice", ClientIP: "127.0.0.1", RequestID: "0123456789abcdef0123456789abcdef"}
	for _, json := range []bool{true, false} {
		name := "text"
		if json {
			name = "json"
		}
		b.Run(name+"/accesslog", func(b *testing.B) {
			l := New(discard{}, json)
			b.ReportAllocs()
			for b.Loop() {
				l.Log(e)
			}
		})
		b.Run(name+"/slog", func(b *testing.B) {
			var h slog.Handler = slog.NewTextHandler(discard{}, nil)
			if json {
				h = slog.NewJSONHandler(discard{}, nil)
			}
			l := slog.New(h)
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(context.Background(), slog.LevelInfo, "request",
					slog.String("method", e.Method), slog.String("path", e.Path), slog.String("route", e.Route),
					slog.Int("status", e.Status), slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
					slog.Int64("bytes", e.Bytes), slog.String("user", e.User), slog.String("client_ip", e.ClientIP),
					slog.String("request_id", e.RequestID))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
