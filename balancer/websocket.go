package balancer

import (
	"bufio"
	"bytes"
	"crypto/sha1" //nolint:gosec // RFC 6455 mandates SHA-1 for Sec-WebSocket-Accept.
	"encoding/base64"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// WebSocket upgrades (RFC 6455 section 4) are matched and routed like any
// request, then sent to the chosen target on a connection of their own: a
// pooled connection could not be given back once it carries frames. After a
// 101 with a valid Sec-WebSocket-Accept the client connection is hijacked
// and spliced to the target's (wsConn); any other answer is relayed as an
// ordinary response.

// maxUpgradeBody bounds the body of a target's non-101 answer to an upgrade
// that is read whole before it is relayed; a larger one, or one of unknown
// length, is streamed (upgradeBody).
const maxUpgradeBody = 1 << 20

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

var (
	headerWSKey     = "Sec-WebSocket-Key"
	headerWSVersion = "Sec-WebSocket-Version"
	headerWSAccept  = "Sec-WebSocket-Accept"
)

// isWebSocketUpgrade reports whether a request asks for a WebSocket
// (Upgrade: websocket with Connection: upgrade, case-insensitive). Ordinary
// requests cost one header scan and no allocation. An HTTP/1.0 request
// counts with the Upgrade header alone: fasthttp replaces its Connection
// header, and checkUpgrade refuses it anyway. A list split over several
// field lines ("Connection: keep-alive" then "Connection: Upgrade") is one
// list (RFC 9110 section 5.3).
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	up := h.Peek(fasthttp.HeaderUpgrade)
	if len(up) == 0 || !headerHasToken(h, up, fasthttp.HeaderUpgrade, "websocket") {
		return false
	}
	return !h.IsHTTP11() || headerHasToken(h, h.Peek(fasthttp.HeaderConnection), fasthttp.HeaderConnection, "upgrade")
}

// headerHasToken reports whether any field line of key holds tok; first is
// the first line's value, so that the usual single line costs no more.
func headerHasToken(h *fasthttp.RequestHeader, first []byte, key, tok string) bool {
	if hasToken(first, tok) {
		return true
	}
	all := h.PeekAll(key)
	for i := 1; i < len(all); i++ {
		if hasToken(all[i], tok) {
			return true
		}
	}
	return false
}

// hasToken reports whether the comma-separated list v holds tok.
func hasToken(v []byte, tok string) bool {
	for rest := v; len(rest) > 0; {
		var t []byte
		t, rest = nextToken(rest)
		if equalFoldASCII(t, tok) {
			return true
		}
	}
	return false
}

// checkUpgrade validates a WebSocket opening handshake as a proxy should
// before spending a target connection on it; "" means valid.
func checkUpgrade(h *fasthttp.RequestHeader) string {
	switch {
	case !h.IsGet() || !bytes.Equal(h.Protocol(), http11):
		return "WebSocketBadMethodOrVersion"
	case !validWSKey(h.Peek(headerWSKey)):
		return "WebSocketBadKey"
	case len(h.Peek(headerWSVersion)) == 0:
		return "WebSocketMissingVersion"
	case h.ContentLength() > 0 || h.ContentLength() == -1:
		// Bytes after the head are frames, never a request body (-2 is
		// fasthttp's "no body framing", -1 chunked).
		return "WebSocketRequestBody"
	}
	return ""
}

// validWSKey accepts the base64 of 16 bytes (RFC 6455 section 4.1).
func validWSKey(k []byte) bool {
	if len(k) != 24 || k[22] != '=' || k[23] != '=' {
		return false
	}
	var dst [18]byte
	n, err := base64.StdEncoding.Decode(dst[:], k)
	return err == nil && n == 16
}

// wsAccept is the Sec-WebSocket-Accept a target must answer key with.
func wsAccept(key []byte) []byte {
	h := sha1.New() //nolint:gosec // mandated by RFC 6455
	h.Write(key)
	h.Write([]byte(wsGUID))
	out := make([]byte, base64.StdEncoding.EncodedLen(sha1.Size))
	base64.StdEncoding.Encode(out, h.Sum(nil))
	return out
}

