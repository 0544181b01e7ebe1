package balancer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/accesslog"
)

// wsDoc is a listener with the given idle timeout forwarding to group "web"
// with the given deregistration delay; extra is appended to the group.
func wsDoc(idle, delay int, extra string, targets ...string) string {
	return fmt.Sprintf(`kind: Listener
name: public
port: 1
idleTimeoutSeconds: %d
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: [%s]
deregistrationDelaySeconds: %d
healthCheck: {enabled: false}
%s`, idle, quoteList(targets), delay, extra)
}

func TestWebSocketEcho(t *testing.T) {
	echo := startEcho(t, "e1")
	log := &wsLog{}
	h := startLB(t, wsDoc(60, 30, "", echo), func(o *Options) { o.AccessLog = log })
	c, hdr := dialWS(t, h, "/ws?x=1", nil)
	c.SetReadLimit(1 << 20)
	if got := hdr.Get("X-Echo-Server"); got != "e1" {
		t.Errorf("101 header X-Echo-Server = %q, want the target's e1", got)
	}
	for i := 0; i < 5; i++ {
		echoOnce(t, c, fmt.Sprintf("hello %d", i), 5*time.Second)
	}
	// Binary frames full of LFs must not trip the client side's bare-LF scan.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bin := bytes.Repeat([]byte("a\nb\r\nGET / HTTP/1.1\n\n"), 5000)
	if err := c.Write(ctx, websocket.MessageBinary, bin); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("binary echo of %d bytes: got %d (%v)", len(bin), len(got), err)
	}
	lbl := map[string]string{"listener": "public"}
	if got := h.metric("gantry_websocket_active_connections", lbl); got != 1 {
		t.Errorf("active WebSockets = %v, want 1", got)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("close: %v", err)
	}
	waitFor(t, 5*time.Second, "the WebSocket to be logged", func() bool {
		es, _ := log.all()
		return len(es) == 1
	})
	es, hosts := log.all()
	e := es[0]
	if e.Type != accesslog.TypeWS || e.ELBStatusCode != 101 || e.TargetGroup != "web" ||
		e.ReceivedBytes < int64(len(bin)) || e.SentBytes < int64(len(bin)) || hosts[0] != h.client.Addr+"/ws?x=1" {
		t.Errorf("access log = type %v status %d group %q bytes %d/%d request %q", e.Type, e.ELBStatusCode,
			e.TargetGroup, e.ReceivedBytes, e.SentBytes, hosts[0])
	}
	if got := h.metric("gantry_websocket_active_connections", lbl); got != 0 {
		t.Errorf("active WebSockets after close = %v, want 0", got)
	}
	if got := h.metric("gantry_websocket_connections_total", lbl); got != 1 {
		t.Errorf("WebSockets total = %v, want 1", got)
	}
	for _, dir := range []string{"client_to_target", "target_to_client"} {
		if got := h.metric("gantry_websocket_processed_bytes_total", map[string]string{"listener": "public", "direction": dir}); got < float64(len(bin)) {
			t.Errorf("processed bytes %s = %v, want >= %d", dir, got, len(bin))
		}
	}
	if st, n := stateOf(h, "web", echo); st == "" || n != 0 {
		t.Errorf("target after the WebSocket: state %q in flight %d, want 0 in flight", st, n)
	}
}

func TestWebSocketStickyUpgrade(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	h := startLB(t, wsDoc(60, 30, "stickiness: {enabled: true, type: lb_cookie}\n", a, b))
	for i := 0; i < 6; i++ {
		resp := h.do("GET", "/poll", nil)
		pinned := string(resp.Header.Peek("X-Echo-Server"))
		cookie := ""
		for k, v := range resp.Header.Cookies() {
			if string(k) == cookieLB {
				c := fasthttp.AcquireCookie()
				_ = c.ParseBytes(v)
				cookie = cookieLB + "=" + string(c.Value())
				fasthttp.ReleaseCookie(c)
			}
		}
		fasthttp.ReleaseResponse(resp)
		if cookie == "" {
			t.Fatal("no stickiness cookie on a normal response")
		}
		for j := 0; j < 3; j++ {
			c, hdr := dialWS(t, h, "/ws", http.Header{"Cookie": {cookie}})
			if got := hdr.Get("X-Echo-Server"); got != pinned {
				t.Fatalf("upgrade with the cookie of %s reached %s", pinned, got)
			}
			echoOnce(t, c, "sticky", 5*time.Second)
			_ = c.CloseNow()
		}
	}
}

