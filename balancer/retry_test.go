package balancer

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestKillOneOfThreeUnderLoad(t *testing.T) {
	a := startBackend(t, "a", nil)
	b := startBackend(t, "b", nil)
	c := startBackend(t, "c", nil)
	h := startLB(t, groupDoc("", a.addr, b.addr, c.addr))
	load := startLoad(t, h.client.Addr, 8)
	load.progress(t, 100)
	b.kill()
	load.progress(t, 300)
	load.halt()
	load.check(t)
	if hits := b.hits.Load(); hits == 0 {
		t.Error("target b got no requests before it was killed; the test proves nothing")
	}
}

func TestRetryGoesToAnotherTarget(t *testing.T) {
	// A dead target and a live one: a request that meets the dead target is
	// retried once, on a target other than the one that failed; a retry that
	// repeated the failed target would show as a 502.
	live := startBackend(t, "live", nil)
	dead := startBackend(t, "dead", nil)
	dead.kill()
	// Outlier detection off: the dead target stays in the rotation.
	h := startLB(t, groupDoc("outlierDetection: {consecutiveFailures: 1000}\n", dead.addr, live.addr))
	const n = 40
	for i := 0; i < n; i++ {
		code, body, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if code != 200 || body != "live" {
			t.Fatalf("request %d = %d %q, want 200 from live", i, code, body)
		}
	}
	// Round robin gives the dead target every other request: a retry's
	// pick takes no turn of the rotation (it did, and then every request
	// met the dead target first).
	retries := h.metric("gantry_retries_total", map[string]string{"target_group": "web"})
	if retries < 1 || retries > n/2+1 {
		t.Errorf("gantry_retries_total = %v, want between 1 and %d (one per request whose turn was the dead target's)", retries, n/2+1)
	}
}

func TestPickExcludesFailedTarget(t *testing.T) {
	for _, alg := range []string{"round_robin", "least_outstanding_requests", "weighted_random"} {
		for _, healthy := range []bool{true, false} {
			g := testGroup(t, alg, 3, healthy)
			now := nowNanos()
			for i := 0; i < 300; i++ {
				ex := g.targets[i%3]
				if got := g.pick(ex, now); got == nil || got == ex {
					t.Fatalf("%s (healthy=%v): pick(exclude %s) = %v, want another target", alg, healthy, ex.addr, got)
				}
			}
		}
	}
}

// TestIdleClosedTargetConnectionNotReused: a target that closes keep-alive
// connections it finds idle (as Node.js does after 5 s) must not cost a 502
// on the first request after a pause, with one target or several.
func TestIdleClosedTargetConnectionNotReused(t *testing.T) {
	const targetIdle = 500 * time.Millisecond // > idleCheckAfter + a scan tick
	closed := make(chan struct{}, 64)
	idleClosing := func(c net.Conn) {
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				_ = c.SetReadDeadline(time.Now().Add(targetIdle))
				if _, err := http.ReadRequest(br); err != nil {
					closed <- struct{}{}
					return
				}
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
					return
				}
			}
		}()
	}
	for _, n := range []int{1, 2} {
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = startRawBackend(t, idleClosing)
		}
		h := startLB(t, groupDoc("", addrs...))
		for round := range 3 {
			for i := range n {
				if code, body, _ := h.get("/"); code != 200 || body != "ok" {
					t.Fatalf("%d targets, round %d, request %d: %d %q, want 200 \"ok\"", n, round, i, code, body)
				}
			}
			for range n { // every pooled connection is now closed by its target
				select {
				case <-closed:
				case <-time.After(5 * time.Second):
					t.Fatal("the target did not close its idle connection")
				}
			}
		}
	}
}

// TestOutlierEjectionCounted: a passive ejection shows in
// gantry_outlier_ejections_total on the balancer's registry.
func TestOutlierEjectionCounted(t *testing.T) {
	good := startBackend(t, "good", nil)
	bad := startBackend(t, "bad", func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(500) })
	h := startLB(t, groupDoc("outlierDetection: {consecutiveFailures: 2}\n", good.addr, bad.addr))
	for range 6 {
		h.get("/")
	}
	if got := h.metric("gantry_outlier_ejections_total", nil); got != 1 {
		t.Errorf("gantry_outlier_ejections_total = %v, want 1", got)
	}
}

// TestStaleConnectionToOnlyTargetRetried: a pooled connection its target
// closed just before the next request (a restart, a close racing the send,
// too recent for the idle check) costs no 502 even when the group has one
// target: the request goes once more to that target on a fresh connection,
// and is not counted as a retry (it never reached a live server).
func TestStaleConnectionToOnlyTargetRetried(t *testing.T) {
	served := make(chan struct{}, 64)
	oneShot := func(c net.Conn) { // answers one request, keep-alive, then closes
		go func() {
			defer c.Close()
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			served <- struct{}{}
		}()
	}
	h := startLB(t, groupDoc("", startRawBackend(t, oneShot)))
	for i := range 5 {
		code, body, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if code != 200 || body != "ok" {
			t.Fatalf("request %d on a connection the target closed: %d %q, want 200", i, code, body)
		}
		<-served
	}
	if got := h.metric("gantry_retries_total", map[string]string{"target_group": "web"}); got != 0 {
		t.Errorf("gantry_retries_total = %v, want 0", got)
	}
	// A GET that declares an empty body (Content-Length: 0, which the server
	// streams) is as safe to send again.
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	br := bufio.NewReader(c)
	for i, head := range []string{"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"} {
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("raw request %d on a connection the target closed: %d, want 200", i, resp.StatusCode)
		}
		<-served // answered 200: the target served it
	}
	// A POST gets a pooled connection that is checked first (it could not
	// be sent again): the closed one is skipped, and the target serves it.
	resp := h.do("POST", "/", nil)
	defer fasthttp.ReleaseResponse(resp)
	if resp.StatusCode() != 200 {
		t.Errorf("POST after the target closed its pooled connection: %d, want 200", resp.StatusCode())
	}
	<-served
	// A POST that reached a target which then closed without answering is
	// not repeated: it may have been acted on.
	var got atomic.Int32
	swallow := func(c net.Conn) {
		go func() {
			defer c.Close()
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				got.Add(1)
			}
		}()
	}
	h2 := startLB(t, groupDoc("", startRawBackend(t, swallow)))
	resp2 := h2.do("POST", "/", nil)
	defer fasthttp.ReleaseResponse(resp2)
	if resp2.StatusCode() != 502 || got.Load() != 1 {
		t.Errorf("POST the target took and dropped: %d after %d deliveries, want 502 after 1 (not repeated)", resp2.StatusCode(), got.Load())
	}
}
