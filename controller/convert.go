package controller

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/gantrylb/gantry/scheduler"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// NodeInfo is one node of the cluster as the scheduler needs it.
type NodeInfo struct {
	Name string
	// State is the gossip state: alive, suspect, dead or left.
	State      string
	Roles      []string
	Drivers    []string
	CPU        int // ECS units, 1024 a core
	MemoryMiB  int
	Attributes map[string]string
	// HostIP is where the node's agent registers its tasks' ports; empty
	// means the controller's Config.HostIP.
	HostIP string
	// Since is when this node last saw State change (zero: unknown).
	Since time.Time
}

// TargetHealth reports the state (healthy, unhealthy, initial...) of the
// target addr in group; ok is false when the group does not know it.
type TargetHealth func(group, addr string) (state string, ok bool)

// SnapshotOf builds the scheduler's view: every node (draining ones as the
// store says), every service with its resolved revision, and every task with
// its health in its service's target groups.
func SnapshotOf(st *store.State, nodes []NodeInfo, health TargetHealth, hostIP string, now time.Time, seed uint64) *scheduler.Snapshot {
	snap := &scheduler.Snapshot{Now: now, Seed: seed, TaskDefinitions: map[string]*spec.TaskDefinition{}}
	hostIPs := make(map[string]string, len(nodes))
	suspect := map[string]bool{}
	recovered := map[string]time.Time{}
	for _, n := range nodes {
		hostIPs[n.Name] = cmp.Or(n.HostIP, hostIP)
		suspect[n.Name] = n.State == "suspect"
		if n.State == "alive" && !n.Since.IsZero() && !slices.Contains(n.Roles, "server") {
			recovered[n.Name] = n.Since
		}
		status := nodeStatus(n.State)
		if _, draining := st.DrainingNodes[n.Name]; draining && status == "alive" {
			status = "draining"
		}
		snap.Nodes = append(snap.Nodes, scheduler.Node{
			Name: n.Name, Attributes: n.Attributes, Roles: n.Roles, Drivers: n.Drivers,
			CPU: n.CPU, Memory: n.MemoryMiB, Status: status,
		})
	}
	for family, revs := range st.TaskDefinitions {
		for _, r := range revs {
			snap.TaskDefinitions[ref(family, r.Revision)] = r.Spec
		}
	}
	names := make([]string, 0, len(st.Services))
	for name := range st.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		svc := st.Services[name]
		spec := svc.Spec
		if svc.Status == store.ServiceDraining {
			// A deleted service keeps running until its tasks are gone: the
			// scheduler sees it with nothing to keep.
			cp := *spec
			zero := 0
			cp.DesiredCount = &zero
			spec = &cp
		}
		snap.Services = append(snap.Services, scheduler.Service{Spec: spec, TaskDefinition: svc.TaskDefinition})
	}
	for _, t := range sortedTasks(st) {
		// The targets of a suspect node read unhealthy (Target.Timeout: they
		// take no new requests) although no health check failed: its tasks'
		// health is unknown until gossip settles, so the scheduler neither
		// stops them nor counts them failed.
		h := ""
		if !suspect[t.Node] {
			h = taskHealth(st, t, health, cmp.Or(hostIPs[t.Node], hostIP))
		}
		if h == "unhealthy" && recheckingAfterSuspicion(st, t, recovered[t.Node], now) {
			// A node without the desired state (agent-only) has its targets
			// checked by this node, whose checks start again from the
			// unhealthy it read while the node was suspect: until they had
			// time to pass, the verdict is not one.
			h = ""
		}
		snap.Tasks = append(snap.Tasks, scheduler.Task{
			ID: t.ID, Service: t.Service, TaskDefinition: t.TaskDefinition, Deployment: t.Deployment,
			Node: t.Node, DesiredStatus: t.DesiredStatus, LastStatus: t.LastStatus,
			Health: h, ContainerHealth: t.ContainerHealth, StartedAt: t.StartedAt, Failed: t.Failed,
			StoppedReason: t.StoppedReason, StoppedAt: t.StoppedAt, Counted: t.Counted,
		})
	}
	for _, d := range st.Deployments {
		snap.Deployments = append(snap.Deployments, scheduler.Deployment(*d))
	}
	slices.SortFunc(snap.Deployments, func(a, b scheduler.Deployment) int { return strings.Compare(a.ID, b.ID) })
	return snap
}

