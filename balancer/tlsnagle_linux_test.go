package balancer

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// firstAnswerDelay opens a TLS 1.3 connection from a client that leaves
// Nagle on (as Java's sockets do by default), writes one request right
// after the handshake and returns how long its answer took.
// prefix, when not empty, is sent before the handshake (a PROXY header).
func firstAnswerDelay(t *testing.T, addr, prefix string, cfg *tls.Config) time.Duration {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.(*net.TCPConn).SetNoDelay(false)
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(raw, prefix); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if code, _, err := readStatus(bufio.NewReader(c)); code != 200 {
		t.Fatalf("status %d (%v)", code, err)
	}
	return time.Since(start)
}

// TestTLSFirstRequestNagleClient: a TLS 1.3 client with Nagle's algorithm
// on holds its first request until its Finished is acknowledged; Gantry
// acknowledges it at once instead of after the delayed-ACK timer (40 ms or
// more on Linux, on every new connection).
func TestTLSFirstRequestNagleClient(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	be := startBackend(t, "web", nil)
	cfg := ca.clientConfig("www.example.com")
	cfg.MinVersion = tls.VersionTLS13
	for _, tc := range []struct{ name, doc, prefix string }{
		{"https", httpsDoc(be.addr), ""},
		// Behind a trusted load balancer: the PROXY header's reader is one
		// more wrapper above the socket.
		{"https behind a PROXY header", strings.Replace(httpsDoc(be.addr), "protocol: HTTPS\n",
			"protocol: HTTPS\nproxyProtocol: {trustedCidrs: [\"127.0.0.0/8\"]}\n", 1),
			"PROXY TCP4 203.0.113.7 127.0.0.1 4000 443\r\n"},
	} {
		h := startLB(t, tc.doc, func(o *Options) {
			o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
		})
		var ds []time.Duration
		for range 5 {
			ds = append(ds, firstAnswerDelay(t, h.addr(), tc.prefix, cfg))
		}
		slices.Sort(ds)
		if ds[2] >= 25*time.Millisecond {
			t.Errorf("%s: first answers after %v (median %v): the client's first request waited for a delayed ACK", tc.name, ds, ds[2])
		}
	}
}
