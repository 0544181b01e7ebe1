package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// maxBufferedBody is the largest response body read into memory before the
// response is sent; larger, chunked or close-delimited bodies are streamed.
const maxBufferedBody = 64 << 10

// maxResponseHead bounds a target's response head (status line and
// headers, ALB's limit for a whole response head); a larger one is answered
// 502. It is the size of the pooled readers of target connections.
const maxResponseHead = 32 << 10

var (
	errUnaskedSwitch = errors.New("101 Switching Protocols to a request that asked for no upgrade")
	errBareLFHead    = errors.New("response head ends with a bare LF")
)

// readResponseHead reads a response head into h. fasthttp takes a head to
// end only at CRLFCRLF: one whose blank line is a bare LF would leave it
// waiting for more until the response timeout (then 504). RFC 9112 lets a
// recipient accept bare LFs, but a head that ends with one is refused at
// once (502), as any other malformed answer: bytes after it could
// otherwise be read as part of the head.
func readResponseHead(br *bufio.Reader, h *fasthttp.ResponseHeader) error {
	for n := 1; ; {
		b, err := br.Peek(n)
		if err != nil || len(b) < n {
			return h.Read(br) // its own error for EOF, timeouts, a full buffer
		}
		b, _ = br.Peek(br.Buffered())
		switch headEnd(b) {
		case headCRLF:
			return h.Read(br)
		case headBareLF:
			return errBareLFHead
		}
		if len(b) >= br.Size() {
			return h.Read(br)
		}
		n = len(b) + 1
	}
}

const (
	headMore   = iota // no blank line yet
	headCRLF          // the head ends with CRLF CRLF
	headBareLF        // its blank line, or the line before it, ends with a bare LF
)

// headEnd finds the first blank line in b, the end of a head.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return headMore
		}
		p := i + j
		rest := b[p+1:]
		switch {
		case len(rest) == 0:
			return headMore
		case rest[0] == '\n':
			return headBareLF
		case rest[0] == '\r':
			if len(rest) < 2 {
				return headMore
			}
			if rest[1] == '\n' {
				if p > 0 && b[p-1] == '\r' {
					return headCRLF
				}
				return headBareLF
			}
		}
		i = p + 1
	}
}

// upstream sends requests to one target over pooled keep-alive connections.
type upstream interface {
	// roundTrip writes req to the target and reads the response into resp.
	// Small bodies are read whole; others are attached to resp as a stream
	// whose Close returns the connection to the pool (the server closes it
	// after writing the response). done runs once the response body has been
	// read or abandoned. On failure it reports the kind of failure and whether
	// nothing of the request can have been acted on, so it may be retried.
	roundTrip(req *fasthttp.Request, resp *fasthttp.Response, o roundTripOpts) (errorKind, bool)
}

type roundTripOpts struct {
	timeout time.Duration // for the response headers
	// start is when the attempt began (the response deadline counts from
	// it); zero means now.
	start time.Time
	// rewindable is true when req can be sent again: its body is in memory.
	rewindable bool
	// maxBody bounds a streamed request body (fasthttp enforces the limit
	// only on bodies it reads whole); 0 means no limit.
	maxBody int64
	// done is told when the response body is finished (for streamed bodies:
	// when the stream is closed); nil is allowed. An interface, not a func, so
	// a pooled request state can be passed without allocating.
	done bodyDoner
	// idle bounds each read of a streamed response body from the target
	// and each write of it to the client, and each read of a streamed
	// request body from the client and each write of it to the target:
	// a side that takes or gives nothing for that long ends the request.
	idle time.Duration
	// clientConn is the client's connection, whose deadlines idle moves
	// (nil: only the target's are moved).
	clientConn net.Conn
	// streams, if not nil, holds a streamed response while it lasts, so
	// that the end of its target's draining (or shutdown) cuts it.
	streams *hijackSet
	// received, if not nil, is kept at the number of bytes of a streamed
	// request body read from the client.
	received *int64
	// client, if not nil, tells whether the client closed its side, which
	// makes the end of a chunked body a truncation (upload.write).
	client clientEnder
}

// clientEnder is the client connection's desync scanner (desync.conn).
type clientEnder interface{ ClientEnded() bool }

// pooledConn is what we need of fasthttp's unexported *clientConn.
type pooledConn interface {
	comparable
	Conn() net.Conn
}

// hostPool drives a fasthttp.HostClient's connection pool directly instead of
// through HostClient.Do, for three reasons: to stream response bodies without
// a per-request closure, to know whether a failed request could have reached
// the target (for safe retries), and to keep every byte of the client's
// request head as it was. The type parameter is fasthttp's connection type,
// inferred from the HostClient's method values.
type hostPool[C pooledConn] struct {
	hc        *fasthttp.HostClient
	acquire   func(time.Duration, bool) (C, error)
	release   func(C)
	closeConn func(C)
	bodies    sync.Pool // *streamBody[C]
}

