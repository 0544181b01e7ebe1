package balancer

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// drain reads the message the peer just sent, leaving the lazyConn in the
// state where its next Read waits first.
func drain(t *testing.T, c *lazyConn, peer net.Conn, msg string) {
	t.Helper()
	if _, err := peer.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("Read = %q, %v; want %q", buf[:n], err, msg)
	}
	if !c.drained {
		t.Fatal("a short read did not mark the socket drained")
	}
	c.expectReply()
}

// replyPair is lazyPair for a target connection: it may wait first.
func replyPair(t *testing.T) (*lazyConn, net.Conn) {
	t.Helper()
	c, peer := lazyPair(t)
	c.waitForReplies()
	return c, peer
}

func TestWaitFirstLayoutMatchesThisGo(t *testing.T) {
	c, _ := replyPair(t)
	if c.sw.Load() == nil {
		t.Fatal("no poll descriptor for a TCP connection: the mirrored net.TCPConn layout no longer matches this Go; update waitread_linux.go")
	}
}

func TestWaitFirstGetsLaterData(t *testing.T) {
	t.Parallel()
	c, peer := replyPair(t)
	drain(t, c, peer, "first")
	time.AfterFunc(50*time.Millisecond, func() { _, _ = peer.Write([]byte("second")) })
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "second" {
		t.Fatalf("Read after waiting first = %q, %v; want \"second\"", buf[:n], err)
	}
}

// TestWaitFirstStaleEdge: bytes sent in two writes but taken by one read
// leave an edge behind; the next Read must still block for new bytes, not
// return empty.
func TestWaitFirstStaleEdge(t *testing.T) {
	t.Parallel()
	c, peer := replyPair(t)
	_, _ = peer.Write([]byte("a"))
	_, _ = peer.Write([]byte("b"))
	time.Sleep(20 * time.Millisecond) // both segments queued before the read
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || n == 0 {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if n == 1 { // the second byte came apart; take it
		if _, err := c.Read(buf[1:]); err != nil {
			t.Fatal(err)
		}
	}
	c.expectReply()
	time.AfterFunc(50*time.Millisecond, func() { _, _ = peer.Write([]byte("c")) })
	n, err = c.Read(buf)
	if err != nil || string(buf[:n]) != "c" {
		t.Fatalf("Read after a stale edge = %q, %v; want \"c\"", buf[:n], err)
	}
}

func TestWaitFirstHonoursDeadlineCloseAndEOF(t *testing.T) {
	t.Parallel()
	t.Run("deadline", func(t *testing.T) {
		c, peer := replyPair(t)
		drain(t, c, peer, "x")
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline error", err)
		}
	})
	t.Run("lazy deadline", func(t *testing.T) {
		c, peer := replyPair(t)
		drain(t, c, peer, "x")
		_ = c.SetReadDeadline(time.Now().Add(lazyHorizon + 100*time.Millisecond))
		if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline error", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		c, peer := replyPair(t)
		drain(t, c, peer, "x")
		time.AfterFunc(30*time.Millisecond, func() { _ = c.Close() })
		if _, err := c.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read = %v, want net.ErrClosed", err)
		}
	})
	t.Run("peer closes", func(t *testing.T) {
		c, peer := replyPair(t)
		drain(t, c, peer, "x")
		time.AfterFunc(30*time.Millisecond, func() { _ = peer.Close() })
		if _, err := c.Read(make([]byte, 8)); err != io.EOF {
			t.Fatalf("Read = %v, want EOF", err)
		}
	})
}

