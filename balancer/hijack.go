package balancer

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
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

// hijackSet holds a target's hijacked connections. Safe for concurrent use.
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
// 1.25 × idle after its last byte.
type pipe struct {
	client, target net.Conn
	// toClient, when set, receives the target's bytes instead of client
	// (a WebSocket's frame tracker). It must write through to client.
	toClient io.Writer
	idle     time.Duration

	// active is when either direction was last seen moving (unix nanos).
	active atomic.Int64
	// up and down are the bytes copied client→target and target→client,
	// complete after run returns.
	up, down atomic.Int64
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
	errs := make(chan error, 2)
	go func() { errs <- p.copy(p.target, p.client, p.client, &p.up) }()
	go func() { errs <- p.copy(toClient, p.target, p.target, &p.down) }()
	first := <-errs
	if first != nil {
		// Unblock the other direction at once.
		_ = p.client.Close()
		_ = p.target.Close()
	}
	second := <-errs
	_ = p.client.Close()
	_ = p.target.Close()
	for _, err := range []error{first, second} {
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// copy moves src to dst until src ends, then half-closes dst. srcConn is
// the connection whose read deadline bounds idleness.
func (p *pipe) copy(dst io.Writer, src io.Reader, srcConn net.Conn, count *atomic.Int64) error {
	if p.idle <= 0 {
		n, err := copyStream(dst, src)
		count.Add(n)
		return p.ended(dst, err)
	}
	period := p.idle / 4
	for {
		_ = srcConn.SetReadDeadline(time.Now().Add(period))
		n, err := copyStream(dst, src)
		count.Add(n)
		now := time.Now().UnixNano()
		if n > 0 {
			p.active.Store(now)
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return p.ended(dst, err)
		}
		if n == 0 && now-p.active.Load() >= int64(p.idle) {
			return errIdle
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
