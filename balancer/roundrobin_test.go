package balancer

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRoundRobinSpreadsTurnsOfMissingTarget: when one of three targets drops
// out, the other two share its turns evenly (not the next one in line).
func TestRoundRobinSpreadsTurnsOfMissingTarget(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry(), func() []*group { return nil })
	g := &group{name: "web", sel: &roundRobin{}}
	for _, addr := range []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"} {
		g.targets = append(g.targets, newTarget("web", addr, upstreamTuning{maxConns: 1}, m))
		g.weights = append(g.weights, 1)
	}
	g.targets[1].draining.Store(true)
	counts := map[string]int{}
	for i := 0; i < 600; i++ {
		tg, _ := g.sel.pick(g, nil, 0)
		counts[tg.addr]++
	}
	if counts["127.0.0.1:1"] != 300 || counts["127.0.0.1:3"] != 300 || counts["127.0.0.1:2"] != 0 {
		t.Errorf("picks = %v, want 300 each for :1 and :3 and none for the draining :2", counts)
	}
}
