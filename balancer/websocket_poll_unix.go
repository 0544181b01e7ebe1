//go:build unix

package balancer

import (
	"net"
	"os"
	"syscall"
)

// readWaiter returns a function that blocks until c's socket has data (or
// its end) to read, honouring c's read deadline, without holding a buffer;
// nil when c does not lead to a plain TCP socket through wrappers that keep
// nothing buffered (a TLS connection may hold decrypted bytes its socket no
// longer shows).
func readWaiter(c net.Conn) func() error {
	tc := plainTCP(c)
	if tc == nil {
		return nil
	}
	// This wait and a lazyConn's own would take each other's edges.
	for w := c; w != nil; {
		if lc, ok := w.(*lazyConn); ok {
			lc.stopWaitingFirst()
			break
		}
		u, ok := w.(unwrapper)
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	// A peek that fails reports the socket's pending error (a reset) and
	// clears it, so the Read after it would see a clean end of stream: the
	// error is returned instead of being lost.
	var sockErr error
	ready := func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR {
			return false
		}
		// Data, end of stream or an error: a Read will not block.
		if err != nil {
			sockErr = os.NewSyscallError("read", err)
		}
		return true
	}
	return func() error {
		sockErr = nil
		if err := rc.Read(ready); err != nil {
			return err
		}
		return sockErr
	}
}