func TestWebSocketBadUpgrades(t *testing.T) {
	echo := startEcho(t, "e")
	h := startLB(t, wsDoc(60, 30, "", echo))
	addr := h.client.Addr
	noKey := "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"
	cases := []struct {
		name string
		raw  string
		want int
	}{
		{"missing key", noKey, 400},
		{"short key", strings.Replace(rawUpgrade("/ws"), "dGhlIHNhbXBsZSBub25jZQ==", "abc", 1), 400},
		{"missing version", strings.Replace(rawUpgrade("/ws"), "Sec-WebSocket-Version: 13\r\n", "", 1), 400},
		{"POST", strings.Replace(rawUpgrade("/ws", "Content-Length: 0\r\n"), "GET", "POST", 1), 400},
		{"HTTP/1.0", strings.Replace(rawUpgrade("/ws"), "HTTP/1.1", "HTTP/1.0", 1), 400},
		{"with a body", rawUpgrade("/ws", "Content-Length: 3\r\n") + "abc", 400},
		// Another protocol's upgrade is stripped: the target answers plainly.
		{"h2c", "GET /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n", 200},
		{"version 8", strings.Replace(rawUpgrade("/ws"), "Version: 13", "Version: 8", 1), 426},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rawStatus(t, addr, c.raw); got != c.want {
				t.Errorf("status = %d, want %d", got, c.want)
			}
		})
	}
}

func TestWebSocketRefusedUpgradeRelayed(t *testing.T) {
	for _, code := range []int{403, 200, 503, 204} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			be := startBackend(t, "refuser", func(ctx *fasthttp.RequestCtx) {
				ctx.SetStatusCode(code)
				ctx.Response.Header.Set("X-Why", "no sockets here")
				ctx.SetBodyString("refused by target\n")
			})
			h := startLB(t, wsDoc(60, 30, "", be.addr))
			c := dialRaw(t, h.client.Addr, 5*time.Second)
			if _, err := io.WriteString(c, rawUpgrade("/ws")); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			got, hdr, err := readStatus(br)
			if err != nil || got != code {
				t.Fatalf("status = %d (%v), want the target's %d", got, err, code)
			}
			joined := strings.Join(hdr, "\n")
			if !strings.Contains(joined, "X-Why: no sockets here") || strings.Contains(strings.ToLower(joined), "upgrade:") {
				t.Errorf("relayed headers = %q, want X-Why and no Upgrade", hdr)
			}
			if code == 204 {
				return
			}
			body := make([]byte, len("refused by target\n"))
			if _, err := io.ReadFull(br, body); err != nil || string(body) != "refused by target\n" {
				t.Errorf("body = %q (%v)", body, err)
			}
			if st, n := stateOf(h, "web", be.addr); st == "" || n != 0 {
				t.Errorf("in flight after a refused upgrade = %d, want 0", n)
			}
		})
	}
}

