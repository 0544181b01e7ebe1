package balancer

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestProxyRoundRobinAndForwardedHeaders(t *testing.T) {
	a := startBackend(t, "a", nil)
	b := startBackend(t, "b", nil)
	h := startLB(t, groupDoc("", a.addr, b.addr))

	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		code, body, resp := h.get("/hello?x=1")
		if code != 200 {
			t.Fatalf("GET /hello = %d, want 200", code)
		}
		seen[body]++
		if got := string(resp.Header.Peek("X-Seen-Xff")); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For at target = %q, want 127.0.0.1", got)
		}
		if got := string(resp.Header.Peek("X-Seen-Proto")); got != "http" {
			t.Errorf("X-Forwarded-Proto = %q, want http", got)
		}
		if got := string(resp.Header.Peek("X-Seen-Port")); got == "" || got == "0" {
			t.Errorf("X-Forwarded-Port = %q, want the listener port", got)
		}
		if got := resp.Header.Peek("X-Seen-Request-Id"); len(got) != 32 {
			t.Errorf("X-Request-Id = %q, want 32 hex digits", got)
		}
		if got := string(resp.Header.Peek("X-Seen-Uri")); got != "/hello?x=1" {
			t.Errorf("request URI at target = %q, want /hello?x=1", got)
		}
		fasthttp.ReleaseResponse(resp)
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("round robin spread = %v, want 5 each", seen)
	}
}

func TestProxyKeepsClientHeaders(t *testing.T) {
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	resp := h.do("GET", "/", map[string]string{
		"X-Forwarded-For": "10.1.1.1, 10.2.2.2",
		"X-Request-Id":    "abc-123",
		"Host":            "shop.example.com",
	})
	defer fasthttp.ReleaseResponse(resp)
	if got := string(resp.Header.Peek("X-Seen-Xff")); got != "10.1.1.1, 10.2.2.2, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client's list with 127.0.0.1 appended", got)
	}
	if got := string(resp.Header.Peek("X-Seen-Request-Id")); got != "abc-123" {
		t.Errorf("X-Request-Id = %q, want the client's abc-123", got)
	}
	if got := string(resp.Header.Peek("X-Seen-Host")); got != "shop.example.com" {
		t.Errorf("Host at target = %q, want shop.example.com", got)
	}
}

func TestHopByHopRemovedBothWays(t *testing.T) {
	a := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Connection", "X-Secret")
		ctx.Response.Header.Set("X-Secret", "1")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.SetBodyString("ok")
	})
	h := startLB(t, groupDoc("", a.addr))
	resp := h.do("GET", "/", map[string]string{"Connection": "X-Hop", "X-Hop": "secret", "Keep-Alive": "300"})
	defer fasthttp.ReleaseResponse(resp)
	if v := resp.Header.Peek("X-Seen-Hop"); len(v) != 0 {
		t.Errorf("target saw X-Hop = %q, want it removed (named in Connection)", v)
	}
	if v := resp.Header.Peek("X-Secret"); len(v) != 0 {
		t.Errorf("client saw X-Secret = %q, want it removed (named in Connection)", v)
	}
	if v := resp.Header.Peek("Keep-Alive"); len(v) != 0 {
		t.Errorf("client saw Keep-Alive = %q, want it removed", v)
	}
	if resp.ConnectionClose() {
		t.Error("response asks the client to close; want keep-alive")
	}
}