// nodeStatus maps a gossip state to the scheduler's: suspect nodes still
// count as alive (they may be fine), left ones as dead.
func nodeStatus(state string) string {
	switch state {
	case "alive", "suspect":
		return "alive"
	}
	return "dead"
}

func ref(family string, revision int) string {
	return family + ":" + itoa(revision)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

func sortedTasks(st *store.State) []*store.Task {
	out := make([]*store.Task, 0, len(st.Tasks))
	for _, t := range st.Tasks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *store.Task) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// taskHealth is healthy when the task's target is healthy in every target
// group of its service, unhealthy when unhealthy in any, "" while unknown.
func taskHealth(st *store.State, t *store.Task, health TargetHealth, hostIP string) string {
	svc := st.Services[t.Service]
	if svc == nil || health == nil || len(svc.Spec.LoadBalancers) == 0 {
		return ""
	}
	result := "healthy"
	for _, lb := range svc.Spec.LoadBalancers {
		port := 0
		for _, hp := range t.HostPorts {
			if hp.ContainerName == lb.ContainerName && hp.ContainerPort == lb.ContainerPort {
				port = hp.HostPort
			}
		}
		if port == 0 {
			return ""
		}
		state, ok := health(lb.GroupName(), hostIP+":"+itoa(port))
		switch {
		case !ok:
			return ""
		case state == spec.TargetUnhealthy:
			return "unhealthy"
		case state != spec.TargetHealthy:
			result = ""
		}
	}
	return result
}

// recheckingAfterSuspicion reports whether the node of t turned alive (at
// since) too recently for this node's checks of t's targets to have found
// them healthy again: healthyThresholdCount checks, an interval apart, in
// every target group of its service.
func recheckingAfterSuspicion(st *store.State, t *store.Task, since, now time.Time) bool {
	svc := st.Services[t.Service]
	if since.IsZero() || svc == nil {
		return false
	}
	for _, lb := range svc.Spec.LoadBalancers {
		g := st.TargetGroups[lb.GroupName()]
		if g == nil {
			continue
		}
		hc := g.HealthCheck
		window := time.Duration(hc.HealthyThreshold())*hc.Interval() + hc.Timeout()
		if now.Before(since.Add(window)) {
			return true
		}
	}
	return false
}

// PlanOf converts the scheduler's result into the store's plan; nil when
// there is nothing to commit.
func PlanOf(r *scheduler.Result, now time.Time) *store.Plan {
	p := &store.Plan{Now: now, Reap: r.Reap, Counted: r.Counted}
	for _, s := range r.Start {
		p.Start = append(p.Start, store.Placement{Service: s.Service, TaskDefinition: s.TaskDefinition, Deployment: s.Deployment, Node: s.Node})
	}
	for _, s := range r.Stop {
		p.Stop = append(p.Stop, store.TaskStop{TaskID: s.TaskID, Reason: s.Reason})
	}
	for _, s := range r.Lost {
		p.Lost = append(p.Lost, store.TaskStop{TaskID: s.TaskID, Reason: s.Reason})
	}
	for _, d := range r.Deployments {
		p.Deployments = append(p.Deployments, store.Deployment(d))
	}
	for _, e := range r.Events {
		p.Events = append(p.Events, store.ServiceEvent{Service: e.Service, At: e.At, Message: e.Message})
	}
	if len(p.Start)+len(p.Stop)+len(p.Lost)+len(p.Deployments)+len(p.Events)+len(p.Reap)+len(p.Counted) == 0 {
		return nil
	}
	return p
}
