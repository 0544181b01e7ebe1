package balancer

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/accesslog"
	"github.com/gantrylb/gantry/balancer/desync"
	"github.com/gantrylb/gantry/rules"
)

// reqState is the per-request scratch space, pooled so that a proxied
// request allocates nothing in steady state.
type reqState struct {
	view    reqView
	scratch []byte
	start   time.Time
	now     int64

	ls           *listenerState
	action       *rules.Action
	group        *group
	target       *target
	retries      int
	stickyHit    bool
	elbStatus    int
	targetStatus int
	errReason    string
	class        desync.Result
	targetStart  time.Time
	targetDur    time.Duration
	reqID        []byte
	entry        accesslog.Entry

	// headBytes is the size of the request line and headers as received;
	// bodyBytes counts the body bytes read from the client.
	headBytes int64
	bodyBytes int64

	// pinGroup is set when a weighted forward with group stickiness drew a
	// group: its GANTRYLBTG cookie is added to the target's response.
	pinGroup    bool
	pinGroupID  uint64
	pinGroupDur time.Duration

	// ws marks a valid WebSocket upgrade; upgraded that it got its 101 and
	// the connection was hijacked (logged when the WebSocket ends).
	ws       bool
	upgraded bool

	// With an access log, a streamed response is logged when its body ends
	// (bodyDone, after the handler returned), with the bytes sent: l is
	// kept for it (and view.ctx); streaming says a stream is attached and
	// open, logLater that finish left the entry (and rs) to bodyDone, sent
	// the body bytes relayed.
	l         *httpListener
	streaming bool
	logLater  bool
	sent      int64

	// respHead holds the response's head as encoded, to count it in
	// sent_bytes.
	respHead []byte
}

var reqStatePool = sync.Pool{New: func() any { return &reqState{scratch: make([]byte, 0, 512)} }}

func (rs *reqState) reset() {
	rs.ls, rs.action, rs.group, rs.target = nil, nil, nil, nil
	rs.retries, rs.stickyHit, rs.elbStatus, rs.targetStatus = 0, false, 0, 0
	rs.errReason, rs.class, rs.targetDur = "", desync.Result{}, 0
	rs.reqID = rs.reqID[:0]
	rs.pinGroup, rs.pinGroupID, rs.pinGroupDur = false, 0, 0
	rs.ws, rs.upgraded = false, false
	rs.headBytes, rs.bodyBytes = 0, 0
	rs.scratch = rs.scratch[:0]
	rs.l, rs.streaming, rs.logLater, rs.sent = nil, false, false, 0
}

var http11 = []byte("HTTP/1.1")

