package discovery

import (
	"sync"
	"time"
)

// registry holds every registration this node knows, its own and others'.
// It is the CRDT-like core of registration gossip, free of I/O:
//
//   - Last-writer-wins per (owner, group, address) by Version; only the owner
//     writes, so "last" is well defined and merges are idempotent,
//     commutative and associative: duplicates, reorders and replays of
//     broadcasts or states are harmless.
//   - The owner is the authority: a remote claim about one of its own
//     registrations with a version at least as high as its own (left over
//     from before a restart) is answered by re-asserting its own state with a
//     higher version, or a tombstone when it no longer owns it.
//   - Registrations of an owner declared dead or left disappear at once: they
//     are hidden (kept, not shown, not sent), and later claims about them
//     update the hidden copy without showing it. When the owner comes back
//     with the same boot ID (it was wrongly suspected, or partitioned away)
//     they reappear at once, at their latest known versions; with another
//     boot ID (it restarted) they are dropped and the owner re-announces
//     what it owns now. Hidden entries are forgotten after forgetAfter.
//   - Deregistered registrations are tombstones kept for tombstoneTTL so a late
//     broadcast cannot resurrect them.
//
// Safe for concurrent use; no method blocks on anything but its mutex.
type registry struct {
	self         string
	tombstoneTTL time.Duration
	orphanGrace  time.Duration
	now          func() time.Time

	mu      sync.Mutex
	clock   uint64
	entries map[regKey]*entry
	// gone holds owners declared dead or left.
	gone map[string]goneOwner
	// orphaned holds owners with registrations but unknown to membership, since when.
	orphaned map[string]time.Time
}

type entry struct {
	Registration
	// deadSince is when this node first saw the registration deregistered.
	deadSince time.Time
	// hidden: the owner is gone (see registry).
	hidden bool
}

type goneOwner struct {
	at   time.Time
	boot uint64
}

func newRegistry(self string, tombstoneTTL, orphanGrace time.Duration, now func() time.Time) *registry {
	return &registry{
		self: self, tombstoneTTL: tombstoneTTL, orphanGrace: orphanGrace, now: now,
		entries: map[regKey]*entry{}, gone: map[string]goneOwner{}, orphaned: map[string]time.Time{},
	}
}

// tick advances the hybrid logical clock past seen and the wall clock.
func (g *registry) tick(seen uint64) uint64 {
	v := max(g.clock+1, seen+1, uint64(g.now().UnixMicro()))
	g.clock = v
	return v
}

func (g *registry) store(r Registration) {
	e := g.entries[r.key()]
	if e == nil {
		e = &entry{}
		g.entries[r.key()] = e
	}
	if r.State == StateDeregistered && (e.State != StateDeregistered || e.deadSince.IsZero()) {
		e.deadSince = g.now()
	}
	e.Registration = r
}

// putLocal upserts one of this node's registrations, giving it a new version.
// It returns the stored registration and whether anything changed.
func (g *registry) putLocal(r Registration) (Registration, bool) {
	r.Node = g.self
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.entries[r.key()]; e != nil {
		r.Version = e.Version
		if sameContent(e.Registration, r) {
			return r, false
		}
	}
	r.Version = g.tick(r.Version)
	g.store(r)
	return r, true
}

// getLocal returns one of this node's registrations that is not a tombstone.
func (g *registry) getLocal(group, addr string) (Registration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.entries[regKey{g.self, group, addr}]
	if e == nil || e.State == StateDeregistered {
		return Registration{}, false
	}
	return e.Registration, true
}

// merge applies a registration received from another node. changed says the
// visible state changed; reassert, when non-nil, is one of this node's own
// registrations to broadcast again because the remote claim contradicted it.
func (g *registry) merge(r Registration) (changed bool, reassert *Registration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.entries[r.key()]
	if r.Node == g.self {
		g.clock = max(g.clock, r.Version)
		switch {
		case e == nil && r.State == StateDeregistered:
			return false, nil
		case e == nil:
			// A claim from before a restart about something no longer owned.
			r.State, r.Version = StateDeregistered, g.tick(r.Version)
			g.store(r)
			return true, &r
		case r.Version < e.Version || (r.Version == e.Version && sameContent(r, e.Registration)):
			return false, nil
		}
		own := e.Registration
		own.Version = g.tick(r.Version)
		e.Registration = own
		return false, &own
	}
	if e != nil && r.Version <= e.Version {
		return false, nil
	}
	_, hide := g.gone[r.Node]
	g.store(r)
	g.entries[r.key()].hidden = hide
	return !hide, nil
}

