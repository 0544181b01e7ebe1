package balancer

import (
	"bufio"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/gantrylb/gantry/accesslog"
	"github.com/gantrylb/gantry/rules"
)

// tcpListener serves a TCP or TLS listener (NLB): each connection is routed
// once, by SNI and source address, to a target of a TCP group, and then its
// bytes are piped both ways until either side ends or it idles out.
type tcpListener struct {
	b     *Balancer
	name  string
	port  *portListener
	state atomic.Pointer[listenerState]

	// flows holds every open flow, so that stopping the listener can end them.
	flows  hijackSet
	mu     sync.Mutex // guards closed against wg.Add
	closed bool
	wg     sync.WaitGroup
}

func newTCPListener(b *Balancer, name string, port *portListener) *tcpListener {
	return &tcpListener{b: b, name: name, port: port}
}

func (l *tcpListener) kind() listenerKind      { return kindTCP }
func (l *tcpListener) socket() *portListener   { return l.port }
func (l *tcpListener) current() *listenerState { return l.state.Load() }

// apply installs a new configuration; open flows keep their target and are
// not cut by a reload.
func (l *tcpListener) apply(st *listenerState) { l.state.Store(st) }

// dispatch serves each connection in its own goroutine: everything that may
// wait for the client (PROXY header, handshake, SNI) happens there.
func (l *tcpListener) dispatch(cc *countingConn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = cc.Close()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		l.serve(cc)
	}()
}

// release lets another frontend take the socket; open flows go on until
// they end, or are ended after the shutdown timeout.
func (l *tcpListener) release() {
	l.b.wg.Add(1)
	go func() { defer l.b.wg.Done(); l.finish() }()
}

// stop closes the socket, gives open flows the shutdown timeout to end, then
// ends the rest.
func (l *tcpListener) stop() {
	l.port.Close()
	l.finish()
}

func (l *tcpListener) finish() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	timer := time.NewTimer(l.b.shutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	l.flows.closeAll()
	<-done
}

// flow is one client connection of a TCP or TLS listener.
type flow struct {
	l      *tcpListener
	st     *listenerState
	cc     *countingConn // the accepted connection, for the active count
	raw    net.Conn      // the socket under any wrapper
	client net.Conn      // what is piped: raw, or the TLS connection
	br     *bufio.Reader // holds bytes read ahead (PROXY header, SNI peek)
	src    netip.AddrPort
	sni    string
	tlsVer uint16
	cipher uint16

	start     time.Time
	connected time.Time
	action    *rules.Action
	group     *group
	target    *target
	conn      net.Conn // to the target
	reason    string
	ended     atomic.Bool // shutdown was called: Gantry ended the flow
	up, down  int64
	// checkProxy: the peer is not trusted to send a PROXY header, and its
	// first bytes are checked for one as they reach the pipe instead of
	// being waited for before connecting (untrustedHeader).
	checkProxy bool
}

// shutdown ends the flow at once (drain deadline, listener stop). It closes
// the sockets themselves, never the TLS layer, whose close_notify could block.
func (f *flow) shutdown() {
	f.ended.Store(true)
	abortive(f.raw)
	_ = f.raw.Close()
	if c := f.conn; c != nil {
		abortive(c)
		_ = c.Close()
	}
}

// reset counts a flow Gantry ends itself and makes the coming close of its
// sockets send RST, as NLB does (TCP_ELB_Reset_Count): a client must not
// take the end for an orderly one.
func (f *flow) reset() {
	f.st.tcp.elbResets.Inc()
	abortive(f.raw)
	if c := f.conn; c != nil {
		abortive(c)
	}
}

// abortive sets a zero linger on c's TCP socket, under any wrappers, so
// that closing it sends RST.
func abortive(c net.Conn) {
	if tc := rawTCP(c); tc != nil {
		_ = tc.SetLinger(0)
	}
}

// rawTCP is the TCP connection under c's wrappers (TLS and a PROXY
// header's reader included), or nil: for socket options, not for reading.
func rawTCP(c net.Conn) *net.TCPConn {
	for c != nil {
		if tc, ok := c.(*net.TCPConn); ok {
			return tc
		}
		switch u := c.(type) {
		case *proxyConn:
			c = u.Conn
		case interface{ Unwrap() net.Conn }:
			c = u.Unwrap()
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = u.NetConn()
		default:
			return nil
		}
	}
	return nil
}