func newUpstream(hc *fasthttp.HostClient) upstream {
	return newHostPool(hc, hc.AcquireConn, hc.ReleaseConn, hc.CloseConn)
}

func newHostPool[C pooledConn](hc *fasthttp.HostClient, acquire func(time.Duration, bool) (C, error), release, closeConn func(C)) *hostPool[C] {
	return &hostPool[C]{hc: hc, acquire: acquire, release: release, closeConn: closeConn}
}

func (p *hostPool[C]) roundTrip(req *fasthttp.Request, resp *fasthttp.Response, o roundTripOpts) (errorKind, bool) {
	kind, retry, stale := p.attempt(req, resp, o, false)
	if stale && retry {
		// The connection had served earlier requests and the target had
		// closed it (a restart, an idle close racing our send): nothing
		// reached a live server, so the request is sent once more to the
		// same target, on a connection checked or new, as nginx retries a
		// failed cached connection without counting it. Without this a
		// group of one target would answer 502.
		resp.Reset()
		kind, retry, _ = p.attempt(req, resp, o, true)
	}
	return kind, retry
}

// attempt is one round trip. check peeks at every pooled connection before
// use, not only at those idle for a while. stale reports a failure before
// any response byte on a connection that had served before.
func (p *hostPool[C]) attempt(req *fasthttp.Request, resp *fasthttp.Response, o roundTripOpts, check bool) (kind errorKind, retry, stale bool) {
	// A request that cannot be sent again (a body already streamed, or a
	// method that is not idempotent) must not meet a connection its target
	// closed a moment ago: its pooled connection is always looked at.
	check = check || !o.rewindable || !idempotent(req)
	cc, err := p.acquire(p.hc.MaxConnWaitTimeout, false)
	for err == nil && closedWhileIdle(cc.Conn(), check) {
		p.closeConn(cc)
		cc, err = p.acquire(p.hc.MaxConnWaitTimeout, false)
	}
	if err != nil {
		return errConnect, true, false
	}
	conn := cc.Conn()
	reused := servedBefore(conn)

	start := o.start
	if start.IsZero() {
		start = time.Now()
	}
	deadline := start.Add(o.timeout)
	bw := p.hc.AcquireWriter(conn)
	if req.IsBodyStream() {
		// A streamed upload runs at the client's pace: each chunk's read
		// from the client and write to the target is bounded by idle
		// (upload.write), not the whole body by the response timeout.
		up := upload{limit: o.maxBody, received: o.received, client: o.client,
			idle: o.idle, clientConn: o.clientConn, target: conn}
		if o.idle <= 0 {
			_ = conn.SetWriteDeadline(time.Time{})
		}
		err = up.write(bw, req)
	} else {
		_ = conn.SetWriteDeadline(deadline)
		err = writeRequest(bw, req)
	}
	if err == nil {
		err = bw.Flush()
	}
	p.hc.ReleaseWriter(bw)
	if err != nil {
		p.closeConn(cc)
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			return errBodyTooLarge, false, false
		}
		var cre clientReadError
		if errors.As(err, &cre) {
			return cre.kind(), false, false
		}
		if isTimeout(err) {
			// The target took nothing for the idle timeout.
			return errTimeout, false, false
		}
		if cutByDrain(conn) {
			return errDrainCut, false, false
		}
		if !o.rewindable {
			// The target stopped taking a streamed body: part of it was
			// sent, so it is not repeated.
			return errResetBeforeResponse, false, false
		}
		// The target never got a whole request: safe to send it elsewhere.
		return errResetBeforeResponse, true, reused
	}

	if lc, ok := conn.(*lazyConn); ok {
		lc.expectReply()
	}
	if req.IsBodyStream() {
		// The response timeout counts from the end of a streamed upload.
		deadline = time.Now().Add(o.timeout)
	}
	_ = conn.SetReadDeadline(deadline)
	br := p.hc.AcquireReader(conn)
	isHead := req.Header.IsHead()
	for {
		err = readResponseHead(br, &resp.Header)
		if err != nil {
			break
		}
		sc := resp.Header.StatusCode()
		if sc == fasthttp.StatusSwitchingProtocols {
			// Upgrades go through proxyUpgrade: a 101 to a request that
			// asked for none is not HTTP this side can relay.
			err = errUnaskedSwitch
			break
		}
		// Interim 1xx responses (100 Continue, 103 Early Hints) are consumed.
		if sc < 100 || sc >= 200 {
			break
		}
		resp.Header.Reset()
		// Reset forgets the setting: the final answer is relayed without a
		// Content-Type its target did not send.
		resp.Header.SetNoDefaultContentType(true)
	}
	if err != nil {
		p.hc.ReleaseReader(br)
		p.closeConn(cc)
		switch {
		case cutByDrain(conn):
			// Its target's draining ended: answered 502, not sent again.
			return errDrainCut, false, false
		case isTimeout(err):
			return errTimeout, false, false
		case err == io.EOF || isConnReset(err):
			// Nothing came back: the keep-alive race on a reused connection
			// (the target closed it as we sent), or a target that died with
			// the request in hand. An idempotent request (RFC 9110 9.2.2)
			// whose body we still hold is sent once more elsewhere, as
			// nginx's proxy_next_upstream does; others were delivered and are
			// never repeated.
			return errResetBeforeResponse, o.rewindable && idempotent(req), reused
		default:
			return errBadResponse, false, false
		}
	}

	closeAfter := resp.Header.ConnectionClose() || req.Header.ConnectionClose()
	sc := resp.Header.StatusCode()
	if isHead || sc == fasthttp.StatusNoContent || sc == fasthttp.StatusNotModified || sc < 200 {
		resp.SkipBody = isHead
		p.finish(cc, br, closeAfter)
		if o.done != nil {
			o.done.bodyDone(0)
		}
		return errNone, false, false
	}
	cl := resp.Header.ContentLength()
	// A small body already in the buffer is read whole; one still coming is
	// streamed, so that its bytes are bounded by the idle timeout each, as
	// a larger body's, not all of them by the response timeout.
	if cl >= 0 && cl <= maxBufferedBody && br.Buffered() >= cl {
		err = resp.ReadBody(br, 0)
		if err != nil {
			p.hc.ReleaseReader(br)
			p.closeConn(cc)
			if isTimeout(err) {
				return errTimeout, false, false
			}
			return errBadResponse, false, false
		}
		p.finish(cc, br, closeAfter)
		if o.done != nil {
			o.done.bodyDone(0)
		}
		return errNone, false, false
	}
	p.stream(resp, cc, br, cl, closeAfter, o)
	return errNone, false, false
}

