//go:build !unix

package balancer

import "net"

// quietSocket cannot look into the socket here: pooled connections are
// reused unchecked, and a stale one costs the retry.
func quietSocket(net.Conn) bool { return true }
