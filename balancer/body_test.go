package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/accesslog"
)

// readAnswer reads one response from br: its status code and body (by
// Content-Length), then reports whether the connection was closed after it.
func readAnswer(t *testing.T, br *bufio.Reader) (code int, body string, closed bool) {
	t.Helper()
	code, hdr, err := readStatus(br)
	if err != nil {
		t.Fatalf("reading the response head: %v", err)
	}
	n := 0
	for _, l := range hdr {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
			_, _ = fmt.Sscan(strings.TrimSpace(v), &n)
		}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatalf("reading a %d-byte body: %v", n, err)
	}
	_, err = br.ReadByte()
	return code, string(b), err == io.EOF
}

// lastEntry waits for the n-th access-log entry and returns it.
func lastEntry(t *testing.T, log *captureLog, n int) accesslog.Entry {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d access-log entries", n), func() bool { return len(log.all()) >= n })
	es := log.all()
	if len(es) != n {
		t.Fatalf("%d access-log entries, want %d", len(es), n)
	}
	return es[n-1]
}

// TestMalformedChunkedBody400: a chunked body that does not parse is the
// client's error, 400, with the connection closed; it is not a client that
// went away (460), and it never reaches the target as a request.
func TestMalformedChunkedBody400(t *testing.T) {
	be := startBackend(t, "a", nil)
	log := &captureLog{}
	h := startLB(t, groupDoc("", be.addr), func(o *Options) { o.AccessLog = log })
	head := "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	cases := []struct{ name, body string }{
		{"chunk size not hex", "zz\r\nabc\r\n0\r\n\r\n"},
		{"chunk size too large", "FFFFFFFFFFFFFFFFF3\r\nabc\r\n0\r\n\r\n"},
		{"bare LF after chunk size", "3\nabc\n0\n\n"},
		{"bare LF after chunk data", "3\r\nabc\n0\r\n\r\n"},
		{"no CRLF after chunk data", "3\r\nabcd\r\n0\r\n\r\n"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, h.client.Addr, 5*time.Second)
			if _, err := io.WriteString(c, head+tc.body); err != nil {
				t.Fatal(err)
			}
			code, body, closed := readAnswer(t, bufio.NewReader(c))
			if code != 400 || body != "Bad Request\n" || !closed {
				t.Errorf("answer = %d %q closed=%v, want 400 \"Bad Request\\n\" and the connection closed", code, body, closed)
			}
			e := lastEntry(t, log, i+1)
			if e.ELBStatusCode != 400 || e.ErrorReason != "MalformedRequestBody" {
				t.Errorf("access log: elb_status_code %d error_reason %q, want 400 MalformedRequestBody", e.ELBStatusCode, e.ErrorReason)
			}
		})
	}
	if got := be.hits.Load(); got != 0 {
		t.Errorf("the target answered %d requests, want 0", got)
	}
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gantry_http_code_elb_total", map[string]string{"code": "400"}, float64(len(cases))},
		{"gantry_http_code_elb_total", map[string]string{"code": "460"}, 0},
		{"gantry_client_closed_total", map[string]string{"listener": "public"}, 0},
		{"gantry_target_passive_failures_total", map[string]string{"target_group": "web"}, 0},
	} {
		if got := h.metric(m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}

// TestClientGoneMidBody460: a client that stops sending in the middle of its
// body (it closes, or only shuts its write side) is logged as 460 and
// counted, and gets no response: 460 is never sent on the wire.
func TestClientGoneMidBody460(t *testing.T) {
	addr := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, c)
		}()
	})
	log := &captureLog{}
	h := startLB(t, groupDoc("", addr), func(o *Options) { o.AccessLog = log })
	chunked := "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	cases := []struct{ name, raw string }{
		// More than fasthttp reads with the head, so the body is streamed.
		{"Content-Length body cut", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 16<<10)},
		{"chunk data cut", chunked + "a\r\n01234"},
		{"chunk size line cut", chunked + "5\r\nhello\r\n5"},
		{"chunk data CRLF cut", chunked + "5\r\nhello\r"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, h.client.Addr, 5*time.Second)
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if len(got) != 0 || err != nil {
				t.Errorf("client read %q (%v), want the connection closed with nothing written", got, err)
			}
			e := lastEntry(t, log, i+1)
			if e.ELBStatusCode != 460 || e.ErrorReason != "ClientClosed" {
				t.Errorf("access log: elb_status_code %d error_reason %q, want 460 ClientClosed", e.ELBStatusCode, e.ErrorReason)
			}
		})
	}
	n := float64(len(cases))
	if got := h.metric("gantry_client_closed_total", map[string]string{"listener": "public"}); got != n {
		t.Errorf("gantry_client_closed_total = %v, want %v", got, n)
	}
	if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": "460"}); got != n {
		t.Errorf("gantry_http_code_elb_total{code=460} = %v, want %v", got, n)
	}
}