func TestFixedResponseRedirectAnd503(t *testing.T) {
	h := startLB(t, `kind: Listener
name: public
port: 1
rules:
  - priority: 1
    conditions: {pathPattern: ["/old/*"]}
    action: {redirect: {path: "/new/#{path}", statusCode: HTTP_301}}
  - priority: 2
    conditions: {pathPattern: ["/empty"]}
    action: {forward: {targetGroup: empty}}
defaultAction: {fixedResponse: {statusCode: 404, contentType: text/plain, messageBody: "no route"}}
---
kind: TargetGroup
name: empty
`)
	code, body, resp := h.get("/nothing")
	if code != 404 || body != "no route" {
		t.Errorf("GET /nothing = %d %q, want 404 \"no route\"", code, body)
	}
	fasthttp.ReleaseResponse(resp)

	code, _, resp = h.get("/old/page?q=1")
	loc := string(resp.Header.Peek("Location"))
	fasthttp.ReleaseResponse(resp)
	if code != 301 || !strings.Contains(loc, "/new/") || !strings.HasSuffix(loc, "?q=1") {
		t.Errorf("GET /old/page = %d Location %q, want 301 to /new/...?q=1", code, loc)
	}

	code, _, resp = h.get("/empty")
	fasthttp.ReleaseResponse(resp)
	if code != 503 {
		t.Errorf("GET /empty (no targets) = %d, want 503", code)
	}
	if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": "503"}); got != 1 {
		t.Errorf("gantry_http_code_elb_total{code=503} = %v, want 1", got)
	}
}

// TestHostRuleIgnoresTrailingDot: "admin.example.com." is the same host as
// "admin.example.com"; a host rule must not be passed by adding the dot.
func TestHostRuleIgnoresTrailingDot(t *testing.T) {
	h := startLB(t, `kind: Listener
name: public
port: 1
rules:
  - priority: 1
    conditions: {hostHeader: ["admin.example.com"]}
    action: {fixedResponse: {statusCode: 403, messageBody: "admin is blocked"}}
defaultAction: {fixedResponse: {statusCode: 200, messageBody: "public"}}
`)
	for _, host := range []string{"admin.example.com", "admin.example.com.", "ADMIN.example.com.:8080", "www.example.com.", "."} {
		raw := sendRaw(t, h.client.Addr, []byte("GET / HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"))
		want := "HTTP/1.1 200"
		if strings.HasPrefix(strings.ToLower(host), "admin") {
			want = "HTTP/1.1 403"
		}
		if !strings.HasPrefix(raw, want) {
			t.Errorf("Host %q: %q, want %s", host, strings.SplitN(raw, "\r\n", 2)[0], want)
		}
	}
}

func TestRetryOnDeadTarget(t *testing.T) {
	a := startBackend(t, "a", nil)
	dead := startBackend(t, "dead", nil)
	dead.kill()
	h := startLB(t, groupDoc("", a.addr, dead.addr))
	for i := 0; i < 20; i++ {
		code, body, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if code != 200 || body != "a" {
			t.Fatalf("request %d = %d %q, want 200 from a (dead target retried)", i, code, body)
		}
	}
	if got := h.metric("gantry_retries_total", map[string]string{"target_group": "web"}); got < 1 {
		t.Errorf("gantry_retries_total = %v, want >= 1", got)
	}
}

func TestPostNotRetriedAfterSend(t *testing.T) {
	// A target that reads the request and then closes without answering:
	// the POST reached it, so it must not be sent again.
	var posts atomic.Int64
	hangUp := func(c net.Conn) {
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _ := c.Read(buf); strings.Contains(string(buf[:n]), "payload") {
			posts.Add(1)
		}
		_ = c.Close()
	}
	h := startLB(t, groupDoc("", startRawBackend(t, hangUp), startRawBackend(t, hangUp)))
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod("POST")
	req.SetRequestURI("http://" + h.client.Addr + "/")
	req.SetBodyString("payload")
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := h.client.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 502 {
		t.Errorf("POST to a target that hangs up = %d, want 502", resp.StatusCode())
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("targets saw the POST %d times, want exactly 1", n)
	}
}

