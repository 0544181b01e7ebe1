package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// Pure transitions of the control plane's resources; see transition.go for
// the contract they share.

// workDoc is a task definition or service of an apply, with the index of its
// result: workloads are applied after listeners and groups, but their results
// keep the documents' order.
type workDoc struct {
	at  int
	td  *spec.TaskDefinition
	svc *spec.Service
}

// applyWorkloads applies the task definitions, then the services, of an
// apply to next, filling their results. Task definitions come first so that
// a service can run the revision the same apply registers.
func applyWorkloads(cur, next *State, work []workDoc, results []Result) spec.ErrorList {
	var errs spec.ErrorList
	first := map[string]spec.Position{}
	for _, w := range work {
		if w.td == nil {
			continue
		}
		td := w.td
		td.SetDefaults()
		errs = append(errs, td.Validate()...)
		if p, ok := first[td.Family]; ok {
			errs = append(errs, &spec.Error{Pos: fieldPos(td.Positions, td.Pos, "family"), Path: "family", Msg: fmt.Sprintf("task definition family %q appears twice in this apply (first at %s)", td.Family, p)})
			continue
		}
		first[td.Family] = fieldPos(td.Positions, td.Pos, "family")
		results[w.at] = putRevision(next, td)
	}
	groups := make([]*spec.TargetGroup, 0, len(next.TargetGroups))
	for _, k := range slices.Sorted(maps.Keys(next.TargetGroups)) {
		groups = append(groups, next.TargetGroups[k])
	}
	first = map[string]spec.Position{}
	for _, w := range work {
		if w.svc == nil {
			continue
		}
		s := w.svc
		s.SetDefaults()
		errs = append(errs, s.Validate()...)
		if p, ok := first[s.ServiceName]; ok {
			errs = append(errs, &spec.Error{Pos: fieldPos(s.Positions, s.Pos, "serviceName"), Path: "serviceName", Msg: fmt.Sprintf("service %q appears twice in this apply (first at %s)", s.ServiceName, p)})
			continue
		}
		first[s.ServiceName] = fieldPos(s.Positions, s.Pos, "serviceName")
		old := cur.Services[s.ServiceName]
		rev, problem := resolveRevision(next, old, s)
		if problem != "" {
			errs = append(errs, &spec.Error{Pos: fieldPos(s.Positions, s.Pos, "taskDefinition"), Path: "taskDefinition", Msg: problem})
			errs = append(errs, groupReferences(s, groups)...)
			continue
		}
		if rev == nil {
			continue // a malformed reference: s.Validate reported it
		}
		// The revision is resolved: check the service against it as if it
		// named the family's only task definition.
		probe := *s
		probe.TaskDefinition = rev.Family
		errs = append(errs, spec.ValidateServices([]*spec.Service{&probe}, []*spec.TaskDefinition{rev.Spec}, groups)...)
		svc := &Service{Spec: s, TaskDefinition: rev.Ref(), Status: ServiceActive}
		results[w.at] = Result{spec.KindService, s.ServiceName, action(old, svc)}
		next.Services[s.ServiceName] = svc
	}
	return errs
}

// groupReferences checks, for a service whose task definition did not
// resolve, what can be checked without it: the target groups its load
// balancers name (so one apply reports every missing reference, as
// spec.Check does offline).
func groupReferences(s *spec.Service, groups []*spec.TargetGroup) spec.ErrorList {
	var errs spec.ErrorList
	for _, e := range spec.ValidateServices([]*spec.Service{s}, nil, groups) {
		if strings.HasPrefix(e.Path, "loadBalancers") {
			errs = append(errs, e)
		}
	}
	return errs
}

// putRevision registers td as the family's next revision unless it equals
// the latest ACTIVE one.
func putRevision(next *State, td *spec.TaskDefinition) Result {
	revs := next.TaskDefinitions[td.Family]
	if n := len(revs); n > 0 && revs[n-1].Status == RevisionActive && action(revs[n-1].Spec, td) == ActionUnchanged {
		return Result{spec.KindTaskDefinition, revs[n-1].Ref(), ActionUnchanged}
	}
	r := &TaskDefinitionRevision{Family: td.Family, Revision: len(revs) + 1, Status: RevisionActive, Spec: td}
	next.TaskDefinitions[td.Family] = append(slices.Clip(revs), r)
	return Result{spec.KindTaskDefinition, r.Ref(), ActionCreated}
}

