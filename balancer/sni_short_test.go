package balancer

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// A client of another protocol that sends fewer bytes than a TLS record
// header ("hi\n") and waits for the answer is not a TLS client from its
// first byte on: it takes the default action at once, not after the
// header timeout the SNI peek is bounded by.
func TestTCPSNIShortNonTLSClient(t *testing.T) {
	plain := startTCPBackend(t, namedEcho("plain"))
	other := startTCPBackend(t, namedEcho("other"))
	doc := fmt.Sprintf(`kind: Listener
name: nlb
port: 1
protocol: TCP
rules:
  - priority: 1
    conditions: {sni: ["a.example.com"]}
    action: {forward: {targetGroup: other}}
defaultAction: {forward: {targetGroup: plain}}
---
kind: TargetGroup
name: plain
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
---
kind: TargetGroup
name: other
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
`, plain.addr, other.addr)
	h := startLB(t, doc)
	for _, first := range []string{"h", "hi\n", "\x16\x01"} {
		c, err := net.DialTimeout("tcp", h.addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(c, first); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len("plain\n")+len(first))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "plain\n"+first {
			t.Errorf("client sending %q: read %q (%v), want the default target's greeting and the echo", first, buf, err)
		}
		_ = c.Close()
	}
}