// TestChunkedUploadCutBetweenChunks: a client that goes away right after a
// whole chunk has not sent a whole body; the target must never get the last
// chunk Gantry would otherwise add (fasthttp reports that close as the end
// of the body).
func TestChunkedUploadCutBetweenChunks(t *testing.T) {
	got := make(chan string, 1)
	addr := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(c) // until Gantry closes its side
			got <- string(b)
		}()
	})
	log := &captureLog{}
	h := startLB(t, groupDoc("", addr), func(o *Options) { o.AccessLog = log })
	c := dialRaw(t, h.client.Addr, 5*time.Second)
	// More than fasthttp reads with the head, so the body is streamed.
	first := strings.Repeat("x", 16<<10)
	if _, err := fmt.Fprintf(c, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n5\r\nhello\r\n", len(first), first); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Errorf("client read %q (%v), want the connection closed with nothing written", b, err)
	}
	select {
	case body := <-got:
		if strings.HasSuffix(body, "0\r\n\r\n") {
			t.Errorf("the target got a complete chunked body for a cut upload (%d bytes ending %q)", len(body), body[max(0, len(body)-20):])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the target connection was not closed")
	}
	if e := lastEntry(t, log, 1); e.ELBStatusCode != 460 || e.ErrorReason != "ClientClosed" {
		t.Errorf("access log: elb_status_code %d error_reason %q, want 460 ClientClosed", e.ELBStatusCode, e.ErrorReason)
	}
}

// TestBodyLimitCheckedAgainstContentLength: a Content-Length over
// maxRequestBodyBytes is refused with 413 as soon as the head arrives, with
// no 100 Continue and before any body is waited for; nothing is forwarded
// and the connection is closed.
func TestBodyLimitCheckedAgainstContentLength(t *testing.T) {
	be := startBackend(t, "a", nil)
	log := &captureLog{}
	h := startLB(t, limitsDoc(be.addr), func(o *Options) { o.AccessLog = log })
	cases := []struct{ name, head, body string }{
		{"Expect: 100-continue", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n", ""},
		{"body under way", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n", strings.Repeat("x", 500)},
		{"no body sent", "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, h.client.Addr, 5*time.Second)
			start := time.Now()
			if _, err := io.WriteString(c, tc.head+tc.body); err != nil {
				t.Fatal(err)
			}
			code, _, closed := readAnswer(t, bufio.NewReader(c))
			if code != 413 || !closed {
				t.Errorf("answer = %d closed=%v, want 413 (no 100 Continue) and the connection closed", code, closed)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("413 after %v, want it at once", el)
			}
			e := lastEntry(t, log, i+1)
			if e.ELBStatusCode != 413 || e.ErrorReason != "RequestBodyTooLarge" || e.Target.IsValid() {
				t.Errorf("access log: elb_status_code %d error_reason %q target %v, want 413 RequestBodyTooLarge and no target",
					e.ELBStatusCode, e.ErrorReason, e.Target)
			}
			if e.ReceivedBytes != int64(len(tc.head)) {
				t.Errorf("access log received_bytes = %d, want %d (the head; the body was never read)", e.ReceivedBytes, len(tc.head))
			}
		})
	}
	if got := be.hits.Load(); got != 0 {
		t.Errorf("the target answered %d requests, want 0", got)
	}
	if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": "413"}); got != float64(len(cases)) {
		t.Errorf("gantry_http_code_elb_total{code=413} = %v, want %d", got, len(cases))
	}
	// Under the limit, Expect: 100-continue still gets its 100 Continue.
	c := dialRaw(t, h.client.Addr, 5*time.Second)
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if code, _, err := readStatus(br); code != 100 {
		t.Fatalf("Expect under the limit: status %d (%v), want 100", code, err)
	}
	_, _ = io.WriteString(c, "hello")
	if code, _, err := readStatus(br); code != 200 {
		t.Errorf("body under the limit: status %d (%v), want 200", code, err)
	}
}

