//go:build !linux

package balancer

import "net"

// pollContext is 0 where waiting before reading is not implemented.
func pollContext(net.Conn) uintptr { return 0 }

func pollWaitRead(uintptr) {}