// TestWebSocketUpgradeAnswerAsSent: the target's answer to an upgrade,
// 101 or not, reaches the client without headers it did not send.
func TestWebSocketUpgradeAnswerAsSent(t *testing.T) {
	for _, code := range []int{101, 426} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			addr := startRawBackend(t, func(c net.Conn) {
				go func() {
					defer c.Close()
					_, key := serveHandshake(c)
					if code == 101 {
						_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
							"Sec-WebSocket-Accept: "+string(wsAccept([]byte(key)))+"\r\nX-Mine: 1\r\n\r\n")
						_, _ = io.Copy(io.Discard, c)
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 426 Upgrade Required\r\nX-Mine: 1\r\nContent-Length: 4\r\n\r\nnope")
				}()
			})
			h := startLB(t, wsDoc(60, 30, "", addr))
			c := dialRaw(t, h.client.Addr, 5*time.Second)
			if _, err := io.WriteString(c, rawUpgrade("/ws")); err != nil {
				t.Fatal(err)
			}
			got, hdr, err := readStatus(bufio.NewReader(c))
			if err != nil || got != code {
				t.Fatalf("status = %d (%v), want %d", got, err, code)
			}
			joined := strings.ToLower(strings.Join(hdr, "\n"))
			if !strings.Contains(joined, "x-mine: 1") || strings.Contains(joined, "content-type") {
				t.Errorf("relayed head = %q, want X-Mine and no Content-Type", hdr)
			}
		})
	}
}

func TestWebSocketWrongAccept(t *testing.T) {
	addr := startRawBackend(t, func(c net.Conn) {
		defer c.Close()
		serveHandshake(c)
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: bm9wZQ==\r\n\r\n")
	})
	h := startLB(t, wsDoc(60, 30, "", addr))
	if got := rawStatus(t, h.client.Addr, rawUpgrade("/ws")); got != 502 {
		t.Errorf("status for a 101 with a wrong accept = %d, want 502", got)
	}
}

// A target that sends a frame in the same write as its 101: the frame sits
// in the proxy's reader behind the head and must reach the client.
func TestWebSocketFramesRightAfter101(t *testing.T) {
	addr := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_, key := serveHandshake(c)
			msg := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Accept: " + string(wsAccept([]byte(key))) + "\r\n\r\n" +
				"\x81\x05early" + "\x81\x06second"
			_, _ = io.WriteString(c, msg)
			_, _ = io.Copy(io.Discard, c)
		}()
	})
	h := startLB(t, wsDoc(60, 30, "", addr))
	c, _ := dialWS(t, h, "/ws", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []string{"early", "second"} {
		if _, got, err := c.Read(ctx); err != nil || string(got) != want {
			t.Fatalf("read = %q (%v), want %q", got, err, want)
		}
	}
}

func TestWebSocketIdleTimeout(t *testing.T) {
	echo := startEcho(t, "e")
	h := startLB(t, wsDoc(1, 30, "", echo))
	c, _ := dialWS(t, h, "/ws", nil)
	echoOnce(t, c, "ping", 5*time.Second)
	err, took := readErr(c, 10*time.Second)
	if took < 900*time.Millisecond || took > 4*time.Second {
		t.Errorf("idle WebSocket closed after %v (%v), want about 1-1.25s", took, err)
	}
	waitFor(t, 5*time.Second, "the idle WebSocket to be counted closed", func() bool {
		return h.metric("gantry_websocket_active_connections", map[string]string{"listener": "public"}) == 0
	})
}

func TestWebSocketDrainSendsGoingAway(t *testing.T) {
	old, fresh := startEcho(t, "old"), startEcho(t, "fresh")
	h := startLB(t, wsDoc(60, 1, "", old))
	c, _ := dialWS(t, h, "/ws", nil)
	echoOnce(t, c, "before", 5*time.Second)

	start := time.Now()
	h.update(wsDoc(60, 1, "", fresh))
	// The WebSocket keeps the drain going and keeps working meanwhile.
	echoOnce(t, c, "during", 5*time.Second)
	if st, n := stateOf(h, "web", old); st != "draining" || n != 1 {
		t.Errorf("deregistered target with a WebSocket: state %q in flight %d, want draining with 1", st, n)
	}
	err, _ := readErr(c, 10*time.Second)
	el := time.Since(start)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("close status = %v (%v), want 1001 going away", got, err)
	}
	if el < 900*time.Millisecond || el > 4*time.Second {
		t.Errorf("WebSocket closed %v after deregistration, want about deregistrationDelaySeconds (1s)", el)
	}
	waitFor(t, 5*time.Second, "the drained target to leave", func() bool {
		st, _ := stateOf(h, "web", old)
		return st == ""
	})
	c2, hdr := dialWS(t, h, "/ws", nil)
	if got := hdr.Get("X-Echo-Server"); got != "fresh" {
		t.Errorf("new WebSocket went to %q, want fresh", got)
	}
	echoOnce(t, c2, "after", 5*time.Second)
}