// forwardWebSocket sends an upgrade request to t on a fresh connection and
// either hijacks the client connection (101) or relays the target's answer.
// The caller has stripped hop-by-hop headers and set X-Forwarded-*.
func (l *httpListener) forwardWebSocket(ctx *fasthttp.RequestCtx, rs *reqState, g *group, t *target) {
	h := &ctx.Request.Header
	h.Set(fasthttp.HeaderConnection, "Upgrade")
	h.Set(fasthttp.HeaderUpgrade, "websocket")
	rs.target = t
	t.inflight.Add(1)
	t.requests.Inc()
	rs.targetStart = time.Now()
	conn, br, kind := l.upgradeRoundTrip(ctx, g, t)
	if br != nil {
		defer func() {
			if br != nil { // nil once a streamed body owns it
				putUpgradeReader(br)
			}
		}()
	}
	rs.targetDur = max(time.Since(rs.targetStart), 1)
	if kind != errNone {
		t.inflight.Add(-1)
		if kind.targetsFault() {
			g.outlier.Observe(&t.status, false, rs.now)
			t.passiveFail.Inc()
		}
		if kind == errConnect || kind == errResetBeforeResponse {
			t.connErrors.Inc()
		}
		code, reason := statusFor(kind)
		l.reply(ctx, rs, code, reason)
		return
	}
	t.respTime.Observe(rs.targetDur.Seconds())
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
	if rs.targetStatus != fasthttp.StatusSwitchingProtocols {
		if bodyFollows(resp) {
			// The body is relayed as it comes; the stream's end closes
			// the connection and ends the in-flight count.
			l.streamUpgradeAnswer(ctx, rs, t, conn, br)
			br = nil
		} else {
			_ = conn.Close()
			t.inflight.Add(-1)
		}
		stripResponseHopByHop(&resp.Header)
		resp.Header.SetProtocol(http11)
		l.setStickyCookies(ctx, rs, g, t)
		return
	}
	l.setStickyCookies(ctx, rs, g, t)
	ws := newWSConn(l, rs, g, t, conn)
	ws.head = appendSwitchHead(nil, &resp.Header)
	if n := br.Buffered(); n > 0 {
		// Frames the target sent right behind its 101.
		b, _ := br.Peek(n)
		ws.early = append([]byte(nil), b...)
	}
	if !t.hijacked.add(ws) {
		// The target's drain ended while it answered.
		_ = conn.Close()
		t.inflight.Add(-1)
		l.reply(ctx, rs, fasthttp.StatusBadGateway, "TargetDeregistered")
		return
	}
	rs.upgraded = true
	l.b.wg.Add(1) // the handler's goroutine; Done when the WebSocket ends
	// Gantry writes the 101 itself: fasthttp skips the hijack of a response
	// marked Connection: close (a retiring server marks every one).
	ctx.HijackSetNoResponse(true)
	// The handler returns at once (the server keeps hijacked connections
	// open), so fasthttp frees its request context and read buffer; the
	// buffer is emptied first.
	ctx.Hijack(func(hc net.Conn) {
		client, pending := takeBuffered(hc)
		go ws.serve(client, pending)
	})
}

// upgradeReaders read targets' answers to upgrades; a WebSocket keeps
// none (bytes behind a 101 are copied out).
var upgradeReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxResponseHead) }}

func putUpgradeReader(br *bufio.Reader) {
	br.Reset(nil) // drop the connection
	upgradeReaders.Put(br)
}

