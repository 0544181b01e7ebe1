package balancer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/balancer/desync"
	"github.com/gantrylb/gantry/rules"
	"github.com/gantrylb/gantry/spec"
)

// listenerState is one listener's compiled configuration: what a request
// loads once and reads without locks.
type listenerState struct {
	spec     *spec.Listener
	table    *rules.Table
	forwards []*forwardPlan // by rules.Action.ID; nil for non-forward actions

	scheme      []byte // "http" or "https"
	portText    []byte
	maxURI      int
	maxBody     int64
	idleTimeout time.Duration

	// headerTimeout bounds the work done on a new connection before it
	// is served: PROXY header, TLS handshake, SNI peek.
	headerTimeout time.Duration
	// tlsConfig is set on HTTPS and TLS listeners.
	tlsConfig *tls.Config
	tlsErrors prometheus.Counter
	// proxy is set when the listener accepts PROXY headers.
	proxy *proxyPolicy
	// sni is set on TCP listeners whose rules route by SNI.
	sni bool
	// tcp holds the flow metrics of TCP and TLS listeners.
	tcp *tcpListenerMetrics

	requests     prometheus.Counter
	clientClosed prometheus.Counter
}

// forwardPlan is a forward action with its groups resolved.
type forwardPlan struct {
	fwd      *rules.Forward
	groups   []*group // parallel to fwd.Groups
	groupIDs []uint64 // cookie ids of the groups, parallel to fwd.Groups
}

// serverSettings are the listener fields a running fasthttp.Server cannot
// change; a change to them hands the socket over to a new server.
type serverSettings struct {
	headerBytes   int
	headerTimeout time.Duration
	idleTimeout   time.Duration
}

func settingsOf(l *spec.Listener) serverSettings {
	return serverSettings{
		headerBytes:   l.Limits.Effective().MaxRequestHeaderBytes,
		headerTimeout: l.Limits.RequestHeaderTimeout(),
		idleTimeout:   l.IdleTimeout(),
	}
}

// bindAddr is the host:port a listener binds.
func bindAddr(l *spec.Listener) string {
	return net.JoinHostPort(l.Address, strconv.Itoa(l.Port))
}

// httpListener serves one HTTP listener. Its socket (port) outlives servers:
// when settings change, a new server takes over the socket and the old one
// finishes its connections, so a reload never refuses a connection.
type httpListener struct {
	b     *Balancer
	name  string
	port  *portListener
	state atomic.Pointer[listenerState]

	mu       sync.Mutex
	srv      *fasthttp.Server
	retired  *atomic.Bool // set when srv is being replaced
	view     *listenerView
	settings serverSettings

	// released is closed when another frontend took the socket over.
	released    chan struct{}
	releaseOnce sync.Once
}

// dispatch prepares an accepted connection for the HTTP server and hands it
// to whichever server view is accepting. The PROXY header, TLS and desync
// wrappers are all lazy: the header and the handshake are read by the first
// Read, in the connection's own goroutine, never in the accept loop.
func (l *httpListener) dispatch(cc *countingConn) {
	st := l.state.Load()
	// Every deadline of an HTTP connection is set through these wrappers,
	// so its far deadlines can be coarse (deadline.go).
	lc := newLazyConn(cc.Conn)
	lc.waitWhenEmpty()
	cc.lingers = true
	if st.idleTimeout > 0 && st.idleTimeout < st.headerTimeout {
		lc.boundFirstByte(time.Now().Add(st.idleTimeout))
	}
	cc.Conn = lc
	var c net.Conn = cc
	if st.proxy != nil {
		c = newProxyConn(c, st.proxy, st.headerTimeout)
	}
	if st.tlsConfig != nil {
		c = newTLSServerConn(c, st, st.tlsErrors, func() { l.b.metrics.elbCode(l.name, 400) })
	}
	// The desync scan rejects bare-LF request heads at once (fasthttp
	// would wait for its read timeout); it counts them as severe. With an
	// access log, it shows each head to a headRecord (logRejected).
	var tap desync.HeadTap
	if l.b.access != nil {
		tap = new(headRecord)
	}
	c = desync.WrapConnTap(c, l.port.onBareLF, tap)
	select {
	case l.port.conns <- c:
	case <-l.port.done:
		_ = c.Close()
	case <-l.released:
		_ = c.Close()
	}
}