// handle is the fasthttp handler of every HTTP listener.
func (l *httpListener) handle(ctx *fasthttp.RequestCtx) {
	ls := l.state.Load()
	rs := reqStatePool.Get().(*reqState)
	rs.reset()
	rs.ls = ls
	// fasthttp read the clock as the request arrived: one read fewer.
	rs.start = ctx.Time()
	if rs.start.IsZero() {
		rs.start = time.Now()
	}
	rs.now = rs.start.UnixNano()
	defer l.finish(ctx, rs)
	ls.requests.Inc()
	if f := l.b.onRequest.Load(); f != nil {
		(*f)(ctx)
	}

	h := &ctx.Request.Header
	if l.b.access != nil {
		rs.headBytes = headSize(h) // for received_bytes, before anything rewrites the head
	}
	rs.class = desync.Classify(h)
	// Before Sanitize, which may rewrite Connection.
	rs.ws = isWebSocketUpgrade(h)
	if rs.class.Class >= desync.Acceptable {
		// ALB's non-compliant count: acceptable requests included.
		l.b.metrics.desync.WithLabelValues(rs.class.Class.String()).Inc()
	}
	if rs.class.Class >= desync.Ambiguous {
		if rs.class.Class == desync.Severe {
			l.reply(ctx, rs, fasthttp.StatusBadRequest, "DesyncSevere")
			ctx.SetConnectionClose()
			return
		}
		// Ambiguous: forward a sanitised request, then close both sides.
		desync.Sanitize(h)
		ctx.SetConnectionClose()
		h.SetConnectionClose()
	}
	if len(h.RequestURI()) > ls.maxURI {
		l.reply(ctx, rs, fasthttp.StatusRequestURITooLong, "RequestURITooLong")
		return
	}
	if !pathEscapesValid(h.RequestURI()) {
		// The path is decoded for routing: a % that starts no escape
		// would reach the target as a literal "%25", another path.
		l.reply(ctx, rs, fasthttp.StatusBadRequest, "MalformedRequest")
		return
	}
	if len(h.Host()) == 0 {
		if h.IsHTTP11() {
			l.reply(ctx, rs, fasthttp.StatusBadRequest, "MissingHost")
			return
		}
		// HTTP/1.0 may omit Host; targets get the address the client reached.
		h.Set(fasthttp.HeaderHost, ctx.LocalAddr().String())
	}
	if ls.maxBody > 0 && int64(h.ContentLength()) > ls.maxBody {
		// fasthttp does not enforce the limit on streamed bodies; the body
		// is left unread, so the connection cannot be reused.
		l.reply(ctx, rs, fasthttp.StatusRequestEntityTooLarge, "RequestBodyTooLarge")
		ctx.SetConnectionClose()
		lingerOnClose(ctx.Conn())
		return
	}
	xff := h.PeekAll(fasthttp.HeaderXForwardedFor)
	if countXFF(xff) > maxXFFAddresses {
		l.reply(ctx, rs, 463, "TooManyForwardedAddresses")
		return
	}

	if rs.ws {
		reason := checkUpgrade(h)
		if reason == "" && rs.class.Class >= desync.Ambiguous {
			reason = "WebSocketAmbiguousRequest" // never hijack what may be framed two ways
		}
		if reason != "" {
			l.reply(ctx, rs, fasthttp.StatusBadRequest, reason)
			ctx.SetConnectionClose()
			return
		}
	}
	if l.b.acme != nil && l.acmeChallenge(ctx, rs) {
		return
	}

	src := clientAddr(ctx)
	rs.view.reset(ctx, src)
	act := ls.table.Match(&rs.view)
	rs.action = act
	switch act.Kind {
	case rules.ActionFixed:
		f := act.Fixed
		ctx.SetStatusCode(f.StatusCode)
		if len(f.ContentType) > 0 {
			ctx.Response.Header.SetContentTypeBytes(f.ContentType)
		}
		ctx.Response.SetBody(f.Body)
		rs.elbStatus = f.StatusCode
		return
	case rules.ActionRedirect:
		l.redirect(ctx, rs, act.Redirect)
		return
	}
	l.forward(ctx, rs, src, xff)
}

func (l *httpListener) redirect(ctx *fasthttp.RequestCtx, rs *reqState, r *rules.Redirect) {
	uri := ctx.Request.URI()
	rs.scratch = r.AppendLocation(rs.scratch[:0], rs.ls.scheme, rs.view.host, rs.ls.portText,
		rs.view.path, uri.QueryString())
	ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, rs.scratch)
	ctx.SetStatusCode(r.StatusCode())
	rs.elbStatus = r.StatusCode()
}

