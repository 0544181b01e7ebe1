//go:build !linux

package balancer

import "net"

// pollContext is 0 where waiting before reading is not implemented.
func pollContext(net.Conn) (uintptr, int) { return 0, -1 }

// hangUps is not implemented here: nothing waits first.
var hangUps hangUpWatch

type hangUpWatch struct{}

func (hangUpWatch) add(*lazyConn, int) uint64 { return 0 }
func (hangUpWatch) remove(uint64)             {}

func pollWaitRead(uintptr) {}
