package balancer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// limitsDoc is a listener with small limits in front of group "web" (the
// given targets, 1 s response timeout) and group "empty" (no targets, on
// path /empty).
func limitsDoc(targets ...string) string {
	return fmt.Sprintf(`kind: Listener
name: public
port: 1
limits: {maxUriBytes: 256, maxRequestHeaderBytes: 1024, maxRequestBodyBytes: 1000, requestHeaderTimeoutSeconds: 1}
rules:
  - priority: 1
    conditions: {pathPattern: ["/empty"]}
    action: {forward: {targetGroup: empty}}
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: [%s]
responseTimeoutSeconds: 1
healthCheck: {enabled: false}
---
kind: TargetGroup
name: empty
healthCheck: {enabled: false}
`, quoteList(targets))
}

func TestLimitsAndErrorCodes(t *testing.T) {
	release := make(chan struct{})
	slow := startBackend(t, "slow", func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/slow" {
			<-release // longer than responseTimeoutSeconds
		}
		ctx.SetBodyString("slow")
	})
	t.Cleanup(func() { close(release) }) // runs before the backend's shutdown
	h := startLB(t, limitsDoc(slow.addr))
	addr := h.client.Addr

	xff31 := strings.Repeat("10.0.0.1, ", 30) + "10.0.0.1"
	xff30 := strings.Repeat("10.0.0.1, ", 29) + "10.0.0.1"
	cases := []struct {
		name string
		raw  string
		want int
	}{
		{"short URI", "GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"URI over maxUriBytes", "GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"headers over maxRequestHeaderBytes", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 2000) + "\r\n\r\n", 431},
		{"body over maxRequestBodyBytes (Content-Length)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n" + strings.Repeat("x", 1001), 413},
		{"body at maxRequestBodyBytes", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 1000), 200},
		{"body over maxRequestBodyBytes (chunked)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"200\r\n" + strings.Repeat("x", 512) + "\r\n200\r\n" + strings.Repeat("y", 512) + "\r\n0\r\n\r\n", 413},
		{"30 X-Forwarded-For addresses", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: " + xff30 + "\r\n\r\n", 200},
		{"31 X-Forwarded-For addresses", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: " + xff31 + "\r\n\r\n", 463},
		{"31 addresses over two X-Forwarded-For headers", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: " + xff30 + "\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n", 463},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200},
		{"no targets", "GET /empty HTTP/1.1\r\nHost: a\r\n\r\n", 503},
		{"target slower than responseTimeoutSeconds", "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n", 504},
	}
	want := map[int]float64{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawStatus(t, addr, tc.raw); got != tc.want {
				t.Errorf("status = %d, want %d", got, tc.want)
			}
		})
		if tc.want != 200 {
			want[tc.want]++
		}
	}
	for code, n := range want {
		if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": fmt.Sprint(code)}); got != n {
			t.Errorf("gantry_http_code_elb_total{code=%d} = %v, want %v", code, got, n)
		}
	}
}

func TestRequestHeaderTimeout408(t *testing.T) {
	a := startBackend(t, "a", nil)
	h := startLB(t, limitsDoc(a.addr))
	c := dialRaw(t, h.client.Addr, 5*time.Second)
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nX-Partial: "); err != nil {
		t.Fatal(err)
	}
	code, _, err := readStatus(bufio.NewReader(c))
	if code != 408 {
		t.Fatalf("partial header: status %d (err %v), want 408", code, err)
	}
	if el := time.Since(start); el < 900*time.Millisecond || el > 4*time.Second {
		t.Errorf("408 after %v, want about requestHeaderTimeoutSeconds (1s)", el)
	}
	if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": "408"}); got != 1 {
		t.Errorf("gantry_http_code_elb_total{code=408} = %v, want 1", got)
	}
}

func TestBadTargets502(t *testing.T) {
	garbage := startRawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "this is not HTTP\r\n\r\n")
		_ = c.Close()
	})
	reset := startRawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		_ = c.Close()
	})
	for _, tc := range []struct{ name, target string }{{"garbage", garbage}, {"reset", reset}} {
		t.Run(tc.name, func(t *testing.T) {
			h := startLB(t, limitsDoc(tc.target))
			if got := rawStatus(t, h.client.Addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); got != 502 {
				t.Errorf("GET through a target that answers %s = %d, want 502", tc.name, got)
			}
			if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": "502"}); got != 1 {
				t.Errorf("gantry_http_code_elb_total{code=502} = %v, want 1", got)
			}
		})
	}
}