// upgradeRoundTrip dials t, writes the upgrade request and reads the answer
// into ctx.Response: the head of a 101 (the reader may hold frames after it),
// or a whole other response.
func (l *httpListener) upgradeRoundTrip(ctx *fasthttp.RequestCtx, g *group, t *target) (net.Conn, *bufio.Reader, errorKind) {
	conn, err := fasthttp.DialTimeout(t.addr, time.Duration(t.connectTimeout.Load()))
	if err != nil {
		return nil, nil, errConnect
	}
	deadline := time.Now().Add(g.responseTimeout)
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write(ctx.Request.Header.AppendBytes(nil)); err != nil {
		_ = conn.Close()
		return nil, nil, errResetBeforeResponse
	}
	br := upgradeReaders.Get().(*bufio.Reader)
	br.Reset(conn)
	resp := &ctx.Response
	for {
		resp.Header.Reset()
		// Reset forgets the server's setting: the target's answer is relayed
		// as it came, without a Content-Type it did not send.
		resp.Header.SetNoDefaultContentType(true)
		if err = readResponseHead(br, &resp.Header); err != nil {
			break
		}
		sc := resp.StatusCode()
		if sc < 100 || sc >= 200 || sc == fasthttp.StatusSwitchingProtocols {
			break
		}
	}
	if sc := resp.StatusCode(); err == nil && sc != fasthttp.StatusSwitchingProtocols &&
		sc != fasthttp.StatusNoContent && sc != fasthttp.StatusNotModified {
		if cl := resp.Header.ContentLength(); cl >= 0 && cl <= maxUpgradeBody {
			err = resp.ReadBody(br, maxUpgradeBody)
		} else {
			// Larger, chunked or close-delimited: left in br for
			// streamUpgradeAnswer, marked by an empty body stream.
			resp.SetBodyStream(bytes.NewReader(nil), cl)
		}
	}
	if err == nil && resp.StatusCode() == fasthttp.StatusSwitchingProtocols &&
		!bytes.Equal(resp.Header.Peek(headerWSAccept), wsAccept(ctx.Request.Header.Peek(headerWSKey))) {
		err = errBadAccept
	}
	if err != nil {
		_ = conn.Close()
		putUpgradeReader(br)
		resp.Reset()
		switch {
		case isTimeout(err):
			return nil, nil, errTimeout
		case isConnReset(err):
			return nil, nil, errResetBeforeResponse
		}
		return nil, nil, errBadResponse
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, errNone
}

// appendSwitchHead appends the 101 head relayed to the client: the target's
// headers without hop-by-hop ones, then Upgrade and Connection.
func appendSwitchHead(dst []byte, h *fasthttp.ResponseHeader) []byte {
	up := append([]byte(nil), h.Peek(fasthttp.HeaderUpgrade)...)
	stripResponseHopByHop(h)
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"...)
	for k, v := range h.All() {
		dst = append(dst, k...)
		dst = append(dst, ": "...)
		dst = append(dst, v...)
		dst = append(dst, "\r\n"...)
	}
	if len(up) == 0 {
		up = []byte("websocket")
	}
	dst = append(dst, "Upgrade: "...)
	dst = append(dst, up...)
	return append(dst, "\r\nConnection: Upgrade\r\n\r\n"...)
}

// bodyFollows reports whether upgradeRoundTrip left the answer's body on the
// connection, to be streamed.
func bodyFollows(resp *fasthttp.Response) bool { return resp.IsBodyStream() }

// streamUpgradeAnswer attaches the body of a target's non-101 answer, still
// on conn (and in br), to the response as a stream: a body larger than
// maxUpgradeBody or of unknown length is relayed as an ordinary response's
// is, not refused. The stream owns conn and br from here.
func (l *httpListener) streamUpgradeAnswer(ctx *fasthttp.RequestCtx, rs *reqState, t *target, conn net.Conn, br *bufio.Reader) {
	resp := &ctx.Response
	cl := resp.Header.ContentLength()
	up := fasthttp.AcquireResponse()
	resp.Header.CopyTo(&up.Header)
	up.StreamBody = true
	_ = up.ReadBody(br, 0) // with StreamBody set this only attaches a reader
	b := &upgradeBody{up: up, r: up.BodyStream(), conn: conn, br: br, idle: rs.ls.idleTimeout,
		client: ctx.Conn(), t: t, cut: &streamCut{conn: conn}}
	b.done = t
	if l.b.access != nil {
		b.done = rs // logs the response when its body ends
		rs.streaming = true
	}
	if !t.hijacked.add(b.cut) {
		b.cut.shutdown() // the target's drain ended already
	}
	if cl < 0 {
		cl = -1 // chunked or close-delimited upstream: chunked to the client
	}
	resp.SetBodyStream(b, cl)
}

// upgradeBody relays the streamed body of a target's non-101 answer to an
// upgrade, within the idle timeout per read (and per write to the client),
// as an ordinary streamed response. The server calls Close after writing
// the response or on failure: the connection, used for this answer only,
// is closed.
type upgradeBody struct {
	up     *fasthttp.Response
	r      io.Reader
	conn   net.Conn
	br     *bufio.Reader
	client net.Conn
	idle   time.Duration
	t      *target
	cut    *streamCut
	done   bodyDoner
	sent   int64
	closed bool
}

func (b *upgradeBody) Read(p []byte) (int, error) {
	boundRelayStep(b.conn, b.client, b.idle)
	n, err := b.r.Read(p)
	b.sent += int64(n)
	return n, err
}

func (b *upgradeBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.cut.detach()
	b.t.hijacked.remove(b.cut)
	_ = b.up.CloseBodyStream()
	fasthttp.ReleaseResponse(b.up)
	_ = b.conn.Close()
	putUpgradeReader(b.br)
	b.done.bodyDone(b.sent)
	return nil
}
