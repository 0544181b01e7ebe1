package balancer

import "sync"

// waitFirst is a lazyConn's state for waiting before reading (see
// waitread_linux.go for why and when that is safe).
type waitFirst struct {
	// rmu serialises Reads, as the socket's own read lock does, so that a
	// wait, taken outside that lock, is never beside another Read.
	rmu sync.Mutex
	// poll is the socket's runtime poll descriptor (0: never wait first)
	// and fd its descriptor.
	poll uintptr
	fd   int
	// drained: no read yet, or the last one emptied the socket.
	drained bool
	// waitNext lets the next Read wait first (expectReply).
	waitNext bool
	// watched: hangUps follows the socket, so every Read after a drained
	// one may wait first; token is its key there (0: not registered).
	watched bool
	token   uint64

	// Guarded by lazyConn.mu: the peer hung up; a Read is waiting first;
	// hangUps woke it through the read deadline.
	hup, parked, kicked bool
}

// Read waits for data first when the last read emptied the socket and
// either expectReply asked for it or the connection's hang-ups are watched,
// saving the read(2) that would find nothing.
func (c *lazyConn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.poll == 0 || len(b) == 0 {
		return c.Conn.Read(b)
	}
	if c.drained && (c.waitNext || c.watched) {
		c.waitForData()
	}
	c.waitNext = false
	n, err := c.Conn.Read(b)
	c.drained = err == nil && n > 0 && n < len(b)
	return n, err
}

// waitForData parks until the socket reports data, an end, an error, a
// deadline or Close, or (for watched connections) until the peer hangs up.
func (c *lazyConn) waitForData() {
	if !c.watched {
		pollWaitRead(c.poll)
		return
	}
	c.mu.Lock()
	if c.hup {
		c.mu.Unlock()
		return
	}
	c.parked = true
	c.mu.Unlock()
	pollWaitRead(c.poll)
	c.mu.Lock()
	c.parked = false
	if c.kicked {
		c.kicked = false
		_ = c.Conn.SetReadDeadline(c.exactR)
	}
	c.mu.Unlock()
}

// hungUp is told by hangUps that the peer's FIN (or a reset) arrived. The
// end of stream may sit behind bytes a read already took, with its edge
// spent, so a wait under way is woken by moving the socket's read deadline
// into the past; the waiter puts the deadline back.
func (c *lazyConn) hungUp() {
	c.mu.Lock()
	c.hup = true
	if c.parked && !c.kicked {
		c.kicked = true
		_ = c.Conn.SetReadDeadline(pastDeadline)
	}
	c.mu.Unlock()
}

// expectReply says that the next Read is for the peer's answer to what was
// just written, so it may wait before reading even if hang-ups are not
// watched: a peer that closed answers with a reset, and a reset is an edge.
func (c *lazyConn) expectReply() {
	c.rmu.Lock()
	c.waitNext = true
	c.rmu.Unlock()
}

// watchHangUps makes every Read after a drained one wait first, hangUps
// following the socket for the peer's FIN. It is called before the first
// Read; false when the socket cannot be watched.
func (c *lazyConn) watchHangUps() bool {
	if c.poll == 0 {
		return false
	}
	c.token = hangUps.add(c, c.fd)
	c.watched = c.token != 0
	return c.watched
}

func (c *lazyConn) unwatch() {
	if c.token != 0 {
		hangUps.remove(c.token)
	}
}

// stopWaitingFirst turns waiting first off for good: the caller is about
// to wait on the socket itself (readWaiter), which consumes the edges the
// wait relies on.
func (c *lazyConn) stopWaitingFirst() {
	c.rmu.Lock()
	c.poll, c.waitNext, c.watched = 0, false, false
	c.rmu.Unlock()
}
