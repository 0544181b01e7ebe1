package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// bigSnapshot is 1,000 nodes over three zones and ten services of 1,000
// tasks each, with chained strategies and constraints (svc0 distinctInstance,
// every third memberOf), nothing placed yet.
func bigSnapshot() *Snapshot {
	snap := &Snapshot{Now: time.Unix(0, 0), Seed: 1, TaskDefinitions: map[string]*spec.TaskDefinition{}}
	for i := range 1000 {
		snap.Nodes = append(snap.Nodes, Node{
			Name: fmt.Sprintf("node-%04d", i), Attributes: map[string]string{"zone": string(rune('a' + i%3))},
			Drivers: []string{spec.DriverProcess, spec.DriverDocker}, CPU: 16384, Memory: 32768, Status: NodeAlive,
		})
	}
	strategies := [][]spec.PlacementStrategy{
		{{Type: "spread", Field: "attribute:zone"}, {Type: "binpack", Field: "memory"}},
		{{Type: "spread", Field: "instanceId"}},
		{{Type: "binpack", Field: "cpu"}},
		{{Type: "random"}},
	}
	for i := range 10 {
		name := fmt.Sprintf("svc%d", i)
		snap.TaskDefinitions[name+":1"] = &spec.TaskDefinition{Family: name, Driver: spec.DriverProcess,
			ContainerDefinitions: []spec.ContainerDefinition{{Name: name, Command: []string{"x"}, CPU: 128, Memory: 256}}}
		s := svc(name, 1000)
		s.PlacementStrategy = strategies[i%len(strategies)]
		switch {
		case i == 0: // first, before binpacking fills nodes
			s.PlacementConstraints = []spec.PlacementConstraint{{Type: "distinctInstance"}}
		case i%3 == 2:
			s.PlacementConstraints = []spec.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone in [a, b, c]"}}
		}
		snap.Services = append(snap.Services, Service{Spec: s, TaskDefinition: name + ":1"})
	}
	return snap
}

// BenchmarkPlace10k places 10,000 tasks over 1,000 nodes in one plan.
func BenchmarkPlace10k(b *testing.B) {
	snap := bigSnapshot()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := Plan(snap)
		if len(r.Start) != 10000 {
			b.Fatalf("placed %d tasks, want 10000 (unplaced %+v)", len(r.Start), r.Unplaced)
		}
	}
}

// BenchmarkSteady10k plans a cluster already running its 10,000 tasks.
func BenchmarkSteady10k(b *testing.B) {
	snap := bigSnapshot()
	r := Plan(snap)
	for i, pl := range r.Start {
		snap.Tasks = append(snap.Tasks, Task{ID: fmt.Sprintf("t%05d", i), Service: pl.Service, TaskDefinition: pl.TaskDefinition,
			Deployment: pl.Deployment, Node: pl.Node, DesiredStatus: StatusRunning, LastStatus: StatusRunning, StartedAt: snap.Now})
	}
	snap.Deployments = r.Deployments
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := Plan(snap); len(r.Start)+len(r.Stop) != 0 {
			b.Fatalf("steady cluster planned %d starts and %d stops", len(r.Start), len(r.Stop))
		}
	}
}

// TestPlace10kUnderBudget guards the benchmark's goal loosely: a loaded
// 2-core machine must still place 10,000 tasks over 1,000 nodes in 5 s.
func TestPlace10kUnderBudget(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing test")
	}
	snap := bigSnapshot()
	start := time.Now()
	if r := Plan(snap); len(r.Start) != 10000 {
		t.Fatalf("placed %d tasks, want 10000", len(r.Start))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("placing 10,000 tasks took %v, want under 5s (goal 1s)", d)
	}
}

// BenchmarkScaleIn10k halves ten services of 1,000 running tasks each.
func BenchmarkScaleIn10k(b *testing.B) {
	snap := bigSnapshot()
	r := Plan(snap)
	for i, pl := range r.Start {
		snap.Tasks = append(snap.Tasks, Task{ID: fmt.Sprintf("t%05d", i), Service: pl.Service, TaskDefinition: pl.TaskDefinition,
			Deployment: pl.Deployment, Node: pl.Node, DesiredStatus: StatusRunning, LastStatus: StatusRunning, StartedAt: snap.Now})
	}
	snap.Deployments = r.Deployments
	for i := range snap.Services {
		half := 500
		s := *snap.Services[i].Spec
		s.DesiredCount = &half
		snap.Services[i].Spec = &s
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := Plan(snap); len(r.Stop) != 5000 {
			b.Fatalf("scale-in stopped %d tasks, want 5000", len(r.Stop))
		}
	}
}
