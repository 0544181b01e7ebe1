package balancer

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestClientClosedDuringUpload: a client that hangs up halfway through a
// streamed body is counted as ALB's 460 on its listener, and never as a
// failure of the target (passive ejection must not punish healthy targets
// for clients that leave).
func TestClientClosedDuringUpload(t *testing.T) {
	got := make(chan struct{}, 1)
	addr := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			buf := make([]byte, 32<<10)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, _ := c.Read(buf); n > 0 {
				got <- struct{}{}
			}
			_, _ = io.Copy(io.Discard, c)
		}()
	})
	h := startLB(t, groupDoc("", addr))
	c, err := net.DialTimeout("tcp", h.client.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Larger than what fasthttp reads with the head, so the body is streamed.
	const size = 8 << 20
	head := fmt.Sprintf("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
	if _, err := io.WriteString(c, head+strings.Repeat("x", 256<<10)); err != nil {
		t.Fatal(err)
	}
	// Wait until the upload is in flight to the target, then hang up.
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the upload did not reach the target within 5s")
	}
	_ = c.Close()

	waitFor(t, 5*time.Second, "gantry_client_closed_total to count the hang-up", func() bool {
		return h.metric("gantry_client_closed_total", map[string]string{"listener": "public"}) == 1
	})
	if got := h.metric("gantry_target_passive_failures_total", map[string]string{"target_group": "web"}); got != 0 {
		t.Errorf("gantry_target_passive_failures_total = %v, want 0: a client hanging up is not the target's fault", got)
	}
	if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": "460"}); got != 1 {
		t.Errorf("gantry_http_code_elb_total{code=460} = %v, want 1", got)
	}
}