func (l *tcpListener) serve(cc *countingConn) {
	st := l.state.Load()
	f := &flow{l: l, st: st, cc: cc, raw: cc.Conn, client: cc.Conn, start: time.Now()}
	f.src = remoteAddrPort(cc.Conn)
	defer l.logFlow(f)
	defer cc.Close()
	if !f.prepare() {
		return
	}
	if !f.connect() {
		f.reset()
		if f.conn != nil {
			_ = f.conn.Close()
		}
		return
	}
	f.br = nil
	f.run()
}

// prepare does the per-connection work before routing, bounded by the
// header timeout: the PROXY header, the TLS handshake or the SNI peek.
func (f *flow) prepare() bool {
	st := f.st
	_ = f.raw.SetDeadline(time.Now().Add(st.headerTimeout))
	defer func() { _ = f.raw.SetDeadline(time.Time{}) }()
	// Nothing to wait for from a peer whose header would be refused: a
	// protocol whose server speaks first gets its greeting at once, and a
	// header, if one comes, still ends the flow (run).
	f.checkProxy = st.proxy != nil && !st.sni && st.tlsConfig == nil && !st.proxy.trusts(f.src.Addr())
	switch {
	case st.sni:
		f.br = bufio.NewReaderSize(f.raw, maxTLSRecord)
	case st.proxy != nil && !f.checkProxy:
		f.br = bufio.NewReaderSize(f.raw, 256)
	}
	if st.proxy != nil && !f.checkProxy {
		ap, err := readProxyHeader(f.br, f.src.Addr(), st.proxy)
		if err != nil {
			st.proxy.rejected.Inc()
			f.reset()
			f.reason = "ProxyProtocolRejected"
			return false
		}
		if ap.IsValid() {
			f.src = ap
		}
	}
	if st.tlsConfig != nil {
		// Below TLS the counting connection counts the bytes on the wire.
		var under net.Conn = f.cc
		if f.br != nil {
			under = &bufferedConn{Conn: f.cc, br: f.br}
			f.br = nil
		}
		tc := tls.Server(under, st.tlsConfig)
		if err := tc.Handshake(); err != nil {
			handshakeFailed(err, st.tlsErrors, nil)
			f.reason = "TLSNegotiationError"
			return false
		}
		quickAck(f.cc)
		cs := tc.ConnectionState()
		if cs.NegotiatedProtocol == acmeTLSALPN {
			// An ACME CA validating tls-alpn-01: the handshake was the
			// answer; nothing is forwarded (RFC 8737).
			f.reason = "AcmeValidation"
			_ = tc.Close()
			return false
		}
		f.sni, f.tlsVer, f.cipher = cs.ServerName, cs.Version, cs.CipherSuite
		f.client = tc
		return true
	}
	if st.sni {
		f.sni = peekSNI(f.br)
	}
	return true
}

// connect routes the flow and connects to a target, trying one other
// target if the first cannot be reached.
func (f *flow) connect() bool {
	st := f.st
	view := flowView{sni: []byte(f.sni), src: f.src.Addr()}
	f.action = st.table.Match(&view)
	plan := st.forwards[f.action.ID]
	if plan == nil {
		f.reason = "NoForwardAction"
		return false
	}
	g := plan.groups[0]
	if len(plan.groups) > 1 {
		wg := plan.fwd.Pick(rand.IntN(plan.fwd.TotalWeight))
		for i := range plan.fwd.Groups {
			if &plan.fwd.Groups[i] == wg {
				g = plan.groups[i]
			}
		}
	}
	f.group = g
	key := flowKey(f.l.name, f.src)
	now := nowNanos()
	t := g.pickFlow(key, nil, now)
	if t == nil {
		f.reason = "NoRegisteredTargets"
		return false
	}
	for attempt := 0; ; attempt++ {
		f.target = t
		c, err := net.DialTimeout("tcp", t.addr, time.Duration(t.connectTimeout.Load()))
		if err == nil {
			f.conn = c
			break
		}
		t.connErrors.Inc()
		if attempt > 0 {
			f.reason = "TargetConnectionError"
			return false
		}
		if t = g.pickFlow(key, t, now); t == nil {
			f.reason = "TargetConnectionError"
			return false
		}
	}
	f.connected = time.Now()
	return f.handshakeTarget()
}

