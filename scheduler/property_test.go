package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// TestPlanProperties drives random clusters through random events (deploys,
// scaling, node loss and drain, failing and unhealthy tasks) and checks every
// plan: no node over-committed, no constraint violated, and no service
// pushed below its minimum healthy count by the plan's own stops.
func TestPlanProperties(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 30
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			h := randomCluster(t, rng)
			for step := range 60 {
				snap := h.snapshot()
				r := h.plan()
				checkPlan(t, step, snap, r)
				randomEvent(h, rng)
			}
		})
	}
}

func randomCluster(t *testing.T, rng *rand.Rand) *harness {
	h := newHarness(t)
	h.seed = rng.Uint64()
	h.addNodes(3+rng.IntN(8), 1024+rng.IntN(3072), 512+rng.IntN(3584), "a", "b", "c")
	for i := range h.nodes {
		if rng.IntN(5) == 0 {
			h.nodes[i].Drivers = []string{spec.DriverDocker}
		}
	}
	for i := range 1 + rng.IntN(3) {
		name := fmt.Sprintf("svc%d", i)
		port := 0
		if rng.IntN(3) == 0 {
			port = 8000 + rng.IntN(2)
		}
		for rev := 1; rev <= 3; rev++ {
			h.taskDef(fmt.Sprintf("%s:%d", name, rev), 128*(1+rng.IntN(4)), 64*(1+rng.IntN(6)), port)
		}
		minPct := []int{0, 50, 100}[rng.IntN(3)]
		maxPct := max(minPct+25, []int{100, 150, 200}[rng.IntN(3)])
		s := svc(name, rng.IntN(8), deployment(minPct, maxPct, rng.IntN(2) == 0, rng.IntN(2) == 0))
		if rng.IntN(2) == 0 {
			withLB(s)
		}
		s.PlacementStrategy = randomStrategies(rng)
		if rng.IntN(3) == 0 {
			s.PlacementConstraints = append(s.PlacementConstraints, spec.PlacementConstraint{Type: "distinctInstance"})
		}
		if rng.IntN(3) == 0 {
			s.PlacementConstraints = append(s.PlacementConstraints, spec.PlacementConstraint{Type: "memberOf", Expression: "attribute:zone in [a, b]"})
		}
		h.service(s, name+":1")
	}
	return h
}

func randomStrategies(rng *rand.Rand) []spec.PlacementStrategy {
	all := []spec.PlacementStrategy{
		{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "instanceId"},
		{Type: "binpack", Field: "cpu"}, {Type: "binpack", Field: "memory"}, {Type: "random"},
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:rng.IntN(3)]
}

// randomEvent plays agents and operators.
func randomEvent(h *harness, rng *rand.Rand) {
	switch rng.IntN(10) {
	case 0: // deploy a new revision
		for _, s := range h.services {
			if rng.IntN(2) == 0 {
				s.TaskDefinition = fmt.Sprintf("%s:%d", s.Spec.ServiceName, 1+rng.IntN(3))
			}
		}
	case 1: // scale
		for _, s := range h.services {
			*s.Spec.DesiredCount = rng.IntN(10)
		}
	case 2: // a node dies, drains or comes back
		n := &h.nodes[rng.IntN(len(h.nodes))]
		n.Status = []string{NodeDead, NodeDraining, NodeAlive, NodeAlive}[rng.IntN(4)]
	case 3: // a running task turns unhealthy
		for _, task := range h.tasks {
			if task.LastStatus == StatusRunning && rng.IntN(4) == 0 {
				task.Health = HealthUnhealthy
			}
		}
	}
	bad := fmt.Sprint(rng.IntN(3) + 1) // one revision of each family fails often
	h.settle(func(rev string) bool { return rev[len(rev)-1:] != bad || rng.IntN(3) == 0 })
}