// newServer makes a server for settings s. Once retired is set, each request
// it answers closes its connection, so keep-alive clients move to the new
// server one by one instead of having idle connections cut under them.
func (l *httpListener) newServer(s serverSettings, retired *atomic.Bool) *fasthttp.Server {
	return &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			l.handle(ctx)
			if retired.Load() {
				ctx.SetConnectionClose()
			}
		},
		ErrorHandler:                 l.errorHandler,
		HeaderReceived:               l.headerReceived,
		ExpectHandler:                l.expect,
		Name:                         "",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		ReadBufferSize:               s.headerBytes,
		ReadTimeout:                  s.headerTimeout,
		IdleTimeout:                  s.idleTimeout,
		WriteTimeout:                 s.idleTimeout,
		MaxRequestBodySize:           math.MaxInt,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ReduceMemoryUsage:            true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true,
		Concurrency:                  1 << 20,
		Logger:                       fasthttpLogger{l.b.log.With("listener", l.name)},

		// WebSockets close their connections themselves; fasthttp keeping
		// them lets the hijack handler return and free its request context
		// and 64 KiB read buffer (a third of an idle WebSocket's memory).
		KeepHijackedConns: true,
	}
}

// start serves on a new view of the port with settings s, replacing any
// running server, which is shut down in the background.
func (l *httpListener) start(s serverSettings) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, oldView, oldRetired, oldIdle := l.srv, l.view, l.retired, l.settings.idleTimeout
	retired := new(atomic.Bool)
	srv := l.newServer(s, retired)
	view := l.port.newView()
	l.srv, l.view, l.settings, l.retired = srv, view, s, retired
	l.b.wg.Add(1)
	go func() {
		defer l.b.wg.Done()
		if err := srv.Serve(view); err != nil && !errors.Is(err, net.ErrClosed) {
			l.b.log.Error("listener stopped", "listener", l.name, "err", err)
		}
	}()
	if old != nil {
		l.b.wg.Add(1)
		go func() {
			defer l.b.wg.Done()
			oldView.Close()
			oldRetired.Store(true)
			l.retire(old, oldIdle)
		}()
	}
}

// retire waits for a replaced server's connections to end (each closes after
// its next request, or at the old idle timeout), bounded by the shutdown
// timeout or the listener stopping, then shuts the server down.
func (l *httpListener) retire(srv *fasthttp.Server, idle time.Duration) {
	deadline := time.Now().Add(min(idle+time.Second, l.b.shutdownTimeout))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for srv.GetOpenConnectionsCount() > 0 && time.Now().Before(deadline) {
		select {
		case <-tick.C:
		case <-l.port.done:
			deadline = time.Time{}
		}
	}
	l.shutdownServer(srv)
}

func (l *httpListener) shutdownServer(srv *fasthttp.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), l.b.shutdownTimeout)
	defer cancel()
	if err := srv.ShutdownWithContext(ctx); err != nil {
		l.b.log.Warn("listener shutdown incomplete", "listener", l.name, "err", err)
	}
}

// stop shuts the listener down gracefully: the socket closes at once, so new
// connections are refused, and in-flight requests finish (up to the shutdown
// timeout).
func (l *httpListener) stop() {
	l.mu.Lock()
	srv, view := l.srv, l.view
	l.srv, l.view = nil, nil
	l.mu.Unlock()
	if view != nil {
		view.Close()
	}
	l.port.Close()
	if srv != nil {
		l.shutdownServer(srv)
	}
}

// headerReceived applies the body limit of the current configuration. A
// Content-Length over the limit is refused before any of the body is read:
// fasthttp would otherwise wait for the first maxRequestBodyBytes of it
// before calling the handler. Marking the request as "Expect: 100-continue"
// makes fasthttp leave the body unread and ask expect, which refuses it.
func (l *httpListener) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	ls := l.state.Load()
	// The idle timeout bounds the body's reads (each read of a streamed
	// body is bounded anew, upload.write) and the response's write (each
	// chunk of a streamed response, streamBody.Read).
	rc := fasthttp.RequestConfig{ReadTimeout: ls.idleTimeout, WriteTimeout: ls.idleTimeout}
	if !h.IsHTTP11() {
		// A later HTTP/1 minor version is spoken as 1.1 (RFC 9110 2.5):
		// its request is forwarded, and answered, as HTTP/1.1.
		if p := h.Protocol(); len(p) == 8 && string(p[:7]) == "HTTP/1." && p[7] > '1' && p[7] <= '9' {
			h.SetProtocol("HTTP/1.1")
		}
	}
	if !h.IsHTTP11() && len(h.Peek(fasthttp.HeaderExpect)) > 0 {
		// An HTTP/1.0 client's expectation is ignored (RFC 9110 10.1.1):
		// it is sent no 1xx, and its body is read at once.
		h.Del(fasthttp.HeaderExpect)
	}
	if ls.maxBody > 0 {
		rc.MaxRequestBodySize = int(ls.maxBody)
		if int64(h.ContentLength()) > ls.maxBody {
			h.Set(fasthttp.HeaderExpect, "100-continue")
		}
	}
	return rc
}

