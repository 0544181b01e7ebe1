package balancer

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// loadGen sends GET / continuously from workers goroutines over one client
// whose pool holds at most workers keep-alive connections.
type loadGen struct {
	client *fasthttp.HostClient
	stop   chan struct{}
	wg     sync.WaitGroup

	ok, non2xx, errs atomic.Int64
	mu               sync.Mutex
	firstErr         string
}

func startLoad(t *testing.T, addr string, workers int) *loadGen {
	t.Helper()
	g := &loadGen{
		client: &fasthttp.HostClient{Addr: addr, MaxConns: workers, MaxIdemponentCallAttempts: 1,
			ReadTimeout: 5 * time.Second, MaxConnWaitTimeout: 5 * time.Second},
		stop: make(chan struct{}),
	}
	for i := 0; i < workers; i++ {
		g.wg.Add(1)
		go g.run()
	}
	t.Cleanup(g.halt)
	return g
}

func (g *loadGen) run() {
	defer g.wg.Done()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + g.client.Addr + "/")
	for {
		select {
		case <-g.stop:
			return
		default:
		}
		err := g.client.Do(req, resp)
		switch {
		case err != nil:
			g.errs.Add(1)
			g.note(err.Error())
		case resp.StatusCode()/100 != 2:
			g.non2xx.Add(1)
			g.note(fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body()))
		default:
			g.ok.Add(1)
		}
	}
}

func (g *loadGen) note(s string) {
	g.mu.Lock()
	if g.firstErr == "" {
		g.firstErr = s
	}
	g.mu.Unlock()
}

// halt stops the workers and waits for them; idempotent.
func (g *loadGen) halt() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
	g.client.CloseIdleConnections()
}

// progress waits until n more requests succeeded.
func (g *loadGen) progress(t *testing.T, n int64) {
	t.Helper()
	target := g.ok.Load() + n
	waitFor(t, 5*time.Second, "load to make progress", func() bool {
		return g.ok.Load() >= target || g.errs.Load()+g.non2xx.Load() > 0
	})
}

func (g *loadGen) check(t *testing.T) {
	t.Helper()
	if e, n := g.errs.Load(), g.non2xx.Load(); e != 0 || n != 0 {
		t.Errorf("under load: %d transport errors, %d non-2xx of %d requests (first: %s), want none",
			e, n, g.ok.Load()+e+n, g.firstErr)
	}
}

// reloadDoc is a listener whose rules and weights vary with i, over group
// web (targets a and b, checked) and, from i >= 5 on, a second group.
func reloadDoc(i int, a, b, c string, listenerExtra string) string {
	fwd := "{forward: {targetGroup: web}}"
	extra := ""
	if i >= 5 {
		fwd = fmt.Sprintf("{forward: {targetGroups: [{name: web, weight: %d}, {name: other, weight: %d}]}}", 10+i, 1+i%3)
		extra = fmt.Sprintf(`---
kind: TargetGroup
name: other
targets: [%q]
healthCheck: {enabled: false}
`, c)
	}
	return fmt.Sprintf(`kind: Listener
name: public
port: 1
%s
rules:
  - priority: %d
    conditions: {pathPattern: ["/fixed/%d/*"]}
    action: {fixedResponse: {statusCode: 200, messageBody: "fixed"}}
defaultAction: %s
---
kind: TargetGroup
name: web
targets: [%q, %q]
algorithm: %s
healthCheck: {intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2, path: /health}
%s`, listenerExtra, 1+i%7, i, fwd, a, b, []string{"round_robin", "least_outstanding_requests"}[i%2], extra)
}

func TestReloadUnderLoad(t *testing.T) {
	a := startBackend(t, "a", nil)
	b := startBackend(t, "b", nil)
	c := startBackend(t, "c", nil)
	const unit = 10 * time.Millisecond
	h := startLBChecked(t, reloadDoc(0, a.addr, b.addr, c.addr, ""), unit)
	waitFor(t, 5*time.Second, "targets a and b to become healthy", func() bool {
		sa, _ := stateOf(h, "web", a.addr)
		sb, _ := stateOf(h, "web", b.addr)
		return sa == "healthy" && sb == "healthy"
	})
	h.b.mu.Lock()
	ta := h.b.targets[targetKey{"web", a.addr}]
	h.b.mu.Unlock()

	const workers = 8
	load := startLoad(t, h.client.Addr, workers)
	load.progress(t, 50)
	for i := 1; i <= 20; i++ {
		h.update(reloadDoc(i, a.addr, b.addr, c.addr, ""))
		load.progress(t, 20)
		for _, addr := range []string{a.addr, b.addr} {
			if st, _ := stateOf(h, "web", addr); st != "healthy" {
				t.Fatalf("after update %d: unchanged target %s is %q, want healthy", i, addr, st)
			}
		}
	}
	load.halt()
	load.check(t)
	h.b.mu.Lock()
	same := h.b.targets[targetKey{"web", a.addr}] == ta
	h.b.mu.Unlock()
	if !same {
		t.Error("target a was rebuilt by the reloads, want the same long-lived object")
	}
	if got := h.metric("gantry_new_connections_total", map[string]string{"listener": "public"}); got > workers {
		t.Errorf("gantry_new_connections_total = %v, want <= %d (keep-alive connections survive reloads)", got, workers)
	}
}

// TestServerHandoverUnderLoad changes settings that make a new
// fasthttp.Server take over the socket: the old server answers each
// connection's next request with Connection: close and is shut down only once
// its connections are gone, so no client sees an error.
func TestServerHandoverUnderLoad(t *testing.T) {
	a := startBackend(t, "a", nil)
	b := startBackend(t, "b", nil)
	c := startBackend(t, "c", nil)
	h := startLBChecked(t, reloadDoc(0, a.addr, b.addr, c.addr, ""), 10*time.Millisecond)
	load := startLoad(t, h.client.Addr, 8)
	load.progress(t, 50)
	for i := 1; i <= 10; i++ {
		extra := fmt.Sprintf("idleTimeoutSeconds: %d\nlimits: {maxRequestHeaderBytes: %d}", 60+i, 65536-1024*i)
		h.update(reloadDoc(0, a.addr, b.addr, c.addr, extra))
		load.progress(t, 20)
	}
	load.halt()
	load.check(t)
}
