package discovery

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// threeNodes starts a, b, c on loopback; b and c join a.
func threeNodes(t *testing.T, mod func(i int, cfg *Config)) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i, name := range []string{"a", "b", "c"} {
		cfg := Config{NodeName: name, Meta: NodeMeta{Roles: []string{"agent"}, APIAddr: "127.0.0.1:7070", CPU: 2048, MemoryMiB: 512, Attributes: map[string]string{"zone": name}}}
		if i > 0 {
			cfg.Join = []string{nodes[0].LocalNode().Addr}
		}
		if mod != nil {
			mod(i, &cfg)
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	waitMembers(t, nodes, 3)
	return nodes
}

func waitMembers(t *testing.T, nodes []*testNode, want int) {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("every node sees %d alive members", want), func() bool {
		for _, n := range nodes {
			if int(n.alive.Load()) != want {
				return false
			}
		}
		return true
	})
}

func TestClusterRegistrationVisibleEverywhere(t *testing.T) {
	nodes := threeNodes(t, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ch, cancel := c.WatchTargets()
	defer cancel()
	if err := a.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9001", Source: SourceStatic}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchTargets: no notification")
	}
	took := eventually(t, 10*time.Second, "registration visible on b and c", func() bool {
		return hasTarget(b.Cluster, "web", "127.0.0.1:9001", StateRegistered) && hasTarget(c.Cluster, "web", "127.0.0.1:9001", StateRegistered)
	})
	t.Logf("registration visible everywhere after %v", took)
	got := c.Targets("web")[0]
	if got.Node != "a" || got.Source != SourceStatic || got.Health != HealthInitial || got.Weight != 1 {
		t.Errorf("c sees %+v", got)
	}

	// Health is set by the owner and read by others.
	if err := a.SetHealth("web", "127.0.0.1:9001", HealthHealthy, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "health visible on c", func() bool {
		rs := c.Targets("web")
		return len(rs) == 1 && rs[0].Health == HealthHealthy
	})
	if err := b.SetHealth("web", "127.0.0.1:9001", HealthUnhealthy, "x"); err == nil {
		t.Error("b changed a registration it does not own")
	}
	if !a.Owns("web", "127.0.0.1:9001") || b.Owns("web", "127.0.0.1:9001") || a.Owns("web", "127.0.0.1:9002") || a.Owns("api", "127.0.0.1:9001") {
		t.Error("Owns: want true only on a, for web 127.0.0.1:9001")
	}

	// Deregistration is a tombstone: visible as deregistered (draining) everywhere.
	if err := a.Deregister("web", "127.0.0.1:9001"); err != nil {
		t.Fatal(err)
	}
	if a.Owns("web", "127.0.0.1:9001") {
		t.Error("Owns: a deregistered registration (a tombstone) is still owned")
	}
	eventually(t, 10*time.Second, "tombstone visible on b and c", func() bool {
		return hasTarget(b.Cluster, "web", "127.0.0.1:9001", StateDeregistered) && hasTarget(c.Cluster, "web", "127.0.0.1:9001", StateDeregistered)
	})
	if ts := Targets(c.Snapshot()); len(ts["web"]) != 0 {
		t.Errorf("Targets(snapshot) = %v, want no live target", ts)
	}

	ms := b.Members()
	if len(ms) != 3 || ms[0].Name != "a" || ms[0].Meta.Attributes["zone"] != "a" || ms[0].Meta.CPU != 2048 {
		t.Errorf("Members() = %+v", ms)
	}
}

func TestClusterKilledNodeTargetsVanish(t *testing.T) {
	nodes := threeNodes(t, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	for i := range 3 {
		if err := c.Register(Registration{TargetGroup: "web", Address: fmt.Sprintf("127.0.0.1:%d", 9100+i), Source: SourceTask, Task: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "c's targets visible on a and b", func() bool {
		return len(a.Targets("web")) == 3 && len(b.Targets("web")) == 3
	})
	expected, worst := c.cfg.DetectionTime(3)
	c.kill(t)
	// Generous for a loaded 2-core machine (memberlist's awareness can
	// stretch probe intervals); the measured time is logged.
	took := eventually(t, 3*worst+5*time.Second, "killed node's targets gone from a and b", func() bool {
		return len(a.Targets("web")) == 0 && len(b.Targets("web")) == 0
	})
	t.Logf("killed node's registrations gone after %v (documented: expected %v, worst %v)", took, expected, worst)
	if a.memberState("c") != MemberDead || b.memberState("c") != MemberDead {
		t.Errorf("c is %q on a, %q on b; want dead", a.memberState("c"), b.memberState("c"))
	}
}

func TestClusterLeave(t *testing.T) {
	nodes := threeNodes(t, nil)
	a, c := nodes[0], nodes[2]
	if err := c.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9200"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "visible on a", func() bool { return len(a.Targets("web")) == 1 })
	if err := c.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.kill(t)
	eventually(t, 10*time.Second, "left node's target gone", func() bool {
		return len(a.Targets("web")) == 0 && a.memberState("c") == MemberLeft
	})
}

func TestClusterRestartReannounces(t *testing.T) {
	nodes := threeNodes(t, nil)
	a, c := nodes[0], nodes[2]
	if err := c.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9300"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9301"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "visible on a", func() bool { return len(a.Targets("web")) == 2 })
	c.kill(t)
	eventually(t, 20*time.Second, "gone from a", func() bool { return len(a.Targets("web")) == 0 })

	// c comes back under the same name, owning only one of the two.
	c2 := startNode(t, Config{NodeName: "c", Join: []string{a.LocalNode().Addr}})
	if err := c2.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9300"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "restarted node's registration visible on a, the other not", func() bool {
		return hasTarget(a.Cluster, "web", "127.0.0.1:9300", StateRegistered) && !hasTarget(a.Cluster, "web", "127.0.0.1:9301", StateRegistered)
	})
}

