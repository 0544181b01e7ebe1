package scheduler

import (
	"cmp"
	"slices"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// Result is what a plan decides. Every slice is in a deterministic order: the
// same Snapshot always gives the same Result.
type Result struct {
	// Start lists tasks to create, each on its node.
	Start []Placement
	// Stop lists tasks to stop, with ECS-style stopped reasons.
	Stop []Stop
	// Lost lists live tasks of dead (or forgotten) nodes: no agent will
	// report them stopped, so the caller records them STOPPED itself.
	Lost []Stop
	// Counted names stopped tasks whose outcome this plan counted (failures
	// against their deployment, events); the caller marks them so that no
	// later plan counts them again.
	Counted []string
	// Reap names counted stopped tasks past their retention (StoppedTaskTTL,
	// MaxStoppedTasks per service); the caller may forget them.
	Reap []string
	// Deployments lists every deployment created or changed, in full.
	Deployments []Deployment
	// Events are ECS-style service events, oldest first.
	Events []Event
	// Unplaced lists, per service, the tasks no node could take and why.
	Unplaced []Unplaced
}

// Placement is a task to start.
type Placement struct {
	Service        string
	TaskDefinition string
	Deployment     string
	Node           string
}

// Stop is a task to stop.
type Stop struct {
	TaskID  string
	Service string
	Node    string
	// Reason is the task's stoppedReason, such as "Scaling activity initiated
	// by (deployment web/3)".
	Reason string
}

// Event is one line of a service's event log.
type Event struct {
	Service string
	At      time.Time
	Message string
}

// Unplaced says why Count tasks of a service found no node.
type Unplaced struct {
	Service string
	Count   int
	// Rejections holds one entry per node: the first check it failed.
	Rejections []Rejection
	// Closest is the node that passed the most checks (the first in name
	// order among equals); its Node is empty when there is no node at all.
	Closest Rejection
}

// Rejection is one node a task could not be placed on.
type Rejection struct {
	Node string
	// Check is the failed feasibility check: status, driver, memberOf,
	// distinctInstance, cpu, memory or ports.
	Check string
	// Reason completes "container instance NODE ...", as ECS words it.
	Reason string
}

// Plan computes the plan for snap. It is a pure function: it reads only the
// Snapshot, does no I/O and keeps no state.
func Plan(snap *Snapshot) *Result {
	p := newPlanner(snap)
	services := slices.DeleteFunc(slices.Clone(snap.Services), func(s Service) bool { return s.Spec == nil })
	slices.SortFunc(services, func(a, b Service) int { return cmp.Compare(a.Spec.ServiceName, b.Spec.ServiceName) })
	known := map[string]bool{}
	for i := range services {
		known[services[i].Spec.ServiceName] = true
		p.reconcile(&services[i])
	}
	p.stopOrphans(known)
	return p.out
}

// planner holds one plan's working state: the nodes with what this plan has
// already placed on them, and the result so far.
type planner struct {
	snap    *Snapshot
	nodes   []*nodeState
	byName  map[string]*nodeState
	tasks   map[string][]*Task // live and stopped tasks by service, sorted by ID
	deps    map[string][]Deployment
	demands map[string]*demand
	stopped map[string]bool // tasks this plan stops
	current map[string]bool // tasks of the primary deployments that stay (classify)
	out     *Result
	rng     *splitMix
}

func newPlanner(snap *Snapshot) *planner {
	p := &planner{
		snap:    snap,
		byName:  make(map[string]*nodeState, len(snap.Nodes)),
		tasks:   map[string][]*Task{},
		deps:    map[string][]Deployment{},
		demands: map[string]*demand{},
		stopped: map[string]bool{},
		current: map[string]bool{},
		out:     &Result{},
		rng:     &splitMix{state: snap.Seed},
	}
	for i := range snap.Nodes {
		n := newNodeState(&snap.Nodes[i], len(p.nodes))
		p.nodes = append(p.nodes, n)
	}
	slices.SortFunc(p.nodes, func(a, b *nodeState) int { return cmp.Compare(a.node.Name, b.node.Name) })
	for i, n := range p.nodes {
		n.index = i
		p.byName[n.node.Name] = n
	}
	for i := range snap.Tasks {
		t := &snap.Tasks[i]
		p.tasks[t.Service] = append(p.tasks[t.Service], t)
		if !t.live() {
			continue
		}
		if n := p.byName[t.Node]; n != nil {
			n.reserve(p.demand(t.TaskDefinition), t.Service)
		}
	}
	for _, ts := range p.tasks {
		slices.SortFunc(ts, func(a, b *Task) int { return cmp.Compare(a.ID, b.ID) })
	}
	for _, d := range snap.Deployments {
		p.deps[d.Service] = append(p.deps[d.Service], d)
	}
	return p
}

// taskDefinition looks a revision up; an unknown one reserves nothing.
func (p *planner) taskDefinition(ref string) *spec.TaskDefinition {
	if td := p.snap.TaskDefinitions[ref]; td != nil {
		return td
	}
	return &spec.TaskDefinition{}
}

// event appends a service event.
func (p *planner) event(service, msg string) {
	p.out.Events = append(p.out.Events, Event{Service: service, At: p.snap.Now, Message: msg})
}

// stop appends a stop for t.
func (p *planner) stop(t *Task, reason string) {
	p.out.Stop = append(p.out.Stop, Stop{TaskID: t.ID, Service: t.Service, Node: t.Node, Reason: reason})
	p.stopped[t.ID] = true
}

// stopOrphans stops the live tasks of services that no longer exist.
func (p *planner) stopOrphans(known map[string]bool) {
	var names []string
	for s := range p.tasks {
		if !known[s] {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	for _, s := range names {
		for _, t := range p.tasks[s] {
			switch {
			case !t.live():
				p.out.Reap = append(p.out.Reap, t.ID)
			case !t.stopping():
				p.stop(t, "Service "+s+" was deleted")
			}
		}
	}
}

// splitMix is SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic
// generator so the random strategy depends only on Snapshot.Seed.
type splitMix struct{ state uint64 }

func (s *splitMix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
