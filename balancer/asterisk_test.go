package balancer

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestOptionsAsteriskForwarded: "OPTIONS * HTTP/1.1" reaches the target with
// its asterisk request target (RFC 9112 3.2.4), not as a path "/%2A".
func TestOptionsAsteriskForwarded(t *testing.T) {
	lines := make(chan string, 4)
	target := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				lines <- strings.TrimSpace(line)
				for {
					if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
						break
					}
				}
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nAllow: GET, OPTIONS\r\nContent-Length: 0\r\n\r\n"); err != nil {
					return
				}
			}
		}()
	})
	h := startLB(t, groupDoc("", target))
	c := dialRaw(t, h.client.Addr, 5*time.Second)
	br := bufio.NewReader(c)
	for _, req := range []string{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"} {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		if code, _, err := readStatus(br); code != 200 {
			t.Fatalf("%q: status %d (%v), want 200", req, code, err)
		}
	}
	for _, want := range []string{"OPTIONS * HTTP/1.1", "OPTIONS /x HTTP/1.1"} {
		select {
		case got := <-lines:
			if got != want {
				t.Errorf("target got %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the target got no request (want %q)", want)
		}
	}
}