// TestReceivedBytes: received_bytes is the request as received: request
// line, headers and the body bytes read (chunked framing not counted).
func TestReceivedBytes(t *testing.T) {
	be := startBackend(t, "a", nil)
	log := &captureLog{}
	h := startLB(t, groupDoc("", be.addr), func(o *Options) { o.AccessLog = log })
	cases := []struct {
		name, raw string
		want      int
	}{
		{"plain GET", "GET /r4 HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"GET with a long query", "GET /r4?" + strings.Repeat("q", 500) + " HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"POST with Content-Length", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0},
		{"POST chunked", "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			len("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") + 5},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawStatus(t, h.client.Addr, tc.raw); got != 200 {
				t.Fatalf("status %d, want 200", got)
			}
			want := tc.want
			if want == 0 {
				want = len(tc.raw)
			}
			if e := lastEntry(t, log, i+1); e.ReceivedBytes != int64(want) {
				t.Errorf("received_bytes = %d, want %d", e.ReceivedBytes, want)
			}
		})
	}
}

// TestProxyKeepsRequestHead: the target gets the client's head without
// framing or content headers fasthttp would add: no default Content-Type,
// no Content-Length on a request that came without one and without a body.
func TestProxyKeepsRequestHead(t *testing.T) {
	var mu sync.Mutex
	var seen string
	be := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		seen = string(ctx.Request.Header.RawHeaders())
		mu.Unlock()
		ctx.SetBodyString("ok")
	})
	h := startLB(t, groupDoc("", be.addr))
	has := func(raw, name string) bool {
		for _, l := range strings.Split(raw, "\r\n") {
			if k, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	cases := []struct {
		name, raw        string
		wantCT, wantCL   bool
		wantContentValue string
	}{
		{"POST without Content-Type", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", false, true, ""},
		{"POST with Content-Type", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 5\r\n\r\nhello", true, true, "text/csv"},
		{"DELETE without body", "DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n", false, false, ""},
		{"POST without body", "POST /a HTTP/1.1\r\nHost: x\r\n\r\n", false, false, ""},
		{"DELETE with Content-Length: 0", "DELETE /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", false, true, ""},
		{"GET", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", false, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawStatus(t, h.client.Addr, tc.raw); got != 200 {
				t.Fatalf("status %d, want 200", got)
			}
			mu.Lock()
			raw := seen
			mu.Unlock()
			if got := has(raw, "Content-Type"); got != tc.wantCT {
				t.Errorf("target saw Content-Type: %v, want %v; head:\n%s", got, tc.wantCT, raw)
			}
			if tc.wantContentValue != "" && !strings.Contains(raw, "Content-Type: "+tc.wantContentValue+"\r\n") {
				t.Errorf("target's head lacks Content-Type: %s:\n%s", tc.wantContentValue, raw)
			}
			if got := has(raw, "Content-Length"); got != tc.wantCL {
				t.Errorf("target saw Content-Length: %v, want %v; head:\n%s", got, tc.wantCL, raw)
			}
		})
	}
}

// TestClientReadErrorKind: failures of the client connection are 460 or
// 408, and whatever the chunked decoder rejects is 400; a read error inside
// a chunk line reaches us wrapped in fasthttp.ErrBrokenChunk.
func TestClientReadErrorKind(t *testing.T) {
	head := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	// read streams a body as the listeners do and returns the read error.
	read := func(body string) error {
		var req fasthttp.Request
		br := bufio.NewReader(strings.NewReader(head + body))
		if err := req.Header.Read(br); err != nil {
			return err
		}
		if err := req.ContinueReadBodyStream(br, 0); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, req.BodyStream())
		return err
	}
	cases := []struct {
		name string
		err  error
		want errorKind
	}{
		// Both come wrapped in ErrBrokenChunk, which brokenChunkCause opens.
		{"EOF in a chunk size line", read("5"), errClientBody},
		{"EOF before a chunk's CRLF", read("5\r\nhello\r"), errClientBody},
		{"chunk size not hex", read("zz\r\nabc\r\n0\r\n\r\n"), errMalformedBody},
		{"chunk size too large", read("FFFFFFFFFFFFFFFFF3\r\nabc\r\n0\r\n\r\n"), errMalformedBody},
		{"bare LF", read("3\nabc\n0\n\n"), errMalformedBody},
		{"short Content-Length body", io.ErrUnexpectedEOF, errClientBody},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, errClientBody},
		{"timeout", fasthttp.ErrTimeout, errClientTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error to classify")
			}
			var bc fasthttp.ErrBrokenChunk
			if strings.HasPrefix(tc.name, "EOF") && !errors.As(tc.err, &bc) {
				t.Fatalf("%v is not a fasthttp.ErrBrokenChunk; the test no longer covers brokenChunkCause", tc.err)
			}
			if got := (clientReadError{tc.err}).kind(); got != tc.want {
				t.Errorf("kind(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestStreamedResponseSentBytes: a response body too large to read whole is
// streamed, and its access-log entry, written when the body ends, counts the
// bytes sent (Content-Length and chunked).
func TestStreamedResponseSentBytes(t *testing.T) {
	const size = 1 << 20
	be := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		body := bytes.Repeat([]byte("z"), size)
		if string(ctx.Path()) == "/chunked" {
			ctx.SetBodyStream(bytes.NewReader(body), -1)
			return
		}
		ctx.SetBody(body)
	})
	log := &captureLog{}
	h := startLB(t, groupDoc("", be.addr), func(o *Options) { o.AccessLog = log })
	for i, path := range []string{"/cl", "/chunked", "/cl"} {
		code, body, _ := h.get(path)
		if code != 200 || len(body) != size {
			t.Fatalf("GET %s = %d with %d bytes, want 200 with %d", path, code, len(body), size)
		}
		// The body and a head of a few dozen bytes.
		if e := lastEntry(t, log, i+1); e.SentBytes < size+40 || e.SentBytes > size+1024 || e.ELBStatusCode != 200 {
			t.Errorf("GET %s logged %d %d bytes sent, want 200 and the %d of the body plus a head", path, e.ELBStatusCode, e.SentBytes, size)
		}
	}
	if st, n := stateOf(h, "web", be.addr); st == "" || n != 0 {
		t.Errorf("in flight after the downloads = %d, want 0", n)
	}
}

// TestSentBytes: sent_bytes is the response as sent: status line, headers
// and body, for a body read whole, a streamed one (Content-Length), an
// answer of Gantry's own, and HEAD requests (no body sent).
func TestSentBytes(t *testing.T) {
	be := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/big" {
			ctx.SetBody(bytes.Repeat([]byte("z"), 200<<10))
			return
		}
		ctx.SetBodyString("hello")
	})
	log := &captureLog{}
	doc := groupDoc("", be.addr) + `---
kind: Listener
name: other
port: 1
defaultAction: {fixedResponse: {statusCode: 503, contentType: text/plain, messageBody: "down for maintenance"}}
`
	h := startLB(t, doc, func(o *Options) { o.AccessLog = log })
	otherAddr, ok := h.b.Addr("other")
	if !ok {
		t.Fatal("listener other not bound")
	}
	other := otherAddr.String()
	cases := []struct{ name, addr, method, path string }{
		{"body read whole", h.client.Addr, "GET", "/small"},
		{"streamed body", h.client.Addr, "GET", "/big"},
		{"fixed response", other, "GET", "/"},
		{"HEAD proxied", h.client.Addr, "HEAD", "/small"},
		{"HEAD fixed response", other, "HEAD", "/"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wire := wireResponse(t, tc.addr, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if e := lastEntry(t, log, i+1); e.SentBytes != int64(wire) {
				t.Errorf("sent_bytes = %d, want %d (the response's bytes on the wire)", e.SentBytes, wire)
			}
		})
	}
}