// ownerGone hides every registration of a node declared dead or left.
func (g *registry) ownerGone(node string, boot uint64) (changed bool) {
	if node == g.self {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gone[node] = goneOwner{at: g.now(), boot: boot}
	delete(g.orphaned, node)
	for k, e := range g.entries {
		if k.node == node && !e.hidden {
			e.hidden, changed = true, true
		}
	}
	return changed
}

func (g *registry) dropOwnerLocked(node string) (changed bool) {
	for k, e := range g.entries {
		if k.node == node {
			changed = changed || !e.hidden
			delete(g.entries, k)
		}
	}
	delete(g.orphaned, node)
	return changed
}

// ownerAlive shows the hidden registrations of a node that came back with
// the same boot ID, returning them, or drops them if it restarted.
func (g *registry) ownerAlive(node string, boot uint64) (shown []Registration) {
	if node == g.self {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	gone, ok := g.gone[node]
	delete(g.gone, node)
	delete(g.orphaned, node)
	if !ok {
		return nil
	}
	if gone.boot != boot {
		g.dropOwnerLocked(node)
		return nil
	}
	for k, e := range g.entries {
		if k.node == node && e.hidden {
			e.hidden = false
			shown = append(shown, e.Registration)
		}
	}
	return shown
}

// sweep expires tombstones, forgets gone owners after forgetAfter, and drops
// registrations whose owner membership has not known as alive for orphanGrace
// (claims that reached a node that never saw their owner die).
func (g *registry) sweep(alive func(node string) bool, forgetAfter time.Duration) (changed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	owners := map[string]bool{}
	for k, e := range g.entries {
		if e.State == StateDeregistered && now.Sub(e.deadSince) >= g.tombstoneTTL {
			delete(g.entries, k)
			changed = true
			continue
		}
		if _, isGone := g.gone[k.node]; k.node != g.self && !isGone {
			owners[k.node] = true
		}
	}
	for node := range owners {
		if alive(node) {
			delete(g.orphaned, node)
			continue
		}
		since, ok := g.orphaned[node]
		if !ok {
			g.orphaned[node] = now
		} else if now.Sub(since) >= g.orphanGrace {
			changed = g.dropOwnerLocked(node) || changed
			g.gone[node] = goneOwner{at: now}
		}
	}
	for node, gone := range g.gone {
		if now.Sub(gone.at) >= forgetAfter {
			delete(g.gone, node)
			g.dropOwnerLocked(node)
		}
	}
	return changed
}

// all returns every entry, tombstones included, for a push/pull state.
func (g *registry) all() []Registration {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Registration, 0, len(g.entries))
	for _, e := range g.entries {
		if !e.hidden {
			out = append(out, e.Registration)
		}
	}
	return out
}

// own returns this node's live (non-tombstone) registrations.
func (g *registry) own() []Registration {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Registration
	for k, e := range g.entries {
		if k.node == g.self && e.State != StateDeregistered {
			out = append(out, e.Registration)
		}
	}
	return out
}

// snapshot groups every registration, tombstones included, by target group.
func (g *registry) snapshot() map[string][]Registration {
	g.mu.Lock()
	out := map[string][]Registration{}
	for k, e := range g.entries {
		if !e.hidden {
			out[k.group] = append(out[k.group], e.Registration)
		}
	}
	g.mu.Unlock()
	for _, rs := range out {
		sortRegistrations(rs)
	}
	return out
}

func (g *registry) group(name string) []Registration {
	g.mu.Lock()
	var out []Registration
	for k, e := range g.entries {
		if k.group == name && !e.hidden {
			out = append(out, e.Registration)
		}
	}
	g.mu.Unlock()
	sortRegistrations(out)
	return out
}

// countBySource counts visible non-tombstone registrations per source.
func (g *registry) countBySource() map[Source]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[Source]int{}
	for _, e := range g.entries {
		if e.State != StateDeregistered && !e.hidden {
			out[e.Source]++
		}
	}
	return out
}

// latest returns the stored version of a registration, hidden ones included.
func (g *registry) latest(k regKey) (Registration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.entries[k]; e != nil {
		return e.Registration, true
	}
	return Registration{}, false
}
