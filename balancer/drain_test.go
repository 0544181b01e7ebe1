package balancer

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// blockingBackend answers /slow only once release is called, telling
// entered when such a request arrives; other paths answer at once with its
// name. release is idempotent and also runs at cleanup, before the backend
// shuts down.
func blockingBackend(t *testing.T, name string) (b *testBackend, entered chan struct{}, release func()) {
	t.Helper()
	entered = make(chan struct{}, 16)
	gate := make(chan struct{})
	b = startBackend(t, name, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/slow" {
			entered <- struct{}{}
			<-gate
		}
		ctx.SetBodyString(name)
	})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return b, entered, release
}

func drainDoc(delay string, targets ...string) string {
	return strings.Replace(groupDoc("", targets...), "healthCheck:", "deregistrationDelaySeconds: "+delay+"\nhealthCheck:", 1)
}

// slowGet sends GET /slow on its own client and reports the outcome.
type result struct {
	code int
	body string
	err  error
}

func slowGet(h *lbHarness) chan result {
	out := make(chan result, 1)
	c := &fasthttp.HostClient{Addr: h.client.Addr, MaxIdemponentCallAttempts: 1, ReadTimeout: 10 * time.Second}
	go func() {
		defer c.CloseIdleConnections()
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + h.client.Addr + "/slow")
		err := c.Do(req, resp)
		out <- result{resp.StatusCode(), string(resp.Body()), err}
	}()
	return out
}

func TestDrainFinishesInFlightAndEndsEarly(t *testing.T) {
	old, entered, release := blockingBackend(t, "old")
	fresh := startBackend(t, "fresh", nil)
	h := startLB(t, drainDoc("30", old.addr))

	inflight := slowGet(h)
	<-entered // the request is at the old target
	h.update(drainDoc("30", fresh.addr))

	if st, n := stateOf(h, "web", old.addr); st != "draining" || n != 1 {
		t.Errorf("deregistered target: state %q in flight %d, want draining with 1", st, n)
	}
	before := old.hits.Load()
	for i := 0; i < 10; i++ {
		code, body, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if code != 200 || body != "fresh" {
			t.Fatalf("new request %d during drain = %d %q, want 200 from fresh", i, code, body)
		}
	}
	if got := old.hits.Load(); got != before {
		t.Errorf("draining target got %d new requests, want 0", got-before)
	}

	release()
	start := time.Now()
	r := <-inflight
	if r.err != nil || r.code != 200 || r.body != "old" {
		t.Errorf("in-flight request = %d %q (%v), want 200 \"old\"", r.code, r.body, r.err)
	}
	// deregistrationDelaySeconds is 30: the drain must end long before.
	waitFor(t, 3*time.Second, "the drained target to leave TargetHealth", func() bool {
		st, _ := stateOf(h, "web", old.addr)
		return st == ""
	})
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("drain ended %v after the last request, want at once", el)
	}
}

