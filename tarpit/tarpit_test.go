package tarpit

import (
	"strings"
	"testing"
)

func TestFrame(t *testing.T) {
	const attemptHead = "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\n"
	tests := []struct {
		name    string
		in      string
		want    verdict
		length  int64
		request string
	}{
		{"a tool's attempt", attemptHead + "u=a&p=b", attempt, 7, ""},
		{"no body", "POST /login HTTP/1.1\r\nHost: gw\r\n\r\n", attempt, 0, ""},
		{"request ID kept as sent", "POST /login HTTP/1.1\r\nhost: gw\r\nX-Request-Id: abc-1\r\nx-request-id: second\r\n\r\n", attempt, 0, "abc-1"},
		{"JSON API client", "POST /login HTTP/1.1\r\nHost: gw\r\nAccept: application/json\r\nContent-Length:  0 \r\n\r\n", attempt, 0, ""},
		{"head not complete", "POST /login HTTP/1.1\r\nHost: gw\r\n", needMore, 0, ""},
		{"nothing yet", "", needMore, 0, ""},
		{"head over 8 KiB", "POST /login HTTP/1.1\r\nHost: gw\r\nX: " + strings.Repeat("a", maxHead), handBack, 0, ""},
		{"complete head over 8 KiB", "POST /login HTTP/1.1\r\nHost: gw\r\nX: " + strings.Repeat("a", maxHead) + "\r\n\r\n", handBack, 0, ""},
		{"GET", "GET /login HTTP/1.1\r\nHost: gw\r\n\r\n", handBack, 0, ""},
		{"another path", "POST /api/login HTTP/1.1\r\nHost: gw\r\n\r\n", handBack, 0, ""},
		{"query", "POST /login?username=a HTTP/1.1\r\nHost: gw\r\n\r\n", handBack, 0, ""},
		{"absolute form", "POST http://gw/login HTTP/1.1\r\nHost: gw\r\n\r\n", handBack, 0, ""},
		{"HTTP/1.0", "POST /login HTTP/1.0\r\nHost: gw\r\n\r\n", handBack, 0, ""},
		{"lower-case method", "post /login HTTP/1.1\r\nHost: gw\r\n\r\n", handBack, 0, ""},
		{"browser", "POST /login HTTP/1.1\r\nHost: gw\r\nAccept: text/html,*/*\r\n\r\n", handBack, 0, ""},
		{"chunked", "POST /login HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n", handBack, 0, ""},
		{"chunked and a length", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", handBack, 0, ""},
		{"two lengths", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", handBack, 0, ""},
		{"signed length", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: +3\r\n\r\n", handBack, 0, ""},
		{"length list", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: 3, 3\r\n\r\n", handBack, 0, ""},
		{"empty length", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length:\r\n\r\n", handBack, 0, ""},
		{"length over the body limit", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: 1025\r\n\r\n", handBack, 0, ""},
		{"huge length", "POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: 99999999999999999999\r\n\r\n", handBack, 0, ""},
		{"no host", "POST /login HTTP/1.1\r\n\r\n", handBack, 0, ""},
		{"two hosts", "POST /login HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", handBack, 0, ""},
		{"connection", "POST /login HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", handBack, 0, ""},
		{"upgrade", "POST /login HTTP/1.1\r\nHost: gw\r\nUpgrade: h2c\r\n\r\n", handBack, 0, ""},
		{"expect", "POST /login HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n\r\n", handBack, 0, ""},
		{"obs-fold", "POST /login HTTP/1.1\r\nHost: gw\r\nX-A: a\r\n b\r\n\r\n", handBack, 0, ""},
		{"space before colon", "POST /login HTTP/1.1\r\nHost : gw\r\n\r\n", handBack, 0, ""},
		{"no colon", "POST /login HTTP/1.1\r\nHost: gw\r\nbroken\r\n\r\n", handBack, 0, ""},
		{"empty name", "POST /login HTTP/1.1\r\nHost: gw\r\n: x\r\n\r\n", handBack, 0, ""},
		{"bare LF in a value", "POST /login HTTP/1.1\r\nHost: gw\r\nX-A: a\nContent-Length: 5\r\n\r\n", handBack, 0, ""},
		{"NUL in a value", "POST /login HTTP/1.1\r\nHost: gw\r\nX-Request-Id: a\x00b\r\n\r\n", handBack, 0, ""},
		{"DEL in a value", "POST /login HTTP/1.1\r\nHost: gw\r\nX-A: a\x7fb\r\n\r\n", handBack, 0, ""},
		{"non-ASCII name", "POST /login HTTP/1.1\r\nHost: gw\r\nX-\xc3\xa9: a\r\n\r\n", handBack, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, h := frame([]byte(tt.in), "/login", 1024)
			if v != tt.want {
				t.Fatalf("verdict = %d, want %d", v, tt.want)
			}
			if v != attempt {
				return
			}
			// Every case's input is one head and its whole body.
			size := len(tt.in) - int(tt.length)
			if h.size != size || h.contentLength != tt.length || string(h.requestID) != tt.request {
				t.Errorf("head = size %d, length %d, request ID %q; want %d, %d, %q", h.size, h.contentLength, h.requestID, size, tt.length, tt.request)
			}
		})
	}
}
