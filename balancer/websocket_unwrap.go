package balancer

import "net"

// unwrapper is a connection wrapper that buffers nothing, so its socket's
// readiness is its own (desync's scanning wrapper, countingConn).
type unwrapper interface{ Unwrap() net.Conn }

// Unwrap returns the counted connection.
func (c *countingConn) Unwrap() net.Conn { return c.Conn }

// plainTCP follows unbuffered wrappers down to a *net.TCPConn; nil if there
// is none.
func plainTCP(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case unwrapper:
			c = v.Unwrap()
		default:
			return nil
		}
	}
	return nil
}
