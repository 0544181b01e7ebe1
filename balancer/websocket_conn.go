package balancer

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/accesslog"
	"github.com/gantrylb/gantry/balancer/wsframe"
)

const (
	// goAwayGrace is how long shutdown waits for the target's current frame
	// to end before closing without a close frame.
	goAwayGrace = time.Second
	// goAwayWrite bounds the write of the close frame (and of the 101 head).
	goAwayWrite = time.Second
)

var (
	errBadAccept   = errors.New("balancer: websocket upgrade: target sent a wrong Sec-WebSocket-Accept")
	errGoingAway   = errors.New("balancer: websocket: closed with 1001 going away")
	goingAwayFrame = wsframe.AppendClose(nil, wsframe.CloseGoingAway, "")
)

// wsConn is one WebSocket spliced between a client and the target that
// answered its upgrade. It is its target's hijacked connection (so the end
// of a drain closes it) and, as the pipe's toClient writer, the place where
// a close frame can be slipped in between two of the target's frames.
type wsConn struct {
	l      *httpListener
	t      *target
	group  string
	target net.Conn
	idle   time.Duration
	typ    accesslog.Type

	head  []byte // the 101 relayed to the client
	early []byte // target bytes read behind its 101

	// mu serialises writes to the client with the frame tracker and with
	// goAway; client is set under it when serve starts.
	mu        sync.Mutex
	client    net.Conn
	tr        wsframe.Tracker
	sentClose bool

	stopping atomic.Bool
	once     sync.Once
	// clientRef is client for closeBoth, which must not wait for mu (a
	// write to a client that does not read holds it).
	clientRef atomic.Pointer[net.Conn]
	force     atomic.Pointer[time.Timer]

	// for the access log, copied from the upgrade request
	start      time.Time
	reqTime    time.Duration
	targetTime time.Duration
	clientAP   netip.AddrPort
	reqInfo    []byte // host, uri, user agent, request id back to back
	hostLen    int
	uriLen     int
	uaLen      int
	priority   int
	tls        tlsSession // the client's, on an HTTPS listener
}

func newWSConn(l *httpListener, rs *reqState, g *group, t *target, conn net.Conn) *wsConn {
	ctx := rs.view.ctx
	h := &ctx.Request.Header
	ws := &wsConn{
		l: l, t: t, group: g.name, target: conn,
		idle:       rs.ls.idleTimeout,
		typ:        accesslog.TypeWS,
		start:      rs.start,
		reqTime:    rs.targetStart.Sub(rs.start),
		targetTime: rs.targetDur,
		clientAP:   clientAddrPort(ctx),
		priority:   -1,
	}
	if string(rs.ls.scheme) == "https" {
		ws.typ = accesslog.TypeWSS
	}
	if ctx.IsTLS() {
		ws.tls = tlsSessionOf(ctx.Conn())
	}
	host, uri, ua := h.Host(), h.RequestURI(), h.UserAgent()
	ws.reqInfo = make([]byte, 0, len(host)+len(uri)+len(ua)+len(rs.reqID))
	ws.reqInfo = append(append(append(append(ws.reqInfo, host...), uri...), ua...), rs.reqID...)
	ws.hostLen, ws.uriLen, ws.uaLen = len(host), len(uri), len(ua)
	if rs.action != nil {
		ws.priority = rs.action.Priority
	}
	return ws
}