// wireResponse sends raw to addr and returns the size of the one response
// that comes back (it must have a Content-Length).
func wireResponse(t *testing.T, addr, raw string) int {
	t.Helper()
	c := dialRaw(t, addr, 5*time.Second)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &seen))
	var req *http.Request
	if strings.HasPrefix(raw, "HEAD ") {
		req = &http.Request{Method: "HEAD"}
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength < 0 {
		t.Fatal("response without Content-Length")
	}
	return seen.Len() - br.Buffered()
}

// TestSentBytesOfRefusedRequest: an answer Gantry writes for a request it
// refused before routing (here 400 for bare-LF framing) is counted as sent,
// with the Content-Length and Connection headers fasthttp writes.
func TestSentBytesOfRefusedRequest(t *testing.T) {
	be := startBackend(t, "a", nil)
	log := &captureLog{}
	h := startLB(t, groupDoc("", be.addr), func(o *Options) { o.AccessLog = log })
	wire := wireResponse(t, h.client.Addr, "GET / HTTP/1.1\nHost: x\n\n")
	if e := lastEntry(t, log, 1); e.ELBStatusCode != 400 || e.SentBytes != int64(wire) {
		t.Errorf("logged %d with sent_bytes %d, want 400 with %d (the answer's bytes on the wire)", e.ELBStatusCode, e.SentBytes, wire)
	}
}
