package balancer

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// flakyListener fails its first Accepts with EMFILE, then hands out one
// end of a pipe, then reports closed.
type flakyListener struct {
	mu       sync.Mutex
	failures int
	conn     net.Conn
	closed   chan struct{}
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures > 0 {
		l.failures--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	l.mu.Unlock()
	<-l.closed
	l.mu.Lock()
	return nil, net.ErrClosed
}

func (l *flakyListener) Close() error   { close(l.closed); return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptSurvivesEMFILE: running out of descriptors pauses accepting; it
// does not stop the listener for good.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	ln := &flakyListener{failures: 3, conn: a, closed: make(chan struct{})}
	p := newPortListener(ln, "flaky", newMetrics(prometheus.NewRegistry(), func() []*group { return nil }))
	got := make(chan net.Conn, 1)
	d := func(c *countingConn) { got <- c }
	p.dispatch.Store(&d)
	done := make(chan struct{})
	go func() { defer close(done); p.acceptLoop() }()
	select {
	case c := <-got:
		_ = c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted after EMFILE errors")
	}
	p.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("accept loop did not end after Close")
	}
}
