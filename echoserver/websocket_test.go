package echoserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func dialWS(t *testing.T, base string) (*websocket.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &websocket.DialOptions{
		HTTPClient: client(t),
	})
	if err != nil {
		t.Fatalf("websocket.Dial: %v", err)
	}
	if got := resp.Header.Get(HeaderName); got != "ws" {
		t.Errorf("handshake %s = %q, want %q", HeaderName, got, "ws")
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, ctx
}

func TestWebSocketEcho(t *testing.T) {
	base, _ := start(t, Config{Name: "ws"})
	c, ctx := dialWS(t, base)
	c.SetReadLimit(8 << 20)
	big := make([]byte, 4<<20)
	Pattern(7, big)
	msgs := []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageBinary, []byte{0, 1, 2, 255}},
		{websocket.MessageText, []byte("")},
		{websocket.MessageBinary, bytes.Repeat([]byte("x"), 200)},   // 16-bit length
		{websocket.MessageBinary, bytes.Repeat([]byte("y"), 70000)}, // 64-bit length
		{websocket.MessageBinary, big},
	}
	for i, m := range msgs {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatalf("message %d: Write: %v", i, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: Read: %v", i, err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			t.Errorf("message %d: echo = %v %d bytes, want %v %d bytes", i, typ, len(got), m.typ, len(m.data))
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
}

func TestWebSocketPing(t *testing.T) {
	base, _ := start(t, Config{Name: "ws"})
	c, ctx := dialWS(t, base)
	ctx = c.CloseRead(ctx) // reads in the background so the pong is seen
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping() = %v, want nil", err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestWebSocketClosedOnShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Name: "ws"})
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, ln) }()
	c, ctx := dialWS(t, "http://"+ln.Addr().String())
	if err := c.Write(ctx, websocket.MessageText, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve() = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return with an open WebSocket")
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Error("Read after shutdown = nil error, want the connection closed")
	}
}

// rawUpgrade performs the handshake by hand and returns the connection.
func rawUpgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read handshake: %v", err)
	}
	// The accept value for this key is given in RFC 6455 section 1.3.
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake = %d accept %q, want 101 s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return conn, br
}

func TestWebSocketProtocolErrors(t *testing.T) {
	base, _ := start(t, Config{Name: "ws"})
	addr := strings.TrimPrefix(base, "http://")
	tests := []struct {
		name  string
		frame []byte
	}{
		{"unmasked", []byte{0x81, 0x01, 'a'}},
		{"reserved bits", []byte{0xC1, 0x81, 0, 0, 0, 0, 'a'}},
		{"unknown opcode", []byte{0x83, 0x80, 0, 0, 0, 0}},
		{"fragmented ping", []byte{0x09, 0x80, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, br := rawUpgrade(t, addr)
			conn.Write(tt.frame)
			var hdr [4]byte
			if _, err := br.Read(hdr[:]); err != nil && !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read close frame: %v", err)
			}
			if hdr[0] != 0x88 || hdr[2] != 0x03 || hdr[3] != 0xEA {
				t.Errorf("answer to %s = % x, want close 1002 (88 02 03 ea)", tt.name, hdr)
			}
		})
	}
}

func TestHandshakeRejects(t *testing.T) {
	base, _ := start(t, Config{Name: "ws"})
	tests := []struct {
		name    string
		headers map[string]string
		code    int
	}{
		{"no upgrade", map[string]string{}, 426},
		{"old version", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "8"}, 426},
		{"bad key", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short"}, 400},
	}
	c := client(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+"/ws", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("GET /ws (%s) = %d, want %d", tt.name, resp.StatusCode, tt.code)
			}
		})
	}
}
