package balancer

import (
	"math/rand/v2"
	"sync/atomic"
)

// selector picks a target of a group for one request. Implementations are
// safe for concurrent use and allocate nothing. pick never returns exclude
// (the target a retry is moving away from) and returns nil when no target
// can be chosen. It first considers usable targets only; when none is
// usable the group fails open, as ALB does: health is ignored and every
// target not draining may be chosen, with failOpen reported.
type selector interface {
	pick(g *group, exclude *target, now int64) (t *target, failOpen bool)
}

var (
	_ selector = (*roundRobin)(nil)
	_ selector = (*leastOutstanding)(nil)
	_ selector = weightedRandom{}
)

// eligible reports whether t may be chosen in this pass.
func (g *group) eligible(t, exclude *target, failOpen bool, now int64) bool {
	if t == exclude || t.draining.Load() {
		return false
	}
	return failOpen || t.status.Available(now)
}

// rampFraction is how far t has come through slow start, in (0, 1]. Slow
// start as ALB: a target that just became healthy gets a share of requests
// that grows linearly from almost nothing to its full share over the window.
func (g *group) rampFraction(t *target, now int64) float64 {
	if g.slowStart <= 0 {
		return 1
	}
	since := t.availableSince.Load()
	if since == 0 {
		return 1
	}
	el := now - since
	if el >= g.slowStart {
		return 1
	}
	return max(float64(el)/float64(g.slowStart), 0.02)
}

// roundRobin rotates over the eligible targets from one shared counter: the
// n-th pick takes the (n mod k)-th of the k eligible targets, so when a
// target drops out its turns spread over all the others instead of falling to
// its neighbour. A ramping target is passed over with probability 1-ramp,
// which gives it a linearly growing share (rejection sampling). Two O(n)
// passes, no allocation.
type roundRobin struct{ next atomic.Uint64 }

func (r *roundRobin) pick(g *group, exclude *target, now int64) (*target, bool) {
	// A retry's pick (exclude set) takes no turn: it would shift the
	// rotation by one, so that with a dead target among two every request
	// would try it first.
	var start uint64
	if exclude == nil {
		start = r.next.Add(1)
	} else {
		start = r.next.Load()
	}
	if t := r.scan(g, exclude, false, now, start); t != nil {
		return t, false
	}
	return r.scan(g, exclude, true, now, start), true
}

func (r *roundRobin) scan(g *group, exclude *target, failOpen bool, now int64, start uint64) *target {
	k := uint64(0)
	for _, t := range g.targets {
		if g.eligible(t, exclude, failOpen, now) {
			k++
		}
	}
	if k == 0 {
		return nil
	}
	// Walk the eligible targets from the (start mod k)-th, once around.
	skip := start % k
	var first *target
	for pass := 0; pass < 2; pass++ {
		for _, t := range g.targets {
			if !g.eligible(t, exclude, failOpen, now) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if first == nil {
				first = t
			} else if t == first {
				return first // every eligible target is ramping and passed over
			}
			if f := g.rampFraction(t, now); f >= 1 || rand.Float64() < f {
				return t
			}
		}
	}
	return first
}

// leastOutstanding picks the eligible target with the fewest requests in
// flight on this node (ALB's least_outstanding_requests), scanning from a
// rotating offset so ties spread evenly. A ramping target (slow start) takes
// part in a pick only with probability equal to its ramp fraction f
// (rejection sampling, as roundRobin), and then with its count divided by
// f: the first gives it a linearly growing share when the group is idle
// (every count 0, where a count inflated as (n+1)/f alone would give it
// nothing, and send everything to the target that became healthy first
// when all of them ramp), the second keeps its share of a busy group's
// requests in flight in proportion to f. When every eligible target was
// passed over, the least loaded of them is taken.
type leastOutstanding struct{ next atomic.Uint64 }

func (l *leastOutstanding) pick(g *group, exclude *target, now int64) (*target, bool) {
	start := l.next.Add(1)
	if t := l.scan(g, exclude, false, now, start); t != nil {
		return t, false
	}
	return l.scan(g, exclude, true, now, start), true
}

func (l *leastOutstanding) scan(g *group, exclude *target, failOpen bool, now int64, start uint64) *target {
	n := uint64(len(g.targets))
	var best, passed *target
	var bestScore float64
	var passedIn int64
	for i := uint64(0); i < n; i++ {
		t := g.targets[(start+i)%n]
		if !g.eligible(t, exclude, failOpen, now) {
			continue
		}
		in := t.inflight.Load()
		f := g.rampFraction(t, now)
		if f < 1 && rand.Float64() >= f {
			if passed == nil || in < passedIn {
				passed, passedIn = t, in
			}
			continue
		}
		if score := float64(in) / f; best == nil || score < bestScore {
			best, bestScore = t, score
		}
	}
	if best == nil {
		return passed
	}
	return best
}

// weightedRandom picks among eligible targets with probability proportional
// to their weight (two passes: sum, then walk; O(n), no allocation).
type weightedRandom struct{}

func (w weightedRandom) pick(g *group, exclude *target, now int64) (*target, bool) {
	if t := w.scan(g, exclude, false, now); t != nil {
		return t, false
	}
	return w.scan(g, exclude, true, now), true
}

func (weightedRandom) scan(g *group, exclude *target, failOpen bool, now int64) *target {
	total := 0
	for i, t := range g.targets {
		if g.eligible(t, exclude, failOpen, now) {
			total += g.weights[i]
		}
	}
	if total == 0 {
		return nil
	}
	r := rand.IntN(total)
	for i, t := range g.targets {
		if !g.eligible(t, exclude, failOpen, now) {
			continue
		}
		if r < g.weights[i] {
			return t
		}
		r -= g.weights[i]
	}
	return nil
}
