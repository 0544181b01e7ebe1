package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// reconcile plans one service: reap and count failures, pick the deployment,
// stop lost, unhealthy and surplus tasks, replace old and drained ones within
// minimumHealthyPercent and maximumPercent, and place what is missing.
func (p *planner) reconcile(svc *Service) {
	name := svc.Spec.ServiceName
	all := p.tasks[name]
	ds := p.loadDeployments(name)
	p.countFailures(ds, all)
	prim := p.currentDeployment(svc, ds)
	stopsBefore := len(p.out.Stop)

	current, old := p.classify(svc, ds, prim, all)
	for _, t := range current {
		p.current[t.ID] = true
	}
	desired := svc.Spec.Desired()
	cfg := svc.Spec.DeploymentConfiguration
	minHealthy := (desired*cfg.MinimumHealthy() + 99) / 100 // rounded up, as ECS
	maxTotal := max(desired*cfg.Maximum()/100, desired)     // rounded down
	// The primary's tasks count once stable, old ones while they serve: a
	// new task that may yet crash must not let an old one go.
	healthy := 0
	for _, t := range current {
		if p.ready(svc, t) {
			healthy++
		}
	}
	for _, t := range old {
		if p.serving(svc, t) {
			healthy++
		}
	}
	// Scale in: the surplus of the current revision goes first.
	if surplus := len(current) - desired; surplus > 0 {
		victims := p.victims(svc, current, surplus)
		for _, t := range victims {
			p.stop(t, fmt.Sprintf("Scaling activity initiated by (deployment %s)", prim.ID))
			if p.ready(svc, t) {
				healthy--
			}
		}
		current = without(current, victims)
	}
	// Replace old tasks without dropping below the minimum healthy count. A
	// failed deployment that does not roll back keeps what runs.
	if prim.RolloutState != RolloutFailed && len(old) > 0 {
		budget := healthy - minHealthy
		victims := p.victims(svc, old, len(old))
		var stopped []*Task
		for _, t := range victims {
			h := p.serving(svc, t)
			if h && budget <= 0 {
				continue
			}
			if h {
				budget--
			}
			p.stop(t, p.replaceReason(t, prim))
			stopped = append(stopped, t)
		}
		old = without(old, stopped)
	}
	need := desired - len(current)
	room := maxTotal - len(current) - len(old)
	if prim.RolloutState == RolloutFailed {
		need = 0
	}
	if need > 0 && room > 0 && p.throttled(prim) {
		p.event(name, fmt.Sprintf("(service %s) is unable to consistently start tasks successfully.", name))
		need = 0
	}
	started := p.startTasks(svc, prim, min(need, room))
	if n := len(p.out.Stop) - stopsBefore; n > 0 {
		p.event(name, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", name, n, taskList(p.out.Stop[stopsBefore:])))
	}
	steady := started == 0 && len(p.out.Stop) == stopsBefore && len(old) == 0 && len(current) == desired
	for _, t := range current {
		steady = steady && p.ready(svc, t)
	}
	live := map[string]int{}
	for _, t := range slices.Concat(current, old) {
		live[t.TaskDefinition]++
	}
	p.finishDeployments(svc, ds, prim, steady, live)
}

// classify stops tasks of lost nodes and tasks failing their health checks
// after the grace period, and splits the rest into the current ones (the
// primary deployment's, on usable nodes) and the old ones (older revisions
// and deployments, draining nodes).
func (p *planner) classify(svc *Service, ds *deployments, prim *Deployment, all []*Task) (current, old []*Task) {
	for _, t := range all {
		n := p.byName[t.Node]
		if t.live() && (n == nil || n.node.Status == NodeDead) {
			p.out.Lost = append(p.out.Lost, Stop{TaskID: t.ID, Service: t.Service, Node: t.Node,
				Reason: fmt.Sprintf("Task stopped: node %s lost", t.Node)})
		}
		if !t.live() || t.stopping() || p.stopped[t.ID] {
			continue
		}
		switch {
		case n == nil || n.node.Status == NodeDead:
			p.stop(t, fmt.Sprintf("Task replaced: node %s lost", t.Node))
		case p.failingHealthChecks(svc, t):
			p.stop(t, "Task failed ELB health checks")
			p.failed(ds, ds.byID(t.Deployment))
			groups := make([]string, 0, len(svc.Spec.LoadBalancers))
			for _, lb := range svc.Spec.LoadBalancers {
				groups = append(groups, lb.GroupName())
			}
			p.event(svc.Spec.ServiceName, fmt.Sprintf("(service %s) (task %s) is unhealthy in (target-group %s) due to (reason Health checks failed).",
				svc.Spec.ServiceName, t.ID, strings.Join(groups, ", ")))
		case t.TaskDefinition == prim.TaskDefinition && n.node.Status == NodeAlive && (t.Deployment == prim.ID || prim.RollbackOf != ""):
			// A deployment replaces the tasks of the older ones even when they
			// run its revision (a forced deployment: they may be registered in
			// the wrong target groups); a rollback keeps the tasks of the
			// revision it returns to.
			current = append(current, t)
		default:
			old = append(old, t)
		}
	}
	return current, old
}

// failingHealthChecks reports whether t is unhealthy in its service's target
// groups after the grace period. Without load balancers it never is: the
// agent stops tasks whose container health check fails.
func (p *planner) failingHealthChecks(svc *Service, t *Task) bool {
	return len(svc.Spec.LoadBalancers) > 0 && t.LastStatus == StatusRunning && t.Health == HealthUnhealthy && p.pastGrace(svc, t)
}

func (p *planner) pastGrace(svc *Service, t *Task) bool {
	return !t.StartedAt.IsZero() && !p.snap.Now.Before(t.StartedAt.Add(svc.Spec.HealthCheckGracePeriod()))
}

// healthy reports whether t counts as healthy: RUNNING, healthy in its
// target groups when the service has any, and past the grace period.
func (p *planner) healthy(svc *Service, t *Task) bool {
	if t.LastStatus != StatusRunning || !p.pastGrace(svc, t) {
		return false
	}
	return len(svc.Spec.LoadBalancers) == 0 || t.Health == HealthHealthy
}

// serving reports whether an old task counts while a deployment replaces
// it: RUNNING, past the grace period and not unhealthy in its service's
// target groups. Its target health may be unknown without anything wrong:
// its owner is suspect, or it is registered in the target groups its
// service left (which is why it is replaced).
func (p *planner) serving(svc *Service, t *Task) bool {
	if t.LastStatus != StatusRunning || !p.pastGrace(svc, t) {
		return false
	}
	return len(svc.Spec.LoadBalancers) == 0 || t.Health != HealthUnhealthy
}

// ready reports whether a task of the primary deployment counts: healthy
// and stable. Until then it neither completes its deployment nor lets an
// old task stop.
func (p *planner) ready(svc *Service, t *Task) bool {
	return p.healthy(svc, t) && p.stable(t)
}

// StabilizationPeriod is how long a task must have stayed RUNNING before it
// counts for its deployment (ready), so that a task that exits soon after it
// started (a crash at startup) fails its deployment instead of completing
// it. A task with container health checks also waits for the longest its
// essential containers' checks may take to turn unhealthy
// (ContainerCheckWindow): the agent stops it then, and the failure counts
// for the circuit breaker.
const StabilizationPeriod = 10 * time.Second

// ContainerHealthy is Task.ContainerHealth once the checks passed.
const ContainerHealthy = "HEALTHY"

// stable reports whether t has been RUNNING for its stabilization period:
// StabilizationPeriod, plus the container checks' window until they have
// passed (a task its agent reports HEALTHY needs no more).
func (p *planner) stable(t *Task) bool {
	period := StabilizationPeriod
	if t.ContainerHealth != ContainerHealthy {
		period += p.demand(t.TaskDefinition).checkWindow
	}
	return !t.StartedAt.IsZero() && !p.snap.Now.Before(t.StartedAt.Add(period))
}

// ContainerCheckWindow is the longest the container health checks of td's
// essential containers may take to find a container that fails from the
// start unhealthy: the first check runs one interval after the start,
// failures count once startPeriod is over, retries of them in a row make it
// unhealthy, the last one after its timeout. Zero without checks.
func ContainerCheckWindow(td *spec.TaskDefinition) time.Duration {
	var w time.Duration
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		hc := c.HealthCheck
		if hc == nil || !c.IsEssential() {
			continue
		}
		interval := cmp.Or(hc.Interval, spec.DefaultContainerHCInterval)
		s := hc.StartPeriod + cmp.Or(hc.Retries, spec.DefaultContainerHCRetries)*interval + cmp.Or(hc.Timeout, spec.DefaultContainerHCTimeout)
		w = max(w, time.Duration(s)*time.Second)
	}
	return w
}

