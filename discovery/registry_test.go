package discovery

import (
	"math/rand/v2"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestRegistry(self string) (*registry, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return newRegistry(self, 10*time.Second, 2*time.Second, clk.now), clk
}

func reg(node, addr string, st State, v uint64) Registration {
	return Registration{TargetGroup: "web", Address: addr, Weight: 1, Node: node, Source: SourceTask,
		State: st, Health: HealthInitial, Version: v}
}

func TestRegistryMergeOrderIndependent(t *testing.T) {
	// Any order, with duplicates and replays, ends in the same state.
	updates := []Registration{
		reg("n1", "10.0.0.1:80", StateRegistered, 1),
		reg("n1", "10.0.0.1:80", StateDraining, 2),
		reg("n1", "10.0.0.1:80", StateDeregistered, 3),
		reg("n1", "10.0.0.2:80", StateRegistered, 5),
		reg("n2", "10.0.0.1:80", StateRegistered, 4),
		reg("n2", "10.0.0.1:80", StateRegistered, 4),
	}
	want, _ := newTestRegistry("me")
	for _, u := range updates {
		want.merge(u)
	}
	for i := range 200 {
		g, _ := newTestRegistry("me")
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		for range 3 * len(updates) {
			g.merge(updates[rng.IntN(len(updates))])
		}
		for _, u := range updates { // every update at least once
			g.merge(u)
		}
		if got, w := g.snapshot(), want.snapshot(); !equalSnap(got, w) {
			t.Fatalf("order %d: %v, want %v", i, got, w)
		}
	}
	got := want.group("web")
	if len(got) != 3 || got[0].State != StateDeregistered {
		t.Errorf("group(web) = %+v", got)
	}
}

func equalSnap(a, b map[string][]Registration) bool {
	if len(a) != len(b) {
		return false
	}
	for k, ra := range a {
		rb := b[k]
		if len(ra) != len(rb) {
			return false
		}
		for i := range ra {
			if ra[i] != rb[i] {
				return false
			}
		}
	}
	return true
}

func TestRegistryOwnerReasserts(t *testing.T) {
	g, _ := newTestRegistry("me")
	mine, _ := g.putLocal(reg("", "10.0.0.1:80", StateRegistered, 0))
	// A stale claim with a higher version (from before a restart).
	changed, re := g.merge(reg("me", "10.0.0.1:80", StateDeregistered, mine.Version+100))
	if changed || re == nil || re.State != StateRegistered || re.Version <= mine.Version+100 {
		t.Fatalf("merge(stale higher claim) = %v, %+v", changed, re)
	}
	// A claim about something no longer owned gets a tombstone.
	_, re = g.merge(reg("me", "10.0.0.9:80", StateRegistered, 7))
	if re == nil || re.State != StateDeregistered || re.Version <= 7 {
		t.Fatalf("merge(unknown own) reassert = %+v", re)
	}
	// Echo of our own current state: nothing to do.
	cur, _ := g.getLocal("web", "10.0.0.1:80")
	if changed, re := g.merge(cur); changed || re != nil {
		t.Errorf("merge(own echo) = %v, %+v", changed, re)
	}
	// Later local versions exceed everything seen.
	next, _ := g.putLocal(reg("", "10.0.0.2:80", StateRegistered, 0))
	if next.Version <= re2v(g) {
		t.Errorf("new local version %d not above clock", next.Version)
	}
}

func re2v(g *registry) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.clock - 1
}

func TestRegistryOwnerGoneAndBack(t *testing.T) {
	g, _ := newTestRegistry("me")
	g.merge(reg("n1", "10.0.0.1:80", StateRegistered, 5))
	if !g.ownerGone("n1", 42) || len(g.group("web")) != 0 || len(g.all()) != 0 {
		t.Fatal("ownerGone left registrations visible")
	}
	// A late broadcast does not show it, but is remembered.
	if changed, _ := g.merge(reg("n1", "10.0.0.1:80", StateDraining, 6)); changed || len(g.group("web")) != 0 {
		t.Fatal("late broadcast resurrected a dead owner's registration")
	}
	// Back with the same boot (false suspicion, partition): shown again, latest version.
	if shown := g.ownerAlive("n1", 42); len(shown) != 1 || shown[0].Version != 6 {
		t.Fatalf("ownerAlive(same boot) = %+v", shown)
	}
	if rs := g.group("web"); len(rs) != 1 || rs[0].State != StateDraining {
		t.Fatalf("after return: %+v", rs)
	}
	// Gone again, back after a restart: dropped; the owner re-announces.
	g.ownerGone("n1", 42)
	if shown := g.ownerAlive("n1", 43); len(shown) != 0 || len(g.group("web")) != 0 {
		t.Fatalf("ownerAlive(new boot) showed %+v", shown)
	}
	if changed, _ := g.merge(reg("n1", "10.0.0.1:80", StateRegistered, 9)); !changed {
		t.Fatal("registration of a restarted owner refused")
	}
}

func TestRegistryGoneForgotten(t *testing.T) {
	g, clk := newTestRegistry("me")
	g.merge(reg("n1", "10.0.0.1:80", StateRegistered, 5))
	g.ownerGone("n1", 1)
	clk.t = clk.t.Add(time.Hour)
	g.sweep(func(string) bool { return false }, time.Hour)
	g.mu.Lock()
	n := len(g.entries)
	g.mu.Unlock()
	if n != 0 {
		t.Errorf("%d hidden entries kept after forgetAfter", n)
	}
}

func TestRegistrySweep(t *testing.T) {
	g, clk := newTestRegistry("me")
	alive := map[string]bool{"n1": true}
	g.merge(reg("n1", "10.0.0.1:80", StateDeregistered, 5))
	g.merge(reg("n2", "10.0.0.2:80", StateRegistered, 5)) // owner unknown to membership
	isAlive := func(n string) bool { return alive[n] }
	g.sweep(isAlive, time.Hour)
	if len(g.group("web")) != 2 {
		t.Fatal("sweep dropped too early")
	}
	clk.t = clk.t.Add(3 * time.Second) // past orphan grace, within tombstone TTL
	g.sweep(isAlive, time.Hour)
	if rs := g.group("web"); len(rs) != 1 || rs[0].Node != "n1" {
		t.Fatalf("after orphan grace: %+v", rs)
	}
	clk.t = clk.t.Add(10 * time.Second)
	g.sweep(isAlive, time.Hour)
	if rs := g.group("web"); len(rs) != 0 {
		t.Fatalf("after tombstone TTL: %+v", rs)
	}
}

func TestRegistryLocalNoop(t *testing.T) {
	g, _ := newTestRegistry("me")
	r := reg("", "10.0.0.1:80", StateRegistered, 0)
	first, changed := g.putLocal(r)
	if !changed || first.Node != "me" || first.Version == 0 {
		t.Fatalf("putLocal = %+v, %v", first, changed)
	}
	if again, changed := g.putLocal(r); changed || again.Version != first.Version {
		t.Errorf("re-putting the same content changed it: %+v", again)
	}
}
