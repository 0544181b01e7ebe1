package balancer

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Raw socket reads and writes.
//
// Go's net package makes each read(2) and write(2) through the runtime's
// blocking-syscall path: the goroutine's processor (P) is marked as in a
// system call, and the runtime's monitor thread (sysmon) takes a P that has
// been in one system call for a whole tick (20 µs at first) and hands it to
// another thread. A proxy's sockets never block (they are non-blocking and
// a read or write that cannot proceed returns EAGAIN), but a write to a
// loopback peer runs the peer's whole TCP receive path inline and often
// takes longer than that tick. Under load the monitor then keeps waking
// every few tens of microseconds, preempting the thread that does the work
// and moving the P between threads, each a context switch (about a third of
// a switch per proxied request, five times nginx's, when proxy and targets
// share a CPU).
//
// rawSocket does the same reads and writes through the socket's RawConn,
// whose callback runs with the socket's read or write lock held and whose
// waits use the runtime's poller (deadlines and Close wake them exactly as
// for net.Conn), but makes the read(2) or write(2) itself a raw system call:
// the P stays with its thread, the monitor finds nothing to take and backs
// off to its slow pace. The results and errors are those of net.Conn: EOF
// on a zero read, *net.OpError wrapping the errno or the poller's error.

// maxRawIO bounds one read(2) or write(2), as the poll package does (some
// kernels refuse larger ones).
const maxRawIO = 1 << 30

type rawSocket struct {
	rc   syscall.RawConn
	conn net.Conn // for the addresses in errors

	rmu   sync.Mutex // guards the read fields; RawConn.Read serialises, but fields are set before it
	rbuf  []byte
	rn    int
	rerr  syscall.Errno
	readF func(uintptr) bool

	// Reads that know what they left (TCP_INQ, below): inqWanted asks for
	// it, inq says it is on; rempty says the last read left the socket
	// empty with its end not yet reached. rgot: a read has had bytes.
	inqWanted bool
	inq       bool
	rgot      bool
	rempty    atomic.Bool
	inqMsg    inqMsg

	wmu    sync.Mutex
	wbuf   []byte
	wn     int
	werr   syscall.Errno
	wzero  bool // write(2) took nothing and reported no error
	writeF func(uintptr) bool
}

// newRawSocket returns nil when c is not a TCP connection.
func newRawSocket(c net.Conn) *rawSocket {
	tc, ok := c.(*net.TCPConn)
	if !ok || tc == nil {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSocket{rc: rc, conn: c}
	s.readF = s.readOnce
	s.writeF = s.writeAll
	return s
}

// readOnce is RawConn.Read's callback: false asks to wait for data.
func (s *rawSocket) readOnce(fd uintptr) bool {
	for {
		var r uintptr
		var e syscall.Errno
		left := int32(1)
		if s.inq {
			r, left, e = s.inqMsg.recv(fd, s.rbuf)
		} else {
			r, e = sysRead(fd, s.rbuf)
		}
		switch e {
		case 0:
			s.rn = int(r)
			s.rgot = s.rgot || r > 0
			s.rempty.Store(r > 0 && left == 0)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if s.inqWanted && !s.inq && s.rgot {
				s.inq = s.inqMsg.enable(fd)
				s.inqWanted = s.inq // a kernel that refuses it (before 4.18) is not asked again
			}
			return false
		default:
			s.rerr = e
			s.rempty.Store(false)
			return true
		}
	}
}

// Knowing what a read left.
//
// A keep-alive client's next request can only come after the answer to its
// last one, so the read that looks for it right after the answer is written
// nearly always finds nothing: a system call for EAGAIN, then the wait.
// Waiting first would save it, but only when the last read is known to have
// emptied the socket and not to have met the end of the stream: the kernel
// takes a FIN queued behind the bytes in the same read, which then returns
// only the bytes, and the edge that FIN raised is already spent, so a wait
// would sleep until the idle timeout instead of closing at once.
//
// TCP_INQ (Linux 4.18) has each recvmsg(2) report how many bytes it left
// in the socket, and report 1 when it left none but the peer's FIN was
// received: exactly "the next read would find something". rawSocket asks
// for it (inqWanted) on client connections, turning it on the first time a
// connection that has already had bytes finds nothing (a keep-alive wait:
// a connection that carries one request never pays for the option), and
// then keeps rempty, which lazyConn.Read uses to wait before reading
// (waitread_linux.go). Any byte, end or reset that arrives after such a
// read raises a new edge, which the wait consumes.

// tcpINQ is TCP_INQ and TCP_CM_INQ, its control message (linux/tcp.h).
const tcpINQ = 36

// inqMsg is recvmsg(2)'s message header with room for the TCP_CM_INQ
// control message, kept with the socket so a read allocates nothing.
type inqMsg struct {
	hdr  syscall.Msghdr
	iov  syscall.Iovec
	ctrl [32]byte // cmsghdr (16) + int, aligned: 24
}

// enable turns TCP_INQ on; false if the kernel refuses it.
func (m *inqMsg) enable(fd uintptr) bool {
	one := int32(1)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.IPPROTO_TCP, tcpINQ,
		uintptr(unsafe.Pointer(&one)), 4, 0)
	return e == 0
}