// checkPlan asserts the invariants of one plan made from snap.
func checkPlan(t *testing.T, step int, snap *Snapshot, r *Result) {
	t.Helper()
	nodes := map[string]*Node{}
	for i := range snap.Nodes {
		nodes[snap.Nodes[i].Name] = &snap.Nodes[i]
	}
	services := map[string]*Service{}
	for i := range snap.Services {
		services[snap.Services[i].Spec.ServiceName] = &snap.Services[i]
	}
	type load struct {
		cpu, mem int
		ports    []spec.HostPort
		tasks    map[string]int
	}
	loads := map[string]*load{}
	add := func(node, service, rev string) {
		l := loads[node]
		if l == nil {
			l = &load{tasks: map[string]int{}}
			loads[node] = l
		}
		td := snap.TaskDefinitions[rev]
		l.cpu += td.CPUUnits()
		l.mem += td.MemoryMiB()
		l.ports = append(l.ports, td.HostPorts()...)
		l.tasks[service]++
	}
	for _, task := range snap.Tasks {
		if task.live() {
			add(task.Node, task.Service, task.TaskDefinition)
		}
	}
	for _, pl := range r.Start {
		add(pl.Node, pl.Service, pl.TaskDefinition)
		n, s := nodes[pl.Node], services[pl.Service]
		if n.Status != NodeAlive || !slices.Contains(n.Drivers, snap.TaskDefinitions[pl.TaskDefinition].EffectiveDriver()) {
			t.Fatalf("step %d: placed %s on %s node %s with drivers %v", step, pl.Service, n.Status, n.Name, n.Drivers)
		}
		for _, pc := range s.Spec.PlacementConstraints {
			if pc.Type == "memberOf" {
				e, _ := spec.ParseExpression(pc.Expression)
				if !e.Match(n) {
					t.Fatalf("step %d: placed %s on %s against %q", step, pl.Service, n.Name, pc.Expression)
				}
			}
		}
	}
	placedOn := map[string]bool{}
	for _, pl := range r.Start {
		placedOn[pl.Node] = true
	}
	for name := range placedOn {
		l, n := loads[name], nodes[name]
		if l.cpu > n.CPU-n.UsedCPU || l.mem > n.Memory-n.UsedMemory {
			t.Fatalf("step %d: node %s over-committed: cpu %d/%d, memory %d/%d", step, name, l.cpu, n.CPU, l.mem, n.Memory)
		}
		seen := map[spec.HostPort]bool{}
		for _, hp := range l.ports {
			if seen[hp] {
				t.Fatalf("step %d: node %s has host port %v twice", step, name, hp)
			}
			seen[hp] = true
		}
		for svcName, count := range l.tasks {
			if distinct(services[svcName]) && count > 1 {
				t.Fatalf("step %d: distinctInstance service %s has %d tasks on %s", step, svcName, count, name)
			}
		}
	}
	checkMinimumHealthy(t, step, snap, r, nodes, services)
}

func distinct(s *Service) bool {
	return s != nil && slices.ContainsFunc(s.Spec.PlacementConstraints, func(pc spec.PlacementConstraint) bool {
		return pc.Type == "distinctInstance"
	})
}

// checkMinimumHealthy: the plan's stops never take a service's healthy tasks
// below min(minimum healthy count, healthy count before the plan). Tasks of
// dead nodes do not count: they are lost, not stopped.
func checkMinimumHealthy(t *testing.T, step int, snap *Snapshot, r *Result, nodes map[string]*Node, services map[string]*Service) {
	t.Helper()
	stopped := map[string]bool{}
	for _, s := range r.Stop {
		stopped[s.TaskID] = true
	}
	p := newPlanner(snap)
	before, after := map[string]int{}, map[string]int{}
	for i := range snap.Tasks {
		task := &snap.Tasks[i]
		s, n := services[task.Service], nodes[task.Node]
		if s == nil || n == nil || n.Status == NodeDead || !task.live() || task.stopping() || !p.healthy(s, task) {
			continue
		}
		before[task.Service]++
		if !stopped[task.ID] {
			after[task.Service]++
		}
	}
	for name, s := range services {
		minHealthy := (s.Spec.Desired()*s.Spec.DeploymentConfiguration.MinimumHealthy() + 99) / 100
		if after[name] < min(before[name], minHealthy) {
			t.Fatalf("step %d: service %s went from %d to %d healthy tasks, minimum %d", step, name, before[name], after[name], minHealthy)
		}
	}
}