// A drain that ends while the target is in the middle of a frame waits a
// short while for the frame's end, then closes without a close frame rather
// than corrupt the stream.
func TestWebSocketDrainMidFrame(t *testing.T) {
	sent := make(chan struct{})
	addr := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_, key := serveHandshake(c)
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Accept: "+string(wsAccept([]byte(key)))+"\r\n\r\n\x81\x0ahalf")
			close(sent)
			_, _ = io.Copy(io.Discard, c)
		}()
	})
	h := startLB(t, wsDoc(60, 0, "", addr))
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	if _, err := io.WriteString(c, rawUpgrade("/ws")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if code, _, err := readStatus(br); code != 101 {
		t.Fatalf("status %d (%v), want 101", code, err)
	}
	<-sent
	start := time.Now()
	h.update(wsDoc(60, 0, "", startEcho(t, "other")))
	rest, _ := io.ReadAll(br)
	el := time.Since(start)
	if string(rest) != "\x81\x0ahalf" {
		t.Errorf("client got %q after the 101, want the half frame and no close frame", rest)
	}
	if el < goAwayGrace-100*time.Millisecond || el > goAwayGrace+3*time.Second {
		t.Errorf("mid-frame WebSocket closed after %v, want about %v", el, goAwayGrace)
	}
}

func TestWebSocketShutdownSendsGoingAway(t *testing.T) {
	echo := startEcho(t, "e")
	h := startLB(t, wsDoc(60, 30, "", echo))
	c, _ := dialWS(t, h, "/ws", nil)
	echoOnce(t, c, "hi", 5*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); h.stop() }()
	err, took := readErr(c, 10*time.Second)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("close status at shutdown = %v (%v), want 1001", got, err)
	}
	if took > 5*time.Second {
		t.Errorf("shutdown closed the WebSocket after %v", took)
	}
	<-done
}

func TestWebSocketSurvivesReload(t *testing.T) {
	echo := startEcho(t, "e")
	doc := wsDoc(60, 30, "", echo)
	h := startLB(t, doc)
	c, _ := dialWS(t, h, "/ws", nil)
	echoOnce(t, c, "one", 5*time.Second)
	h.update(doc)
	echoOnce(t, c, "unchanged", 5*time.Second)
	// New server settings hand the socket to a new server; the old one
	// retires without touching hijacked connections.
	changed := strings.Replace(doc, "idleTimeoutSeconds: 60", "idleTimeoutSeconds: 50", 1)
	changed = strings.Replace(changed, "defaultAction:", "rules:\n  - priority: 5\n    conditions: {pathPattern: [/fixed]}\n    action: {fixedResponse: {statusCode: 204}}\ndefaultAction:", 1)
	h.update(changed)
	echoOnce(t, c, "changed", 5*time.Second)
	code, _, resp := h.get("/fixed")
	fasthttp.ReleaseResponse(resp)
	if code != 204 {
		t.Errorf("new rule answered %d, want 204", code)
	}
	time.Sleep(0) // yield once; the retire goroutine polls connection counts
	echoOnce(t, c, "still", 5*time.Second)
}

