//go:build linux

package e2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestScaleInWaitsForWebSockets: the acknowledged drain counts open
// WebSockets. Scaling a service to zero while a WebSocket is open through
// the listener stops the tasks without one at once, while the task behind
// the WebSocket keeps running until its group's deregistration delay ends;
// then the client gets close code 1001 and only then the task its SIGTERM.
func TestScaleInWaitsForWebSockets(t *testing.T) {
	const delay = 4 * time.Second
	doc, listen := quickstart(t, append(fastStop, "deregistrationDelaySeconds: 30", "deregistrationDelaySeconds: 4")...)
	dir := t.TempDir()
	n := startNode(t, []string{writeFile(t, dir, "quickstart.yaml", doc)}, "--docker=false")
	n.waitSteady(t, 30*time.Second, "echo:1", "web", 3)

	ws, br := openWebSocket(t, listen)
	defer ws.Close()
	start := time.Now()
	mustCLI(t, n, "apply", "-f", writeFile(t, dir, "zero.yaml", rewrite(t, doc, "desiredCount: 3", "desiredCount: 0")))

	// The WebSocket stays up through the drain, then is closed with 1001.
	_ = ws.SetReadDeadline(time.Now().Add(delay + 20*time.Second))
	code, err := readCloseCode(br)
	closedAfter := time.Since(start)
	if err != nil {
		t.Fatalf("reading the WebSocket after the scale-in: %v (after %v)", err, closedAfter)
	}
	if code != 1001 {
		t.Errorf("close code %d, want 1001 (going away)", code)
	}
	if closedAfter < delay-500*time.Millisecond {
		t.Errorf("WebSocket closed %v after the scale-in, before the %v deregistration delay", closedAfter, delay)
	}
	eventually(t, 20*time.Second, "no task left", func() bool { return len(n.tasks(t)) == 0 })

	// The agent's log: two drains end at once, the WebSocket's waits for it.
	waits := regexp.MustCompile(`targets drained; stopping the task" component=agent task=\w+ \S+ \S+ waited=(\S+)`).
		FindAllStringSubmatch(n.out.String(), -1)
	if len(waits) != 3 {
		t.Fatalf("%d drains logged, want 3:\n%s", len(waits), n.out.tail(4<<10))
	}
	long := 0
	var waited []string
	for _, w := range waits {
		waited = append(waited, w[1])
		d, err := time.ParseDuration(w[1])
		if err != nil {
			t.Fatalf("waited=%q: %v", w[1], err)
		}
		switch {
		case d >= delay-500*time.Millisecond:
			long++
		case d > 2*time.Second:
			t.Errorf("a task without a WebSocket waited %v for its drain", d)
		}
	}
	if long != 1 {
		t.Errorf("%d drains waited for the delay, want exactly the WebSocket's: %v", long, waited)
	}
	t.Logf("WebSocket closed with %d after %v; the three drains waited %v", code, closedAfter.Round(time.Millisecond), waited)
}

// openWebSocket upgrades a connection to /ws through addr and checks one
// echoed frame.
func openWebSocket(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" +
		"\x81\x82\x01\x02\x03\x04" + string([]byte{'h' ^ 1, 'i' ^ 2})
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("WebSocket handshake: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	var echo [4]byte
	if _, err := io.ReadFull(br, echo[:]); err != nil || string(echo[:]) != "\x81\x02hi" {
		t.Fatalf("WebSocket echo: %q %v", echo, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, br
}

// readCloseCode reads frames until a close frame and returns its code.
func readCloseCode(br *bufio.Reader) (int, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return 0, err
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return 0, err
			}
			n = int(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return 0, err
			}
			n = int(binary.BigEndian.Uint64(b[:]))
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0, err
		}
		if h[0]&0x0f == 0x8 {
			if n < 2 {
				return 1005, nil
			}
			return int(binary.BigEndian.Uint16(payload)), nil
		}
	}
}
