package balancer

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/health"
	"github.com/gantrylb/gantry/spec"
)

// testGroup builds a group of n targets (addresses t0..tn-1) without sockets.
// Healthy targets are marked so by a health.Checker with checks disabled;
// the others stay initial, which is not available.
func testGroup(t *testing.T, algorithm string, n int, healthy bool) *group {
	t.Helper()
	m := newMetrics(nil, nil)
	g := &group{
		name: "g", sel: newSelector(algorithm), byID: map[uint64]*target{},
		failOpenCounter: m.failOpen.WithLabelValues("g"),
		retryCounter:    m.retries.WithLabelValues("g"),
		stickyHits:      m.stickyHits.WithLabelValues("g"),
	}
	off := false
	hg := health.Group{Name: "g", Check: spec.HealthCheck{Enabled: &off}}
	for i := 0; i < n; i++ {
		tg := newTarget("g", "t"+string(rune('0'+i))+":1", upstreamTuning{maxConns: 1}, m)
		g.targets = append(g.targets, tg)
		g.weights = append(g.weights, 1)
		g.byID[tg.id] = tg
		hg.Targets = append(hg.Targets, health.Target{Address: tg.addr, Status: &tg.status})
	}
	if healthy {
		health.NewChecker(health.CheckerConfig{}).Set([]health.Group{hg})
	}
	return g
}

func TestLeastOutstandingPrefersIdle(t *testing.T) {
	g := testGroup(t, spec.AlgorithmLeastOutstandingRequests, 3, true)
	g.targets[0].inflight.Store(5)
	g.targets[2].inflight.Store(2)
	now := nowNanos()
	for i := 0; i < 50; i++ {
		if got := g.pick(nil, now); got != g.targets[1] {
			t.Fatalf("pick %d = %s, want the idle target %s", i, got.addr, g.targets[1].addr)
		}
	}
}

func TestLeastOutstandingThroughBalancer(t *testing.T) {
	busy, entered, release := blockingBackend(t, "busy")
	idle := startBackend(t, "idle", nil)
	doc := strings.Replace(groupDoc("", busy.addr, idle.addr), "targets:", "algorithm: least_outstanding_requests\ntargets:", 1)
	h := startLBChecked(t, doc, 10*time.Millisecond)
	// Send /slow until one parks on busy (idle answers it at once); then
	// every new request must go to idle.
	var pending []chan result
	for parked := false; !parked; {
		p := slowGet(h)
		select {
		case <-entered:
			pending = append(pending, p)
			parked = true
		case <-p:
		case <-time.After(5 * time.Second):
			t.Fatal("no request reached the busy target")
		}
	}
	for i := 0; i < 20; i++ {
		_, body, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if body != "idle" {
			t.Fatalf("request %d went to %q while busy had a request in flight, want idle", i, body)
		}
	}
	release()
	for _, p := range pending {
		<-p
	}
}

func TestWeightedRandomRespectsWeights(t *testing.T) {
	g := testGroup(t, spec.AlgorithmWeightedRandom, 3, true)
	g.weights = []int{1, 3, 6}
	counts := map[*target]int{}
	const n = 100000
	now := nowNanos()
	for i := 0; i < n; i++ {
		counts[g.pick(nil, now)]++
	}
	for i, tg := range g.targets {
		want := float64(g.weights[i]) / 10
		got := float64(counts[tg]) / n
		// 100k draws: the standard deviation is below 0.0016; 0.02 is >12 sigma.
		if math.Abs(got-want) > 0.02 {
			t.Errorf("target %d (weight %d) got share %.3f, want %.3f ± 0.02", i, g.weights[i], got, want)
		}
	}
}

func TestSlowStartRamp(t *testing.T) {
	g := testGroup(t, spec.AlgorithmRoundRobin, 2, true)
	g.slowStart = int64(100 * time.Second)
	fresh, old := g.targets[0], g.targets[1]
	const t0 = int64(1_000_000_000_000)
	fresh.availableSince.Store(t0)
	cases := []struct {
		at   time.Duration
		want float64
	}{
		{0, 0.02}, {time.Second, 0.02}, {10 * time.Second, 0.1}, {50 * time.Second, 0.5},
		{99 * time.Second, 0.99}, {100 * time.Second, 1}, {time.Hour, 1},
	}
	for _, c := range cases {
		if got := g.rampFraction(fresh, t0+int64(c.at)); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("rampFraction(at %v) = %v, want %v", c.at, got, c.want)
		}
	}
	if got := g.rampFraction(old, t0); got != 1 {
		t.Errorf("rampFraction(not ramping) = %v, want 1", got)
	}
	// At 25% through the ramp the fresh target gets far less than half.
	now := t0 + int64(25*time.Second)
	hits := 0
	const n = 20000
	for i := 0; i < n; i++ {
		if g.pick(nil, now) == fresh {
			hits++
		}
	}
	// Round robin offers it every other pick and accepts with p=0.25:
	// expected share 0.125 of picks.
	if share := float64(hits) / n; share < 0.08 || share > 0.18 {
		t.Errorf("fresh target's share at 25%% of slow start = %.3f, want about 0.125", share)
	}
	if got := g.pick(nil, t0+int64(200*time.Second)); got == nil {
		t.Fatal("pick after the ramp = nil")
	}
}