// forward proxies the request to a target of the action's group(s).
func (l *httpListener) forward(ctx *fasthttp.RequestCtx, rs *reqState, src netip.Addr, xff [][]byte) {
	plan := rs.ls.forwards[rs.action.ID]
	g := l.chooseGroup(ctx, rs, plan)
	rs.group = g
	t := l.stickyTarget(ctx, rs, g)
	if t == nil {
		t = g.pick(nil, rs.now)
	}
	if t == nil {
		l.reply(ctx, rs, fasthttp.StatusServiceUnavailable, "NoRegisteredTargets")
		return
	}

	h := &ctx.Request.Header
	clientClose := h.ConnectionClose()
	h.ResetConnectionClose() // the client's wish, not the target's
	stripRequestHopByHop(h)
	h.Del(fasthttp.HeaderExpect) // answered by us already
	// Forward the head as it came: no Content-Type of fasthttp's choosing.
	h.SetNoDefaultContentType(true)
	l.setForwarded(ctx, rs, src, xff)
	if uri := ctx.Request.URI(); bytes.Equal(uri.PathOriginal(), rs.view.path) {
		// The path needed no decoding or normalising: it goes as it came,
		// not re-quoted by fasthttp (which escapes *, !, ', ( and ), RFC
		// 3986 sub-delimiters a target may tell from their escapes). Rules
		// and target see the same path either way.
		uri.DisablePathNormalizing = true
	}
	if rs.ws {
		l.forwardWebSocket(ctx, rs, g, t)
		return
	}
	ctx.Request.UseHostHeader = true
	// A streamed body cannot be sent twice, unless it is empty (a GET or
	// PUT that came with Content-Length: 0 is streamed all the same).
	rewindable := !ctx.Request.IsBodyStream() || ctx.Request.Header.ContentLength() == 0

	for {
		rs.target = t
		kind, retry := l.send(ctx, rs, g, t, rewindable)
		if kind == errNone {
			break
		}
		if kind.targetsFault() {
			g.outlier.Observe(&t.status, false, rs.now)
			t.passiveFail.Inc()
		}
		if kind == errConnect || kind == errResetBeforeResponse {
			t.connErrors.Inc()
		}
		if kind == errClientBody {
			rs.ls.clientClosed.Inc()
		}
		if retry && rs.retries == 0 {
			if next := g.pick(t, rs.now); next != nil {
				rs.retries++
				g.retryCounter.Inc()
				ctx.Response.Reset()
				t = next
				continue
			}
		}
		code, reason := statusFor(kind)
		ctx.Response.Reset()
		l.reply(ctx, rs, code, reason)
		if kind == errClientBody {
			// 460 is for the log only: the client is gone, so the
			// connection is closed without a response.
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(closeHijacked)
			return
		}
		if clientClose || !rewindable {
			// A streamed body may be left half read: the connection's
			// framing is lost, and its client may still be sending it.
			ctx.SetConnectionClose()
			lingerOnClose(ctx.Conn())
		}
		return
	}

	resp := &ctx.Response
	rs.targetStatus = resp.StatusCode()
	ok := rs.targetStatus < 500
	g.outlier.Observe(&t.status, ok, rs.now)
	if !ok {
		t.passiveFail.Inc()
	}
	if c := rs.targetStatus / 100; c >= 1 && c <= 5 {
		t.codeClass[c].Inc()
	}
	stripResponseHopByHop(&resp.Header)
	resp.Header.ResetConnectionClose()
	if !bytes.Equal(resp.Header.Protocol(), http11) {
		// The client gets our framing (chunked for a close-delimited body),
		// which an HTTP/1.0 status line would contradict.
		resp.Header.SetProtocol(http11)
	}
	if clientClose {
		ctx.SetConnectionClose()
	}
	l.setStickyCookies(ctx, rs, g, t)
	if resp.IsBodyStream() && resp.Header.ContentLength() < 0 && !ctx.Request.Header.IsHTTP11() {
		relayUntilClose(ctx, rs.ls.idleTimeout)
	}
}

// relayUntilClose sends a response of unknown length to an HTTP/1.0 client,
// which cannot read chunked framing (RFC 9112 6.1, 7.1): the body goes as
// the target sends it and closing the connection ends it, as nginx does.
// fasthttp frames every stream of unknown length as chunked, so the
// connection is taken over once the handler returns. The body stream keeps
// its idle bounds (streamBody.Read) and its place in the target's hijackSet;
// closing it logs the request.
func relayUntilClose(ctx *fasthttp.RequestCtx, idle time.Duration) {
	resp := &ctx.Response
	resp.Header.Del(fasthttp.HeaderTransferEncoding)
	resp.Header.SetConnectionClose()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer c.Close()
		defer func() { _ = resp.CloseBodyStream() }()
		if idle > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(idle))
		}
		if _, err := c.Write(resp.Header.Header()); err == nil {
			_, _ = pooledCopy(c, resp.BodyStream(), nil)
		}
	})
}

