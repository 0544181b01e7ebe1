package balancer

import (
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// Waiting before reading.
//
// Go's net package reads before it waits: every Read first tries the
// socket, and only a read that finds nothing parks the goroutine until the
// poller reports data. When a proxy has just sent a request to a target,
// that first try always finds nothing (read(2) returns EAGAIN): the target
// has not even run yet. nginx waits first.
//
// lazyConn waits first for a target's response (expectReply, called once
// the request is written) when that is safe. The runtime's poller is edge
// triggered and remembers an edge that arrives while nobody waits (its
// "ready" state) until the next Read prepares, so after a read that
// emptied the socket (a short read) any byte that arrived since has left an
// edge that the wait consumes at once; no edge means no byte, and the
// goroutine parks until one comes. A stale edge (for bytes the previous
// read already took) only means the Read that follows tries, finds nothing
// and waits as it always did. The wait honours deadlines and Close: on
// either it returns and the Read that follows reports the error.
//
// One thing a short read cannot tell is whether the peer's FIN came with
// its last bytes: the read takes it and returns the bytes, the end of
// stream is only reported by the next read, and its edge is already spent.
// So a target connection never waits first for bytes that may simply not
// come (the rest of a close-delimited body); only for the answer to bytes
// it has just sent, which a peer that closed answers with a reset, and a
// reset is an edge. A client connection, whose next request may well not
// come, asks the kernel instead (TCP_INQ, rawio_linux.go): it waits first
// only when the last read left nothing, its FIN included, and only for the
// answer to what it wrote since (waitWhenEmpty).
//
// The runtime's wait is reached by linkname and the poll descriptor
// through the layout of net.TCPConn, checked once against the real
// descriptor; any mismatch turns the whole feature off, and a test fails
// when this Go's layout no longer matches.

//go:linkname runtime_pollWait internal/poll.runtime_pollWait
func runtime_pollWait(ctx uintptr, mode int) int

// tcpConnLayout mirrors net.TCPConn -> *net.netFD -> poll.FD on unix
// (go1.2x): the file descriptor and the runtime poll descriptor.
type tcpConnLayout struct{ fd *netFDLayout }

type netFDLayout struct {
	state        uint64 // fdMutex
	rsema, wsema uint32
	sysfd        int
	iovecs       unsafe.Pointer // SysFile
	runtimeCtx   uintptr        // pollDesc
}

var (
	layoutOnce sync.Once
	layoutOK   bool
)

// socketWait waits on a socket's poll descriptor while holding a reference
// to the socket (RawConn.Control), as the socket's own Read does: a Close
// meanwhile wakes the wait, and the descriptor is not freed (and reused by
// another socket) under it.
type socketWait struct {
	raw  syscall.RawConn
	wait func(uintptr)
}

// newSocketWait returns nil when c is not a TCP connection or the layout
// check failed.
func newSocketWait(c net.Conn) *socketWait {
	tc, ok := c.(*net.TCPConn)
	if !ok || tc == nil {
		return nil
	}
	layoutOnce.Do(func() { layoutOK = checkLayout(tc) })
	if !layoutOK {
		return nil
	}
	fd := (*tcpConnLayout)(unsafe.Pointer(tc)).fd
	if fd == nil || fd.runtimeCtx == 0 {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	ctx := fd.runtimeCtx
	return &socketWait{raw: raw, wait: func(uintptr) { _ = runtime_pollWait(ctx, 'r') }}
}

// waitWhenEmpty lets a client connection's Read wait first when something
// was written since the last read and the kernel said that read emptied
// the socket (TCP_INQ, rawio_linux.go). Only the answer to bytes just
// written is waited for, as on target connections: a reset that came with
// the last bytes read raises no further edge, but it makes the write fail,
// so no Read follows; a reset that comes later is an edge. (Between two
// reads of one head or body a wait could sleep on such a reset until the
// read deadline; those reads try first, as before.)
func (c *lazyConn) waitWhenEmpty() {
	if !inqReads || c.raw == nil {
		return
	}
	if sw := newSocketWait(c.Conn); sw != nil {
		c.raw.inqWanted = true
		c.waitWhenAnswered = true
		c.sw.Store(sw)
	}
}

// waitRead parks until the socket reports data, its end, an error, a
// deadline or Close. Its result is not needed: the Read that follows
// reports any error.
func (w *socketWait) waitRead() { _ = w.raw.Control(w.wait) }

// checkLayout compares the mirrored descriptor with the one the socket
// reports through SyscallConn.
func checkLayout(tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	real := -1
	if rc.Control(func(fd uintptr) { real = int(fd) }) != nil {
		return false
	}
	fd := (*tcpConnLayout)(unsafe.Pointer(tc)).fd
	return fd != nil && real >= 0 && fd.sysfd == real && fd.runtimeCtx != 0
}