// expect decides, before any of the body is read, whether a request that
// may continue (a client's "Expect: 100-continue", or one headerReceived
// marked) gets its body read: a Content-Length over maxRequestBodyBytes is
// answered at once by the handler (413, or an earlier refusal), without
// 100 Continue, and the connection is closed. Others continue.
func (l *httpListener) expect(ctx *fasthttp.RequestCtx) int {
	ls := l.state.Load()
	if ls.maxBody <= 0 || int64(ctx.Request.Header.ContentLength()) <= ls.maxBody {
		return fasthttp.StatusContinue
	}
	l.handle(ctx) // refuses the request before the body check at the latest
	return ctx.Response.StatusCode()
}

// errorHandler answers requests fasthttp could not parse, with ALB's codes.
func (l *httpListener) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var code int
	var reason string
	var class desync.Result
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, desync.ErrBareLF):
		code, reason = fasthttp.StatusBadRequest, "BareLF"
		class = desync.Result{Class: desync.Severe, Reason: desync.ReasonNonCrLfLineTermination}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err):
		// The client went away with its request unfinished (a body fasthttp
		// reads whole before the handler): ALB's 460, for the log only.
		l.state.Load().clientClosed.Inc()
		l.b.metrics.elbCode(l.name, 460)
		if l.b.access != nil {
			l.logRejected(ctx, 460, "ClientClosed", class)
		}
		_ = ctx.Conn().Close() // nothing is written to a client that left
		return
	case errors.As(err, &small):
		code, reason = fasthttp.StatusRequestHeaderFieldsTooLarge, "RequestHeaderTooLarge"
		if lr, ok := ctx.Conn().(interface{ InRequestLine() bool }); ok && lr.InRequestLine() {
			// The request line alone fills the buffer: its URI is too long.
			code, reason = fasthttp.StatusRequestURITooLong, "RequestURITooLong"
		}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code, reason = fasthttp.StatusRequestEntityTooLarge, "RequestBodyTooLarge"
	case isTimeout(err):
		code, reason = fasthttp.StatusRequestTimeout, "RequestTimeout"
	default:
		code, reason = fasthttp.StatusBadRequest, "MalformedRequest"
	}
	// fasthttp moves the write deadline only for responses of the
	// handler: on a keep-alive connection the previous response's may
	// have passed by now (a body that came too slowly takes the idle
	// timeout), and the answer would never be written.
	_ = ctx.Conn().SetWriteDeadline(time.Now().Add(l.state.Load().idleTimeout))
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(statusText(code))
	// As fasthttp writes it (the connection is closed after an error), so
	// that the access log's sent_bytes counts the head as sent.
	ctx.Response.Header.SetContentLength(len(statusText(code)))
	ctx.SetConnectionClose()
	lingerOnClose(ctx.Conn()) // the client may still be sending what was refused
	l.b.metrics.elbCode(l.name, code)
	if l.b.access != nil {
		l.logRejected(ctx, code, reason, class)
	}
}

// portListener owns one bound socket. A single accept loop enforces the
// connection limit, counts connections and bytes, and hands connections to
// whichever server view is accepting.
type portListener struct {
	ln       net.Listener
	conns    chan net.Conn
	done     chan struct{}
	once     sync.Once
	maxConns atomic.Int64
	active   atomic.Int64

	// dispatch hands each accepted connection to the listener's
	// frontend; it must not block for long (the accept loop waits).
	dispatch atomic.Pointer[func(*countingConn)]

	onBareLF    func()
	activeGauge prometheus.Gauge
	newConns    prometheus.Counter
	rejected    prometheus.Counter
	bytes       prometheus.Counter

	// open lists the connections not closed yet (linked through their
	// prev and next), so that a shutdown can cut those its timeout left
	// (cutConns); emptied, when set, is closed once the list is empty.
	openMu  sync.Mutex
	open    *countingConn
	emptied chan struct{}
}