func TestStickyLBCookie(t *testing.T) {
	a := startBackend(t, "a", nil)
	b := startBackend(t, "b", nil)
	doc := strings.Replace(groupDoc("", a.addr, b.addr), "healthCheck:", "stickiness: {enabled: true}\nhealthCheck:", 1)
	h := startLB(t, doc)
	_, first, resp := h.get("/")
	cookie := string(resp.Header.PeekCookie(cookieLB))
	fasthttp.ReleaseResponse(resp)
	if cookie == "" {
		t.Fatal("no GANTRYLB cookie set")
	}
	var c fasthttp.Cookie
	if err := c.Parse(cookie); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		resp := h.do("GET", "/", map[string]string{"Cookie": cookieLB + "=" + string(c.Value())})
		if got := string(resp.Body()); got != first {
			t.Errorf("sticky request %d went to %q, want %q", i, got, first)
		}
		fasthttp.ReleaseResponse(resp)
	}
	// A forged cookie is ignored (re-pinned), never an error.
	forged := []byte(string(c.Value()))
	forged[5] ^= 1
	resp = h.do("GET", "/", map[string]string{"Cookie": cookieLB + "=" + string(forged)})
	if resp.StatusCode() != 200 || len(resp.Header.PeekCookie(cookieLB)) == 0 {
		t.Errorf("forged cookie: status %d, new cookie %q; want 200 and a fresh cookie", resp.StatusCode(), resp.Header.PeekCookie(cookieLB))
	}
	fasthttp.ReleaseResponse(resp)
}

// TestForwardedHeadersAnyCase: a client's X-Forwarded-* and X-Request-Id in
// any letter case are the same headers: X-Forwarded-For is appended to,
// X-Forwarded-Proto and -Port are replaced (never sent twice), the request
// id is kept.
// TestForwardedHeadersRepeated: a client that sends X-Forwarded-* or
// X-Request-Id several times must not get any of its lines past Gantry
// beside Gantry's own, or a target reading the last line would trust it.
func TestForwardedHeadersRepeated(t *testing.T) {
	a := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		var b strings.Builder
		for k, v := range ctx.Request.Header.All() {
			if strings.HasPrefix(strings.ToLower(string(k)), "x-forwarded-") || strings.EqualFold(string(k), "X-Request-Id") {
				fmt.Fprintf(&b, "%s=%s\n", k, v)
			}
		}
		ctx.SetBodyString(b.String())
	})
	h := startLB(t, groupDoc("", a.addr))
	got := sendRaw(t, h.client.Addr, []byte("GET / HTTP/1.1\r\nHost: x\r\n"+
		"X-Forwarded-For: 9.9.9.9\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For:\r\n"+
		"X-Forwarded-Proto: https\r\nx-forwarded-proto: https\r\n"+
		"X-Forwarded-Port: 443\r\nX-Forwarded-Port: 443\r\n"+
		"X-Request-Id: one\r\nX-Request-Id: two\r\n"+
		"Connection: close\r\n\r\n"))
	_, body, _ := strings.Cut(got, "\r\n\r\n")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	slices.Sort(lines)
	if len(lines) != 4 {
		t.Fatalf("target saw %d forwarding lines, want 4 (one each):\n%s", len(lines), body)
	}
	port := strconv.Itoa(h.port)
	if lines[0] != "X-Forwarded-For=9.9.9.9, 6.6.6.6, 127.0.0.1" || lines[1] != "X-Forwarded-Port="+port ||
		lines[2] != "X-Forwarded-Proto=http" || !strings.HasPrefix(lines[3], "X-Request-Id=") ||
		lines[3] == "X-Request-Id=one" || lines[3] == "X-Request-Id=two" {
		t.Errorf("target saw:\n%s", strings.Join(lines, "\n"))
	}
}

func TestForwardedHeadersAnyCase(t *testing.T) {
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	got := sendRaw(t, h.client.Addr, []byte("GET / HTTP/1.1\r\nHost: x\r\n"+
		"x-forwarded-for: 10.9.9.9\r\nX-FORWARDED-PROTO: gopher\r\nx-Forwarded-port: 1\r\nx-request-id: id-7\r\n"+
		"Connection: close\r\n\r\n"))
	for _, want := range []string{
		"X-Seen-Xff: 10.9.9.9, 127.0.0.1\r\n",
		"X-Seen-Proto: http\r\n",
		"X-Seen-Request-Id: id-7\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("response lacks %q:\n%s", strings.TrimSpace(want), got)
		}
	}
	if strings.Contains(got, "X-Seen-Port: 1\r\n") {
		t.Errorf("the client's X-Forwarded-Port reached the target:\n%s", got)
	}
}
