//go:build !linux

package balancer

import "net"

// socketWait is not implemented here: nothing waits before reading.
type socketWait struct{}

func newSocketWait(net.Conn) *socketWait { return nil }

func (*socketWait) waitRead() {}

func (*lazyConn) waitWhenEmpty() {}
