package balancer

// Targets close keep-alive connections they find idle (Node.js after 5 s,
// many Python servers after 2 s, some after 1 s), and a pooled connection
// whose FIN is already in its socket would take the next request only to
// answer with EOF: a 502, or a retry that finds the next stale connection.
// nginx and HAProxy never send on such a connection because their event
// loops see the FIN while the connection is idle; here a connection idle
// for idleCheckAfter or longer is checked before reuse with one
// non-blocking peek. Busy connections, reused within milliseconds, never
// pay for it.
const idleCheckAfter = 2 * deadlineTick

// markIdle records when a target connection went back to the pool (on the
// deadline scan's coarse clock: no clock read per request).
func (c *lazyConn) markIdle() { c.idleSince = deadlineScan.now.Load() }

// markServed records that a target connection completed a request and
// goes back to the pool.
func (c *lazyConn) markServed() {
	c.served = true
	c.markIdle()
}

// closedWhileIdle reports whether a pooled target connection that has been
// idle long enough to be worth a look (always: any) was closed by its
// target (or holds bytes nobody asked for, such as a 408 sent before
// closing, or an error).
func (c *lazyConn) closedWhileIdle(always bool) bool {
	if !always && deadlineScan.now.Load()-c.idleSince < int64(idleCheckAfter) {
		return false
	}
	return !quietSocket(c.Conn)
}