func (p *planner) replaceReason(t *Task, prim *Deployment) string {
	if n := p.byName[t.Node]; n != nil && n.node.Status == NodeDraining {
		return fmt.Sprintf("Task replaced: node %s is draining", t.Node)
	}
	return fmt.Sprintf("Scaling activity initiated by (deployment %s)", prim.ID)
}

// victims picks k tasks to stop: tasks that are not healthy first, then from
// the most crowded bucket of the first spread strategy (or node), newest
// first, so that what stays remains balanced (ECS scale-in).
func (p *planner) victims(svc *Service, tasks []*Task, k int) []*Task {
	bucket := p.victimBucket(svc)
	counts := map[string]int{}
	for _, t := range tasks {
		counts[bucket(t)]++
	}
	left := slices.Clone(tasks)
	var out []*Task
	for range min(k, len(left)) {
		best := 0
		for i := 1; i < len(left); i++ {
			if p.worse(svc, left[i], left[best], counts, bucket) {
				best = i
			}
		}
		t := left[best]
		out = append(out, t)
		counts[bucket(t)]--
		left = slices.Delete(left, best, best+1)
	}
	return out
}

// worse reports whether a should be stopped before b.
func (p *planner) worse(svc *Service, a, b *Task, counts map[string]int, bucket func(*Task) string) bool {
	ha, hb := p.healthy(svc, a), p.healthy(svc, b)
	if ha != hb {
		return !ha
	}
	if ca, cb := counts[bucket(a)], counts[bucket(b)]; ca != cb {
		return ca > cb
	}
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.After(b.StartedAt) || a.StartedAt.IsZero()
	}
	return a.ID > b.ID
}

