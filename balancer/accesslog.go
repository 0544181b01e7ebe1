package balancer

import (
	"bufio"
	"bytes"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/accesslog"
	"github.com/gantrylb/gantry/balancer/desync"
)

// AccessLogger receives one entry per request. Log must not block and must
// not keep e or anything it points to after it returns.
type AccessLogger interface {
	Log(e *accesslog.Entry)
}

var _ AccessLogger = (*accesslog.Logger)(nil)

// logAccess fills the pooled entry from the finished request and logs it.
func (l *httpListener) logAccess(ctx *fasthttp.RequestCtx, rs *reqState) {
	e := &rs.entry
	*e = accesslog.Entry{
		Type:                   accesslog.TypeHTTP,
		Time:                   time.Now(),
		ELB:                    l.name,
		Client:                 clientAddrPort(ctx),
		RequestCreationTime:    rs.start,
		ELBStatusCode:          ctx.Response.StatusCode(),
		TargetStatusCode:       rs.targetStatus,
		Method:                 ctx.Request.Header.Method(),
		Host:                   ctx.Request.Header.Host(),
		RequestURI:             ctx.Request.Header.RequestURI(),
		Protocol:               ctx.Request.Header.Protocol(),
		UserAgent:              ctx.Request.Header.UserAgent(),
		ReceivedBytes:          rs.headBytes + bodyBytesReceived(ctx, rs),
		SentBytes:              sentBytes(ctx, rs),
		ErrorReason:            rs.errReason,
		Classification:         rs.class.Class.String(),
		ClassificationReason:   rs.class.Reason,
		RequestID:              rs.reqID,
		Traceparent:            ctx.Request.Header.Peek("Traceparent"),
		Retries:                rs.retries,
		StickyHit:              rs.stickyHit,
		MatchedRulePriority:    -1,
		RequestProcessingTime:  -1,
		TargetProcessingTime:   -1,
		ResponseProcessingTime: -1,
	}
	if ctx.IsTLS() {
		fillTLS(e, ctx.Conn())
	}
	if a := rs.action; a != nil {
		e.MatchedRulePriority = a.Priority
		e.ActionsExecuted = a.Kind.String()
	}
	if g := rs.group; g != nil {
		e.TargetGroup = g.name
	}
	if t := rs.target; t != nil {
		e.Target = t.addrPort
		if t.draining.Load() {
			e.DrainState = "draining"
		}
		if rs.targetDur > 0 {
			e.RequestProcessingTime = rs.targetStart.Sub(rs.start)
			e.TargetProcessingTime = rs.targetDur
			e.ResponseProcessingTime = time.Since(rs.targetStart.Add(rs.targetDur))
		}
	}
	if loc := ctx.Response.Header.Peek(fasthttp.HeaderLocation); len(loc) > 0 && rs.action != nil && rs.action.Redirect != nil {
		e.RedirectURL = loc
	}
	l.b.access.Log(e)
}

// logRejected logs a request the server refused before it reached the
// handler (a head too large, too slow, or malformed; a body too slow or
// cut before the handler): as ALB does, with what could be parsed of it and
// "-" for the rest.
func (l *httpListener) logRejected(ctx *fasthttp.RequestCtx, code int, reason string, class desync.Result) {
	now := time.Now()
	e := accesslog.Entry{
		Type:                   accesslog.TypeHTTP,
		Time:                   now,
		ELB:                    l.name,
		Client:                 clientAddrPort(ctx),
		RequestCreationTime:    now,
		ELBStatusCode:          code,
		ErrorReason:            reason,
		MatchedRulePriority:    -1,
		RequestProcessingTime:  -1,
		TargetProcessingTime:   -1,
		ResponseProcessingTime: -1,
	}
	if code != 460 { // 460: nothing is sent to a client that left
		e.SentBytes = int64(len(ctx.Response.Header.Header()) + len(ctx.Response.Body()))
	}
	if class.Class != desync.Compliant {
		e.Classification, e.ClassificationReason = class.Class.String(), class.Reason
	}
	// Only a parsed head is shown; fasthttp's accessors would otherwise
	// report defaults ("GET", "/"). fasthttp resets the request when
	// reading its body fails (too slow, or cut): the head the connection's
	// headRecord kept is parsed again then.
	h := &ctx.Request.Header
	head, read := keptHead(ctx)
	parsed := len(h.RawHeaders()) > 0
	var kept fasthttp.RequestHeader
	if !parsed && head != nil {
		parsed = kept.Read(bufio.NewReaderSize(bytes.NewReader(head), len(head))) == nil
		h = &kept
	}
	if parsed {
		e.Method, e.Host, e.RequestURI = h.Method(), h.Host(), h.RequestURI()
		e.Protocol, e.UserAgent = h.Protocol(), h.UserAgent()
		e.ReceivedBytes = read // the head and the body bytes read
		if head == nil {
			e.ReceivedBytes = headSize(h)
		}
	} else {
		// Nothing could be parsed (a head too large, too slow or
		// malformed), but its bytes were read from the client all the
		// same: received_bytes counts them, as processed bytes do.
		e.ReceivedBytes = bytesRead(ctx)
	}
	if ctx.IsTLS() {
		fillTLS(&e, ctx.Conn())
	}
	l.b.access.Log(&e)
}

