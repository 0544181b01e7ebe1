package balancer

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// lazyPair is a loopback TCP connection whose accepted end is a lazyConn.
func lazyPair(t *testing.T) (*lazyConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	lc := newLazyConn(c)
	t.Cleanup(func() { _ = lc.Close(); _ = peer.Close() })
	return lc, peer
}

// readErrAfter reads one byte and says how long it took and how it failed.
func readErrAfter(c net.Conn) (time.Duration, error) {
	start := time.Now()
	var b [1]byte
	_, err := c.Read(b[:])
	return time.Since(start), err
}

func TestLazyDeadlineFiresLate(t *testing.T) {
	t.Parallel()
	c, _ := lazyPair(t)
	far := lazyHorizon + 300*time.Millisecond
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(far)); err != nil {
		t.Fatal(err)
	}
	if c.r.at.Load() == 0 {
		t.Fatal("a far deadline was armed on the socket, want it kept in memory")
	}
	_, err := readErrAfter(c)
	took := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read error = %v, want a deadline error", err)
	}
	if took < far || took > far+5*deadlineTick {
		t.Fatalf("far deadline fired after %v, want %v to %v", took, far, far+5*deadlineTick)
	}
}

func TestLazyDeadlineNearIsExact(t *testing.T) {
	t.Parallel()
	c, _ := lazyPair(t)
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(30 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := readErrAfter(c)
	took := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read error = %v, want a deadline error", err)
	}
	if took < 30*time.Millisecond || took >= deadlineTick+30*time.Millisecond {
		t.Fatalf("near deadline fired after %v, want about 30ms", took)
	}
}

func TestLazyDeadlinePastWakesBlockedRead(t *testing.T) {
	t.Parallel()
	c, _ := lazyPair(t)
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := readErrAfter(c); done <- err }()
	// The idiom for waking a blocked reader must stay immediate.
	time.AfterFunc(20*time.Millisecond, func() { _ = c.SetReadDeadline(pastDeadline) })
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read error = %v, want a deadline error", err)
		}
	case <-time.After(lazyHorizon):
		t.Fatal("a past deadline did not wake the blocked Read")
	}
}

func TestLazyDeadlineMovedOrClearedAfterFiring(t *testing.T) {
	t.Parallel()
	c, peer := lazyPair(t)
	// A fired deadline makes reads fail until it is moved, as net.Conn's.
	c.r.at.Store(deadlineScan.offset(time.Now()) - 1)
	c.fireDue(deadlineScan.offset(time.Now()))
	if _, err := readErrAfter(c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after firing = %v, want a deadline error", err)
	}
	for _, next := range []time.Time{{}, time.Now().Add(time.Minute)} {
		if err := c.SetReadDeadline(next); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := readErrAfter(c); err != nil {
			t.Fatalf("Read after SetReadDeadline(%v) following a fired deadline: %v", next, err)
		}
		c.r.at.Store(deadlineScan.offset(time.Now()) - 1)
		c.fireDue(deadlineScan.offset(time.Now()))
	}
}

func TestLazyDeadlineMovedLaterDoesNotFire(t *testing.T) {
	t.Parallel()
	c, peer := lazyPair(t)
	first := lazyHorizon + 100*time.Millisecond
	if err := c.SetWriteDeadline(time.Now().Add(first)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(first)); err != nil {
		t.Fatal(err)
	}
	// Keep-alive traffic moves the deadline before it is due.
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(first+3*deadlineTick, func() { _, _ = peer.Write([]byte("x")) })
	if took, err := readErrAfter(c); err != nil {
		t.Fatalf("Read failed after %v with %v; the deadline it was given had been moved", took, err)
	}
	// The write deadline was not moved: it fired.
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = c.Write(make([]byte, 1<<20))
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write after its deadline = %v, want a deadline error", err)
	}
}

// TestLazyDeadlineRaces moves a deadline while it is being fired: once the
// mover is done, with its last deadline far ahead, reads must work.
func TestLazyDeadlineRaces(t *testing.T) {
	t.Parallel()
	c, peer := lazyPair(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.fireDue(deadlineScan.offset(time.Now().Add(time.Hour)))
		}
	}()
	for i := 0; i < 20000; i++ {
		d := time.Minute
		if i%3 == 0 {
			d = time.Millisecond // exact path
		}
		_ = c.SetReadDeadline(time.Now().Add(d))
	}
	close(stop)
	wg.Wait()
	if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := readErrAfter(c); err != nil {
		t.Fatalf("Read after the races, deadline an hour ahead: %v", err)
	}
}

func TestLazyConnCloseUnregisters(t *testing.T) {
	t.Parallel()
	c, _ := lazyPair(t)
	registered := func() bool {
		deadlineScan.mu.Lock()
		defer deadlineScan.mu.Unlock()
		return c.slot >= 0 && deadlineScan.conns[c.slot] == c
	}
	if !registered() {
		t.Fatal("a new lazyConn is not registered with the scanner")
	}
	_ = c.Close()
	if registered() || c.slot != -1 {
		t.Fatal("a closed lazyConn is still registered")
	}
	if err := c.Close(); err == nil {
		t.Fatal("second Close succeeded, want the socket's error")
	}
}

// TestLazyConnUnwraps keeps WebSocket relays able to wait on the socket
// without a buffer (readWaiter) through the wrapper.
func TestLazyConnUnwraps(t *testing.T) {
	t.Parallel()
	c, _ := lazyPair(t)
	if plainTCP(&countingConn{Conn: c}) == nil {
		t.Fatal("plainTCP does not see through countingConn and lazyConn")
	}
}
