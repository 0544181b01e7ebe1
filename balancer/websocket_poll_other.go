//go:build !unix

package balancer

import "net"

// readWaiter is not available here: copies hold their buffer while waiting.
func readWaiter(net.Conn) func() error { return nil }
