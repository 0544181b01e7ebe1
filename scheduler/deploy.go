package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// deployments is one service's deployments during a plan: working copies,
// the changed ones reported at the end.
type deployments struct {
	service string
	list    []*Deployment
	changed map[*Deployment]bool
}

func (p *planner) loadDeployments(service string) *deployments {
	ds := &deployments{service: service, changed: map[*Deployment]bool{}}
	for _, d := range p.deps[service] {
		c := d
		ds.list = append(ds.list, &c)
	}
	slices.SortFunc(ds.list, func(a, b *Deployment) int { return cmp.Compare(a.Seq, b.Seq) })
	return ds
}

// primary is the newest PRIMARY deployment, nil if none.
func (ds *deployments) primary() *Deployment {
	for i := len(ds.list) - 1; i >= 0; i-- {
		if ds.list[i].Status == DeploymentPrimary {
			return ds.list[i]
		}
	}
	return nil
}

func (ds *deployments) byID(id string) *Deployment {
	for _, d := range ds.list {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (ds *deployments) touch(d *Deployment) { ds.changed[d] = true }

// start creates the PRIMARY deployment of revision; the previous primary
// becomes ACTIVE.
func (p *planner) startDeployment(ds *deployments, revision, rollbackOf, lbs string) *Deployment {
	seq := 1
	if n := len(ds.list); n > 0 {
		seq = ds.list[n-1].Seq + 1
	}
	if old := ds.primary(); old != nil {
		old.Status, old.UpdatedAt = DeploymentActive, p.snap.Now
		ds.touch(old)
	}
	d := &Deployment{
		ID: fmt.Sprintf("%s/%d", ds.service, seq), Service: ds.service, Seq: seq, TaskDefinition: revision,
		Status: DeploymentPrimary, RolloutState: RolloutInProgress, RollbackOf: rollbackOf,
		CreatedAt: p.snap.Now, UpdatedAt: p.snap.Now, LoadBalancers: lbs,
	}
	ds.list = append(ds.list, d)
	ds.touch(d)
	return d
}

// Stopped tasks stay listed (ECS keeps them an hour) within these bounds.
const (
	StoppedTaskTTL  = time.Hour
	MaxStoppedTasks = 20 // per service, the newest kept
)

// countFailures counts the service's newly stopped tasks, failures against
// the deployment that started them, and reaps stopped tasks past their
// retention.
func (p *planner) countFailures(ds *deployments, tasks []*Task) {
	var stopped []*Task
	for _, t := range tasks {
		if t.live() {
			continue
		}
		stopped = append(stopped, t)
		if t.Counted {
			continue
		}
		p.out.Counted = append(p.out.Counted, t.ID)
		if t.Failed {
			p.event(ds.service, fmt.Sprintf("(service %s) (task %s) failed: %s.", ds.service, t.ID, strings.TrimSuffix(t.StoppedReason, ".")))
		}
		if d := ds.byID(t.Deployment); d != nil && t.Failed {
			p.failed(ds, d)
		}
	}
	slices.SortFunc(stopped, func(a, b *Task) int {
		if c := b.StoppedAt.Compare(a.StoppedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i, t := range stopped {
		if i >= MaxStoppedTasks || (!t.StoppedAt.IsZero() && p.snap.Now.Sub(t.StoppedAt) >= StoppedTaskTTL) {
			p.out.Reap = append(p.out.Reap, t.ID)
		}
	}
}

// failed counts one failed task against d.
func (p *planner) failed(ds *deployments, d *Deployment) {
	if d == nil {
		return
	}
	d.FailedTasks++
	switch {
	case d.LastFailedAt.IsZero() || p.snap.Now.Sub(d.LastFailedAt) >= launchBackoffMemory:
		d.RecentFailures = 1 // the earlier failures are forgotten
	case d.RecentFailures == 0:
		d.RecentFailures = d.FailedTasks // recorded before RecentFailures was kept
	default:
		d.RecentFailures++
	}
	d.UpdatedAt, d.LastFailedAt = p.snap.Now, p.snap.Now
	ds.touch(d)
}

// currentDeployment returns the primary deployment, starting one when the
// service's revision or load balancers changed or the caller forces one, and trips the circuit
// breaker: after spec.FailureThreshold(desired) failed tasks the deployment
// fails and, with rollback, a new deployment returns to the last completed
// revision.
func (p *planner) currentDeployment(svc *Service, ds *deployments) *Deployment {
	name := svc.Spec.ServiceName
	prim := ds.primary()
	lbs := LoadBalancersKey(svc.Spec.LoadBalancers)
	if prim != nil && prim.LoadBalancers == "" {
		// Recorded before deployments kept their load balancers: adopt
		// the current ones rather than redeploy.
		prim.LoadBalancers = lbs
		ds.touch(prim)
	}
	lbsChanged := prim != nil && prim.LoadBalancers != lbs
	if prim == nil || svc.ForceNewDeployment || lbsChanged || (svc.TaskDefinition != prim.TaskDefinition && svc.TaskDefinition != prim.RollbackOf) {
		prim = p.startDeployment(ds, svc.TaskDefinition, "", lbs)
		if prim.Seq > 1 {
			p.event(name, fmt.Sprintf("(service %s) has started a deployment (deployment %s) of task definition %s.", name, prim.ID, prim.TaskDefinition))
		}
	}
	enabled, rollback := svc.Spec.DeploymentConfiguration.CircuitBreakerEnabled()
	if !enabled || prim.RolloutState != RolloutInProgress || prim.FailedTasks < spec.FailureThreshold(svc.Spec.Desired()) {
		return prim
	}
	prim.RolloutState, prim.RolloutStateReason, prim.UpdatedAt = RolloutFailed, "tasks failed to start", p.snap.Now
	ds.touch(prim)
	p.event(name, fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", name, prim.ID))
	// A failed rollback is not rolled back again: that could only loop.
	if !rollback || prim.RollbackOf != "" {
		return prim
	}
	var last *Deployment
	for _, d := range ds.list {
		if d != prim && d.RolloutState == RolloutCompleted {
			last = d
		}
	}
	if last == nil {
		return prim
	}
	failed := prim
	prim = p.startDeployment(ds, last.TaskDefinition, failed.TaskDefinition, lbs)
	p.event(name, fmt.Sprintf("(service %s) (deployment %s) rolling back to task definition %s after deployment %s failed.", name, prim.ID, prim.TaskDefinition, failed.ID))
	return prim
}

// finishDeployments completes the primary once the service is steady and
// retires deployments left without tasks, then reports what changed.
func (p *planner) finishDeployments(svc *Service, ds *deployments, prim *Deployment, steady bool, liveByRevision map[string]int) {
	name := svc.Spec.ServiceName
	if steady && prim.RolloutState == RolloutInProgress {
		prim.RolloutState, prim.RolloutStateReason, prim.UpdatedAt = RolloutCompleted, "", p.snap.Now
		ds.touch(prim)
		p.event(name, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", name, prim.ID))
	}
	// An older deployment retires when the service is steady on the primary,
	// or when none of its tasks is left, unless it completed: that one stays
	// as the rollback target until the primary completes.
	for _, d := range ds.list {
		retire := steady || (liveByRevision[d.TaskDefinition] == 0 && d.RolloutState != RolloutCompleted)
		if d.Status == DeploymentActive && retire {
			d.Status, d.UpdatedAt = DeploymentInactive, p.snap.Now
			ds.touch(d)
		}
	}
	if steady != prim.Steady {
		prim.Steady = steady
		ds.touch(prim)
		if steady {
			p.event(name, fmt.Sprintf("(service %s) has reached a steady state.", name))
		}
	}
	for _, d := range ds.list {
		if ds.changed[d] {
			p.out.Deployments = append(p.out.Deployments, *d)
		}
	}
}

// LaunchBackoff is how long a deployment waits after a failed task before
// it starts another, given how many of its tasks had failed before that one:
// none for the first two failures (a crash and a failed health check are
// replaced at once), then 1 s, doubling up to 5 minutes, ECS's service
// throttle. Failures older than 15 minutes no longer hold launches back.
func LaunchBackoff(failedBefore int) time.Duration {
	if failedBefore <= 1 {
		return 0
	}
	return min(time.Second<<min(failedBefore-2, 9), maxLaunchBackoff)
}

const (
	maxLaunchBackoff    = 5 * time.Minute
	launchBackoffMemory = 15 * time.Minute
)

// throttled reports whether d's failures hold its launches back now: its
// last failure was less than LaunchBackoff(the recent failures before it)
// ago.
func (p *planner) throttled(d *Deployment) bool {
	if d.LastFailedAt.IsZero() || p.snap.Now.Sub(d.LastFailedAt) >= launchBackoffMemory {
		return false
	}
	return p.snap.Now.Before(d.LastFailedAt.Add(LaunchBackoff(d.RecentFailures - 1)))
}

// LoadBalancersKey identifies a service's loadBalancers, in any order; never
// "" (that marks a deployment that did not record them).
func LoadBalancersKey(lbs []spec.LoadBalancer) string {
	keys := make([]string, len(lbs))
	for i, lb := range lbs {
		keys[i] = fmt.Sprintf("%s/%s:%d", lb.GroupName(), lb.ContainerName, lb.ContainerPort)
	}
	slices.Sort(keys)
	return "lb" + fmt.Sprint(keys)
}
