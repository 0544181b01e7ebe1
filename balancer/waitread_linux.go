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
// its last bytes: the read returns the bytes, the end of stream is only
// reported by the next read, and its edge may already be spent. So a
// connection never waits first for bytes that may simply not come (the
// next request of a keep-alive client that half-closed, the rest of a
// close-delimited body); only for the answer to bytes it has just sent,
// which a peer that closed answers with a reset, and a reset is an edge.
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

// pollContext returns c's runtime poll descriptor and file descriptor, or
// 0 when c is not a TCP connection or the layout check failed.
func pollContext(c net.Conn) (uintptr, int) {
	tc, ok := c.(*net.TCPConn)
	if !ok || tc == nil {
		return 0, -1
	}
	layoutOnce.Do(func() { layoutOK = checkLayout(tc) })
	if !layoutOK {
		return 0, -1
	}
	fd := (*tcpConnLayout)(unsafe.Pointer(tc)).fd
	if fd == nil {
		return 0, -1
	}
	return fd.runtimeCtx, fd.sysfd
}

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

// pollWaitRead parks until the poll descriptor ctx reports data, a
// deadline, or Close. Its result is not needed: the Read that follows
// reports any error.
func pollWaitRead(ctx uintptr) { _ = runtime_pollWait(ctx, 'r') }

// hangUps watches client sockets for the peer's FIN or a reset, the one
// thing the runtime's poller does not remember (it reports EPOLLRDHUP as
// plain readability): its own epoll set holds each socket edge-triggered
// for EPOLLRDHUP only, so bytes arriving never wake it, and one goroutine
// tells each hung-up connection (lazyConn.hungUp). It runs while sockets
// are registered; the descriptor's close takes it out of the set.
var hangUps = &hangUpWatch{epfd: -1}

type hangUpWatch struct {
	once sync.Once
	epfd int

	mu      sync.Mutex
	conns   map[uint64]*lazyConn
	next    uint64
	running bool
}

// add registers c's socket fd; it returns c's token, 0 when it cannot.
func (w *hangUpWatch) add(c *lazyConn, fd int) uint64 {
	w.once.Do(func() {
		if fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err == nil {
			w.epfd = fd
			w.conns = make(map[uint64]*lazyConn)
		}
	})
	if w.epfd < 0 || fd < 0 {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	tok := w.next
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | epollET, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
	if err := syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return 0
	}
	w.conns[tok] = c
	if !w.running {
		w.running = true
		go w.run()
	}
	return tok
}

func (w *hangUpWatch) remove(tok uint64) {
	w.mu.Lock()
	delete(w.conns, tok)
	w.mu.Unlock()
}

// epollET is EPOLLET as the uint32 of syscall.EpollEvent.Events.
const epollET = 1 << 31

// hangUpPoll bounds each wait, so the goroutine notices it has nothing left
// to watch and ends.
const hangUpPoll = 200

func (w *hangUpWatch) run() {
	events := make([]syscall.EpollEvent, 128)
	var hung []*lazyConn
	for {
		n, err := syscall.EpollWait(w.epfd, events, hangUpPoll)
		if err != nil && err != syscall.EINTR {
			n = 0
		}
		hung = hung[:0]
		w.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if c := w.conns[tok]; c != nil {
				hung = append(hung, c)
			}
		}
		if len(w.conns) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		for _, c := range hung {
			c.hungUp()
		}
	}
}
