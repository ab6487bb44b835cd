package tarpit

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
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
		{"odd host", "POST /login HTTP/1.1\r\nHost: a b\r\n\r\n", handBack, 0, ""},
		{"empty host", "POST /login HTTP/1.1\r\nHost:\r\n\r\n", handBack, 0, ""},
		{"IPv6 host", "POST /login HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", attempt, 0, ""},
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

// FuzzFrame: the pit refuses a request itself only when Go's own parser
// reads the same bytes as the same request, the attempt's POST to the
// sign-in path with the same body length, so the pit can never answer
// something the server would have read differently (request smuggling).
func FuzzFrame(f *testing.F) {
	f.Add([]byte("POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\n\r\nu=a&p=b"))
	f.Add([]byte("POST /login HTTP/1.1\r\nHost: gw\r\nX-Request-Id: a\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("POST /login HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("POST /login HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"))
	f.Add([]byte("POST /login HTTP/1.1\nHost: gw\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, h := frame(b, "/login", 1024)
		if v != attempt {
			return
		}
		r := bytes.NewReader(b)
		br := bufio.NewReader(r)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the pit framed an attempt Go's server rejects (%v): %q", err, b)
		}
		if req.Method != "POST" || req.RequestURI != "/login" || req.ProtoMinor != 1 || req.ContentLength != h.contentLength ||
			req.Close || len(req.TransferEncoding) > 0 || req.Header.Get("X-Request-Id") != string(h.requestID) {
			t.Fatalf("pit and Go's server disagree on %q: %s %s close=%v length %d vs %d", b, req.Method, req.RequestURI, req.Close, req.ContentLength, h.contentLength)
		}
		// Go's parser took exactly the head the pit measured.
		body, _ := io.ReadAll(req.Body)
		if head := len(b) - len(body) - br.Buffered() - r.Len(); head != h.size {
			t.Fatalf("head of %q: Go read %d bytes, the pit %d", b, head, h.size)
		}
	})
}
