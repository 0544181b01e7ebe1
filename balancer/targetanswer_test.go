package balancer

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// scriptedTarget answers each request of each connection with answer(c),
// which writes whatever it likes; it returns false to close the connection.
func scriptedTarget(t *testing.T, answer func(c net.Conn, head string) bool) string {
	t.Helper()
	return startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(c)
			for {
				var head strings.Builder
				cl := 0
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(l)
					if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
						cl, _ = strconv.Atoi(strings.TrimSpace(v))
					}
					if l == "\r\n" {
						break
					}
				}
				if _, err := io.CopyN(io.Discard, br, int64(cl)); err != nil {
					return
				}
				if !answer(c, head.String()) {
					return
				}
			}
		}()
	})
}

// exchange sends raw on a new connection and reads one response: status,
// head lines and body (by Content-Length).
func exchange(t *testing.T, addr, raw string, within time.Duration) (int, []string, string) {
	t.Helper()
	c := dialRaw(t, addr, within)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	code, hdr, err := readStatus(br)
	if err != nil {
		t.Fatalf("reading the answer to %.30q: %v", raw, err)
	}
	body := make([]byte, contentLength(hdr))
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return code, hdr, string(body)
}

// headerValue is the value of the last head line named name, "" if none.
func headerValue(hdr []string, name string) string {
	var v string
	for _, l := range hdr {
		if k, val, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			v = strings.TrimSpace(val)
		}
	}
	return v
}