// send makes one attempt at t. The in-flight count covers the response body:
// a streamed body ends it when the stream closes.
func (l *httpListener) send(ctx *fasthttp.RequestCtx, rs *reqState, g *group, t *target, rewindable bool) (errorKind, bool) {
	t.inflight.Add(1)
	t.requests.Inc()
	if rs.retries == 0 {
		// Microseconds after the request arrived: ALB's millisecond
		// request_processing_time reads the same, for a clock read less.
		rs.targetStart = rs.start
	} else {
		rs.targetStart = time.Now()
	}
	var done bodyDoner = t
	if l.b.access != nil {
		done = rs // logs a streamed response when it ends
	}
	kind, retry := t.up.roundTrip(&ctx.Request, &ctx.Response, roundTripOpts{
		timeout:    g.responseTimeout,
		start:      rs.targetStart,
		rewindable: rewindable,
		maxBody:    rs.ls.maxBody,
		done:       done,
		idle:       rs.ls.idleTimeout,
		clientConn: ctx.Conn(),
		streams:    &t.hijacked,
		received:   &rs.bodyBytes,
		client:     clientEnderOf(ctx),
	})
	rs.targetDur = time.Since(rs.targetStart)
	if kind != errNone {
		t.inflight.Add(-1)
		return kind, retry
	}
	t.respTime.Observe(rs.targetDur.Seconds())
	if done != bodyDoner(t) && ctx.Response.IsBodyStream() {
		rs.streaming = true
	}
	return errNone, false
}

// closeHijacked ends a connection taken over to answer nothing.
func closeHijacked(c net.Conn) { _ = c.Close() }

// headSize is the size of a request's line and header fields as received,
// with their line ends and the empty line that ends them.
func headSize(h *fasthttp.RequestHeader) int64 {
	// "METHOD URI PROTO\r\n"; the raw headers keep the final empty line,
	// except when there are none.
	n := len(h.Method()) + len(h.RequestURI()) + len(h.Protocol()) + 4
	if raw := h.RawHeaders(); len(raw) > 0 {
		n += len(raw)
	} else {
		n += 2
	}
	return int64(n)
}

// bodyDone ends a request's in-flight count on its target.
func (t *target) bodyDone(int64) { t.inflight.Add(-1) }

// bodyDone ends the in-flight count of rs's target and, for a streamed
// response whose entry finish left to it, writes the access-log entry with
// the bytes sent. fasthttp closes a body stream in the connection's
// goroutine once it has written (or failed to write) the body, before it
// reuses the request context, so ctx is still whole here.
func (rs *reqState) bodyDone(sent int64) {
	rs.target.bodyDone(sent)
	if !rs.streaming {
		return
	}
	rs.streaming, rs.sent = false, sent
	if rs.logLater {
		rs.logLater = false
		rs.l.logAccess(rs.view.ctx, rs)
		rs.release()
	}
}

// chooseGroup picks the group of a forward: the only one, the one a valid
// GANTRYLBTG cookie names, or one drawn by weight.
func (l *httpListener) chooseGroup(ctx *fasthttp.RequestCtx, rs *reqState, p *forwardPlan) *group {
	if len(p.groups) == 1 {
		return p.groups[0]
	}
	if p.fwd.Stickiness {
		if v := ctx.Request.Header.Cookie(cookieGroup); len(v) > 0 {
			if id, ok := l.b.cookies.pin(kindGroup, v, uint32(rs.now/1e9), p.ownsGroup); ok {
				for i, g := range p.groups {
					if p.groupIDs[i] == id && p.fwd.Groups[i].Weight > 0 {
						// Re-set with a fresh expiry, as GANTRYLB is: an
						// active client keeps its group.
						rs.pinGroup, rs.pinGroupID, rs.pinGroupDur = true, id, p.fwd.StickinessDuration
						return g
					}
				}
			}
		}
	}
	wg := p.fwd.Pick(rand.IntN(p.fwd.TotalWeight))
	for i := range p.fwd.Groups {
		if &p.fwd.Groups[i] == wg {
			if p.fwd.Stickiness {
				// Set with the response: reading the target's answer would
				// reset a cookie set now.
				rs.pinGroup, rs.pinGroupID, rs.pinGroupDur = true, p.groupIDs[i], p.fwd.StickinessDuration
			}
			return p.groups[i]
		}
	}
	return p.groups[0]
}

