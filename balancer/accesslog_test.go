package balancer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantrylb/gantry/accesslog"
)

// loggedRequest is an access-log entry with the request fields the entry
// only lends (method, host, URI, protocol, user agent) copied out.
type loggedRequest struct {
	accesslog.Entry
	request string // "METHOD host URI PROTOCOL"; "- - - -" when not parsed
	ua      string
}

// requestLog keeps every access-log entry with its request fields.
type requestLog struct {
	mu      sync.Mutex
	entries []loggedRequest
}

func (l *requestLog) Log(e *accesslog.Entry) {
	dash := func(b []byte) string {
		if len(b) == 0 {
			return "-"
		}
		return string(b)
	}
	r := loggedRequest{
		Entry:   *e,
		request: strings.Join([]string{dash(e.Method), dash(e.Host), dash(e.RequestURI), dash(e.Protocol)}, " "),
		ua:      dash(e.UserAgent),
	}
	r.Method, r.Host, r.RequestURI, r.Protocol, r.UserAgent = nil, nil, nil, nil, nil
	r.DomainName, r.RequestID, r.Traceparent, r.TraceID, r.RedirectURL = nil, nil, nil, nil, nil
	l.mu.Lock()
	l.entries = append(l.entries, r)
	l.mu.Unlock()
}

func (l *requestLog) all() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loggedRequest(nil), l.entries...)
}

// nth waits for the n-th entry and returns it.
func (l *requestLog) nth(t *testing.T, n int) loggedRequest {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d access-log entries", n), func() bool { return len(l.all()) >= n })
	return l.all()[n-1]
}

// drainingBackend is a target that reads whatever it is sent until the
// connection closes, and never answers.
func drainingBackend(t *testing.T) string {
	return startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, c)
		}()
	})
}

// TestClientClosed460SentNothing: a request whose client went away in the
// middle of its body is logged as 460 with sent_bytes 0, whether the body
// was being streamed to the target (the handler's 460, which builds a
// reply it never sends) or read before the handler (errorHandler's).
func TestClientClosed460SentNothing(t *testing.T) {
	log := &requestLog{}
	h := startLB(t, groupDoc("", drainingBackend(t)), func(o *Options) { o.AccessLog = log })
	cases := []struct{ name, raw string }{
		// More than fasthttp reads with the head, so the body is streamed.
		{"streamed body cut", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 16<<10)},
		{"body read before the handler cut", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 500)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, h.client.Addr, 5*time.Second)
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.TCPConn).CloseWrite()
			if got, err := io.ReadAll(c); len(got) != 0 || err != nil {
				t.Errorf("client read %q (%v), want the connection closed with nothing written", got, err)
			}
			e := log.nth(t, i+1)
			if e.ELBStatusCode != 460 || e.SentBytes != 0 {
				t.Errorf("access log: elb_status_code %d sent_bytes %d, want 460 and 0 (nothing is sent to a client that left)",
					e.ELBStatusCode, e.SentBytes)
			}
		})
	}
}

// TestRejectedAfterHeadLogsRequest: a request refused while fasthttp reads
// its body, before the handler (too slow: 408; cut by a reset: 460), is
// logged with its request line, host, user agent and the bytes read (head
// and body), not as "- - -" with 0 bytes; on a keep-alive connection, with
// its own head, not the previous request's.
func TestRejectedAfterHeadLogsRequest(t *testing.T) {
	be := startBackend(t, "a", nil)
	log := &requestLog{}
	doc := fmt.Sprintf(`kind: Listener
name: public
port: 1
idleTimeoutSeconds: 1
rules:
  - priority: 1
    conditions: {pathPattern: ["/first"]}
    action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "first"}}
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: ["%s"]
healthCheck: {enabled: false}
`, be.addr)
	h := startLB(t, doc, func(o *Options) { o.AccessLog = log })
	head := func(method, uri string, n int) string {
		return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: tester/1.0\r\nContent-Length: %d\r\n\r\n", method, uri, n)
	}
	processed := func() float64 {
		return h.metric("gantry_processed_bytes_total", map[string]string{"listener": "public"})
	}
	// sent writes raw and waits until the balancer has read all of it.
	sent := func(t *testing.T, c net.Conn, raw string) {
		t.Helper()
		before := processed()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the balancer to read what was sent", func() bool { return processed() >= before+float64(len(raw)) })
	}
	check := func(t *testing.T, e loggedRequest, code int, request string, received int) {
		t.Helper()
		if e.ELBStatusCode != code || e.request != request || e.ua != "tester/1.0" || e.ReceivedBytes != int64(received) {
			t.Errorf("access log: %d %q user agent %q received_bytes %d, want %d %q \"tester/1.0\" %d",
				e.ELBStatusCode, e.request, e.ua, e.ReceivedBytes, code, request, received)
		}
	}

	t.Run("body too slow", func(t *testing.T) {
		base := len(log.all())
		c := dialRaw(t, h.client.Addr, 10*time.Second)
		raw := head("POST", "/up?x=1", 100) + "abc"
		sent(t, c, raw)
		if code, _, closed := readAnswer(t, bufio.NewReader(c)); code != 408 || !closed {
			t.Fatalf("answer %d closed=%v, want 408 and the connection closed", code, closed)
		}
		check(t, log.nth(t, base+1), 408, "POST shop.example /up?x=1 HTTP/1.1", len(raw))
	})
	t.Run("client reset mid-body", func(t *testing.T) {
		base := len(log.all())
		c := dialRaw(t, h.client.Addr, 10*time.Second)
		raw := head("PUT", "/files/a", 1000) + strings.Repeat("x", 500)
		sent(t, c, raw)
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close() // a reset
		e := log.nth(t, base+1)
		check(t, e, 460, "PUT shop.example /files/a HTTP/1.1", len(raw))
		if e.SentBytes != 0 {
			t.Errorf("sent_bytes = %d, want 0", e.SentBytes)
		}
	})
	t.Run("second request of a connection", func(t *testing.T) {
		base := len(log.all())
		c := dialRaw(t, h.client.Addr, 10*time.Second)
		br := bufio.NewReader(c)
		sent(t, c, "GET /first HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: tester/1.0\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("first request: %v (%v), want 200", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if e := log.nth(t, base+1); e.request != "GET shop.example /first HTTP/1.1" {
			t.Fatalf("first request logged as %q", e.request)
		}
		raw := head("POST", "/second", 100) + "abcde"
		sent(t, c, raw)
		check(t, log.nth(t, base+2), 408, "POST shop.example /second HTTP/1.1", len(raw))
	})
}

