package balancer

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestFlowResetPassedOn: a target that resets its connection after some
// bytes has ended its flow abnormally, on a TCP and on a TLS listener alike.
// The client sees a reset, never an orderly end (FIN, or TLS close_notify)
// that would make a truncated stream look complete, as NLB passes resets
// on; and the flow is logged with ConnectionReset. On a TLS listener the
// target's socket is watched for readability before a read (instead of
// spliced): that peek must not swallow the reset and let the read after it
// see a clean end of stream.
func TestFlowResetPassedOn(t *testing.T) {
	ca := newTestCA(t)
	// The target resets once the client acknowledged what it sent ("ok"),
	// so no byte of it is lost to the reset.
	be := startTCPBackend(t, func(c net.Conn) {
		if _, err := io.WriteString(c, "partial\n"); err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return
		}
		abortive(c)
		_ = c.Close()
	})
	for _, proto := range []string{"TCP", "TLS"} {
		t.Run(proto, func(t *testing.T) {
			certs := ""
			if proto == "TLS" {
				certs = "certificates: [{certFile: test.crt, keyFile: test.key}]\n"
			}
			doc := fmt.Sprintf(`kind: Listener
name: l
port: 1
protocol: %s
%sdefaultAction: {forward: {targetGroup: tcp}}
---
kind: TargetGroup
name: tcp
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
`, proto, certs, be.addr)
			log := &captureLog{}
			h := startLB(t, doc, func(o *Options) {
				o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
				o.AccessLog = log
			})
			var c net.Conn
			var err error
			if proto == "TLS" {
				c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.addr(), ca.clientConfig("www.example.com"))
			} else {
				c, err = net.DialTimeout("tcp", h.addr(), 5*time.Second)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			if got := readLine(t, br); got != "partial" {
				t.Fatalf("read %q, want partial", got)
			}
			if _, err := io.WriteString(c, "ok\n"); err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, br)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("after the target's reset the client read %v, want a connection reset", err)
			}
			waitFor(t, 5*time.Second, "the flow entry", func() bool { return len(log.all()) == 1 })
			if e := log.all()[0]; e.ErrorReason != "ConnectionReset" {
				t.Errorf("error_reason = %q, want ConnectionReset (the target reset the flow)", e.ErrorReason)
			}
		})
	}
}