// headRecord is the desync.HeadTap of a client connection of a listener
// with an access log. It keeps the head of the request being read, and
// counts the bytes read for it, so that logRejected can show a request
// refused after its head was read: fasthttp resets the request when
// reading its body fails, before errorHandler runs.
type headRecord struct {
	// buf holds the head as read so far (from headBufs while a request
	// is read); done says it is whole. Both are owned by the goroutine
	// serving the connection.
	buf  *[]byte
	done bool
	// read counts the bytes read since the request began; a body may be
	// read on another goroutine.
	read atomic.Int64
}

var _ desync.HeadTap = (*headRecord)(nil)

// maxPooledHead bounds the buffers headBufs keeps: an outsized head's
// buffer goes to the collector.
const maxPooledHead = 4 << 10

var headBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// HeadStart drops the previous request's head; an idle connection holds no
// buffer.
func (r *headRecord) HeadStart() {
	if r.buf != nil {
		if cap(*r.buf) <= maxPooledHead {
			*r.buf = (*r.buf)[:0]
			headBufs.Put(r.buf)
		}
		r.buf = nil
	}
	r.done = false
	r.read.Store(0)
}

func (r *headRecord) HeadRead(b []byte, head int, done bool) {
	r.read.Add(int64(len(b)))
	if head > 0 {
		if r.buf == nil {
			r.buf = headBufs.Get().(*[]byte)
		}
		*r.buf = append(*r.buf, b[:head]...)
		r.done = done
	}
}

// keptHead is the head of the request being read on ctx's connection, when
// its headRecord holds it whole, and the bytes read for that request so far
// (head and body); nil when there is none.
func keptHead(ctx *fasthttp.RequestCtx) ([]byte, int64) {
	t, ok := ctx.Conn().(interface{ HeadTap() desync.HeadTap })
	if !ok {
		return nil, 0
	}
	r, ok := t.HeadTap().(*headRecord)
	if !ok || !r.done || r.buf == nil {
		return nil, 0
	}
	return *r.buf, r.read.Load()
}

// bytesRead is how many bytes were read from ctx's connection for the
// request being read, whether or not its head is whole; 0 when the
// connection keeps no headRecord.
func bytesRead(ctx *fasthttp.RequestCtx) int64 {
	t, ok := ctx.Conn().(interface{ HeadTap() desync.HeadTap })
	if !ok {
		return 0
	}
	r, ok := t.HeadTap().(*headRecord)
	if !ok {
		return 0
	}
	return r.read.Load()
}

// sentBytes is the response's size: its status line and headers as fasthttp
// encodes them, and its body: as relayed for a streamed body (logged when
// it ends, reqState.bodyDone; chunked framing not counted), else the body
// in memory unless it is not sent (HEAD, 1xx, 204, 304). A 460 counts
// nothing: its reply only records the status, and the connection of a
// client that left is closed without a response.
func sentBytes(ctx *fasthttp.RequestCtx, rs *reqState) int64 {
	if rs.elbStatus == 460 {
		return 0
	}
	resp := &ctx.Response
	if resp.IsBodyStream() {
		rs.respHead = resp.Header.AppendBytes(rs.respHead[:0])
		return int64(len(rs.respHead)) + rs.sent
	}
	body := int64(len(resp.Body()))
	sc := resp.StatusCode()
	send := !resp.SkipBody && !ctx.IsHead() && sc >= 200 && sc != fasthttp.StatusNoContent && sc != fasthttp.StatusNotModified
	if send || body > 0 {
		// What fasthttp's Response.Write does before it writes the head.
		resp.Header.SetContentLength(int(body))
	}
	if !send {
		body = 0
	}
	rs.respHead = resp.Header.AppendBytes(rs.respHead[:0])
	return int64(len(rs.respHead)) + body
}

// bodyBytesReceived is how much of the request body was read from the
// client: what was streamed to a target, or a body read whole. A body left
// unread (a request refused or answered by Gantry itself) counts nothing.
func bodyBytesReceived(ctx *fasthttp.RequestCtx, rs *reqState) int64 {
	if ctx.Request.IsBodyStream() {
		return rs.bodyBytes
	}
	return int64(len(ctx.Request.Body()))
}

func clientAddrPort(ctx *fasthttp.RequestCtx) netip.AddrPort {
	var port uint16
	if ap, ok := ctx.RemoteAddr().(interface{ AddrPort() netip.AddrPort }); ok {
		port = ap.AddrPort().Port()
	}
	return netip.AddrPortFrom(clientAddr(ctx), port)
}