func TestMaxConnectionsRefused(t *testing.T) {
	a := startBackend(t, "a", nil)
	doc := strings.Replace(limitsDoc(a.addr), "limits: {", "limits: {maxConnections: 2, ", 1)
	h := startLB(t, doc)
	addr := h.client.Addr
	// Two connections, each proven accepted by a full exchange.
	for i := 0; i < 2; i++ {
		c := dialRaw(t, addr, 5*time.Second)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if code, _, err := readStatus(bufio.NewReader(c)); code != 200 {
			t.Fatalf("connection %d: status %d (%v), want 200", i, code, err)
		}
	}
	c := dialRaw(t, addr, 5*time.Second)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if code, _, err := readStatus(bufio.NewReader(c)); err == nil || code != 0 {
		t.Errorf("third connection got status %d (%v), want it closed unanswered", code, err)
	}
	waitFor(t, 2*time.Second, "gantry_rejected_connections_total = 1", func() bool {
		return h.metric("gantry_rejected_connections_total", map[string]string{"listener": "public"}) == 1
	})
	if got := h.metric("gantry_active_connections", map[string]string{"listener": "public"}); got != 2 {
		t.Errorf("gantry_active_connections = %v, want 2", got)
	}
}

// TestIdleTimeoutSilentNewConnection: a connection that sends nothing is
// closed after the listener's idle timeout, as ALB does, even when the
// header timeout is longer; once a byte arrives, the header timeout rules.
func TestIdleTimeoutSilentNewConnection(t *testing.T) {
	a := startBackend(t, "a", nil)
	h := startLB(t, `kind: Listener
name: public
port: 1
idleTimeoutSeconds: 1
limits: {requestHeaderTimeoutSeconds: 30}
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: ["`+a.addr+`"]
healthCheck: {enabled: false}
`)
	silent := dialRaw(t, h.client.Addr, 10*time.Second)
	start := time.Now()
	n, err := silent.Read(make([]byte, 64))
	if el := time.Since(start); err == nil || el < 900*time.Millisecond || el > 3*time.Second {
		t.Errorf("silent connection: read %d bytes, %v after %v, want closed after about 1 s", n, err, el)
	}

	// A slow request head: its first byte lifts the idle bound, and the
	// rest comes after the idle timeout.
	slow := dialRaw(t, h.client.Addr, 10*time.Second)
	if _, err := io.WriteString(slow, "G"); err != nil {
		t.Fatal(err)
	}
	<-time.After(1500 * time.Millisecond) // the point: past the idle timeout, well within the header timeout
	if _, err := io.WriteString(slow, "ET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if code, _, err := readStatus(bufio.NewReader(slow)); code != 200 {
		t.Errorf("slow head: status %d (%v), want 200", code, err)
	}
}

// TestRejectedHeadsLogged: requests refused before the handler (a head too
// large, too slow or malformed) are in the access log too, as ALB logs them.
func TestRejectedHeadsLogged(t *testing.T) {
	a := startBackend(t, "a", nil)
	log := &captureLog{}
	h := startLB(t, limitsDoc(a.addr), func(o *Options) { o.AccessLog = log })
	cases := []struct {
		raw    string
		code   int
		reason string
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 2000) + "\r\n\r\n", 431, "RequestHeaderTooLarge"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Partial: ", 408, "RequestTimeout"}, // requestHeaderTimeoutSeconds: 1
		{"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400, "BareLF"},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400, "MalformedRequest"},
	}
	for i, tc := range cases {
		if got := rawStatus(t, h.client.Addr, tc.raw); got != tc.code {
			t.Fatalf("case %d: status %d, want %d", i, got, tc.code)
		}
		e := lastEntry(t, log, i+1)
		if e.ELBStatusCode != tc.code || e.ErrorReason != tc.reason || e.ELB != "public" || !e.Client.IsValid() {
			t.Errorf("case %d: logged %d %q from %v on %q, want %d %q", i, e.ELBStatusCode, e.ErrorReason, e.Client, e.ELB, tc.code, tc.reason)
		}
		if tc.reason == "BareLF" && (e.Classification != "severe" || e.ClassificationReason != "NonCrLfLineTermination") {
			t.Errorf("bare LF classified %q %q, want severe NonCrLfLineTermination", e.Classification, e.ClassificationReason)
		}
	}

	// A client that leaves during a small body (read whole before the
	// handler) is ALB's 460: logged and counted, nothing written to it.
	c := dialRaw(t, h.client.Addr, 5*time.Second)
	if _, err := io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Errorf("client that left read %q (%v), want nothing", b, err)
	}
	if e := lastEntry(t, log, len(cases)+1); e.ELBStatusCode != 460 || e.ErrorReason != "ClientClosed" {
		t.Errorf("client that left: logged %d %q, want 460 ClientClosed", e.ELBStatusCode, e.ErrorReason)
	}
	if got := h.metric("gantry_client_closed_total", map[string]string{"listener": "public"}); got != 1 {
		t.Errorf("gantry_client_closed_total = %v, want 1", got)
	}
}