func newPortListener(ln net.Listener, name string, m *metrics) *portListener {
	return &portListener{
		ln:          ln,
		conns:       make(chan net.Conn),
		done:        make(chan struct{}),
		onBareLF:    m.desync.WithLabelValues(desync.Severe.String()).Inc,
		activeGauge: m.activeConns.WithLabelValues(name),
		newConns:    m.newConns.WithLabelValues(name),
		rejected:    m.rejectedConns.WithLabelValues(name),
		bytes:       m.processedBytes.WithLabelValues(name),
	}
}

func (p *portListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Anything else (EMFILE when out of descriptors, ECONNABORTED,
			// a timeout) is passing: back off and accept again, as
			// net/http does, rather than stop serving for good.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
				continue
			case <-p.done:
				return
			}
		}
		backoff = 0
		if max := p.maxConns.Load(); max > 0 && p.active.Load() >= max {
			p.rejected.Inc()
			_ = c.Close()
			continue
		}
		p.active.Add(1)
		p.activeGauge.Inc()
		p.newConns.Inc()
		cc := &countingConn{Conn: c, p: p}
		p.track(cc)
		(*p.dispatch.Load())(cc)
	}
}

// Close stops accepting and closes the socket.
func (p *portListener) Close() {
	p.once.Do(func() {
		close(p.done)
		_ = p.ln.Close()
	})
}

// track lists an accepted connection in p.open.
func (p *portListener) track(c *countingConn) {
	p.openMu.Lock()
	c.next = p.open
	if p.open != nil {
		p.open.prev = c
	}
	p.open = c
	p.openMu.Unlock()
}

// untrack takes a closed connection off p.open.
func (p *portListener) untrack(c *countingConn) {
	p.openMu.Lock()
	defer p.openMu.Unlock()
	switch {
	case c.prev != nil:
		c.prev.next = c.next
	case p.open == c:
		p.open = c.next
	default:
		return // never listed
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	if p.open == nil && p.emptied != nil {
		close(p.emptied)
		p.emptied = nil
	}
}

// cutConns closes the sockets of the connections still open, which ends
// whatever they carry, and returns a channel closed once their owners have
// closed them all: an HTTP server does once the request at hand has ended
// (and been logged).
func (p *portListener) cutConns() <-chan struct{} {
	p.openMu.Lock()
	defer p.openMu.Unlock()
	done := p.emptiedLocked()
	for c := p.open; c != nil; c = c.next {
		_ = c.Conn.Close() // the socket only: c is listed until its owner closes it
	}
	return done
}

// whenEmpty returns a channel closed once no connection is open.
func (p *portListener) whenEmpty() <-chan struct{} {
	p.openMu.Lock()
	defer p.openMu.Unlock()
	return p.emptiedLocked()
}

func (p *portListener) emptiedLocked() <-chan struct{} {
	if p.emptied != nil {
		return p.emptied
	}
	done := make(chan struct{})
	if p.open == nil {
		close(done)
		return done
	}
	p.emptied = done
	return done
}

// cutGrace bounds the wait for the requests on connections a shutdown cut
// (cutConns) to end: one whose target does not answer is not waited for.
const cutGrace = time.Second

// settleGrace bounds the wait, at shutdown, for the requests whose targets'
// connections were just cut to answer (502) on their client connections.
const settleGrace = 250 * time.Millisecond

// waitOpenConns waits up to d for every connection on the sockets of ls to
// be closed by its owner.
func waitOpenConns(ls map[string]frontend, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, l := range ls {
		select {
		case <-l.socket().whenEmpty():
		case <-timer.C:
			return
		}
	}
}

// cutOpenConns cuts the connections the shutdown timeout left open on the
// sockets of ls, and waits up to cutGrace for them to be closed.
func cutOpenConns(ls map[string]frontend) {
	waits := make([]<-chan struct{}, 0, len(ls))
	for _, l := range ls {
		waits = append(waits, l.socket().cutConns())
	}
	timer := time.NewTimer(cutGrace)
	defer timer.Stop()
	for _, w := range waits {
		select {
		case <-w:
		case <-timer.C:
			return
		}
	}
}

func (p *portListener) newView() *listenerView {
	return &listenerView{p: p, closed: make(chan struct{})}
}

// listenerView is what one fasthttp.Server sees of a portListener; closing
// the view stops that server accepting without closing the socket.
type listenerView struct {
	p      *portListener
	closed chan struct{}
	once   sync.Once
}

func (v *listenerView) Accept() (net.Conn, error) {
	select {
	case c := <-v.p.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.p.done:
		return nil, net.ErrClosed
	}
}

func (v *listenerView) Close() error {
	v.once.Do(func() { close(v.closed) })
	return nil
}

func (v *listenerView) Addr() net.Addr { return v.p.ln.Addr() }

// countingConn counts a client connection's bytes and its end.
type countingConn struct {
	net.Conn
	p      *portListener
	closed atomic.Bool
	// lingers: an HTTP connection closed with bytes from its client still
	// unread is closed gracefully (lingerClose); mustLinger: closed after
	// refusing a request whose rest may still be on its way, it lingers
	// even if none of it has arrived yet.
	lingers    bool
	mustLinger atomic.Bool

	prev, next *countingConn // in p.open; guarded by p.openMu
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.p.bytes.Add(float64(n))
	}
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.p.bytes.Add(float64(n))
	}
	return n, err
}

