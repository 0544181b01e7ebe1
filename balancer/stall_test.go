package balancer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Peers that stop reading or sending in the middle of a body: the idle
// timeout bounds each step of a relayed body, not the whole body, and a peer
// that takes nothing for that long ends the request.

// idleDoc is groupDoc with the listener's idle timeout set.
func idleDoc(idle int, targets ...string) string {
	return strings.Replace(groupDoc("", targets...), "port: 1\n", fmt.Sprintf("port: 1\nidleTimeoutSeconds: %d\n", idle), 1)
}

// stallingTarget accepts connections, reads the request head and then
// nothing more, answering nothing; the test's cleanup closes it.
func stallingTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() {
				br := bufio.NewReaderSize(c, 1024)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// TestUploadToStalledTarget: a streamed upload to a target that stops
// reading its body ends with 504 after the idle timeout (it used to hang
// for as long as the client kept the connection, holding the target's
// in-flight count).
func TestUploadToStalledTarget(t *testing.T) {
	target := stallingTarget(t)
	h := startLB(t, idleDoc(1, target))
	c := dialRaw(t, h.client.Addr, 30*time.Second)
	const size = 256 << 20
	go func() {
		_, _ = fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to an upload the target stopped reading: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
	waitFor(t, 5*time.Second, "the target's in-flight count back to 0", func() bool {
		_, n := stateOf(h, "web", target)
		return n == 0
	})
}

// TestSlowSteadyUpload: an upload that keeps sending, if slowly, runs past
// the idle timeout (it used to be cut with 408 once the whole body took
// longer than the idle timeout).
func TestSlowSteadyUpload(t *testing.T) {
	var got int
	be := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		got = len(ctx.Request.Body())
		ctx.SetBodyString("ok")
	})
	h := startLB(t, idleDoc(1, be.addr))
	c := dialRaw(t, h.client.Addr, 30*time.Second)
	const chunks, chunkSize = 25, 1000
	if _, err := fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", chunks*chunkSize); err != nil {
		t.Fatal(err)
	}
	// 25 chunks 100 ms apart: 2.5 s of upload, never 1 s without a byte.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < chunks; i++ {
		<-tick.C
		if _, err := c.Write(bytes.Repeat([]byte("u"), chunkSize)); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || got != chunks*chunkSize {
		t.Errorf("status %d with %d bytes at the target, want 200 with %d", resp.StatusCode, got, chunks*chunkSize)
	}
}

// TestDownloadToClientThatStopsReading: a streamed response to a client
// that reads nothing ends after the idle timeout, freeing the target (it
// used to stay open for as long as the client kept the connection).
func TestDownloadToClientThatStopsReading(t *testing.T) {
	be := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStream(io.LimitReader(zeros{}, 1<<30), -1)
	})
	h := startLB(t, idleDoc(1, be.addr))
	c := dialRaw(t, h.client.Addr, 30*time.Second)
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the download to start", func() bool {
		_, n := stateOf(h, "web", be.addr)
		return n == 1
	})
	waitFor(t, 10*time.Second, "the stalled download to end (in flight 0)", func() bool {
		_, n := stateOf(h, "web", be.addr)
		return n == 0
	})
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// TestWebSocketClientThatStopsReading: a WebSocket whose client sends
// until everything is blocked (the echo comes back to a client that reads
// nothing) ends after the idle timeout, though no read is ever idle.
func TestWebSocketClientThatStopsReading(t *testing.T) {
	echo := startEcho(t, "e1")
	h := startLB(t, wsDoc(1, 30, "", echo))
	c := dialRaw(t, h.client.Addr, 30*time.Second)
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	_, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	lbl := map[string]string{"listener": "public"}
	// Masked binary frames (a zero mask leaves the payload as is) until
	// the client's writes block: the echo fills the client's unread
	// receive buffer, Gantry's, the target's, and back.
	frame := make([]byte, 4+4+32<<10)
	frame[0], frame[1] = 0x82, 0x80|126
	binary.BigEndian.PutUint16(frame[2:], 32<<10)
	blocked := false
	for i := 0; i < 4096 && !blocked; i++ {
		_ = c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Write(frame); err != nil {
			blocked = true
		}
	}
	if !blocked {
		t.Fatal("128 MiB written without the client's writes ever blocking")
	}
	if got := h.metric("gantry_websocket_active_connections", lbl); got != 1 {
		t.Fatalf("gantry_websocket_active_connections = %v once blocked, want 1", got)
	}
	waitFor(t, 10*time.Second, "the blocked WebSocket to be closed", func() bool {
		return h.metric("gantry_websocket_active_connections", lbl) == 0
	})
}

// TestSlowBodyOnKeepAliveAnswered408: a request on a kept-alive connection
// whose body comes too slowly is answered 408, though the write deadline
// of the connection's previous response has passed by then.
func TestSlowBodyOnKeepAliveAnswered408(t *testing.T) {
	be := startBackend(t, "a", nil)
	h := startLB(t, idleDoc(1, be.addr))
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	// Half the idle timeout later, a request whose body stalls: its 408
	// comes an idle timeout after the head, past the first response's
	// write deadline.
	time.Sleep(500 * time.Millisecond)
	if _, err := io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a body that stalled: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 408 {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
}