// handshakeTarget writes what the target must see before the client's
// bytes: the PROXY v2 header, then whatever was read ahead from the client.
func (f *flow) handshakeTarget() bool {
	_ = f.conn.SetWriteDeadline(time.Now().Add(f.st.headerTimeout))
	defer func() { _ = f.conn.SetWriteDeadline(time.Time{}) }()
	if f.group.spec.ProxyProtocolV2 {
		dst, _ := f.raw.LocalAddr().(*net.TCPAddr)
		src := net.TCPAddrFromAddrPort(f.src)
		if dst != nil && (dst.IP.To4() == nil) != (src.IP.To4() == nil) {
			// Mixed families cannot share one header; name the
			// destination in the client's family.
			dst = &net.TCPAddr{IP: net.IPv4zero, Port: dst.Port}
			if src.IP.To4() == nil {
				dst.IP = net.IPv6zero
			}
		}
		h := proxyproto.HeaderProxyFromAddrs(2, src, dst)
		if _, err := h.WriteTo(f.conn); err != nil {
			f.reason = "TargetConnectionError"
			return false
		}
	}
	if f.br != nil && f.br.Buffered() > 0 {
		ahead, _ := f.br.Peek(f.br.Buffered())
		if _, err := f.conn.Write(ahead); err != nil {
			f.reason = "TargetConnectionError"
			return false
		}
		f.up += int64(len(ahead))
	}
	return true
}

// run pipes the flow, counted in flight on its target so that draining
// waits for it, and held in the target's hijacked set so that the end of
// draining closes it.
func (f *flow) run() {
	st, t := f.st, f.target
	t.inflight.Add(1)
	defer t.inflight.Add(-1)
	if !t.hijacked.add(f) {
		f.reset()
		_ = f.conn.Close()
		f.reason = "TargetDeregistered"
		return
	}
	defer t.hijacked.remove(f)
	if !f.l.flows.add(f) {
		f.reset()
		_ = f.conn.Close()
		return
	}
	defer f.l.flows.remove(f)
	st.tcp.active.Inc()
	st.tcp.newFlows.Inc()
	defer st.tcp.active.Dec()

	p := &pipe{client: f.client, target: f.conn, idle: st.idleTimeout, resetIdle: true}
	if f.checkProxy {
		timeout := st.headerTimeout
		p.firstUp = func(c net.Conn) error { return untrustedHeader(c, timeout) }
	}
	err := p.run()
	f.up += p.up.Load()
	f.down += p.down.Load()
	st.tcp.bytes.Add(float64(f.up + f.down))
	if f.st.tlsConfig == nil {
		// The raw socket was piped past the counting connection (to keep
		// splice(2)), so its bytes are added here.
		f.l.port.bytes.Add(float64(f.up + f.down))
	}
	switch {
	case errors.Is(err, errProxyUntrusted):
		st.proxy.rejected.Inc()
		f.reason = "ProxyProtocolRejected"
		st.tcp.elbResets.Inc() // the pipe closed both sides with RST
	case errors.Is(err, errIdle):
		f.reason = "IdleTimeout"
		st.tcp.elbResets.Inc() // the pipe closed both sides with RST
	case f.ended.Load():
		f.reason = "FlowShutdown"
		st.tcp.elbResets.Inc()
	case err != nil && isConnReset(err) && !errors.Is(err, net.ErrClosed):
		f.reason = "ConnectionReset"
	}
}

// bufferedConn reads what br holds before reading the connection.
type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

// Unwrap returns the connection under the buffer.
func (c *bufferedConn) Unwrap() net.Conn { return c.Conn }

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// remoteAddrPort is the peer address of c, unmapped.
func remoteAddrPort(c net.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// logFlow writes a flow's access-log entry when it ends. Processing times
// are reused for a flow: request_processing_time is the setup (from accept
// to connected to a target), target_processing_time the life of the target
// connection.
func (l *tcpListener) logFlow(f *flow) {
	if l.b.access == nil {
		return
	}
	e := &accesslog.Entry{
		Type:                   accesslog.TypeTCP,
		ELB:                    l.name,
		Client:                 f.src,
		RequestCreationTime:    f.start,
		ReceivedBytes:          f.up,
		SentBytes:              f.down,
		ErrorReason:            f.reason,
		MatchedRulePriority:    -1,
		RequestProcessingTime:  -1,
		TargetProcessingTime:   -1,
		ResponseProcessingTime: -1,
	}
	if f.sni != "" {
		e.DomainName = []byte(f.sni)
	}
	if f.tlsVer != 0 {
		e.SSLProtocol = tlsVersionName(f.tlsVer)
		e.SSLCipher = cipherName(f.cipher)
	}
	if a := f.action; a != nil {
		e.MatchedRulePriority = a.Priority
		e.ActionsExecuted = a.Kind.String()
	}
	if f.group != nil {
		e.TargetGroup = f.group.name
	}
	if t := f.target; t != nil {
		e.Target = t.addrPort
		if t.draining.Load() {
			e.DrainState = "draining"
		}
	}
	if !f.connected.IsZero() {
		e.RequestProcessingTime = f.connected.Sub(f.start)
		e.TargetProcessingTime = time.Since(f.connected)
	}
	l.b.access.Log(e)
}
