package balancer

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// clientPair is lazyPair for a client connection (waitWhenEmpty), taken
// through one answered request with a keep-alive wait before it, which
// turns TCP_INQ on. peer is the client.
func clientPair(t *testing.T) (*lazyConn, net.Conn) {
	t.Helper()
	if !inqReads {
		t.Skip("client connections do not wait first under the race detector (rawio_race_linux.go)")
	}
	c, peer := lazyPair(t)
	c.waitWhenEmpty()
	if c.sw.Load() == nil {
		t.Fatal("waitWhenEmpty left a TCP client connection reading first")
	}
	request(t, c, peer, "first")
	// The keep-alive wait: the Read finds nothing, then the request.
	time.AfterFunc(30*time.Millisecond, func() { _, _ = peer.Write([]byte("second")) })
	if s, err := readWithin(t, c, 5*time.Second); err != nil || s != "second" {
		t.Fatalf("Read = %q, %v; want \"second\"", s, err)
	}
	if !c.raw.inq {
		t.Fatal("a keep-alive wait did not turn TCP_INQ on")
	}
	answer(t, c, peer)
	return c, peer
}

// request has the peer send msg and reads it.
func request(t *testing.T, c *lazyConn, peer net.Conn, msg string) {
	t.Helper()
	if _, err := peer.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if s, err := readWithin(t, c, 5*time.Second); err != nil || s != msg {
		t.Fatalf("Read = %q, %v; want %q", s, err, msg)
	}
}

// answer writes a reply and has the peer read it.
func answer(t *testing.T, c *lazyConn, peer net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(peer, buf); err != nil {
		t.Fatal(err)
	}
}

// tcpState is the kernel's state of c's socket (TCP_INFO).
func tcpState(t *testing.T, c net.Conn) uint8 {
	t.Helper()
	rc, err := plainTCP(c).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info syscall.TCPInfo
	var serr error
	_ = rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(info))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
		if e != 0 {
			serr = e
		}
	})
	if serr != nil {
		t.Fatal(serr)
	}
	return info.State
}

// awaitState polls c's socket until it reaches state (the peer's FIN or
// reset has been processed), up to 5 s.
func awaitState(t *testing.T, c net.Conn, state uint8) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if tcpState(t, c) == state {
			return
		}
	}
	t.Fatalf("socket never reached TCP state %d", state)
}

const (
	tcpCloseWait = 8 // TCP_CLOSE_WAIT
	tcpClose     = 7 // TCP_CLOSE
)

// TestClientWaitsFirstForTheNextRequest: after an answer, a read that left
// the socket empty makes the next Read wait first, and it gets the bytes
// that come later.
func TestClientWaitsFirstForTheNextRequest(t *testing.T) {
	t.Parallel()
	c, peer := clientPair(t)
	if !c.raw.emptied() || !c.wrote.Load() {
		t.Fatalf("after a short read and an answer: emptied %v, wrote %v; the next Read would not wait first", c.raw.emptied(), c.wrote.Load())
	}
	time.AfterFunc(30*time.Millisecond, func() { _, _ = peer.Write([]byte("third")) })
	if s, err := readWithin(t, c, 5*time.Second); err != nil || s != "third" {
		t.Fatalf("Read after waiting first = %q, %v; want \"third\"", s, err)
	}
}

// TestClientFINWithLastRequest: a client that sends its last request and
// half-closes at once has its FIN taken by the read of that request; the
// Read after the answer must report the end at once, not wait for an edge
// that was already spent (until the idle timeout).
func TestClientFINWithLastRequest(t *testing.T) {
	t.Parallel()
	c, peer := clientPair(t)
	if _, err := peer.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	_ = peer.(*net.TCPConn).CloseWrite()
	awaitState(t, c, tcpCloseWait) // bytes and FIN both queued before the read
	if s, err := readWithin(t, c, 5*time.Second); err != nil || s != "last" {
		t.Fatalf("Read = %q, %v; want \"last\"", s, err)
	}
	if c.raw.emptied() {
		t.Error("a read that took the FIN reported the socket emptied")
	}
	answer(t, c, peer)
	if _, err := readWithin(t, c, 2*time.Second); err != io.EOF {
		t.Fatalf("Read after the answer = %v, want EOF at once", err)
	}
}

// TestClientResetAfterAnswer: a reset that comes while a Read waits first
// ends it with an error.
func TestClientResetAfterAnswer(t *testing.T) {
	t.Parallel()
	c, peer := clientPair(t)
	time.AfterFunc(30*time.Millisecond, func() {
		_ = peer.(*net.TCPConn).SetLinger(0)
		_ = peer.Close()
	})
	if _, err := readWithin(t, c, 2*time.Second); err == nil {
		t.Fatal("Read from a reset client succeeded")
	}
}

// TestClientReadsWithinARequestTryFirst: between two reads with nothing
// written (the rest of a head or body) a Read tries the socket first. A
// reset that came with the last bytes raised no edge the wait could see,
// so waiting first would sleep until the read deadline.
func TestClientReadsWithinARequestTryFirst(t *testing.T) {
	t.Parallel()
	c, peer := clientPair(t)
	if _, err := peer.Write([]byte("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\npart")); err != nil {
		t.Fatal(err)
	}
	_ = peer.(*net.TCPConn).SetLinger(0)
	_ = peer.Close()
	awaitState(t, c, tcpClose)
	// Linux keeps the bytes readable after the reset; the first Read may
	// get them or the error, the next must not wait.
	for range 2 {
		if _, err := readWithin(t, c, 2*time.Second); err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatalf("Read after a reset = EOF, want the reset")
			}
			return
		}
	}
	t.Fatal("two Reads after a reset succeeded")
}

// TestKeepAliveClientHalfClose: through a listener, a keep-alive client
// whose last request comes with its FIN gets the answer and the close at
// once (the wait first must not sleep on the spent FIN until idle timeout).
func TestKeepAliveClientHalfClose(t *testing.T) {
	t.Parallel()
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	br := bufio.NewReader(c)
	get := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	for i := range 3 {
		if _, err := io.WriteString(c, get); err != nil {
			t.Fatal(err)
		}
		code, hdr, err := readStatus(br)
		if err != nil || code != 200 {
			t.Fatalf("request %d: %d, %v", i, code, err)
		}
		if _, err := io.CopyN(io.Discard, br, contentLength(hdr)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.WriteString(c, get); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	start := time.Now()
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading to the close: %v", err)
	}
	if !strings.HasPrefix(string(rest), "HTTP/1.1 200") {
		t.Fatalf("last answer %.60q, want a 200", rest)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the connection closed %v after the half-close, want at once", d)
	}
}

func contentLength(hdr []string) int64 {
	for _, l := range hdr {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(k, "Content-Length") {
			var n int64
			for _, ch := range strings.TrimSpace(v) {
				n = n*10 + int64(ch-'0')
			}
			return n
		}
	}
	return 0
}
