package desync

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
)

// ErrBareLF is returned by the Read of a wrapped connection once it has seen a
// request head with a line ended by LF alone. fasthttp reports it (wrapped)
// to Server.ErrorHandler, whose default answers 400 and closes the connection;
// a custom ErrorHandler can test errors.Is(err, ErrBareLF).
var ErrBareLF = errors.New("desync: request head has a bare LF line ending")

// WrapListener returns a listener whose connections scan each request head as
// fasthttp reads it and fail the read with [ErrBareLF] at the first line ended
// by a bare LF, so the client gets 400 at once instead of after
// Server.ReadTimeout (fasthttp waits for a CRLFCRLF that never comes).
//
// onReject, when not nil, is called once per rejected connection from the
// goroutine serving it (count it as a Severe NonCrLfLineTermination request);
// it must not block.
//
// A head is scanned when the connection opens and again after each final
// (non-1xx) response the server writes; the scan stops at the blank line ending
// the head, so bodies are never looked at, and it stops for good after a 101
// Switching Protocols. A head whose first line does not end in "HTTP/d.d" is
// left to fasthttp. Heads a client pipelined before the previous response was
// written are not scanned: Classify reports their bare LFs when they parse.
// The scan keeps a few bytes of state per connection and allocates nothing
// after Accept.
//
// Wrap the listener that yields plaintext: for HTTPS, wrap the
// tls.NewListener, not the TCP listener under it. Wrapped TLS connections keep
// their Handshake and ConnectionState methods, so fasthttp still sees TLS.
func WrapListener(l net.Listener, onReject func()) net.Listener {
	return &listener{Listener: l, onReject: onReject}
}

type listener struct {
	net.Listener
	onReject func()
}

// Accept wraps the next connection.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return WrapConn(c, l.onReject), nil
}

// WrapConn applies the scan of [WrapListener] to one connection.
func WrapConn(c net.Conn, onReject func()) net.Conn {
	return WrapConnTap(c, onReject, nil)
}

// HeadTap is shown what a connection wrapped by [WrapConnTap] reads for
// each request whose head it scans, so that the head can be kept for a
// request that fails after it was read (fasthttp resets the request when
// reading its body fails). Its methods are called by the goroutine serving
// the connection (fasthttp reads and writes it from one), and never after a
// 101 was written; they must not block, and must not keep b past the call.
// HeadRead may also be called from another goroutine reading a request body.
type HeadTap interface {
	// HeadStart says that a new request begins with the next byte read:
	// the connection opened, or a final response starts to be written (and
	// again when the next read begins).
	HeadStart()
	// HeadRead is called after each read of n > 0 bytes: b is what was
	// read, of which the first head bytes belong to the request head (all
	// of b while the head goes on; 0 once it ended or the scan gave up),
	// and done says those bytes end the head with its blank line.
	HeadRead(b []byte, head int, done bool)
}

// WrapConnTap is [WrapConn] with a tap shown the request heads it scans;
// tap may be nil.
func WrapConnTap(c net.Conn, onReject func(), tap HeadTap) net.Conn {
	sc := &conn{Conn: c, onReject: onReject, tap: tap}
	sc.reset()
	if tc, ok := c.(tlsConner); ok {
		return &tlsConn{conn: sc, tc: tc}
	}
	return sc
}

// tlsConner is what fasthttp tests to decide that a connection is TLS.
type tlsConner interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

type tlsConn struct {
	*conn
	tc tlsConner
}

// Handshake runs the TLS handshake of the wrapped connection.
func (c *tlsConn) Handshake() error { return c.tc.Handshake() }

