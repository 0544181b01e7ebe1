package balancer

import (
	"testing"

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
	h := startLB(t, groupDoc("", dead.addr, live.addr))
	const n = 40
	for i := 0; i < n; i++ {
		code, body, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if code != 200 || body != "live" {
			t.Fatalf("request %d = %d %q, want 200 from live", i, code, body)
		}
	}
	retries := h.metric("gantry_retries_total", map[string]string{"target_group": "web"})
	if retries < 1 || retries > n {
		t.Errorf("gantry_retries_total = %v, want between 1 and %d (one per request that met the dead target)", retries, n)
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