func TestACMEChallenge(t *testing.T) {
	be := startBackend(t, "app", nil)
	var asked []string
	h := startLB(t, wsDoc(60, 30, "", be.addr), func(o *Options) {
		o.ACMEChallenge = func(host, path string) ([]byte, bool) {
			asked = append(asked, host+" "+path)
			if path == "/.well-known/acme-challenge/tok" {
				return []byte("tok.thumb"), true
			}
			return nil, false
		}
	})
	resp := h.do("GET", "/.well-known/acme-challenge/tok", map[string]string{"Host": "shop.example.com:8080"})
	if resp.StatusCode() != 200 || string(resp.Body()) != "tok.thumb" || string(resp.Header.ContentType()) != "text/plain" {
		t.Errorf("challenge answer = %d %q %q", resp.StatusCode(), resp.Body(), resp.Header.ContentType())
	}
	fasthttp.ReleaseResponse(resp)
	if len(asked) != 1 || asked[0] != "shop.example.com /.well-known/acme-challenge/tok" {
		t.Errorf("hook asked with %q", asked)
	}
	code, body, resp := h.get("/.well-known/acme-challenge/other")
	fasthttp.ReleaseResponse(resp)
	if code != 200 || body != "app" {
		t.Errorf("unknown token = %d %q, want routed to the target", code, body)
	}
	code, body, resp = h.get("/x")
	fasthttp.ReleaseResponse(resp)
	if code != 200 || body != "app" || len(asked) != 2 {
		t.Errorf("ordinary path = %d %q, hook calls %d; want routed without asking", code, body, len(asked))
	}
}

// A client that sends a frame in the same write as its upgrade: fasthttp
// has it buffered behind the head when the connection is hijacked.
func TestWebSocketClientFrameWithUpgrade(t *testing.T) {
	echo := startEcho(t, "e")
	h := startLB(t, wsDoc(60, 30, "", echo))
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	frame := "\x81\x82\x01\x02\x03\x04" + string([]byte{'h' ^ 1, 'i' ^ 2})
	if _, err := io.WriteString(c, rawUpgrade("/ws")+frame); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if code, _, err := readStatus(br); code != 101 {
		t.Fatalf("status %d (%v), want 101", code, err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "\x81\x02hi" {
		t.Fatalf("echo of the early frame = %q (%v)", got, err)
	}
}

// Frames are not request heads: a payload that looks like a bare-LF request
// (sent with an all-zero mask, so it is on the wire as written) must not be
// refused by the desync scan of the client connection.
func TestWebSocketFramesSkipDesyncScan(t *testing.T) {
	echo := startEcho(t, "e")
	h := startLB(t, wsDoc(60, 30, "", echo))
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	if _, err := io.WriteString(c, rawUpgrade("/ws")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if code, _, err := readStatus(br); code != 101 {
		t.Fatalf("status %d (%v), want 101", code, err)
	}
	payload := "GET / HTTP/1.1\nHost: x\n\n"
	for i := 0; i < 3; i++ {
		frame := append([]byte{0x81, byte(0x80 | len(payload)), 0, 0, 0, 0}, payload...)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 2+len(payload))
		if _, err := io.ReadFull(br, got); err != nil || string(got[2:]) != payload {
			t.Fatalf("echo %d = %q (%v), want the payload back", i, got, err)
		}
	}
	if n := h.metric("gantry_desync_nonconforming_requests_total", map[string]string{"class": "severe"}); n != 0 {
		t.Errorf("severe desync count = %v, want 0", n)
	}
}

// Frames a target sends right behind its 101 reach the client before the
// pipe starts; they are target-to-client bytes all the same, in the access
// log's sent_bytes and in the byte metric, as the client's early frames are
// in received_bytes.
func TestWebSocketEarlyFramesCounted(t *testing.T) {
	const early = "\x81\x05early"
	addr := startRawBackend(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			_, key := serveHandshake(c)
			msg := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Accept: " + string(wsAccept([]byte(key))) + "\r\n\r\n" + early
			_, _ = io.WriteString(c, msg)
			_, _ = io.Copy(io.Discard, c)
		}()
	})
	log := &wsLog{}
	h := startLB(t, wsDoc(60, 30, "", addr), func(o *Options) { o.AccessLog = log })
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	if _, err := io.WriteString(c, rawUpgrade("/ws")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if code, _, err := readStatus(br); code != 101 {
		t.Fatalf("status %d (%v), want 101", code, err)
	}
	got := make([]byte, len(early))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != early {
		t.Fatalf("early frame = %q (%v)", got, err)
	}
	_ = c.Close()
	waitFor(t, 5*time.Second, "the WebSocket to be logged", func() bool {
		es, _ := log.all()
		return len(es) == 1
	})
	es, _ := log.all()
	if es[0].SentBytes != int64(len(early)) {
		t.Errorf("sent_bytes = %d, want the %d bytes of the early frame", es[0].SentBytes, len(early))
	}
	lbl := map[string]string{"listener": "public", "direction": "target_to_client"}
	if got := h.metric("gantry_websocket_processed_bytes_total", lbl); got != float64(len(early)) {
		t.Errorf("processed bytes target_to_client = %v, want %d", got, len(early))
	}
}

// A Connection list split over two field lines is one list (RFC 9110
// section 5.3): "Connection: keep-alive" then "Connection: Upgrade" asks
// for the upgrade as "Connection: keep-alive, Upgrade" does.
func TestWebSocketConnectionOverTwoLines(t *testing.T) {
	echo := startEcho(t, "e")
	h := startLB(t, wsDoc(60, 30, "", echo))
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	req := "GET /ws HTTP/1.1\r\nHost: lb.test\r\nConnection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if code, _, err := readStatus(br); code != 101 {
		t.Fatalf("status %d (%v), want 101", code, err)
	}
	frame := "\x81\x82\x01\x02\x03\x04" + string([]byte{'h' ^ 1, 'i' ^ 2})
	if _, err := io.WriteString(c, frame); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "\x81\x02hi" {
		t.Fatalf("echo = %q (%v)", got, err)
	}
}