// resolveRevision finds the revision a service document names: the family's
// latest ACTIVE revision, or the pinned one, which may be INACTIVE only if
// the service runs it already. It returns nil and "" for a malformed
// reference, which the service's Validate reports.
func resolveRevision(st *State, old *Service, s *spec.Service) (*TaskDefinitionRevision, string) {
	family, rev, ok := s.TaskDefinitionRef()
	if !ok {
		return nil, ""
	}
	revs := st.TaskDefinitions[family]
	switch {
	case len(revs) == 0:
		return nil, fmt.Sprintf("task definition family %q does not exist", family)
	case rev == 0:
		if r := st.Revision(family); r != nil {
			return r, ""
		}
		return nil, fmt.Sprintf("task definition family %q has no ACTIVE revision: every revision was deregistered", family)
	case rev > len(revs):
		return nil, fmt.Sprintf("task definition %q does not exist: the latest revision of %q is %d", revisionRef(family, rev), family, len(revs))
	}
	r := revs[rev-1]
	if r.Status != RevisionActive && (old == nil || old.TaskDefinition != r.Ref()) {
		return nil, fmt.Sprintf("task definition %q is INACTIVE (deregistered): reference an ACTIVE revision", r.Ref())
	}
	return r, ""
}

// fieldPos is where path stands in a document, or the document's position.
func fieldPos(positions map[string]spec.Position, doc spec.Position, path string) spec.Position {
	if p, ok := positions[path]; ok {
		return p
	}
	return doc
}

// deregisterRevision marks "family:revision" INACTIVE.
func deregisterRevision(cur *State, name string) (*State, error) {
	family, rev, ok := spec.ParseTaskDefinitionRef(name)
	if !ok || rev == 0 {
		return nil, fmt.Errorf("store: deregister task definition: %q: name one revision, family:revision: %w", name, ErrInvalid)
	}
	revs := cur.TaskDefinitions[family]
	if rev > len(revs) {
		return nil, fmt.Errorf("store: deregister task definition: %q: %w", name, ErrNotFound)
	}
	if revs[rev-1].Status == RevisionInactive {
		return nil, nil
	}
	next := cur.clone()
	revs = slices.Clone(revs)
	r := *revs[rev-1]
	r.Status = RevisionInactive
	revs[rev-1] = &r
	next.TaskDefinitions[family] = revs
	return next, nil
}

// deleteService removes a service without live tasks, or drains one.
func deleteService(cur *State, name string) (*State, error) {
	svc := cur.Services[name]
	if svc == nil {
		return nil, fmt.Errorf("store: delete: service %q: %w", name, ErrNotFound)
	}
	live := slices.ContainsFunc(cur.ServiceTasks(name), (*Task).Live)
	if live && svc.Status == ServiceDraining {
		return nil, nil
	}
	next := cur.clone()
	if !live {
		removeService(next, name)
		return next, nil
	}
	s := *svc.Spec
	s.DesiredCount = new(int)
	next.Services[name] = &Service{Spec: &s, TaskDefinition: svc.TaskDefinition, Status: ServiceDraining}
	return next, nil
}

// removeService forgets a service with its tasks, deployments and events.
// next must be a clone.
func removeService(next *State, name string) {
	delete(next.Services, name)
	delete(next.Events, name)
	maps.DeleteFunc(next.Tasks, func(_ string, t *Task) bool { return t.Service == name })
	maps.DeleteFunc(next.Deployments, func(_ string, d *Deployment) bool { return d.Service == name })
}