// TestShutdownLogsRequestsItCuts: a download still going at the end of the
// shutdown timeout (its client reads nothing) is cut and logged before Run
// returns, as a WebSocket cut at shutdown is; it used to hold its
// connection, unlogged, until the process exited.
func TestShutdownLogsRequestsItCuts(t *testing.T) {
	// A target sending a body far larger than the sockets between it and
	// the client can hold, until Gantry closes its connection.
	target := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for {
				if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
					break
				}
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n"); err != nil {
				return
			}
			chunk := make([]byte, 64<<10)
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	})
	log := &requestLog{}
	h := startLB(t, groupDoc("", target), func(o *Options) {
		o.AccessLog = log
		o.ShutdownTimeout = 200 * time.Millisecond
	})
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The response has begun; the client reads no further.
	if code, _, err := readStatus(bufio.NewReader(c)); code != 200 {
		t.Fatalf("status %d (%v), want 200", code, err)
	}
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
	}
	es := log.all()
	if len(es) != 1 {
		t.Fatalf("%d access-log entries when Run returned, want 1 for the download it cut", len(es))
	}
	if e := es[0]; e.ELBStatusCode != 200 || e.request != "GET x /big HTTP/1.1" || e.SentBytes <= 0 {
		t.Errorf("access log: %d %q sent_bytes %d, want 200 \"GET x /big HTTP/1.1\" and the bytes sent", e.ELBStatusCode, e.request, e.SentBytes)
	}
	// The client's connection was closed.
	if _, err := io.Copy(io.Discard, c); err != nil && !isConnReset(err) {
		t.Errorf("reading the cut download: %v, want its end", err)
	}
}

// TestShutdownAnswersRequestsWaitingOnTargets: a request whose target has
// not answered when the shutdown timeout ends is answered 502 and logged
// before Run returns (it got no answer and no entry).
func TestShutdownAnswersRequestsWaitingOnTargets(t *testing.T) {
	hang, entered, release := blockingBackend(t, "hang")
	defer release()
	log := &requestLog{}
	h := startLB(t, groupDoc("", hang.addr), func(o *Options) {
		o.AccessLog = log
		o.ShutdownTimeout = 200 * time.Millisecond
	})
	inflight := slowGet(h)
	<-entered
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
	}
	es := log.all()
	if len(es) != 1 || es[0].ELBStatusCode != 502 || es[0].request != "GET "+h.client.Addr+" /slow HTTP/1.1" {
		t.Fatalf("access log when Run returned: %+v, want one 502 entry for GET /slow", es)
	}
	select {
	case r := <-inflight:
		if r.code != 502 {
			t.Errorf("the client got %d %v, want 502", r.code, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the client got no answer")
	}
}

// TestRejectedUnparsedHeadCountsBytesRead: a request refused before its head
// could be parsed (too slow, too large, malformed) is logged with the bytes
// read from the client as received_bytes (README: what was read from the
// client for the request), not 0.
func TestRejectedUnparsedHeadCountsBytesRead(t *testing.T) {
	a := startBackend(t, "a", nil)
	log := &captureLog{}
	h := startLB(t, limitsDoc(a.addr), func(o *Options) { o.AccessLog = log })
	cases := []struct {
		raw   string
		code  int
		exact bool // fasthttp may stop reading a head too large early
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Partial: ", 408, true}, // requestHeaderTimeoutSeconds: 1
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400, true},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 2000) + "\r\n\r\n", 431, false},
	}
	for i, tc := range cases {
		if got := rawStatus(t, h.client.Addr, tc.raw); got != tc.code {
			t.Fatalf("case %d: status %d, want %d", i, got, tc.code)
		}
		e := lastEntry(t, log, i+1)
		got, want := e.ReceivedBytes, int64(len(tc.raw))
		if (tc.exact && got != want) || got <= 0 || got > want {
			t.Errorf("case %d (%d): received_bytes %d, want %d read", i, tc.code, got, want)
		}
	}
}