// serve is the hijack handler: it relays the 101, then pipes until either
// side ends, the connection idles out or shutdown closes it.
func (ws *wsConn) serve(client net.Conn, pending []byte) {
	l, t := ws.l, ws.t
	defer l.b.wg.Done()
	defer t.inflight.Add(-1)
	defer t.hijacked.remove(ws)

	ws.mu.Lock()
	ws.client = client
	ws.clientRef.Store(&client)
	_ = client.SetWriteDeadline(time.Now().Add(goAwayWrite + ws.idle))
	_, err := client.Write(ws.head)
	// early counts the target's bytes relayed behind its 101, which the
	// pipe below does not see, in sent_bytes and the byte metric.
	early := int64(len(ws.early))
	if err == nil && early > 0 {
		err = ws.writeLocked(ws.early)
	}
	_ = client.SetWriteDeadline(time.Time{})
	ws.head, ws.early = nil, nil
	ws.mu.Unlock()
	if err == nil && len(pending) > 0 {
		_, err = ws.target.Write(pending)
	}
	if err != nil {
		_ = client.Close()
		_ = ws.target.Close()
		return
	}

	m := l.b.metrics
	active := m.wsActive.WithLabelValues(l.name)
	active.Inc()
	m.wsTotal.WithLabelValues(l.name).Inc()
	opened := time.Now()
	if ws.stopping.Load() {
		// Shut down before the 101 was relayed.
		ws.goAway()
	}
	p := &pipe{client: client, target: ws.target, toClient: ws, idle: ws.idle}
	err = p.run()
	active.Dec()
	if f := ws.force.Load(); f != nil {
		f.Stop()
	}
	up, down := p.up.Load()+int64(len(pending)), p.down.Load()+early
	m.wsBytes.WithLabelValues(l.name, "client_to_target").Add(float64(up))
	m.wsBytes.WithLabelValues(l.name, "target_to_client").Add(float64(down))
	ws.logClose(up, down, time.Since(opened), err)
}

// takeBuffered returns the connection to pipe from and the client bytes
// fasthttp had already read past the upgrade head. A client must wait for
// the 101 before sending frames (RFC 6455 section 4.1), but one that did
// not is not cut off. A read deadline in the past makes the hijacked
// connection give up its buffer without touching the socket.
func takeBuffered(hc net.Conn) (net.Conn, []byte) {
	raw := hc
	if u, ok := hc.(interface{ UnsafeConn() net.Conn }); ok {
		raw = u.UnsafeConn()
	}
	if raw == hc {
		return hc, nil
	}
	_ = hc.SetReadDeadline(time.Unix(1, 0))
	var pending []byte
	var buf [512]byte
	for {
		n, err := hc.Read(buf[:])
		pending = append(pending, buf[:n]...)
		if err != nil || n == 0 {
			break
		}
	}
	_ = hc.SetReadDeadline(time.Time{})
	return raw, pending
}

// Write relays target bytes to the client, following frame boundaries; once
// shutdown was asked for it writes up to the end of the current frame, then
// the close frame, and fails so the pipe ends.
func (ws *wsConn) Write(b []byte) (int, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.stopping.Load() {
		return ws.writeUntilBoundary(b)
	}
	if err := ws.writeLocked(b); err != nil {
		return 0, err
	}
	if ws.stopping.Load() && (ws.tr.AtBoundary() || ws.tr.SawClose()) {
		// shutdown came while this write was under way.
		return len(b), ws.sendCloseLocked()
	}
	return len(b), nil
}

func (ws *wsConn) writeLocked(b []byte) error {
	n, err := ws.client.Write(b)
	ws.tr.Feed(b[:n])
	return err
}

