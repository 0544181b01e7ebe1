package balancer

import (
	"net"
	"syscall"
)

// quickAck sends at once an acknowledgement the kernel is holding back
// (TCP_QUICKACK). A TLS 1.3 server has nothing to send after the client's
// Finished (Go sends its session tickets before it), so that segment's
// acknowledgement waited for the delayed-ACK timer, and a client with
// Nagle's algorithm on (Java's sockets, by default) held its first request
// until then: 40 ms on every new connection.
func quickAck(c net.Conn) {
	tc := rawTCP(c)
	if tc == nil {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
