//go:build !linux

package balancer

import "net"

// rawSocket is Linux only (rawio_linux.go); elsewhere connections use
// net.Conn's own Read and Write.
type rawSocket struct{}

func newRawSocket(net.Conn) *rawSocket { return nil }

func (*rawSocket) read([]byte) (int, error)  { panic("unreachable") }
func (*rawSocket) write([]byte) (int, error) { panic("unreachable") }

func (*rawSocket) emptied() bool { return false }
