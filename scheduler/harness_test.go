package scheduler

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// harness keeps a cluster's state between plans, as the leader's store would:
// it builds each Snapshot, runs Plan, records the Result and applies it.
// Agents are simulated by explicit steps (run, fail, settle).
type harness struct {
	t        *testing.T
	now      time.Time
	seed     uint64
	nodes    []Node
	services map[string]*Service
	taskDefs map[string]*spec.TaskDefinition
	tasks    map[string]*Task
	deps     map[string]Deployment
	nextTask int
	plans    []*Result // every plan, in order
	events   []string
}

func newHarness(t *testing.T) *harness {
	return &harness{
		t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		services: map[string]*Service{}, taskDefs: map[string]*spec.TaskDefinition{},
		tasks: map[string]*Task{}, deps: map[string]Deployment{},
	}
}

// addNodes adds n alive process+docker nodes "node-01".. with capacity
// cpu/memory and attribute zone cycling over zones.
func (h *harness) addNodes(n, cpu, memory int, zones ...string) {
	for i := range n {
		attrs := map[string]string{}
		if len(zones) > 0 {
			attrs["zone"] = zones[i%len(zones)]
		}
		h.nodes = append(h.nodes, Node{
			Name: fmt.Sprintf("node-%02d", len(h.nodes)+1), Attributes: attrs,
			Drivers: []string{spec.DriverProcess, spec.DriverDocker}, CPU: cpu, Memory: memory, Status: NodeAlive,
		})
	}
}

func (h *harness) node(name string) *Node {
	for i := range h.nodes {
		if h.nodes[i].Name == name {
			return &h.nodes[i]
		}
	}
	h.t.Fatalf("no node %s", name)
	return nil
}

// taskDef registers revision ref ("web:1") reserving cpu and memory.
func (h *harness) taskDef(ref string, cpu, memory int, hostPort int) {
	family, _, _ := strings.Cut(ref, ":")
	h.taskDefs[ref] = &spec.TaskDefinition{Family: family, Driver: spec.DriverProcess, ContainerDefinitions: []spec.ContainerDefinition{{
		Name: family, Command: []string{"x"}, CPU: cpu, Memory: memory,
		PortMappings: []spec.PortMapping{{ContainerPort: 8080, HostPort: hostPort}},
	}}}
}

// service applies a service running revision.
func (h *harness) service(s *spec.Service, revision string) {
	h.services[s.ServiceName] = &Service{Spec: s, TaskDefinition: revision}
}

func (h *harness) snapshot() *Snapshot {
	snap := &Snapshot{Now: h.now, Seed: h.seed, Nodes: slices.Clone(h.nodes), TaskDefinitions: maps.Clone(h.taskDefs)}
	for _, name := range slices.Sorted(maps.Keys(h.services)) {
		snap.Services = append(snap.Services, *h.services[name])
	}
	for _, id := range slices.Sorted(maps.Keys(h.tasks)) {
		snap.Tasks = append(snap.Tasks, *h.tasks[id])
	}
	for _, id := range slices.Sorted(maps.Keys(h.deps)) {
		snap.Deployments = append(snap.Deployments, h.deps[id])
	}
	return snap
}

// plan runs one plan and applies it.
func (h *harness) plan() *Result {
	h.t.Helper()
	snap := h.snapshot()
	r := Plan(snap)
	if again := Plan(h.snapshot()); !reflect.DeepEqual(again, r) {
		h.t.Fatalf("Plan is not deterministic:\n%v\n%v", r, again)
	}
	h.plans = append(h.plans, r)
	h.apply(r)
	h.seed++
	return r
}

func (h *harness) apply(r *Result) {
	for _, id := range r.Counted {
		if t := h.tasks[id]; t != nil {
			t.Counted = true
		}
	}
	for _, id := range r.Reap {
		delete(h.tasks, id)
	}
	for _, s := range r.Stop {
		t := h.tasks[s.TaskID]
		t.DesiredStatus, t.StoppedReason = StatusStopped, s.Reason
	}
	for _, s := range r.Lost {
		t := h.tasks[s.TaskID]
		t.DesiredStatus, t.LastStatus, t.StoppedReason = StatusStopped, StatusStopped, s.Reason
	}
	for _, pl := range r.Start {
		h.nextTask++
		id := fmt.Sprintf("t%04d", h.nextTask)
		h.tasks[id] = &Task{ID: id, Service: pl.Service, TaskDefinition: pl.TaskDefinition, Deployment: pl.Deployment,
			Node: pl.Node, DesiredStatus: StatusRunning, LastStatus: StatusPending}
	}
	for _, d := range r.Deployments {
		if d.Status == DeploymentInactive {
			delete(h.deps, d.ID)
		} else {
			h.deps[d.ID] = d
		}
	}
	for _, e := range r.Events {
		h.events = append(h.events, e.Message)
	}
}

// settle plays the agents: stopped tasks stop, pending ones of revisions
// that ok accepts run (healthy), the others fail.
func (h *harness) settle(ok func(revision string) bool) {
	for _, t := range h.tasks {
		switch {
		case t.DesiredStatus == StatusStopped:
			t.LastStatus = StatusStopped
		case t.LastStatus == StatusPending && ok(t.TaskDefinition):
			t.LastStatus, t.StartedAt, t.Health = StatusRunning, h.now, HealthHealthy
		case t.LastStatus == StatusPending:
			t.LastStatus, t.Failed, t.StoppedReason = StatusStopped, true, "Essential container in task exited"
		}
	}
	h.now = h.now.Add(10 * time.Second)
}

func all(string) bool { return true }

// running counts the service's live tasks per revision.
func (h *harness) running(service string) map[string]int {
	out := map[string]int{}
	for _, t := range h.tasks {
		if t.Service == service && t.live() && !t.stopping() {
			out[t.TaskDefinition]++
		}
	}
	return out
}

// converge alternates plans and settles until a plan changes nothing.
func (h *harness) converge(ok func(string) bool) {
	h.t.Helper()
	for range 50 {
		r := h.plan()
		h.settle(ok)
		if len(r.Start) == 0 && len(r.Stop) == 0 && len(r.Reap) == 0 && len(r.Deployments) == 0 {
			return
		}
	}
	h.t.Fatalf("no convergence in 50 plans; events:\n%s", strings.Join(h.events, "\n"))
}

func (h *harness) hasEvent(substr string) bool {
	return slices.ContainsFunc(h.events, func(e string) bool { return strings.Contains(e, substr) })
}

func sortedStarts(r *Result) []string {
	var out []string
	for _, s := range r.Start {
		out = append(out, s.Node)
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
