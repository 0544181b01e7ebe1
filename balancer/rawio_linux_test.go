package balancer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRawSocketIsUsed: lazyConn over a TCP socket reads and writes raw;
// over anything else it uses the connection's own methods.
func TestRawSocketIsUsed(t *testing.T) {
	a, _ := tcpPair(t)
	lc := newLazyConn(a)
	defer lc.Close()
	if lc.raw == nil {
		t.Error("lazyConn over *net.TCPConn has no raw socket")
	}
	p, q := net.Pipe()
	defer q.Close()
	lp := newLazyConn(p)
	defer lp.Close()
	if lp.raw != nil {
		t.Error("lazyConn over net.Pipe has a raw socket")
	}
}

// TestRawSocketStream: a payload far larger than the socket buffers goes
// both ways byte-exact through partial writes and reads (EAGAIN, waits).
func TestRawSocketStream(t *testing.T) {
	a, b := tcpPair(t)
	ra, rb := newLazyConn(a), newLazyConn(b)
	defer ra.Close()
	defer rb.Close()
	payload := make([]byte, 8<<20)
	_, _ = rand.Read(payload)
	errc := make(chan error, 1)
	go func() {
		n, err := ra.Write(payload)
		if err == nil && n != len(payload) {
			err = errors.New("short write without error")
		}
		if err == nil {
			err = a.CloseWrite()
		}
		errc <- err
	}()
	got := make([]byte, 0, len(payload))
	buf := make([]byte, 3000) // odd size: many short reads
	for {
		n, err := rb.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n == 0 {
			t.Fatal("read returned 0 bytes and no error")
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), len(payload))
	}
	if n, err := rb.Read(nil); n != 0 || err != nil {
		t.Errorf("zero-length read = %d, %v; want 0, nil", n, err)
	}
	if n, err := ra.Write(nil); n != 0 || err != nil {
		t.Errorf("zero-length write = %d, %v; want 0, nil", n, err)
	}
}

// TestRawSocketErrors: the errors are net.Conn's: a deadline is a timeout
// matching os.ErrDeadlineExceeded, Close wakes a blocked Read with
// net.ErrClosed, a reset peer is ECONNRESET or EPIPE, all *net.OpError.
func TestRawSocketErrors(t *testing.T) {
	a, _ := tcpPair(t)
	ra := newLazyConn(a)
	defer ra.Close()

	_ = a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := ra.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read past deadline: %v, want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" || oe.Source == nil || oe.Addr == nil {
		t.Errorf("read error %#v is not a read *net.OpError with addresses", err)
	}
	_ = a.SetReadDeadline(time.Time{})

	done := make(chan error, 1)
	go func() {
		_, err := ra.Read(make([]byte, 10))
		done <- err
	}()
	// Whether the reader is parked yet or not, it must see the close.
	_ = ra.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read on closed conn: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a blocked Read")
	}

	c, d := tcpPair(t)
	rc := newLazyConn(c)
	defer rc.Close()
	_ = d.SetLinger(0)
	_ = d.Close() // RST
	var werr error
	deadline := time.Now().Add(5 * time.Second)
	for werr == nil && time.Now().Before(deadline) {
		_, werr = rc.Write([]byte("x"))
	}
	if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) {
		t.Errorf("write to reset peer: %v, want ECONNRESET or EPIPE", werr)
	}
	if !errors.As(werr, &oe) || oe.Op != "write" {
		t.Errorf("write error %#v is not a write *net.OpError", werr)
	}
}