// stickyTarget returns the target a valid stickiness cookie pins, if it may
// still take requests; otherwise nil (the caller re-pins silently).
func (l *httpListener) stickyTarget(ctx *fasthttp.RequestCtx, rs *reqState, g *group) *target {
	var name string
	var kind byte
	switch g.stickiness.kind {
	case stickyLB:
		name, kind = cookieLB, kindLB
	case stickyApp:
		name, kind = cookieApp, kindApp
	default:
		return nil
	}
	v := ctx.Request.Header.Cookie(name)
	if len(v) == 0 {
		return nil
	}
	id, ok := l.b.cookies.pin(kind, v, uint32(rs.now/1e9), g.owns)
	if !ok {
		return nil
	}
	t := g.byID[id]
	if t == nil || t.draining.Load() {
		return nil
	}
	if !t.status.Available(rs.now) && g.anyUsable(rs.now) {
		return nil // re-pin to a healthy target
	}
	rs.stickyHit = true
	g.stickyHits.Inc()
	return t
}

func (l *httpListener) setStickyCookies(ctx *fasthttp.RequestCtx, rs *reqState, g *group, t *target) {
	if rs.pinGroup {
		plan := rs.ls.forwards[rs.action.ID]
		l.setCookie(ctx, rs, cookieGroup, kindGroup, rs.pinGroupID, rs.pinGroupDur, func(id uint64) bool {
			return rs.ls.otherForwardOwns(plan, id)
		})
	}
	name, kind := cookieLB, kindLB
	switch g.stickiness.kind {
	case stickyLB:
	case stickyApp:
		if len(ctx.Response.Header.PeekCookie(g.stickiness.cookieName)) == 0 {
			return
		}
		name, kind = cookieApp, kindApp
	default:
		return
	}
	l.setCookie(ctx, rs, name, kind, t.id, g.stickiness.duration, func(id uint64) bool {
		return rs.ls.otherGroupOwns(g, id)
	})
}

// setCookie sets cookie name to a fresh pin of id, followed by the pins the
// client's cookie holds that keep accepts (those of the listener's other
// groups), so that every group the client uses keeps its own.
func (l *httpListener) setCookie(ctx *fasthttp.RequestCtx, rs *reqState, name string, kind byte, id uint64, d time.Duration, keep func(uint64) bool) {
	exp := rs.start.Add(d)
	start := len(rs.scratch)
	rs.scratch = l.b.cookies.appendValue(rs.scratch, kind, id, uint32(exp.Unix()))
	var others uint32
	if old := ctx.Request.Header.Cookie(name); len(old) > 0 {
		rs.scratch, others = l.b.cookies.appendOthers(rs.scratch, kind, old, uint32(rs.now/1e9), keep)
	}
	if o := time.Unix(int64(others), 0); o.After(exp) {
		exp = o
	}
	c := fasthttp.AcquireCookie()
	c.SetKey(name)
	c.SetValueBytes(rs.scratch[start:])
	c.SetPath("/")
	c.SetExpire(exp)
	ctx.Response.Header.SetCookie(c)
	fasthttp.ReleaseCookie(c)
	rs.scratch = rs.scratch[:start]
}

// setForwarded appends the client to X-Forwarded-For and sets
// X-Forwarded-Proto, X-Forwarded-Port and X-Request-Id.
func (l *httpListener) setForwarded(ctx *fasthttp.RequestCtx, rs *reqState, src netip.Addr, xff [][]byte) {
	h := &ctx.Request.Header
	buf := rs.scratch[:0]
	for _, v := range xff {
		if v = bytes.TrimSpace(v); len(v) == 0 {
			continue // an empty line adds no hop
		}
		if len(buf) > 0 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, v...)
	}
	if len(buf) > 0 {
		buf = append(buf, ", "...)
	}
	buf = src.AppendTo(buf)
	// A client may send any of these headers more than once. Setting a
	// header replaces only its first line, and a target that reads the last
	// line (or joins them) would take the client's word for its address or
	// scheme, so every line goes and one is set. Keys already in fasthttp's
	// canonical form: SetBytesV would copy and normalise each on every
	// request.
	if len(xff) > 1 {
		h.DelBytes(keyXForwardedFor)
	}
	h.SetCanonical(keyXForwardedFor, buf)
	setOnly(h, keyXForwardedProto, fasthttp.HeaderXForwardedProto, rs.ls.scheme)
	setOnly(h, keyXForwardedPort, "X-Forwarded-Port", rs.ls.portText)
	if ids := h.PeekAll(headerRequestID); len(ids) == 1 && validRequestID(ids[0]) {
		rs.reqID = append(rs.reqID[:0], ids[0]...)
	} else {
		rs.reqID = l.b.ids.appendNext(rs.reqID[:0])
		setOnly(h, keyRequestID, headerRequestID, rs.reqID)
	}
	rs.scratch = buf[:0]
}