func (p *hostPool[C]) finish(cc C, br *bufio.Reader, closeConn bool) {
	// Bytes past the end of the answer (a body longer than its
	// Content-Length, a 408 sent before closing) answer nothing: the
	// connection's next answer could not be trusted, so it is not reused,
	// as nginx drops such an upstream connection.
	if br.Buffered() > 0 {
		closeConn = true
	}
	p.hc.ReleaseReader(br)
	if closeConn {
		p.closeConn(cc)
	} else {
		if lc, ok := cc.Conn().(*lazyConn); ok {
			lc.markServed()
		}
		p.release(cc)
	}
}

// closedWhileIdle reports whether a pooled connection is known to be
// closed by its target (idlecheck.go).
func closedWhileIdle(c net.Conn, always bool) bool {
	lc, ok := c.(*lazyConn)
	return ok && lc.closedWhileIdle(always)
}

// cutByDrain reports whether the end of its target's draining closed c.
func cutByDrain(c net.Conn) bool {
	lc, ok := c.(*lazyConn)
	return ok && lc.cut.Load()
}

// servedBefore reports whether a target connection came from the pool
// (it completed a request before).
func servedBefore(c net.Conn) bool {
	lc, ok := c.(*lazyConn)
	return ok && lc.served
}

// stream attaches the rest of the upstream response to resp as a body stream.
func (p *hostPool[C]) stream(resp *fasthttp.Response, cc C, br *bufio.Reader, cl int, closeAfter bool, o roundTripOpts) {
	up := fasthttp.AcquireResponse()
	resp.Header.CopyTo(&up.Header)
	up.StreamBody = true
	_ = up.ReadBody(br, 0) // with StreamBody set this only attaches a reader
	sb, _ := p.bodies.Get().(*streamBody[C])
	if sb == nil {
		sb = &streamBody[C]{pool: p}
	}
	sb.up, sb.r, sb.cc, sb.br = up, up.BodyStream(), cc, br
	sb.closeAfter, sb.eof, sb.done, sb.idle = closeAfter, false, o.done, o.idle
	sb.conn, sb.client = cc.Conn(), o.clientConn
	if o.streams != nil {
		sb.cut, sb.streams = &streamCut{conn: sb.conn}, o.streams
		if !o.streams.add(sb.cut) {
			sb.cut.shutdown() // the target is gone already
		}
	}
	if cl < 0 {
		cl = -1 // chunked or close-delimited upstream: chunked to the client
	}
	resp.SetBodyStream(sb, cl)
}

