package balancer

import (
	"hash/maphash"
	"net/netip"
)

var (
	_ selector   = (*flowHash)(nil)
	_ flowPicker = (*flowHash)(nil)
)

// flowPicker is a selector that can place a flow by its key.
type flowPicker interface {
	pickFlow(g *group, key uint64, exclude *target, now int64) (t *target, failOpen bool)
}

// flowHash places a flow by rendezvous (highest random weight) hashing,
// Thaler and Ravishankar 1998: each eligible target scores hash(key, target)
// and the highest score wins. Invariant: while the eligible set is
// unchanged a key always lands on the same target, and when a target
// leaves only its own flows move (the others keep their winner), unlike
// hash mod n. O(n) per flow, no allocation. Slow start does not apply: a
// flow's target cannot be ramped by rejection without breaking stability.
type flowHash struct{ rr roundRobin }

// pick serves callers without a flow key (none on TCP groups today): round robin.
func (f *flowHash) pick(g *group, exclude *target, now int64) (*target, bool) {
	return f.rr.pick(g, exclude, now)
}

func (f *flowHash) pickFlow(g *group, key uint64, exclude *target, now int64) (*target, bool) {
	if t := f.scan(g, key, exclude, false, now); t != nil {
		return t, false
	}
	return f.scan(g, key, exclude, true, now), true
}

func (*flowHash) scan(g *group, key uint64, exclude *target, failOpen bool, now int64) *target {
	var best *target
	var bestScore uint64
	for _, t := range g.targets {
		if !g.eligible(t, exclude, failOpen, now) {
			continue
		}
		if s := mix64(key ^ t.id); best == nil || s > bestScore {
			best, bestScore = t, s
		}
	}
	return best
}

// mix64 is the splitmix64 finaliser: a bijection that spreads every input
// bit over the output, so scores of one key over many targets are
// independent enough for rendezvous hashing.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

var flowSeed = maphash.MakeSeed()

// flowKey identifies a flow as NLB's flow hash does (client address and
// port, and the listener standing in for the destination).
func flowKey(listener string, client netip.AddrPort) uint64 {
	var h maphash.Hash
	h.SetSeed(flowSeed)
	h.WriteString(listener)
	b := client.Addr().As16()
	h.Write(b[:])
	p := client.Port()
	h.WriteByte(byte(p >> 8))
	h.WriteByte(byte(p))
	return h.Sum64()
}

// pickFlow chooses a target for a new flow: by key when the group's
// selector hashes flows, else as for a request.
func (g *group) pickFlow(key uint64, exclude *target, now int64) *target {
	fp, ok := g.sel.(flowPicker)
	if !ok {
		return g.pick(exclude, now)
	}
	t, failOpen := fp.pickFlow(g, key, exclude, now)
	if failOpen && t != nil && exclude == nil {
		g.failOpenCounter.Inc()
	}
	return t
}