// recv reads into b and returns the bytes read and the bytes the read left
// in the socket (1 when none but the stream has ended; 1 as well when the
// kernel sent no count, so that nothing waits on a guess).
func (m *inqMsg) recv(fd uintptr, b []byte) (uintptr, int32, syscall.Errno) {
	m.iov.Base = &b[0]
	m.iov.SetLen(len(b))
	m.hdr.Iov = &m.iov
	m.hdr.Iovlen = 1
	m.hdr.Control = &m.ctrl[0]
	m.hdr.SetControllen(len(m.ctrl))
	r, e := sysRecvmsg(fd, &m.hdr)
	m.iov.Base = nil // hold no reference to the caller's buffer
	left := int32(1)
	if e == 0 && m.hdr.Controllen >= syscall.SizeofCmsghdr+4 {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&m.ctrl[0]))
		if h.Level == syscall.IPPROTO_TCP && h.Type == tcpINQ {
			left = *(*int32)(unsafe.Pointer(&m.ctrl[syscall.SizeofCmsghdr]))
		}
	}
	return r, left, e
}

// emptied reports that the last read left the socket empty and its end
// not reached, as far as the kernel said (TCP_INQ): a read now would find
// nothing, and anything that arrives later raises an edge.
func (s *rawSocket) emptied() bool { return s.rempty.Load() }

// writeAll is RawConn.Write's callback: it writes until wbuf is empty or an
// error; false asks to wait until the socket takes more.
func (s *rawSocket) writeAll(fd uintptr) bool {
	for len(s.wbuf) > 0 {
		b := s.wbuf
		if len(b) > maxRawIO {
			b = b[:maxRawIO]
		}
		r, e := sysWrite(fd, b)
		switch e {
		case 0:
			if r == 0 {
				s.wzero = true
				return true
			}
			s.wn += int(r)
			s.wbuf = s.wbuf[r:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.werr = e
			return true
		}
	}
	return true
}

func (s *rawSocket) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > maxRawIO {
		b = b[:maxRawIO]
	}
	s.rmu.Lock()
	s.rbuf, s.rn, s.rerr = b, 0, 0
	err := s.rc.Read(s.readF)
	n, errno := s.rn, s.rerr
	s.rbuf = nil
	s.rmu.Unlock()
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *rawSocket) write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.wmu.Lock()
	s.wbuf, s.wn, s.werr, s.wzero = b, 0, 0, false
	err := s.rc.Write(s.writeF)
	n, errno, zero := s.wn, s.werr, s.wzero
	s.wbuf = nil
	s.wmu.Unlock()
	switch {
	case err != nil:
		return n, s.opError("write", err)
	case zero:
		return n, s.opError("write", io.ErrUnexpectedEOF)
	case errno != 0:
		return n, s.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

// opError gives err the shape net.Conn's Read and Write give theirs. The
// RawConn's own errors come as *net.OpError of op "raw-read"/"raw-write";
// their cause is kept.
func (s *rawSocket) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: err}
}