func TestDrainBoundedByDelay(t *testing.T) {
	hang, entered, release := blockingBackend(t, "hang")
	fresh := startBackend(t, "fresh", nil)
	h := startLB(t, drainDoc("1", hang.addr))

	inflight := slowGet(h)
	<-entered
	start := time.Now()
	h.update(drainDoc("1", fresh.addr))
	if st, _ := stateOf(h, "web", hang.addr); st != "draining" {
		t.Fatalf("deregistered target state %q, want draining", st)
	}
	waitFor(t, 5*time.Second, "the drain to give up after deregistrationDelaySeconds", func() bool {
		st, _ := stateOf(h, "web", hang.addr)
		return st == ""
	})
	if el := time.Since(start); el < 900*time.Millisecond || el > 3*time.Second {
		t.Errorf("drain of a hanging request ended after %v, want about 1s", el)
	}
	// The request still waiting is cut with the target's connections, as
	// ALB closes them: 502 now, not the target's answer whenever it comes,
	// and not sent again to another target.
	select {
	case r := <-inflight:
		if r.err != nil || r.code != fasthttp.StatusBadGateway {
			t.Errorf("request cut by the end of draining: %d %q %v, want 502", r.code, r.body, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the request waiting on a drained target was not cut when the deregistration delay ended")
	}
	// Gantry cut it, not the target: no connection error, no passive
	// failure against the address (a re-registration would inherit it).
	for _, m := range []string{"gantry_target_connection_errors_total", "gantry_target_passive_failures_total"} {
		if v := h.metric(m, map[string]string{"target_group": "web"}); v != 0 {
			t.Errorf("%s = %v after a request cut by the end of draining, want 0", m, v)
		}
	}
	release()
	if n := fresh.hits.Load(); n != 0 {
		t.Errorf("the cut request was sent again: fresh got %d requests", n)
	}
	// Nothing more reaches the drained target.
	before := hang.hits.Load()
	code, body, resp := h.get("/")
	fasthttp.ReleaseResponse(resp)
	if code != 200 || body != "fresh" || hang.hits.Load() != before {
		t.Errorf("after the drain: %d %q, drained target hits %d -> %d; want 200 from fresh and none", code, body, before, hang.hits.Load())
	}
}

// TestDrainCutsStreamedResponse: a streamed response still running from a
// deregistered target when the deregistration delay ends is cut (its
// connections closed), as ALB closes a target's remaining connections.
func TestDrainCutsStreamedResponse(t *testing.T) {
	endless := startBackend(t, "endless", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStream(io.LimitReader(zeros{}, 1<<40), -1)
	})
	fresh := startBackend(t, "fresh", nil)
	h := startLB(t, drainDoc("1", endless.addr))
	c := dialRaw(t, h.client.Addr, 30*time.Second)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, c) // until the stream is cut
		read <- err
	}()
	waitFor(t, 5*time.Second, "the download to start", func() bool {
		_, n := stateOf(h, "web", endless.addr)
		return n == 1
	})
	h.update(drainDoc("1", fresh.addr))
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the streamed response went on 10 s after a deregistration delay of 1 s")
	}
	waitFor(t, 5*time.Second, "the drained target to leave TargetHealth", func() bool {
		st, _ := stateOf(h, "web", endless.addr)
		return st == ""
	})
}

// TestReRegisteredWhileDraining: a target registered again before its drain
// ended is taken back, as ALB cancels a deregistration: the request it has
// in flight is not cut when the old delay runs out, and it is listed once.
func TestReRegisteredWhileDraining(t *testing.T) {
	hang, entered, release := blockingBackend(t, "hang")
	fresh := startBackend(t, "fresh", nil)
	h := startLB(t, drainDoc("1", hang.addr))
	inflight := slowGet(h)
	<-entered
	h.update(drainDoc("1", fresh.addr))
	if st, _ := stateOf(h, "web", hang.addr); st != "draining" {
		t.Fatalf("deregistered target state %q, want draining", st)
	}
	h.update(drainDoc("1", hang.addr, fresh.addr))
	ths, _ := h.b.TargetHealth("web")
	rows := 0
	for _, th := range ths {
		if th.Address == hang.addr {
			rows++
			if th.State == "draining" {
				t.Errorf("re-registered target still %s", th.State)
			}
		}
	}
	if rows != 1 {
		t.Errorf("re-registered target listed %d times, want once", rows)
	}
	// Past the old deregistration delay, the request is still in flight and
	// ends with the target's answer.
	select {
	case r := <-inflight:
		t.Fatalf("the request to the re-registered target ended early: %d %q %v", r.code, r.body, r.err)
	case <-time.After(1800 * time.Millisecond):
	}
	release()
	select {
	case r := <-inflight:
		if r.err != nil || r.code != 200 || r.body != "hang" {
			t.Errorf("request to the re-registered target: %d %q %v, want 200 from hang", r.code, r.body, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request to the re-registered target never ended")
	}
	// And it takes new requests again.
	before := hang.hits.Load()
	for range 4 {
		code, _, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if code != 200 {
			t.Fatalf("GET / after re-registration: %d", code)
		}
	}
	if hang.hits.Load() == before {
		t.Error("the re-registered target takes no new requests")
	}
}
