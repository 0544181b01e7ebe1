package balancer

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// hijacked is a connection proxied byte for byte rather than request by
// request: a WebSocket taken over from the HTTP server, or a TCP listener's
// connection. Its target keeps it in a hijackSet so that the end of draining
// (or shutdown) can close it.
type hijacked interface {
	// shutdown asks the connection to end: gracefully where it can (a
	// WebSocket sends close code 1001 to its client), and within a short
	// bound. It must not block: the connection's own goroutines do the work.
	shutdown()
}

// hijackSet holds connections that a target's end must close: its hijacked
// connections, and (a set of its own) its pooled ones. Safe for concurrent
// use.
type hijackSet struct {
	mu     sync.Mutex
	m      map[hijacked]struct{}
	closed bool
}

// add records h; false means the set is closed (the target is gone) and the
// caller must end h itself.
func (s *hijackSet) add(h hijacked) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.m == nil {
		s.m = map[hijacked]struct{}{}
	}
	s.m[h] = struct{}{}
	return true
}

func (s *hijackSet) remove(h hijacked) {
	s.mu.Lock()
	delete(s.m, h)
	s.mu.Unlock()
}

// len is the number of connections held.
func (s *hijackSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// closeAll shuts every held connection down and refuses new ones.
func (s *hijackSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	hs := make([]hijacked, 0, len(s.m))
	for h := range s.m {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	for _, h := range hs {
		h.shutdown()
	}
}

// pipe copies bytes between a client and a target connection until both
// directions have ended, either side fails, or nothing has moved either way
// for idle. An end of stream in one direction is passed on as a half close
// (CloseWrite) where the connection supports it, so protocols that shut
// their write side first keep working. Both connections are closed when
// pipe returns.
//
// The idle timeout is enforced with read deadlines renewed once per quarter
// of it rather than per read, so that copies between two *net.TCPConn keep
// using splice(2) (copyStream). A direction that made progress in its period records the
// time; a direction whose period passed quietly ends the pipe when nothing
// was recorded for idle. The connection therefore closes between idle and
// 1.25 × idle after its last byte. A write deadline of idle, renewed with the
// read deadline, ends the pipe when one side stops reading what the other
// sends (both directions blocked in writes read nothing, so no read
// deadline would fire).
type pipe struct {
	client, target net.Conn
	// toClient, when set, receives the target's bytes instead of client
	// (a WebSocket's frame tracker). It must write through to client.
	toClient io.Writer
	idle     time.Duration
	// resetIdle makes an idle timeout close both sides with RST (TCP
	// flows, as NLB), not FIN.
	resetIdle bool
	// firstUp, when set, runs before the first client bytes move to the
	// target; an error from it ends the pipe (with RST under resetIdle).
	firstUp func(client net.Conn) error

	// active is when either direction was last seen moving (unix nanos).
	active atomic.Int64
	// up and down are the bytes copied client→target and target→client,
	// complete after run returns.
	up, down atomic.Int64
	firstErr atomic.Pointer[error]
}

// errIdle reports that a piped connection was closed for idleness.
var errIdle = errors.New("balancer: connection idle timeout")

// run pipes until the end and reports why it ended: nil for a clean end of
// both streams, errIdle, or the first error (which may be a closed-connection
// error when shutdown closed a side).
func (p *pipe) run() error {
	toClient := p.toClient
	if toClient == nil {
		toClient = p.client
	}
	p.active.Store(time.Now().UnixNano())
	// One direction runs on the caller's goroutine: a goroutine stack is a
	// large part of what an idle connection costs.
	upDone := make(chan struct{})
	go func() { defer close(upDone); p.end(p.copy(p.target, p.target, p.client, &p.up)) }()
	p.end(p.copy(toClient, p.client, p.target, &p.down))
	<-upDone
	_ = p.client.Close()
	_ = p.target.Close()
	if err := p.firstErr.Load(); err != nil {
		return *err
	}
	return nil
}

// end records the first error of either direction and closes both
// connections after it, so that the other direction stops at once.
func (p *pipe) end(err error) {
	if err == nil {
		return
	}
	if err != io.EOF {
		p.firstErr.CompareAndSwap(nil, &err)
	}
	if p.resetIdle && (errors.Is(err, errIdle) || errors.Is(err, errProxyUntrusted) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		// As NLB: an idle timeout, or a reset from either side, reaches
		// both peers as a reset, never as an orderly close: a stream cut
		// short must not look complete (under TLS, no close_notify is
		// sent first).
		resetNow(p.client)
		resetNow(p.target)
	}
	_ = p.client.Close()
	_ = p.target.Close()
}

// resetNow closes c's TCP socket at once with RST, under any wrappers.
func resetNow(c net.Conn) {
	if tc := rawTCP(c); tc != nil {
		_ = tc.SetLinger(0)
		_ = tc.Close()
	}
}

// copy moves src (a connection, whose read deadline bounds idleness) to dst
// until src ends, then half-closes dst. dstConn is the connection dst writes
// to: a write blocked for idle (a peer that reads nothing) ends the pipe.
func (p *pipe) copy(dst io.Writer, dstConn net.Conn, src net.Conn, count *atomic.Int64) error {
	if p.firstUp != nil && src == p.client {
		if err := p.firstUp(src); err != nil {
			return err
		}
	}
	move := p.mover(dst, src)
	if p.idle <= 0 {
		_ = dstConn.SetWriteDeadline(time.Time{}) // the server's, for the 101
		n, err := move()
		count.Add(n)
		return p.ended(dst, err)
	}
	period := p.idle / 4
	for {
		start := time.Now()
		_ = src.SetReadDeadline(start.Add(period))
		_ = dstConn.SetWriteDeadline(start.Add(p.idle))
		n, err := move()
		count.Add(n)
		now := time.Now().UnixNano()
		if n > 0 {
			p.active.Store(now)
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return p.ended(dst, err)
		}
		if now-start.UnixNano() >= int64(p.idle) {
			// The write deadline: dst's peer took nothing for idle (the
			// read deadline ends a move after a quarter of it), and bytes
			// read for it may be lost, so the pipe ends.
			return errIdle
		}
		if n == 0 && now-p.active.Load() >= int64(p.idle) {
			return errIdle
		}
	}
}

// mover returns the copy from src to dst until src ends or fails. Between
// two plain TCP connections that is io.Copy, which splices in the kernel.
// Otherwise bytes pass through user space, and a buffer held by a blocked
// Read would be most of an idle connection's memory (io.Copy allocates
// 32 KiB per call): when src's socket can be watched, the copy waits for it
// to be readable first and only then takes a buffer from a pool.
func (p *pipe) mover(dst io.Writer, src net.Conn) func() (int64, error) {
	_, dstTCP := dst.(*net.TCPConn)
	_, srcTCP := src.(*net.TCPConn)
	if dstTCP && srcTCP {
		return func() (int64, error) { return copyStream(dst, src) }
	}
	wait := readWaiter(src)
	return func() (int64, error) { return pooledCopy(dst, src, wait) }
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// pooledCopy is io.Copy with a pooled buffer held only while data moves.
// wait, when not nil, blocks until src has something to read (or fails
// with src's read deadline).
func pooledCopy(dst io.Writer, src io.Reader, wait func() error) (int64, error) {
	var total int64
	for {
		if wait != nil {
			if err := wait(); err != nil {
				return total, err
			}
		}
		bp := copyBufs.Get().(*[]byte)
		nr, rerr := src.Read(*bp)
		var werr error
		if nr > 0 {
			var nw int
			nw, werr = dst.Write((*bp)[:nr])
			total += int64(nw)
			if werr == nil && nw < nr {
				werr = io.ErrShortWrite
			}
		}
		copyBufs.Put(bp)
		switch {
		case werr != nil:
			return total, werr
		case rerr == io.EOF:
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}

// ended half-closes dst after a clean end of its source stream.
func (p *pipe) ended(dst io.Writer, err error) error {
	if err != nil {
		return err
	}
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := dst.(closeWriter); ok {
		_ = cw.CloseWrite()
		return nil
	}
	// A writer without half close (a TLS or hijacked connection): the
	// stream is over.
	return io.EOF
}