// setOnly sets header key (canonical; name is the same as a string) to v,
// removing every line of it the request had, not only the first.
func setOnly(h *fasthttp.RequestHeader, key []byte, name string, v []byte) {
	if len(h.PeekAll(name)) > 1 {
		h.DelBytes(key)
	}
	h.SetCanonical(key, v)
}

var (
	keyXForwardedFor   = []byte(fasthttp.HeaderXForwardedFor)
	keyXForwardedProto = []byte(fasthttp.HeaderXForwardedProto)
	keyXForwardedPort  = []byte("X-Forwarded-Port")
	keyRequestID       = []byte(headerRequestID)
)

// reply answers with a status Gantry generated itself and counts it.
func (l *httpListener) reply(ctx *fasthttp.RequestCtx, rs *reqState, code int, reason string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(statusText(code))
	rs.elbStatus = code
	rs.errReason = reason
}

// statusText is the body of a generated response.
func statusText(code int) string {
	switch code {
	case 463:
		return "463 Too Many X-Forwarded-For Addresses\n"
	case 460:
		return "460 Client Closed Request\n"
	}
	return fasthttp.StatusMessage(code) + "\n"
}

// finish runs after every request: panic recovery, metrics, access log.
func (l *httpListener) finish(ctx *fasthttp.RequestCtx, rs *reqState) {
	if p := recover(); p != nil {
		l.b.metrics.panics.Inc()
		l.b.log.Error("recovered panic in request", "listener", l.name, "panic", p)
		if rs.target != nil && rs.targetDur == 0 {
			rs.target.inflight.Add(-1)
		}
		l.reply(ctx, rs, fasthttp.StatusBadGateway, "InternalError")
		ctx.SetConnectionClose()
	}
	if rs.elbStatus != 0 {
		l.b.metrics.elbCode(l.name, rs.elbStatus)
	}
	if l.b.access != nil && !rs.upgraded {
		if rs.streaming {
			// The body is still to be relayed: bodyDone logs it and
			// releases rs.
			rs.l, rs.view.ctx, rs.logLater = l, ctx, true
			return
		}
		l.logAccess(ctx, rs)
	}
	rs.release()
}

// release returns rs to the pool.
func (rs *reqState) release() {
	rs.view.ctx = nil
	reqStatePool.Put(rs)
}

// clientAddr is the client's IP as a netip.Addr, unmapped from IPv4-in-IPv6.
func clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

var acmePrefix = []byte("/.well-known/acme-challenge/")

// acmeChallenge answers an ACME http-01 challenge before the rules see the
// request, so a listener whose rules redirect everything to HTTPS can still
// prove its names. It reports whether it answered.
func (l *httpListener) acmeChallenge(ctx *fasthttp.RequestCtx, rs *reqState) bool {
	path := ctx.Request.URI().PathOriginal()
	if !bytes.HasPrefix(path, acmePrefix) {
		return false
	}
	host := ctx.Request.Header.Host()
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && !bytes.HasSuffix(host, []byte("]")) {
		host = host[:i]
	}
	body, ok := l.b.acme(b2s(host), b2s(path))
	if !ok {
		return false
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.SetContentType("text/plain")
	ctx.Response.SetBody(body)
	rs.elbStatus = fasthttp.StatusOK
	return true
}

// clientEnderOf is the client connection's end-of-input flag, when it has one.
func clientEnderOf(ctx *fasthttp.RequestCtx) clientEnder {
	ce, _ := ctx.Conn().(clientEnder)
	return ce
}

// pathEscapesValid reports whether every % in the path of a request target
// (up to its query) starts a %XX escape. Queries are not checked: they are
// forwarded as they came, and sloppy ones ("?discount=10%") are common.
func pathEscapesValid(uri []byte) bool {
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		uri = uri[:q]
	}
	for {
		i := bytes.IndexByte(uri, '%')
		if i < 0 {
			return true
		}
		if i+2 >= len(uri) || !isHex(uri[i+1]) || !isHex(uri[i+2]) {
			return false
		}
		uri = uri[i+3:]
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