// TestWaitFirstConcurrentReaders: two goroutines reading one connection
// both get their bytes (Reads are serialised, as net.Conn's are).
func TestWaitFirstConcurrentReaders(t *testing.T) {
	t.Parallel()
	c, peer := replyPair(t)
	drain(t, c, peer, "x")
	var wg sync.WaitGroup
	got := make(chan byte, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			if _, err := c.Read(b[:]); err == nil {
				got <- b[0]
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	_, _ = peer.Write([]byte("1"))
	time.Sleep(20 * time.Millisecond)
	_, _ = peer.Write([]byte("2"))
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a concurrent reader never got its byte")
	}
	if len(got) != 2 {
		t.Fatalf("%d readers got a byte, want 2", len(got))
	}
}

// TestReadWaiterStopsWaitingFirst: a WebSocket relay that waits on the
// socket itself turns the wrapper's own wait off, or the two would take
// each other's edges and a Read could sleep on bytes already there.
func TestReadWaiterStopsWaitingFirst(t *testing.T) {
	t.Parallel()
	c, peer := replyPair(t)
	drain(t, c, peer, "x")
	wait := readWaiter(&countingConn{Conn: c})
	if wait == nil {
		t.Fatal("no readWaiter through countingConn and lazyConn")
	}
	if c.sw.Load() != nil || c.waitNext {
		t.Fatal("readWaiter left the lazyConn waiting first")
	}
	_, _ = peer.Write([]byte("y"))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := readWithin(t, c, 5*time.Second); err != nil {
		t.Fatalf("Read after readWaiter: %v", err)
	}
}

// TestNoWaitFirstWithoutExpectReply: a peer's FIN that came with its last
// bytes is reported by the next Read at once; only a Read announced by
// expectReply waits first.
func TestNoWaitFirstWithoutExpectReply(t *testing.T) {
	t.Parallel()
	c := readLastWords(t, "last")
	if _, err := readWithin(t, c, 2*time.Second); err != io.EOF {
		t.Fatalf("Read = %v, want EOF at once: the end of stream came with the last bytes", err)
	}
}

// TestWaitFirstPeerClosedBeforeRequest: a target that closed a pooled
// connection (its FIN came with the last response) answers the next request
// with a reset, which ends the wait: the failure is seen at once and the
// request can be retried elsewhere, not left waiting for its timeout.
func TestWaitFirstPeerClosedBeforeRequest(t *testing.T) {
	t.Parallel()
	c := readLastWords(t, "response")
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	c.expectReply()
	if _, err := readWithin(t, c, 2*time.Second); err == nil {
		t.Fatal("Read from a closed peer succeeded")
	}
}

// TestWaitFirstCloseDuringWait: a Close while a Read waits first wakes it,
// and sockets opened right after (which may be handed the freed poll
// descriptor) keep working. The wait holds a reference to the socket, so
// the descriptor is only freed once the wait is over; the window this
// guards is too narrow for the test to hit reliably without it.
func TestWaitFirstCloseDuringWait(t *testing.T) {
	t.Parallel()
	for i := range 100 {
		c, peer := replyPair(t)
		drain(t, c, peer, "x")
		done := make(chan error, 1)
		go func() { _, err := c.Read(make([]byte, 8)); done <- err }()
		if i%2 == 0 {
			time.Sleep(time.Millisecond)
		}
		_ = c.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Read on a closed connection succeeded")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Close did not wake a read waiting first")
		}
		c2, peer2 := replyPair(t)
		drain(t, c2, peer2, "y")
		_, _ = peer2.Write([]byte("z"))
		if s, err := readWithin(t, c2, 2*time.Second); err != nil || s != "z" {
			t.Fatalf("run %d: a new connection after a Close during a wait: Read = %q, %v", i, s, err)
		}
	}
}

func readWithin(t *testing.T, c net.Conn, d time.Duration) (string, error) {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		done <- result{string(buf[:n]), err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-time.After(d):
		t.Fatalf("Read did not return within %v", d)
		return "", nil
	}
}

// readLastWords has the peer send msg and close at once, so that its FIN is
// queued with the bytes, and reads the bytes.
func readLastWords(t *testing.T, msg string) *lazyConn {
	t.Helper()
	c, peer := replyPair(t)
	_, _ = peer.Write([]byte(msg))
	_ = peer.Close()
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != msg {
		t.Fatalf("Read = %q, %v; want %q", buf[:n], err, msg)
	}
	return c
}
