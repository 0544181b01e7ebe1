package balancer

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/gantrylb/gantry/health"
	"github.com/gantrylb/gantry/spec"
)

// flowGroup is a flow_hash group of n healthy targets without sockets.
func flowGroup(n int) *group {
	m := newMetrics(nil, nil)
	g := &group{name: "g", spec: &spec.TargetGroup{Name: "g"}, sel: newSelector(spec.AlgorithmFlowHash),
		failOpenCounter: m.failOpen.WithLabelValues("g")}
	off := false
	hg := health.Group{Name: "g", Check: spec.HealthCheck{Enabled: &off}}
	for i := range n {
		t := newTarget("g", fmt.Sprintf("127.0.0.1:%d", 9000+i), upstreamTuning{}, m)
		g.targets = append(g.targets, t)
		g.weights = append(g.weights, 1)
		hg.Targets = append(hg.Targets, health.Target{Address: t.addr, Status: &t.status})
	}
	health.NewChecker(health.CheckerConfig{}).Set([]health.Group{hg})
	return g
}

func TestFlowHashStableAndMinimalMoves(t *testing.T) {
	g := flowGroup(5)
	fh := g.sel.(*flowHash)
	now := nowNanos()
	const flows = 5000
	first := make([]*target, flows)
	counts := map[*target]int{}
	for i := range flows {
		key := flowKey("l", netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i)))
		first[i], _ = fh.pickFlow(g, key, nil, now)
		counts[first[i]]++
		if again, _ := fh.pickFlow(g, key, nil, now); again != first[i] {
			t.Fatalf("flow %d moved from %s to %s with the set unchanged", i, first[i].addr, again.addr)
		}
	}
	for _, tg := range g.targets {
		if c := counts[tg]; c < flows/5*7/10 || c > flows/5*13/10 {
			t.Errorf("target %s got %d of %d flows, want about %d", tg.addr, c, flows, flows/5)
		}
	}
	// Draining one target moves only its flows.
	gone := g.targets[2]
	gone.draining.Store(true)
	for i := range flows {
		key := flowKey("l", netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i)))
		got, _ := fh.pickFlow(g, key, nil, now)
		if first[i] != gone && got != first[i] {
			t.Fatalf("flow %d moved from %s to %s though its target stayed", i, first[i].addr, got.addr)
		}
		if got == gone {
			t.Fatalf("flow %d placed on a draining target", i)
		}
	}
	// exclude (a failed connect) picks another target.
	key := flowKey("l", netip.MustParseAddrPort("10.0.0.1:1"))
	a, _ := fh.pickFlow(g, key, nil, now)
	if b, _ := fh.pickFlow(g, key, a, now); b == nil || b == a {
		t.Fatalf("exclude: got %v after excluding %v", b, a)
	}
}

func BenchmarkFlowHashPick(b *testing.B) {
	g := flowGroup(8)
	fh := g.sel.(*flowHash)
	now := nowNanos()
	ap := netip.MustParseAddrPort("10.0.0.1:5555")
	b.ReportAllocs()
	for b.Loop() {
		if t, _ := fh.pickFlow(g, flowKey("l", ap), nil, now); t == nil {
			b.Fatal("nil")
		}
	}
}