// A target's non-101 answer to an upgrade is relayed as any response is,
// however large and however framed: a body over maxUpgradeBody (or chunked,
// or close-delimited) is streamed, not refused with a 502 that would also
// count against the target.
func TestWebSocketLargeRefusalRelayed(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), (2*maxUpgradeBody)/16+1)
	for _, framing := range []string{"length", "chunked", "close"} {
		t.Run(framing, func(t *testing.T) {
			addr := startRawBackend(t, func(c net.Conn) {
				go func() {
					defer c.Close()
					serveHandshake(c)
					switch framing {
					case "length":
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
						_, _ = c.Write(body)
					case "chunked":
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
						for rest := body; len(rest) > 0; {
							n := min(len(rest), 100000)
							fmt.Fprintf(c, "%x\r\n", n)
							_, _ = c.Write(rest[:n])
							_, _ = io.WriteString(c, "\r\n")
							rest = rest[n:]
						}
						_, _ = io.WriteString(c, "0\r\n\r\n")
					case "close":
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
						_, _ = c.Write(body)
					}
				}()
			})
			log := &captureLog{}
			h := startLB(t, wsDoc(60, 30, "", addr), func(o *Options) { o.AccessLog = log })
			c := dialRaw(t, h.client.Addr, 10*time.Second)
			if _, err := io.WriteString(c, rawUpgrade("/ws")); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || err != nil || !bytes.Equal(got, body) {
				t.Fatalf("answer = %d with %d body bytes (%v), want 200 with the target's %d", resp.StatusCode, len(got), err, len(body))
			}
			waitFor(t, 5*time.Second, "the response to be logged", func() bool { return len(log.all()) == 1 })
			if e := log.all()[0]; e.ELBStatusCode != 200 || e.SentBytes < int64(len(body)) {
				t.Errorf("access log: status %d sent %d, want 200 and at least %d", e.ELBStatusCode, e.SentBytes, len(body))
			}
			if n := h.metric("gantry_target_passive_failures_total", map[string]string{"target_group": "web"}); n != 0 {
				t.Errorf("passive failures = %v, want 0: the target answered", n)
			}
			waitFor(t, 5*time.Second, "nothing in flight", func() bool {
				_, n := stateOf(h, "web", addr)
				return n == 0
			})
		})
	}
}