func hasHeader(hdr []string, name string) bool {
	for _, l := range hdr {
		if k, _, _ := strings.Cut(l, ":"); strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

const getA = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

// answeringLB is a listener in front of a target that answers every
// request with answer and keeps its connection open.
func answeringLB(t *testing.T, answer string) *lbHarness {
	t.Helper()
	target := scriptedTarget(t, func(c net.Conn, _ string) bool {
		_, _ = io.WriteString(c, answer)
		return true
	})
	return startLB(t, groupDoc("", target))
}

// TestTargetHeadEndingWithBareLF: a response head whose blank line is a
// bare LF is a bad answer (502) at once, not a wait for the response
// timeout (504 a minute later).
func TestTargetHeadEndingWithBareLF(t *testing.T) {
	t.Parallel()
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\r\nok",
	} {
		h := answeringLB(t, answer)
		start := time.Now()
		code, _, _ := exchange(t, h.client.Addr, getA, 10*time.Second)
		if code != 502 || time.Since(start) > 3*time.Second {
			t.Errorf("answer %q: %d after %v, want 502 at once", answer, code, time.Since(start).Round(time.Millisecond))
		}
	}
	// Bare LFs inside a head that ends with CRLF CRLF are accepted (RFC 9112 2.2).
	h := answeringLB(t, "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok")
	if code, _, body := exchange(t, h.client.Addr, getA, 10*time.Second); code != 200 || body != "ok" {
		t.Errorf("bare LF within a CRLF-ended head: %d %q, want 200 \"ok\"", code, body)
	}
}

// TestLargeTargetHead: response heads up to 32 KiB pass (a large
// Set-Cookie or Content-Security-Policy), larger ones are a 502.
func TestLargeTargetHead(t *testing.T) {
	t.Parallel()
	target := scriptedTarget(t, func(c net.Conn, head string) bool {
		n := 30000
		if strings.Contains(head, "huge") {
			n = 70000
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("b", n)+"\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	h := startLB(t, groupDoc("", target))
	code, hdr, body := exchange(t, h.client.Addr, getA, 10*time.Second)
	if code != 200 || body != "ok" || !hasHeader(hdr, "X-Big") {
		t.Fatalf("a 30 kB response head: %d %q, want 200 with X-Big", code, body)
	}
	if code, _, _ := exchange(t, h.client.Addr, "GET /huge HTTP/1.1\r\nHost: a\r\n\r\n", 10*time.Second); code != 502 {
		t.Fatalf("a 70 kB response head: %d, want 502", code)
	}
}

// TestInterimAnswerAddsNoContentType: after a 1xx, the final answer is
// relayed without a Content-Type its target did not send.
func TestInterimAnswerAddsNoContentType(t *testing.T) {
	t.Parallel()
	h := answeringLB(t, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	code, hdr, body := exchange(t, h.client.Addr, getA, 10*time.Second)
	if code != 200 || body != "ok" {
		t.Fatalf("%d %q, want 200 \"ok\"", code, body)
	}
	if hasHeader(hdr, "Content-Type") {
		t.Errorf("a Content-Type was added: %q", hdr)
	}
}

// TestUnaskedSwitchingProtocols: a 101 to a request that asked for no
// upgrade is a bad answer.
func TestUnaskedSwitchingProtocols(t *testing.T) {
	t.Parallel()
	h := answeringLB(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n")
	if code, _, _ := exchange(t, h.client.Addr, getA, 10*time.Second); code != 502 {
		t.Fatalf("status %d, want 502", code)
	}
}

// TestSlowSmallBody: a small body that trickles in, each byte well within
// the idle timeout, is relayed whole; the response timeout bounds only the
// head.
func TestSlowSmallBody(t *testing.T) {
	t.Parallel()
	target := scriptedTarget(t, func(c net.Conn, _ string) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
		for _, b := range "slow!" {
			time.Sleep(400 * time.Millisecond) // the point: a body slower than the response timeout
			if _, err := io.WriteString(c, string(b)); err != nil {
				return false
			}
		}
		return true
	})
	h := startLB(t, groupDoc("responseTimeoutSeconds: 1\n", target))
	if code, _, body := exchange(t, h.client.Addr, getA, 10*time.Second); code != 200 || body != "slow!" {
		t.Fatalf("%d %q, want 200 \"slow!\"", code, body)
	}
}

// TestPostAfterTargetClosedIdle: a target that closed a keep-alive
// connection right after answering (no Connection: close) must not cost the
// next POST a 502: a request that cannot be sent again always gets a
// pooled connection that is checked first.
func TestPostAfterTargetClosedIdle(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 4)
	target := scriptedTarget(t, func(c net.Conn, head string) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if strings.HasPrefix(head, "GET") {
			_ = c.Close()
			closed <- struct{}{}
			return false
		}
		return true
	})
	h := startLB(t, groupDoc("", target))
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	br := bufio.NewReader(c)
	for i, req := range []string{getA, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"} {
		if i == 1 {
			<-closed // the target's FIN is in Gantry's socket (loopback delivers it within close)
		}
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		code, hdr, err := readStatus(br)
		if err != nil || code != 200 {
			t.Fatalf("request %d: %d (%v), want 200", i, code, err)
		}
		if _, err := io.CopyN(io.Discard, br, contentLength(hdr)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHTTP10ExpectationIgnored: an HTTP/1.0 client's Expect: 100-continue
// gets no 100 (RFC 9110 10.1.1); its body is read and forwarded.
func TestHTTP10ExpectationIgnored(t *testing.T) {
	t.Parallel()
	h := answeringLB(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	code, _, body := exchange(t, h.client.Addr, "POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", 10*time.Second)
	if code != 200 || body != "ok" {
		t.Fatalf("first answer %d %q, want the final 200 (no 100 Continue to HTTP/1.0)", code, body)
	}
}

// TestLaterMinorVersionForwardedAsHTTP11: a request line with HTTP/1.2 is
// an HTTP/1.1 request for Gantry and its target.
func TestLaterMinorVersionForwardedAsHTTP11(t *testing.T) {
	t.Parallel()
	lines := make(chan string, 1)
	target := scriptedTarget(t, func(c net.Conn, head string) bool {
		line, _, _ := strings.Cut(head, "\r\n")
		lines <- line
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	h := startLB(t, groupDoc("", target))
	if code, _, _ := exchange(t, h.client.Addr, "GET /v HTTP/1.2\r\nHost: a\r\n\r\n", 10*time.Second); code != 200 {
		t.Fatalf("status %d, want 200", code)
	}
	if got := <-lines; got != "GET /v HTTP/1.1" {
		t.Fatalf("target got %q, want \"GET /v HTTP/1.1\"", got)
	}
}

// TestRefusalReachesAClientStillSending: a client that sends a whole
// oversized request in one write before it reads gets the refusal, not a
// reset: the connection is half-closed after the answer and the rest of
// the request read and dropped (lingering close) before it is closed.
func TestRefusalReachesAClientStillSending(t *testing.T) {
	t.Parallel()
	a := startBackend(t, "a", nil)
	h := startLB(t, limitsDoc(a.addr))
	for _, tc := range []struct {
		name string
		req  string
		code int
	}{
		{"request line too large", "GET /?" + strings.Repeat("q", 2<<20) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("q", 2<<20) + "\r\n\r\n", 431},
		{"body too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n" + strings.Repeat("b", 4000000), 413},
	} {
		c := dialRaw(t, h.client.Addr, 20*time.Second)
		if _, err := io.WriteString(c, tc.req); err != nil {
			t.Fatalf("%s: writing the request: %v (the connection was reset under it)", tc.name, err)
		}
		code, _, err := readStatus(bufio.NewReader(c))
		if code != tc.code {
			t.Errorf("%s: status %d (%v), want %d", tc.name, code, err, tc.code)
		}
		_ = c.Close()
	}
	// A client that sends the body only after the refusal came (the head
	// alone went first) can still send it: the connection lingers although
	// none of the body had arrived when it was refused.
	c := dialRaw(t, h.client.Addr, 20*time.Second)
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if code, _, err := readStatus(br); code != 413 {
		t.Fatalf("head alone: status %d (%v), want 413", code, err)
	}
	if _, err := io.WriteString(c, strings.Repeat("b", 4000000)); err != nil {
		t.Fatalf("sending the body after the refusal: %v (the connection was reset under it)", err)
	}
	_ = c.Close()
	// A lingering connection ends once its client closes.
	deadline := time.Now().Add(5 * time.Second)
	for h.metric("gantry_active_connections", map[string]string{"listener": "public"}) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("lingering connections still open 5 s after their clients closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestManyRequestsInFlightToOneTarget: a target is not capped at some
// number of connections (as ALB): 1,100 slow requests at once all pass.
func TestManyRequestsInFlightToOneTarget(t *testing.T) {
	t.Parallel()
	const n = 1100
	gate := make(chan struct{})
	var arrived atomic.Int32
	a := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		if arrived.Add(1) == n {
			close(gate)
		}
		select { // every request is held until all are in flight
		case <-gate:
		case <-time.After(10 * time.Second):
		}
	})
	h := startLB(t, groupDoc("", a.addr))
	codes := make(chan int, n)
	for range n {
		go func() {
			c, err := net.DialTimeout("tcp", h.client.Addr, 5*time.Second)
			if err != nil {
				codes <- 0
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(c, getA); err != nil {
				codes <- 0
				return
			}
			code, _, _ := readStatus(bufio.NewReader(c))
			codes <- code
		}()
	}
	bad := map[int]int{}
	for range n {
		if code := <-codes; code != 200 {
			bad[code]++
		}
	}
	if len(bad) > 0 {
		t.Fatalf("of %d concurrent requests to one target, these answers were not 200 (code: count): %v", n, bad)
	}
}

// TestStreamedBodyRelayedAsItComes: the first bytes of a body of known
// length reach the client before the target sends the rest (they were held
// until 4 KiB had gathered).
func TestStreamedBodyRelayedAsItComes(t *testing.T) {
	t.Parallel()
	const size = 200000
	got := make(chan struct{})
	target := scriptedTarget(t, func(c net.Conn, _ string) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"+strings.Repeat("f", 100))
		select { // the rest only once the client has the first bytes
		case <-got:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(c, strings.Repeat("r", size-100))
		return true
	})
	h := startLB(t, groupDoc("", target))
	c := dialRaw(t, h.client.Addr, 20*time.Second)
	if _, err := io.WriteString(c, getA); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if code, _, err := readStatus(br); code != 200 {
		t.Fatalf("status %d (%v): the head did not come before the rest of the body was sent", code, err)
	}
	first := make([]byte, 100)
	if _, err := io.ReadFull(br, first); err != nil {
		t.Fatalf("the first 100 bytes did not come before the rest was sent: %v", err)
	}
	close(got)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.Copy(io.Discard, io.LimitReader(br, size-100)); n != size-100 {
		t.Fatalf("the rest: %d bytes (%v), want %d", n, err, size-100)
	}
}

// TestBytesAfterAnswerRetireConnection: bytes a target sends past the end of
// its answer (a body longer than its Content-Length, a 408 sent before
// closing) answer nothing, and the connection they came on is not trusted
// with another request, as nginx drops such an upstream connection. Here
// the target then ignores whatever comes on that connection and closes it:
// a POST sent on it would get a 502.
func TestBytesAfterAnswerRetireConnection(t *testing.T) {
	t.Parallel()
	for _, extra := range []string{
		"EXTRA",
		"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	} {
		var conns atomic.Int32
		target := startRawBackend(t, func(c net.Conn) {
			conns.Add(1)
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReader(c)
				spoiled := false
				for {
					var cl int64
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
							cl, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
						}
						if l == "\r\n" {
							break
						}
					}
					if spoiled {
						return // closes without an answer
					}
					if _, err := io.CopyN(io.Discard, br, cl); err != nil {
						return
					}
					spoiled = true
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"+extra); err != nil {
						return
					}
				}
			}()
		})
		h := startLB(t, groupDoc("", target))
		c := dialRaw(t, h.client.Addr, 10*time.Second)
		br := bufio.NewReader(c)
		for i, req := range []string{getA, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"} {
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			code, hdr, err := readStatus(br)
			if err != nil || code != 200 {
				t.Fatalf("extra %.10q: request %d: %d (%v), want 200", extra, i, code, err)
			}
			body := make([]byte, contentLength(hdr))
			if _, err := io.ReadFull(br, body); err != nil || string(body) != "ok" {
				t.Fatalf("extra %.10q: request %d: body %q (%v), want \"ok\"", extra, i, body, err)
			}
		}
		if n := conns.Load(); n < 2 {
			t.Errorf("extra %.10q: the target saw %d connection(s), want the second request on a new one", extra, n)
		}
	}
}