// ConnectionState returns the TLS state of the wrapped connection.
func (c *tlsConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// Scan phases of a request head.
const (
	phaseIdle        uint8 = iota // not scanning: body, pipelined data, or given up
	phaseRequestLine              // before or inside the request line
	phaseHeaders                  // inside the header lines
	phaseRejected                 // a bare LF was seen: every read fails
)

type conn struct {
	net.Conn
	onReject func()
	tap      HeadTap

	// rearm is set by Write (which may run on another goroutine once a
	// connection is hijacked) and consumed by Read; everything below it is
	// owned by the reading goroutine.
	rearm  atomic.Bool
	closed atomic.Bool // a 101 was written: never scan again
	eof    atomic.Bool // a Read reported io.EOF: the client closed its side

	phase    uint8
	lineLen  int    // bytes in the current line so far, LF excluded
	lastCR   bool   // the last byte of the current line is CR
	tail     uint64 // last 8 non-CR bytes of the request line
	headDone bool   // the blank line ending the head was read
	headN    int    // bytes of the last scanned read that are head
}

// ClientEnded reports whether a Read has seen the client close its side.
// fasthttp's chunked body stream reports a close between chunks as the end
// of the body; a proxy that believed it would pass a truncated upload on as
// complete.
func (c *conn) ClientEnded() bool { return c.eof.Load() }

func (c *conn) reset() {
	c.phase = phaseRequestLine
	c.lineLen = 0
	c.lastCR = false
	c.tail = 0
	c.headDone = false
	if c.tap != nil {
		c.tap.HeadStart()
	}
}

// InRequestLine reports whether the head being read has not finished its
// request line yet: a head too large for the buffer is then a URI too long
// (414), not header fields too large (431). Only the reading goroutine may
// call it.
func (c *conn) InRequestLine() bool { return c.phase == phaseRequestLine }

// HeadTap returns the tap given to [WrapConnTap], or nil.
func (c *conn) HeadTap() HeadTap { return c.tap }

// Unwrap returns the wrapped connection. The scan buffers nothing, so the
// wrapped connection's readiness is the wrapper's; reading it directly only
// skips the scan (which a hijacked connection no longer needs).
func (c *conn) Unwrap() net.Conn { return c.Conn }

// Read reads from the connection, scanning request-head bytes.
func (c *conn) Read(p []byte) (int, error) {
	if c.phase == phaseRejected {
		return 0, ErrBareLF
	}
	if c.rearm.Swap(false) && !c.closed.Load() {
		c.reset()
	}
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
	}
	if c.phase == phaseIdle || n <= 0 {
		if c.tap != nil && n > 0 && !c.closed.Load() {
			c.tap.HeadRead(p[:n], 0, false)
		}
		return n, err
	}
	at := c.scan(p[:n])
	if c.tap != nil && at < 0 {
		c.tap.HeadRead(p[:n], c.headN, c.headDone)
	}
	if at >= 0 {
		// Hand over the head up to the offending LF, which cannot complete
		// it, and fail the next read: fasthttp answers a read error with 400
		// only once it holds some bytes of the request (an error on the first
		// read of a keep-alive request looks like the client going away).
		c.phase = phaseRejected
		if c.onReject != nil {
			c.onReject()
		}
		if at == 0 {
			return 0, ErrBareLF
		}
		return at, nil
	}
	return n, err
}

// Write writes to the connection; the start of a final response re-arms the
// scan for the next request head.
func (c *conn) Write(p []byte) (int, error) {
	if len(p) >= 12 && string(p[:7]) == "HTTP/1." && p[8] == ' ' {
		switch {
		case string(p[9:12]) == "101":
			c.closed.Store(true)
		case p[9] != '1':
			c.rearm.Store(true)
			if c.tap != nil && !c.closed.Load() {
				c.tap.HeadStart() // a head kept must not pass for the next request's
			}
		}
	}
	return c.Conn.Write(p)
}

// scan advances the head state machine over b and returns the index of the
// first bare LF in a request head, or -1. Header lines are skipped with
// bytes.IndexByte; only the short request line is walked byte by byte, for
// its last eight bytes.
func (c *conn) scan(b []byte) int {
	c.headN = len(b)
	off := 0
	for off < len(b) && c.phase != phaseIdle {
		var j int
		if c.phase == phaseRequestLine {
			j = c.scanRequestLine(b[off:])
		} else {
			j = bytes.IndexByte(b[off:], '\n')
			if j < 0 {
				c.account(b[off:])
				return -1
			}
			c.account(b[off : off+j])
		}
		if j < 0 {
			return -1
		}
		if c.endLine() {
			return off + j
		}
		off += j + 1
	}
	c.headN = off
	return -1
}

// scanRequestLine walks b up to its first LF, keeping the line's last eight
// non-CR bytes, and returns the LF's index or -1.
func (c *conn) scanRequestLine(b []byte) int {
	for i, ch := range b {
		if ch == '\n' {
			return i
		}
		c.account(b[i : i+1])
		if ch != '\r' {
			c.tail = c.tail<<8 | uint64(ch)
		}
	}
	return -1
}

// account adds line content (no LF) to the current line.
func (c *conn) account(seg []byte) {
	if len(seg) > 0 {
		c.lineLen += len(seg)
		c.lastCR = seg[len(seg)-1] == '\r'
	}
}

// endLine handles the LF ending the current line and reports whether it is a
// bare LF that must be rejected.
func (c *conn) endLine() bool {
	bare := !c.lastCR
	blank := c.lineLen == 0 || (c.lineLen == 1 && c.lastCR)
	c.lineLen, c.lastCR = 0, false
	switch {
	case c.phase == phaseRequestLine && blank:
		// Empty lines before the request line are skipped, as fasthttp does.
		c.tail = 0
	case c.phase == phaseRequestLine:
		if !endsWithVersion(c.tail) {
			c.phase = phaseIdle
			return false
		}
		if bare {
			return true
		}
		c.phase = phaseHeaders
	case bare:
		return true
	case blank:
		c.phase = phaseIdle // end of head: leave the body alone
		c.headDone = true
	}
	return false
}

// endsWithVersion reports whether the last 8 bytes of a line spell "HTTP/d.d".
func endsWithVersion(t uint64) bool {
	const prefix = uint64('H')<<56 | uint64('T')<<48 | uint64('T')<<40 | uint64('P')<<32 | uint64('/')<<24
	if t&^0xffffff != prefix || byte(t>>8) != '.' {
		return false
	}
	return isDigit(byte(t>>16)) && isDigit(byte(t))
}