// victimBucket returns the grouping the first spread strategy balances.
func (p *planner) victimBucket(svc *Service) func(*Task) string {
	for _, s := range svc.Spec.PlacementStrategy {
		if s.Type != "spread" {
			continue
		}
		if attr, ok := strings.CutPrefix(s.Field, "attribute:"); ok {
			return func(t *Task) string {
				if n := p.byName[t.Node]; n != nil {
					return n.node.Attributes[attr]
				}
				return ""
			}
		}
		break
	}
	return func(t *Task) string { return t.Node }
}

// startTasks places n tasks of the primary deployment's revision, reporting
// the unplaced ones with every node's reason. It returns how many started.
func (p *planner) startTasks(svc *Service, prim *Deployment, n int) int {
	name := svc.Spec.ServiceName
	if n <= 0 {
		return 0
	}
	if p.snap.TaskDefinitions[prim.TaskDefinition] == nil {
		p.event(name, fmt.Sprintf("(service %s) cannot start tasks: task definition %s is not registered.", name, prim.TaskDefinition))
		return 0
	}
	c := p.newPlaceCtx(svc, prim.TaskDefinition)
	placed := 0
	for ; placed < n; placed++ {
		node := p.place(c)
		if node == nil {
			break
		}
		p.out.Start = append(p.out.Start, Placement{Service: c.service, TaskDefinition: c.revision, Deployment: prim.ID, Node: node.node.Name})
	}
	if placed > 0 {
		p.event(name, fmt.Sprintf("(service %s) has started %d tasks.", name, placed))
	}
	if placed < n {
		u := p.rejections(c, n-placed)
		p.out.Unplaced = append(p.out.Unplaced, u)
		msg := fmt.Sprintf("(service %s) was unable to place a task because no container instance met all of its requirements.", name)
		if u.Closest.Node != "" {
			msg += fmt.Sprintf(" The closest matching (container-instance %s) %s.", u.Closest.Node, u.Closest.Reason)
		} else {
			msg += " Reason: no nodes are registered."
		}
		p.event(name, msg)
	}
	return placed
}

func without(tasks, drop []*Task) []*Task {
	return slices.DeleteFunc(slices.Clone(tasks), func(t *Task) bool { return slices.Contains(drop, t) })
}

// taskList formats stopped tasks as ECS does: "(task a) (task b)".
func taskList(stops []Stop) string {
	parts := make([]string, len(stops))
	for i, s := range stops {
		parts[i] = "(task " + s.TaskID + ")"
	}
	return strings.Join(parts, " ")
}
