//go:build !linux

package balancer

import "net"

// quickAck is Linux only (quickack_linux.go).
func quickAck(net.Conn) {}