func (ws *wsConn) writeUntilBoundary(b []byte) (int, error) {
	if ws.sentClose || ws.tr.Broken() {
		return 0, errGoingAway
	}
	k := 0
	if !ws.tr.AtBoundary() {
		k = ws.tr.NextBoundary(b)
	}
	if k < 0 {
		// Still inside the frame: pass it on and wait for its end.
		if err := ws.writeLocked(b); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	if err := ws.writeLocked(b[:k]); err != nil {
		return 0, err
	}
	return k, ws.sendCloseLocked()
}

// sendCloseLocked writes the 1001 close frame, unless the target already
// closed the WebSocket itself, and reports errGoingAway so the pipe ends.
func (ws *wsConn) sendCloseLocked() error {
	if ws.sentClose {
		return errGoingAway
	}
	ws.sentClose = true
	if !ws.tr.SawClose() {
		_ = ws.client.SetWriteDeadline(time.Now().Add(goAwayWrite))
		_, _ = ws.client.Write(goingAwayFrame)
	}
	return errGoingAway
}

// shutdown implements hijacked: the WebSocket is closed with 1001 at the
// next frame boundary of the target's stream, or without a close frame
// after goAwayGrace. It does not block.
func (ws *wsConn) shutdown() {
	ws.once.Do(func() {
		ws.stopping.Store(true)
		ws.force.Store(time.AfterFunc(goAwayGrace, ws.closeBoth))
		// The WebSocket's own goroutine is still running (it is in the
		// target's set), so the wait group cannot be at zero here.
		ws.l.b.wg.Add(1)
		go func() {
			defer ws.l.b.wg.Done()
			ws.goAway()
		}()
	})
}

// goAway closes at once if the target's stream is between frames and no
// write is under way. Otherwise the writer closes at the next boundary (it
// checks stopping after each write), or the force timer after goAwayGrace.
func (ws *wsConn) goAway() {
	if !ws.mu.TryLock() {
		return
	}
	if ws.client == nil {
		// serve has not started: it checks stopping itself.
		ws.mu.Unlock()
		return
	}
	atBoundary := ws.tr.AtBoundary() || ws.tr.SawClose()
	if atBoundary {
		_ = ws.sendCloseLocked()
	}
	ws.mu.Unlock()
	if atBoundary {
		ws.closeBoth()
	}
}

func (ws *wsConn) closeBoth() {
	if c := ws.clientRef.Load(); c != nil {
		_ = (*c).Close()
	}
	_ = ws.target.Close()
}

// logClose writes the access-log entry and a debug line for an ended
// WebSocket.
func (ws *wsConn) logClose(up, down int64, life time.Duration, err error) {
	reason := "closed"
	switch {
	case errors.Is(err, errIdle):
		reason = "idle_timeout"
	case ws.stopping.Load():
		reason = "going_away"
	case err != nil:
		reason = "error"
	}
	l := ws.l
	l.b.log.Debug("websocket closed", "listener", l.name, "target_group", ws.group, "target", ws.t.addr,
		"client", ws.clientAP.String(), "received_bytes", up, "sent_bytes", down,
		"duration", life, "reason", reason)
	if l.b.access == nil {
		return
	}
	info := ws.reqInfo
	host := info[:ws.hostLen]
	uri := info[ws.hostLen : ws.hostLen+ws.uriLen]
	ua := info[ws.hostLen+ws.uriLen : ws.hostLen+ws.uriLen+ws.uaLen]
	id := info[ws.hostLen+ws.uriLen+ws.uaLen:]
	e := &accesslog.Entry{
		Type:                   ws.typ,
		Time:                   time.Now(),
		ELB:                    l.name,
		Client:                 ws.clientAP,
		Target:                 ws.t.addrPort,
		RequestCreationTime:    ws.start,
		RequestProcessingTime:  ws.reqTime,
		TargetProcessingTime:   ws.targetTime,
		ResponseProcessingTime: life, // the WebSocket's lifetime after its 101
		ELBStatusCode:          fasthttp.StatusSwitchingProtocols,
		TargetStatusCode:       fasthttp.StatusSwitchingProtocols,
		ReceivedBytes:          up,
		SentBytes:              down,
		Method:                 []byte(fasthttp.MethodGet),
		Host:                   host,
		RequestURI:             uri,
		Protocol:               http11,
		UserAgent:              ua,
		TargetGroup:            ws.group,
		MatchedRulePriority:    ws.priority,
		ActionsExecuted:        "forward",
		RequestID:              id,
	}
	ws.tls.fill(e)
	if ws.t.draining.Load() {
		e.DrainState = "draining"
	}
	l.b.access.Log(e)
}
