package scheduler

import (
	"strings"

	"github.com/gantrylb/gantry/spec"
)

// Ranking steps, one per placement strategy.
const (
	rankSpreadNode = iota
	rankSpreadAttr
	rankBinpackCPU
	rankBinpackMemory
	rankRandom
)

// maxRankSteps bounds the strategies (spec allows 5) plus the name tie-break.
const maxRankSteps = 6

// rankStep scores a node for one strategy; lower is better.
type rankStep struct {
	kind int
	// bucket maps a node index to its attribute value's bucket (spreadAttr).
	bucket []int
	// counts holds the service's tasks per bucket (spreadAttr) or per node (spreadNode).
	counts []int
}

// ranker orders feasible nodes by the service's strategies, in order: a later
// strategy only breaks ties of the earlier ones (ECS chains them the same
// way), and the node name breaks the last ties.
type ranker struct {
	steps []rankStep
	rng   *splitMix
}

// newRanker builds the ranking steps, counting the service's tasks that stay
// (its primary deployment's). With no strategy, tasks spread over nodes.
func (p *planner) newRanker(svc *Service, c *placeCtx) *ranker {
	strategies := svc.Spec.PlacementStrategy
	if len(strategies) == 0 {
		strategies = []spec.PlacementStrategy{{Type: spec.StrategySpread, Field: spec.FieldInstanceID}}
	}
	r := &ranker{rng: p.rng}
	for _, s := range strategies[:min(len(strategies), maxRankSteps-1)] {
		r.steps = append(r.steps, p.rankStep(s, c.service))
	}
	return r
}

func (p *planner) rankStep(s spec.PlacementStrategy, service string) rankStep {
	switch s.Type {
	case spec.StrategyBinpack:
		if s.Field == spec.FieldCPU {
			return rankStep{kind: rankBinpackCPU}
		}
		return rankStep{kind: rankBinpackMemory}
	case spec.StrategyRandom:
		return rankStep{kind: rankRandom}
	}
	attr, isAttr := strings.CutPrefix(s.Field, "attribute:")
	st := rankStep{kind: rankSpreadNode, counts: make([]int, len(p.nodes))}
	if isAttr {
		st.kind = rankSpreadAttr
		st.bucket = make([]int, len(p.nodes))
		ids := map[string]int{}
		for i, n := range p.nodes {
			v := n.node.Attributes[attr] // nodes without it share the "" bucket
			id, ok := ids[v]
			if !ok {
				id = len(ids)
				ids[v] = id
			}
			st.bucket[i] = id
		}
		st.counts = make([]int, len(ids))
	}
	for _, t := range p.tasks[service] {
		if n := p.byName[t.Node]; n != nil && p.counts(t) {
			st.add(n.index)
		}
	}
	return st
}

// counts reports whether a task counts for spreading: one of the primary
// deployment's that this plan does not stop (classify's current: live, on an
// alive node). The others are the ones a rollout or a drain is about to
// replace: counting them would pile the new revision where the old one was
// scarce.
func (p *planner) counts(t *Task) bool {
	return p.current[t.ID] && !p.stopped[t.ID]
}

func (s *rankStep) add(node int) {
	switch s.kind {
	case rankSpreadNode:
		s.counts[node]++
	case rankSpreadAttr:
		s.counts[s.bucket[node]]++
	}
}

// score fills sc with the node's scores for a task of demand d.
func (r *ranker) score(n *nodeState, d *demand, sc *[maxRankSteps]int64) {
	for i := range r.steps {
		s := &r.steps[i]
		switch s.kind {
		case rankSpreadNode:
			sc[i] = int64(s.counts[n.index])
		case rankSpreadAttr:
			sc[i] = int64(s.counts[s.bucket[n.index]])
		case rankBinpackCPU:
			sc[i] = int64(n.freeCPU - d.cpu)
		case rankBinpackMemory:
			sc[i] = int64(n.freeMem - d.memory)
		case rankRandom:
			sc[i] = int64(r.rng.next() >> 1)
		}
	}
	sc[len(r.steps)] = int64(n.index)
}

// placed records a task placed on node.
func (r *ranker) placed(node int) {
	for i := range r.steps {
		r.steps[i].add(node)
	}
}

// place picks the best feasible node for one task, or nil.
func (p *planner) place(c *placeCtx) *nodeState {
	var (
		best      *nodeState
		bestScore [maxRankSteps]int64
		score     [maxRankSteps]int64
	)
	n := len(c.rank.steps) + 1
	for _, node := range p.nodes {
		if c.check(node) != feasible {
			continue
		}
		c.rank.score(node, c.dem, &score)
		if best == nil || less(score[:n], bestScore[:n]) {
			best, bestScore = node, score
		}
	}
	if best != nil {
		best.reserve(c.dem, c.service)
		c.rank.placed(best.index)
	}
	return best
}

func less(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