// streamBody relays a streamed upstream body to the client. The server calls
// Close after writing the response (or on failure); only a body read to its
// end leaves the connection fit for reuse.
type streamBody[C pooledConn] struct {
	pool       *hostPool[C]
	up         *fasthttp.Response
	r          io.Reader
	cc         C
	br         *bufio.Reader
	conn       net.Conn
	client     net.Conn   // nil: the client's write deadline is the server's
	cut        *streamCut // registered in streams while the body is relayed
	streams    *hijackSet
	idle       time.Duration
	closeAfter bool
	eof        bool
	done       bodyDoner
	sent       int64 // body bytes read from the target (and relayed)
}

// Read bounds the read from the target, and the write to the client of
// what it returns (the server writes it next), by the idle timeout: a target
// that sends nothing, or a client that reads nothing, for that long ends
// the response.
func (s *streamBody[C]) Read(b []byte) (int, error) {
	boundRelayStep(s.conn, s.client, s.idle)
	n, err := s.r.Read(b)
	s.sent += int64(n)
	if err == io.EOF {
		s.eof = true
	}
	return n, err
}

// relayBufs hold a streamed body's bytes between the target's read and
// the client's write. A relay starts with a small one, held while it waits
// for a slow target; once a read fills it (bytes are flowing), it takes a
// large one, as large as a target connection's reader, so that a read into
// it bypasses the reader's buffer.
var (
	relayBufsSmall = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}
	relayBufsLarge = sync.Pool{New: func() any { b := make([]byte, maxResponseHead); return &b }}
)

// WriteTo relays the body as fasthttp writes it (fixed-size or chunked),
// each piece the target's read returned written at once and whole: through
// Read, fasthttp moved it in 4 KiB pieces (its copy buffer), a write(2) per
// 4 KiB of a download and a chunk each to the client. Each piece is flushed,
// so a body that trickles is relayed as it comes.
func (s *streamBody[C]) WriteTo(w io.Writer) (int64, error) {
	small := relayBufsSmall.Get().(*[]byte)
	defer relayBufsSmall.Put(small)
	var large *[]byte
	defer func() {
		if large != nil {
			relayBufsLarge.Put(large)
		}
	}()
	buf := *small
	f, _ := w.(interface{ Flush() error })
	var total int64
	for {
		n, err := s.Read(buf)
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			total += int64(nw)
			if werr == nil && f != nil {
				werr = f.Flush()
			}
			if werr != nil {
				return total, werr
			}
			if n == len(buf) && large == nil {
				large = relayBufsLarge.Get().(*[]byte)
				buf = *large
			}
		}
		switch {
		case err == io.EOF:
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// SupportsBodyWriteTo tells fasthttp that WriteTo does what Read does.
func (s *streamBody[C]) SupportsBodyWriteTo() bool { return true }

func (s *streamBody[C]) Close() error {
	p := s.pool
	if s.cut != nil {
		s.cut.detach()
		s.streams.remove(s.cut)
	}
	_ = s.up.CloseBodyStream()
	fasthttp.ReleaseResponse(s.up)
	p.finish(s.cc, s.br, s.closeAfter || !s.eof)
	if s.done != nil {
		s.done.bodyDone(s.sent)
	}
	var zero C
	s.up, s.r, s.cc, s.br, s.conn, s.client, s.done, s.sent = nil, nil, zero, nil, nil, nil, nil, 0
	s.cut, s.streams = nil, nil
	p.bodies.Put(s)
	return nil
}

// boundRelayStep bounds the next read of a relayed body from target, and
// the write to client (nil: the server's deadline) of what it returns, by
// idle from now; idle <= 0 bounds nothing.
func boundRelayStep(target, client net.Conn, idle time.Duration) {
	if idle <= 0 {
		return
	}
	d := time.Now().Add(idle)
	_ = target.SetReadDeadline(d)
	if client != nil {
		_ = client.SetWriteDeadline(d)
	}
}

// streamCut is a streamed response as its target's hijackSet holds it:
// shutdown (the end of draining, or of the shutdown timeout) closes the
// target connection, which ends the relay and the client's response, as ALB
// closes a deregistered target's remaining connections when the
// deregistration delay ends.
type streamCut struct {
	mu   sync.Mutex
	conn net.Conn // nil once the body has ended
}

func (c *streamCut) shutdown() {
	c.mu.Lock()
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.mu.Unlock()
}

func (c *streamCut) detach() {
	c.mu.Lock()
	c.conn = nil
	c.mu.Unlock()
}

// bodyDoner is told once a response body has been fully relayed or
// abandoned, with the bytes of a streamed body relayed (0 for a body read
// whole).
type bodyDoner interface{ bodyDone(sent int64) }

// idempotent reports whether a method may be repeated safely (RFC 9110 9.2.2).
func idempotent(req *fasthttp.Request) bool {
	h := &req.Header
	return h.IsGet() || h.IsHead() || h.IsPut() || h.IsDelete() || h.IsOptions() || h.IsTrace()
}