func TestFailOpenWhenAllUnhealthy(t *testing.T) {
	a := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/health" {
			ctx.SetStatusCode(500)
			return
		}
		ctx.SetBodyString("a")
	})
	doc := strings.Replace(groupDoc("", a.addr), "healthCheck: {enabled: false}",
		"healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, unhealthyThresholdCount: 2}", 1)
	h := startLBChecked(t, doc, 10*time.Millisecond)
	waitFor(t, 5*time.Second, "the target to become unhealthy", func() bool {
		st, _ := stateOf(h, "web", a.addr)
		return st == "unhealthy"
	})
	for i := 0; i < 5; i++ {
		code, body, resp := h.get("/")
		fasthttp.ReleaseResponse(resp)
		if code != 200 || body != "a" {
			t.Fatalf("request %d to a group with no healthy target = %d %q, want 200 from a (fail open)", i, code, body)
		}
	}
	if got := h.metric("gantry_fail_open_requests_total", map[string]string{"target_group": "web"}); got != 5 {
		t.Errorf("gantry_fail_open_requests_total = %v, want 5", got)
	}
	if got := h.metric("gantry_target_group_fail_open", map[string]string{"target_group": "web"}); got != 1 {
		t.Errorf("gantry_target_group_fail_open = %v, want 1", got)
	}
}

// TestSelectorsConcurrent exercises every selector from many goroutines
// (run with -race).
func TestSelectorsConcurrent(t *testing.T) {
	for _, alg := range []string{"round_robin", "least_outstanding_requests", "weighted_random"} {
		g := testGroup(t, alg, 4, true)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 1000; i++ {
					tg := g.pick(nil, nowNanos())
					tg.inflight.Add(1)
					tg.inflight.Add(-1)
				}
			}()
		}
		wg.Wait()
	}
}

// TestLeastOutstandingSlowStartShare: with least_outstanding_requests a
// ramping target's share grows linearly even when nothing is in flight (a
// lightly loaded group), and a group whose targets all ramp (a new group)
// spreads its requests instead of sending them all to the target that
// became healthy first.
func TestLeastOutstandingSlowStartShare(t *testing.T) {
	g := testGroup(t, spec.AlgorithmLeastOutstandingRequests, 2, true)
	g.slowStart = int64(100 * time.Second)
	fresh := g.targets[0]
	const t0 = int64(1_000_000_000_000)
	fresh.availableSince.Store(t0)
	share := func(tg *target, now int64) float64 {
		hits := 0
		const n = 20000
		for i := 0; i < n; i++ {
			if g.pick(nil, now) == tg {
				hits++
			}
		}
		return float64(hits) / n
	}
	// 25% through the ramp: offered with p=0.25, then an even tie with the
	// other idle target: expected share 0.125.
	if s := share(fresh, t0+int64(25*time.Second)); s < 0.08 || s > 0.18 {
		t.Errorf("fresh target's share at 25%% of slow start = %.3f, want about 0.125", s)
	}
	if s := share(fresh, t0+int64(75*time.Second)); s < 0.32 || s > 0.43 {
		t.Errorf("fresh target's share at 75%% of slow start = %.3f, want about 0.375", s)
	}
	if s := share(fresh, t0+int64(200*time.Second)); s < 0.45 || s > 0.55 {
		t.Errorf("fresh target's share after slow start = %.3f, want about 0.5", s)
	}
	// Busy: a target 25% through its ramp is held to about a quarter of the
	// other's requests in flight (3 against 8 is more than that).
	fresh.inflight.Store(3)
	g.targets[1].inflight.Store(8)
	if s := share(fresh, t0+int64(25*time.Second)); s > 0.01 {
		t.Errorf("busy: fresh target with 3 in flight against 8 got share %.3f at 25%% of slow start, want none", s)
	}
	fresh.inflight.Store(1)
	if s := share(fresh, t0+int64(25*time.Second)); s < 0.2 || s > 0.3 {
		t.Errorf("busy: fresh target with 1 in flight against 8 got share %.3f at 25%% of slow start, want about 0.25", s)
	}
	fresh.inflight.Store(0)
	g.targets[1].inflight.Store(0)
	// Both ramping, one a second ahead of the other: about half each.
	g.targets[1].availableSince.Store(t0 - int64(time.Second))
	if s := share(fresh, t0+int64(10*time.Second)); s < 0.35 || s > 0.65 {
		t.Errorf("share of one of two ramping targets = %.3f, want about 0.5", s)
	}
}
