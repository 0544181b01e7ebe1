package balancer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/health"
	"github.com/gantrylb/gantry/spec"
)

// group is a target group as one route table sees it: an immutable list of
// long-lived targets plus the group's settings. A reload builds a new group
// value around the same target objects.
type group struct {
	name    string
	spec    *spec.TargetGroup
	targets []*target
	weights []int // parallel to targets, for weighted_random
	byID    map[uint64]*target
	sel     selector
	outlier *health.Outlier

	slowStart       int64 // nanoseconds; 0 = off
	responseTimeout time.Duration
	stickiness      stickyConfig

	// draining lists targets deregistered from this group that still finish
	// their in-flight work; shown by the API, never chosen.
	draining func() int

	failOpenCounter prometheus.Counter
	retryCounter    prometheus.Counter
	stickyHits      prometheus.Counter
}

// stickyConfig is a group's target stickiness.
type stickyConfig struct {
	kind       uint8 // 0 none, stickyLB, stickyApp
	duration   time.Duration
	appCookie  []byte
	cookieName string
}

const (
	stickyNone uint8 = iota
	stickyLB
	stickyApp
)

// pick chooses a target for a new request, failing open when no target is
// usable. It returns nil only when the group has no eligible target at all.
func (g *group) pick(exclude *target, now int64) *target {
	t, failOpen := g.sel.pick(g, exclude, now)
	if failOpen && t != nil && exclude == nil {
		g.failOpenCounter.Inc()
	}
	return t
}

// anyUsable reports whether some target may take requests without failing open.
func (g *group) anyUsable(now int64) bool {
	for _, t := range g.targets {
		if t.usable(now) {
			return true
		}
	}
	return false
}

func (g *group) drainingCount() int {
	if g.draining == nil {
		return 0
	}
	return g.draining()
}

func newSelector(algorithm string) selector {
	switch algorithm {
	case spec.AlgorithmLeastOutstandingRequests:
		return &leastOutstanding{}
	case spec.AlgorithmWeightedRandom:
		return weightedRandom{}
	case spec.AlgorithmFlowHash:
		return &flowHash{}
	default:
		return &roundRobin{}
	}
}

// owns reports whether id is one of g's targets (a GANTRYLB or GANTRYLBAPP
// pin of this group, not another group's).
func (g *group) owns(id uint64) bool {
	_, ok := g.byID[id]
	return ok
}
