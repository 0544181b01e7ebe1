package balancer

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Coarse deadlines.
//
// A keep-alive proxy moves a connection's deadlines several times per
// request: fasthttp's server sets the idle, header and body read deadlines
// of every request, and each round trip to a target sets a write and a
// read deadline. Through net.Conn each move reads the clock twice and
// re-arms a runtime timer, together about a tenth of the proxy's user-space
// time per request. Those deadlines are tens of seconds away, and firing
// one a few milliseconds late changes nothing anybody can observe, so
// lazyConn keeps them in memory instead: a far deadline is one atomic
// store, and one background scan (every deadlineTick) arms the socket's
// real deadline, already in the past, on the connections whose time has
// come. A blocked Read or Write then fails with os.ErrDeadlineExceeded, as
// it would have. Deadlines nearer than lazyHorizon, and clearing a deadline
// that was armed, go to the socket at once, so short timeouts and the
// "deadline in the past" idiom for waking a blocked reader keep their
// exact meaning.

const (
	// deadlineTick is how often due deadlines are armed: the most a far
	// deadline fires late.
	deadlineTick = 100 * time.Millisecond
	// lazyHorizon: deadlines at least this far ahead are kept in memory.
	lazyHorizon = 2 * time.Second
)

// deadlineScan is the process's one scanner of lazy deadlines. Its
// goroutine runs while connections are registered.
var deadlineScan = &deadlineWheel{base: time.Now()}

type deadlineWheel struct {
	base time.Time    // monotonic origin of every offset
	now  atomic.Int64 // offset of the last scan (coarse "now")

	mu      sync.Mutex
	conns   []*lazyConn
	running bool
}

// offset is t's distance from the wheel's origin; monotonic when t has a
// monotonic reading (time.Now().Add(...) does), so wall-clock steps do not
// move deadlines.
func (w *deadlineWheel) offset(t time.Time) int64 { return int64(t.Sub(w.base)) }

func (w *deadlineWheel) register(c *lazyConn) {
	w.mu.Lock()
	c.slot = len(w.conns)
	w.conns = append(w.conns, c)
	if !w.running {
		w.running = true
		w.now.Store(int64(time.Since(w.base)))
		go w.run()
	}
	w.mu.Unlock()
}

func (w *deadlineWheel) unregister(c *lazyConn) {
	w.mu.Lock()
	if i := c.slot; i >= 0 {
		last := len(w.conns) - 1
		w.conns[i] = w.conns[last]
		w.conns[i].slot = i
		w.conns[last] = nil
		w.conns = w.conns[:last]
		c.slot = -1
	}
	w.mu.Unlock()
}

// run arms due deadlines every tick and returns once no connection is
// registered (the next registration starts it again).
func (w *deadlineWheel) run() {
	t := time.NewTicker(deadlineTick)
	defer t.Stop()
	for range t.C {
		now := int64(time.Since(w.base))
		w.now.Store(now)
		w.mu.Lock()
		if len(w.conns) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		for _, c := range w.conns {
			c.fireDue(now)
		}
		w.mu.Unlock()
	}
}

// lazyDir is one direction's deadline.
type lazyDir struct {
	at    atomic.Int64 // offset of a lazy deadline; 0: none kept here
	armed atomic.Bool  // the socket itself may have a deadline set
}

// pastDeadline makes a socket's blocked call fail at once.
var pastDeadline = time.Unix(1, 0)

// lazyConn is a connection whose far deadlines are coarse (see above). It
// must be the only way its socket's deadlines are set. Close unregisters it.
type lazyConn struct {
	net.Conn
	r, w   lazyDir
	mu     sync.Mutex // serialises arming and clearing the socket's deadlines
	slot   int        // index in deadlineScan.conns; -1 once unregistered
	closed atomic.Bool
	// owner, for a target connection, holds it while open; cut says the
	// end of its target's draining closed it (shutdown).
	owner *hijackSet
	cut   atomic.Bool

	// Waiting before reading (waitread_linux.go). sw waits on the socket
	// (nil: never wait first). rmu serialises the Reads that
	// may wait, as the socket's own read lock does, so a wait is never
	// beside another Read; drained says no read yet, or the last one emptied
	// the socket; waitNext lets the next Read wait first (expectReply).
	sw       atomic.Pointer[socketWait]
	rmu      sync.Mutex
	drained  bool
	waitNext bool
	// A client connection waits first for the answer to what it wrote
	// since its last read (waitWhenEmpty): a request after a response, a
	// body after 100 Continue, a handshake's next flight.
	waitWhenAnswered bool
	wrote            atomic.Bool

	// idleSince is when a target connection last went back to the pool
	// (idlecheck.go), served that it ever did; only the connection's
	// current user touches them.
	idleSince int64
	served    bool

	// The first byte's bound (boundFirstByte): firstPending until a byte
	// arrives; firstBy is the bound, wantRead the read deadline last asked
	// for, restored then. fmu guards them (and is taken before mu).
	fmu          sync.Mutex
	firstPending atomic.Bool
	firstBy      time.Time
	wantRead     time.Time

	// raw does the socket's reads and writes with raw system calls
	// (rawio_linux.go); nil when the connection is not a TCP socket.
	raw *rawSocket
}

func newLazyConn(c net.Conn) *lazyConn {
	lc := &lazyConn{Conn: c, slot: -1, drained: true, raw: newRawSocket(c)}
	deadlineScan.register(lc)
	lc.markIdle()
	return lc
}