func TestClusterPartitionHeals(t *testing.T) {
	p := &partition{}
	nodes := threeNodes(t, func(i int, cfg *Config) {
		side := 0
		if i > 0 {
			side = 1
		}
		cfg.Transport = newPartTransport(t, p, side)
	})
	a, b, c := nodes[0], nodes[1], nodes[2]
	if err := a.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9400"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9401"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "both registrations everywhere", func() bool {
		return len(a.Targets("web")) == 2 && len(b.Targets("web")) == 2 && len(c.Targets("web")) == 2
	})

	p.set(true)
	sawSuspect := false
	took := eventually(t, 30*time.Second, "each half declares the other dead", func() bool {
		sawSuspect = sawSuspect || a.memberState("b") == MemberSuspect || b.memberState("a") == MemberSuspect
		return a.memberState("b") == MemberDead && a.memberState("c") == MemberDead &&
			b.memberState("a") == MemberDead && c.memberState("a") == MemberDead
	})
	t.Logf("partition detected after %v", took)
	if !sawSuspect {
		t.Error("no member was ever listed as suspect before being declared dead")
	}
	if !noTarget(b.Cluster, "web", "127.0.0.1:9400") || !noTarget(a.Cluster, "web", "127.0.0.1:9401") {
		t.Errorf("registrations of the other half survived: a %v, b %v", a.Targets("web"), b.Targets("web"))
	}
	// Changes on both sides while split.
	if err := c.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9402"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Deregister("web", "127.0.0.1:9400"); err != nil {
		t.Fatal(err)
	}

	p.set(false)
	took = eventually(t, 30*time.Second, "cluster merged and registrations converged", func() bool {
		for _, n := range nodes {
			if n.alive.Load() != 3 || !hasTarget(n.Cluster, "web", "127.0.0.1:9401", StateRegistered) ||
				!hasTarget(n.Cluster, "web", "127.0.0.1:9402", StateRegistered) ||
				!hasTarget(n.Cluster, "web", "127.0.0.1:9400", StateDeregistered) {
				return false
			}
		}
		return true
	})
	t.Logf("healed partition converged after %v", took)
}

func TestClusterEncryption(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	a := startNode(t, Config{NodeName: "a", Keys: [][]byte{k1}})
	seed := []string{a.LocalNode().Addr}
	good := startNode(t, Config{NodeName: "good", Keys: [][]byte{k1}, Join: seed})
	wrong := startNode(t, Config{NodeName: "wrong", Keys: [][]byte{k2}, Join: seed})
	plain := startNode(t, Config{NodeName: "plain", Join: seed})

	eventually(t, 10*time.Second, "node with the key joins", func() bool { return a.memberState("good") == MemberAlive })
	eventually(t, 10*time.Second, "refusals logged on both sides", func() bool {
		return a.logs.contains("reason=encryption") &&
			wrong.logs.contains("reason=encryption") && plain.logs.contains("discovery: join: seeds did not answer; retrying")
	})
	if got := counterValue(t, a.metrics.dropped.WithLabelValues(dropDecrypt)); got == 0 {
		t.Error("a counted no decrypt failure")
	}
	for _, n := range []*testNode{wrong, plain} {
		if n.alive.Load() != 1 || a.memberState(n.cfg.NodeName) != "" {
			t.Errorf("%s joined: %d alive members, state on a %q", n.cfg.NodeName, n.alive.Load(), a.memberState(n.cfg.NodeName))
		}
	}

	// Rotation: install k2 everywhere, use it, remove k1.
	for _, n := range []*testNode{a, good} {
		if err := n.InstallKey(k2); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*testNode{a, good} {
		if err := n.UseKey(k2); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*testNode{a, good} {
		if err := n.RemoveKey(k1); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "after rotation the node with k2 joins", func() bool { return a.memberState("wrong") == MemberAlive })
	if a.memberState("good") != MemberAlive {
		t.Errorf("good is %q after rotation", a.memberState("good"))
	}
}

func TestClusterConcurrentUpdatesConverge(t *testing.T) {
	nodes := threeNodes(t, nil)
	a, b := nodes[0], nodes[1]
	if err := a.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:9500"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				w := 1 + (g*50+i)%1000
				if err := a.Update("web", "127.0.0.1:9500", func(r *Registration) { r.Weight = w }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := a.Owned()[0]
	eventually(t, 10*time.Second, "b holds a's final version", func() bool {
		rs := b.Targets("web")
		return len(rs) == 1 && rs[0] == want
	})
}