// servicesUsing returns the services registering tasks in group, sorted.
func (s *State) servicesUsing(group string) []string {
	var out []string
	for name, svc := range s.Services {
		if slices.ContainsFunc(svc.Spec.LoadBalancers, func(lb spec.LoadBalancer) bool { return lb.GroupName() == group }) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// taskID derives a task's ID from the version of the commit that creates it,
// its index in the plan and the plan's time: deterministic on every replica
// (the plan is in the log), unique in the store, and different in another
// store that reaches the same version (a fresh --dev node), so that a
// container left by an earlier run is never taken for a new task's. 32 hex
// digits like ECS's.
func taskID(version uint64, i int, at time.Time) string {
	sum := sha256.Sum256([]byte(strconv.FormatUint(version, 10) + "/" + strconv.Itoa(i) + "/" + strconv.FormatInt(at.UnixNano(), 10)))
	return hex.EncodeToString(sum[:16])
}

// planProblems lists what makes a plan malformed.
func planProblems(p *Plan) []string {
	var out []string
	if p.Now.IsZero() {
		out = append(out, "plan has no time")
	}
	for i, s := range p.Start {
		if _, rev, ok := spec.ParseTaskDefinitionRef(s.TaskDefinition); s.Service == "" || s.Node == "" || !ok || rev == 0 {
			out = append(out, fmt.Sprintf("start[%d] needs a service, a node and a family:revision", i))
		}
	}
	for i, s := range p.Stop {
		if s.TaskID == "" {
			out = append(out, fmt.Sprintf("stop[%d] has no task ID", i))
		}
	}
	for i, s := range p.Lost {
		if s.TaskID == "" {
			out = append(out, fmt.Sprintf("lost[%d] has no task ID", i))
		}
	}
	for i, d := range p.Deployments {
		if d.ID == "" || d.Service == "" {
			out = append(out, fmt.Sprintf("deployments[%d] needs an ID and a service", i))
		}
	}
	for i, e := range p.Events {
		if e.Service == "" || e.Message == "" {
			out = append(out, fmt.Sprintf("events[%d] needs a service and a message", i))
		}
	}
	return out
}

// commitPlan applies one step of the scheduler; see Store.CommitPlan.
func commitPlan(cur *State, p *Plan) (*State, []Result, error) {
	if problems := planProblems(p); len(problems) > 0 {
		return nil, nil, fmt.Errorf("store: commit plan: %s: %w", strings.Join(problems, "; "), ErrInvalid)
	}
	next := cur.clone()
	changed := false
	var results []Result
	for i, pl := range p.Start {
		if svc := next.Services[pl.Service]; svc == nil || svc.Status == ServiceDraining || next.Revision(pl.TaskDefinition) == nil {
			continue
		}
		id := taskID(next.Version, i, p.Now)
		next.Tasks[id] = &Task{
			ID: id, Service: pl.Service, TaskDefinition: pl.TaskDefinition, Deployment: pl.Deployment, Node: pl.Node,
			DesiredStatus: TaskRunning, LastStatus: TaskProvisioning, CreatedAt: p.Now,
		}
		results = append(results, Result{KindTask, id, ActionCreated})
		changed = true
	}
	for _, s := range p.Stop {
		t := next.Tasks[s.TaskID]
		if t == nil || t.DesiredStatus == TaskStopped {
			continue
		}
		c := *t
		c.DesiredStatus, c.StoppedReason, c.StoppingAt = TaskStopped, s.Reason, p.Now
		next.Tasks[s.TaskID] = &c
		changed = true
	}
	for _, s := range p.Lost {
		t := next.Tasks[s.TaskID]
		if t == nil || !t.Live() {
			continue
		}
		c := *t
		c.DesiredStatus, c.LastStatus, c.StoppedReason, c.StoppedAt, c.Health = TaskStopped, TaskStopped, s.Reason, p.Now, ""
		if c.StoppingAt.IsZero() {
			c.StoppingAt = p.Now
		}
		next.Tasks[s.TaskID] = &c
		changed = true
	}
	changed = upsertDeployments(next, p.Deployments) || changed
	changed = appendEvents(next, p) || changed
	for _, id := range p.Counted {
		if t := next.Tasks[id]; t != nil && !t.Live() && !t.Counted {
			c := *t
			c.Counted = true
			next.Tasks[id] = &c
			changed = true
		}
	}
	for _, id := range p.Reap {
		if next.Tasks[id] != nil {
			delete(next.Tasks, id)
			changed = true
		}
	}
	changed = removeDrained(next) || changed
	if !changed {
		return nil, results, nil
	}
	return next, results, nil
}

// upsertDeployments stores deployments of existing services and forgets
// INACTIVE ones. next must be a clone.
func upsertDeployments(next *State, ds []Deployment) bool {
	changed := false
	for _, d := range ds {
		old := next.Deployments[d.ID]
		switch {
		case d.Status == DeploymentInactive:
			if old != nil {
				delete(next.Deployments, d.ID)
				changed = true
			}
		case next.Services[d.Service] == nil, old != nil && *old == d:
		default:
			next.Deployments[d.ID] = &d
			changed = true
		}
	}
	return changed
}

// appendEvents adds a plan's events to their services' ring buffers. next
// must be a clone.
func appendEvents(next *State, p *Plan) bool {
	changed := false
	for i, e := range p.Events {
		if next.Services[e.Service] == nil {
			continue
		}
		at := e.At
		if at.IsZero() {
			at = p.Now
		}
		list := append(slices.Clip(next.Events[e.Service]), Event{ID: fmt.Sprintf("%d-%d", next.Version, i), At: at, Message: e.Message})
		if n := len(list); n > MaxServiceEvents {
			list = slices.Clone(list[n-MaxServiceEvents:])
		}
		next.Events[e.Service] = list
		changed = true
	}
	return changed
}

// removeDrained removes DRAINING services that have no task left. next must
// be a clone.
func removeDrained(next *State) bool {
	live := map[string]bool{}
	for _, t := range next.Tasks {
		if t.Live() {
			live[t.Service] = true
		}
	}
	changed := false
	for name, svc := range next.Services {
		if svc.Status == ServiceDraining && !live[name] {
			for id, t := range next.Tasks {
				if t.Service == name {
					delete(next.Tasks, id)
				}
			}
			removeService(next, name)
			changed = true
		}
	}
	return changed
}

// updateTaskStatus records an agent's report; see Store.UpdateTaskStatus.
func updateTaskStatus(cur *State, id string, st TaskStatus) (*State, error) {
	if taskOrder[st.LastStatus] == 0 {
		return nil, fmt.Errorf("store: update task status: task %s: unknown status %q: %w", id, st.LastStatus, ErrInvalid)
	}
	if st.At.IsZero() {
		return nil, fmt.Errorf("store: update task status: task %s: no time: %w", id, ErrInvalid)
	}
	t := cur.Tasks[id]
	if t == nil {
		return nil, fmt.Errorf("store: update task status: task %s: %w", id, ErrNotFound)
	}
	if t.LastStatus == TaskStopped {
		return nil, nil // final: late reports change nothing
	}
	c := *t
	if taskOrder[st.LastStatus] >= taskOrder[t.LastStatus] {
		c.LastStatus = st.LastStatus
	}
	// A lifecycle report without health keeps what the health reports said
	// while the task runs; past RUNNING the target is gone, and so is its health.
	if st.Health != "" || taskOrder[c.LastStatus] > taskOrder[TaskRunning] {
		c.Health = st.Health
	}
	if st.ContainerHealth != "" {
		c.ContainerHealth = st.ContainerHealth
	}
	if st.HostPorts != nil {
		c.HostPorts = st.HostPorts
	}
	if c.LastStatus == TaskRunning && c.StartedAt.IsZero() {
		c.StartedAt = st.At
	}
	if c.LastStatus == TaskStopped {
		c.StoppedAt, c.Failed = st.At, st.Failed
		if st.StoppedReason != "" {
			c.StoppedReason = st.StoppedReason
		}
	}
	if action(t, &c) == ActionUnchanged {
		return nil, nil
	}
	next := cur.clone()
	next.Tasks[id] = &c
	return next, nil
}