func (c *countingConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.Conn.Close() // again, or cutting a lingering close short
	}
	if c.lingers && (c.mustLinger.Load() || unreadInput(c.Conn)) {
		// Half-closed here, so that nothing written after Close (an
		// answer to a client that left) reaches the client.
		if tc := plainTCP(c.Conn); tc != nil && tc.CloseWrite() == nil {
			go c.lingerClose()
			return nil
		}
	}
	c.ended()
	return c.Conn.Close()
}

func (c *countingConn) ended() {
	c.p.active.Add(-1)
	c.p.activeGauge.Dec()
	c.p.untrack(c)
}

// Lingering close. A socket closed with bytes from its peer still unread
// is reset by the kernel, and a reset can destroy, at the client, the
// answer sent just before it: a client still sending a body Gantry refused
// (413, 431, 400...) or pipelining behind a "Connection: close" would see
// "connection reset" instead of the status. So, as nginx's lingering_close,
// such a connection is half-closed after its answer and its client's bytes
// read and dropped until the client closes, lingerIdle passes without a
// byte, or lingerTotal ends, and only then closed. It still counts as open
// meanwhile, and a shutdown cuts it as any other.
const (
	lingerTotal = 10 * time.Second
	lingerIdle  = 2 * time.Second
)

// lingerOnClose marks the client connection under c's wrappers to linger
// when it is closed: a request was refused whose rest (its body, the rest
// of its head) the client may still be sending.
func lingerOnClose(c net.Conn) {
	for range 8 {
		switch v := c.(type) {
		case *countingConn:
			v.mustLinger.Store(true)
			return
		case *proxyConn:
			c = v.Conn
		case *tlsServerConn:
			c = v.raw
		case unwrapper:
			c = v.Unwrap()
		default:
			return
		}
	}
}

// unreadInput reports whether c's socket holds bytes (or an end or error)
// its owner has not read.
func unreadInput(c net.Conn) bool {
	tc := plainTCP(c)
	return tc != nil && !quietSocket(tc)
}

func (c *countingConn) lingerClose() {
	defer func() {
		c.ended()
		_ = c.Conn.Close()
	}()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	end := time.Now().Add(lingerTotal)
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		d := now.Add(lingerIdle)
		if d.After(end) {
			d = end
		}
		_ = c.Conn.SetReadDeadline(d)
		if _, err := c.Conn.Read(*bp); err != nil {
			return
		}
	}
}

// fasthttpLogger routes fasthttp's own messages to slog at debug level: they
// are per-connection noise (client resets) that metrics already count.
type fasthttpLogger struct {
	log interface{ Debug(string, ...any) }
}

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.log.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}

// ownsGroup reports whether id is the cookie id of one of the forward's
// groups (a GANTRYLBTG pin of this forward, not another rule's).
func (p *forwardPlan) ownsGroup(id uint64) bool { return slices.Contains(p.groupIDs, id) }

// otherGroupOwns reports whether id is a target of one of the listener's
// groups other than g: a pin the client's cookie keeps for that group. Pins
// of targets no group has any more are dropped.
func (ls *listenerState) otherGroupOwns(g *group, id uint64) bool {
	for _, p := range ls.forwards {
		if p == nil {
			continue
		}
		for _, og := range p.groups {
			if og != g && og.owns(id) {
				return true
			}
		}
	}
	return false
}

// otherForwardOwns reports whether id is a group of one of the listener's
// weighted forwards other than plan.
func (ls *listenerState) otherForwardOwns(plan *forwardPlan, id uint64) bool {
	for _, p := range ls.forwards {
		if p != nil && p != plan && len(p.groups) > 1 && p.ownsGroup(id) {
			return true
		}
	}
	return false
}
