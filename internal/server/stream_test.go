package server

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testcert"
	"github.com/authgate/authgate/internal/tlsconf"
)

// streamHandler is an upstream for streaming tests: /stream/sse sends one
// event, then a second only once the client has acknowledged the first
// (proving the gateway flushed it), and /stream/ws is a WebSocket echo.
func streamHandler() http.Handler {
	acks := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/stream/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-acks:
		case <-time.After(5 * time.Second):
			fmt.Fprint(w, "data: timeout\n\n")
			return
		}
		fmt.Fprint(w, "data: second\n\n")
	})
	mux.HandleFunc("/stream/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range bigResponse / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/stream/ack", func(w http.ResponseWriter, r *http.Request) {
		acks <- struct{}{}
	})
	mux.HandleFunc("/stream/ws", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not a websocket upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Seen-User: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-WebSocket-Key")), r.Header.Get("X-Forwarded-User"))
		brw.Flush()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		payload, err := readWSFrame(brw.Reader)
		if err != nil {
			return
		}
		conn.Write(wsFrame(payload, false))
	})
	return mux
}

// bigResponse is larger than loopback socket buffers can absorb, so a
// client that does not read makes the gateway's writes block.
const bigResponse = 64 << 20

func TestClientThatStopsReadingIsCutOff(t *testing.T) {
	f := newFixture(t, "server:\n  send_timeout: 300ms\n")
	conn := dial(t, f.url)
	fmt.Fprintf(conn, "GET /stream/big HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n\r\n", f.token(t, "alice"))
	time.Sleep(1500 * time.Millisecond) // a slow reader: nothing read for a while
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := io.Copy(io.Discard, conn)
	if n >= bigResponse {
		t.Errorf("read %d bytes: the gateway kept writing to a client that had stopped reading", n)
	}
}

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsFrame encodes a short text frame, masked as a client must send it.
func wsFrame(payload []byte, masked bool) []byte {
	b := []byte{0x81, byte(len(payload))}
	if !masked {
		return append(b, payload...)
	}
	b[1] |= 0x80
	mask := []byte{1, 2, 3, 4}
	b = append(b, mask...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

func readWSFrame(r *bufio.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	var mask [4]byte
	if hdr[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return nil, err
		}
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return payload, nil
}

func TestSSEIsFlushedAsTheUpstreamSends(t *testing.T) {
	f := newFixture(t, "")
	tok := f.token(t, "alice")
	req, _ := http.NewRequest("GET", f.url+"/stream/sse", nil)
	req.Header = bearer(tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	if err != nil || first != "data: first\n" {
		t.Fatalf("first event = %q, %v; want data: first", first, err)
	}
	// The upstream sends the second event only after this acknowledgement,
	// so reading the first one above proves it was flushed, not buffered.
	if resp, body := f.do(t, "GET", "/stream/ack", bearer(tok), ""); resp.StatusCode != 200 {
		t.Fatalf("ack = %d %s", resp.StatusCode, body)
	}
	rest, _ := io.ReadAll(r)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest of stream = %q, want the second event", rest)
	}
}

func TestWebSocketEchoThroughTheGateway(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name       string
		token      string
		wantStatus int
	}{
		{"authenticated-upgrade-is-tunnelled", f.token(t, "alice"), 101},
		{"unauthenticated-upgrade-is-refused", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, f.url)
			auth := ""
			if tt.token != "" {
				auth = "Authorization: Bearer " + tt.token + "\r\n"
			}
			fmt.Fprintf(conn, "GET /stream/ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-User: mallory\r\n%s\r\n", auth)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 101 {
				return
			}
			if got := resp.Header.Get("X-Seen-User"); got != "alice" {
				t.Errorf("upstream saw user %q, want alice", got)
			}
			if got, want := resp.Header.Get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
				t.Errorf("Sec-WebSocket-Accept = %q, want %q", got, want)
			}
			conn.Write(wsFrame([]byte("hello"), true))
			payload, err := readWSFrame(br)
			if err != nil || string(payload) != "hello" {
				t.Fatalf("echo = %q, %v; want hello", payload, err)
			}
		})
	}
}

// TestStreamsOverTLS: through an HTTPS listener, Server-Sent Events are
// flushed event by event on HTTP/2, and a WebSocket upgrade on HTTP/1.1
// (how browsers open one: HTTP/2 offers no upgrade) is tunnelled.
func TestStreamsOverTLS(t *testing.T) {
	f := newFixture(t, "")
	ca := testcert.NewCA(t, "streams CA")
	certFile, keyFile := ca.Server(t).Write(t, t.TempDir(), "serving")
	certs, err := tlsconf.New(tlsconf.Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := f.gw.httpServer(f.gw.Handler())
	srv.TLSConfig = certs.TLSConfig()
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	base := "https://" + ln.Addr().String()
	tok := f.token(t, "alice")

	t.Run("sse-on-http2", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest("GET", base+"/stream/sse", nil)
		req.Header = bearer(tok)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("proto = %s, want HTTP/2", resp.Proto)
		}
		r := bufio.NewReader(resp.Body)
		if first, err := r.ReadString('\n'); err != nil || first != "data: first\n" {
			t.Fatalf("first event = %q, %v; want data: first", first, err)
		}
		ack, _ := http.NewRequest("GET", base+"/stream/ack", nil)
		ack.Header = bearer(tok)
		if resp, err := c.Do(ack); err != nil || resp.StatusCode != 200 {
			t.Fatalf("ack = %v, %v", resp, err)
		}
		if rest, _ := io.ReadAll(r); !strings.Contains(string(rest), "data: second") {
			t.Fatalf("rest of stream = %q, want the second event", rest)
		}
	})

	t.Run("websocket-on-http1.1", func(t *testing.T) {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET /stream/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", tok)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Seen-User") != "alice" {
			t.Fatalf("upgrade over TLS = %v, %v; want 101 for alice", resp, err)
		}
		conn.Write(wsFrame([]byte("hello"), true))
		if payload, err := readWSFrame(br); err != nil || string(payload) != "hello" {
			t.Fatalf("echo over TLS = %q, %v; want hello", payload, err)
		}
	})
}