// Read waits for data first, saving the read(2) that would find nothing,
// when the last read is known to have emptied the socket and what it waits
// for is the peer's answer to what was written since: on a target
// connection, when expectReply asked for it after a short read; on a client
// connection, after a Write, when the kernel said the read left nothing
// (waitWhenEmpty).
func (c *lazyConn) Read(b []byte) (int, error) {
	var n int
	var err error
	if c.sw.Load() == nil {
		n, err = c.read(b)
	} else {
		n, err = c.readWaitingFirst(b)
	}
	if n > 0 && c.firstPending.Load() {
		c.firstByteCame()
	}
	return n, err
}

func (c *lazyConn) readWaitingFirst(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	sw := c.sw.Load()
	if sw == nil || len(b) == 0 {
		return c.read(b)
	}
	wrote := c.wrote.Swap(false)
	if c.waitNext && c.drained || wrote && c.raw != nil && c.raw.emptied() {
		sw.waitRead()
	}
	c.waitNext = false
	n, err := c.read(b)
	c.drained = err == nil && n > 0 && n < len(b)
	return n, err
}

// read reads from the socket, raw when it can.
func (c *lazyConn) read(b []byte) (int, error) {
	if c.raw != nil {
		return c.raw.read(b)
	}
	return c.Conn.Read(b)
}

// Write writes to the socket, raw when it can.
func (c *lazyConn) Write(b []byte) (int, error) {
	if c.raw != nil {
		if c.waitWhenAnswered {
			c.wrote.Store(true)
		}
		return c.raw.write(b)
	}
	return c.Conn.Write(b)
}

// waitForReplies lets expectReply make Reads wait first; for connections
// to targets, which only read answers to what they wrote.
func (c *lazyConn) waitForReplies() {
	if sw := newSocketWait(c.Conn); sw != nil {
		c.sw.Store(sw)
	}
}

// expectReply says that the next Read is for the peer's answer to what was
// just written, so it may wait before reading (waitread_linux.go says why
// only then).
func (c *lazyConn) expectReply() {
	c.rmu.Lock()
	c.waitNext = true
	c.rmu.Unlock()
}

// stopWaitingFirst turns waiting first off for good: the caller is about
// to wait on the socket itself (readWaiter), which consumes the edges the
// wait relies on.
func (c *lazyConn) stopWaitingFirst() {
	if c.sw.Load() == nil {
		return
	}
	c.rmu.Lock()
	c.sw.Store(nil)
	c.waitNext = false
	c.rmu.Unlock()
}

func (c *lazyConn) SetReadDeadline(t time.Time) error {
	if c.firstPending.Load() {
		c.fmu.Lock()
		defer c.fmu.Unlock()
		if c.firstPending.Load() {
			c.wantRead = t
			if t.IsZero() || t.After(c.firstBy) {
				t = c.firstBy
			}
		}
	}
	return c.set(&c.r, t, c.Conn.SetReadDeadline)
}

// boundFirstByte makes a new client connection's wait for its first byte
// end by t too. ALB closes a connection idle for its idle timeout, new ones
// included, while fasthttp bounds a connection's first request by the
// header timeout alone: read deadlines set before the first byte are cut
// to t, and the last one asked for is restored when the byte arrives.
func (c *lazyConn) boundFirstByte(t time.Time) {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.firstBy = t
	c.firstPending.Store(true)
	_ = c.set(&c.r, t, c.Conn.SetReadDeadline)
}

// firstByteCame lifts boundFirstByte's bound.
func (c *lazyConn) firstByteCame() {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if c.firstPending.Swap(false) {
		_ = c.set(&c.r, c.wantRead, c.Conn.SetReadDeadline)
	}
}

func (c *lazyConn) SetWriteDeadline(t time.Time) error {
	return c.set(&c.w, t, c.Conn.SetWriteDeadline)
}

func (c *lazyConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *lazyConn) set(d *lazyDir, t time.Time, apply func(time.Time) error) error {
	if t.IsZero() {
		d.at.Store(0)
		return c.disarm(d, apply)
	}
	off := deadlineScan.offset(t)
	if off-deadlineScan.now.Load() < int64(lazyHorizon) || c.closed.Load() {
		// Near, past, or on a closed connection (for its error): exact.
		c.mu.Lock()
		d.at.Store(0)
		d.armed.Store(true)
		err := apply(t)
		c.mu.Unlock()
		return err
	}
	// Store before looking at armed; fireDue sets armed before it claims
	// the deadline. One of the two sees the other, so a deadline moved
	// while it was being fired is never left armed in the past.
	d.at.Store(off)
	return c.disarm(d, apply)
}

// disarm clears the socket's deadline if one may be set.
func (c *lazyConn) disarm(d *lazyDir, apply func(time.Time) error) error {
	if !d.armed.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !d.armed.Load() {
		return nil
	}
	d.armed.Store(false)
	return apply(time.Time{})
}

// fireDue arms, in the past, each deadline of c that is due at now.
func (c *lazyConn) fireDue(now int64) {
	c.fire(&c.r, now, c.Conn.SetReadDeadline)
	c.fire(&c.w, now, c.Conn.SetWriteDeadline)
}

func (c *lazyConn) fire(d *lazyDir, now int64, apply func(time.Time) error) {
	at := d.at.Load()
	if at == 0 || at > now {
		return
	}
	c.mu.Lock()
	d.armed.Store(true)
	if d.at.CompareAndSwap(at, 0) {
		_ = apply(pastDeadline)
	}
	c.mu.Unlock()
}

func (c *lazyConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		deadlineScan.unregister(c)
		if c.owner != nil {
			c.owner.remove(c)
		}
	}
	return c.Conn.Close()
}

// shutdown closes a target connection when its target is dropped, marked
// as cut so that a request waiting on it is answered, not sent again.
func (c *lazyConn) shutdown() {
	c.cut.Store(true)
	_ = c.Close()
}

// Unwrap returns the wrapped connection; lazyConn buffers nothing.
func (c *lazyConn) Unwrap() net.Conn { return c.Conn }
