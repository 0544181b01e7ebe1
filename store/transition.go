package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// The transitions below are pure functions from a state and one request to
// the next state: Memory calls them under its writer lock, and the raft FSM
// calls them for every committed command, so that both stores apply exactly
// the same rules. Each returns a nil next state when the request changes
// nothing, and never modifies cur.

// clone returns a copy of s whose maps may be modified, one version ahead.
// A new kind of resource (task definitions, services, placed tasks) is a new
// map of State cloned here, an optional field of the snapshot document
// (wireState) and new operations of the raft log (command).
func (s *State) clone() *State {
	return &State{
		Version:      s.Version + 1,
		Listeners:    maps.Clone(s.Listeners),
		TargetGroups: maps.Clone(s.TargetGroups),
		Registered:   maps.Clone(s.Registered),

		TaskDefinitions: maps.Clone(s.TaskDefinitions),
		Services:        maps.Clone(s.Services),
		Tasks:           maps.Clone(s.Tasks),
		Deployments:     maps.Clone(s.Deployments),
		Events:          maps.Clone(s.Events),
		DrainingNodes:   maps.Clone(s.DrainingNodes),
	}
}

// emptyState is version 0 of every store.
func emptyState() *State {
	return &State{
		Listeners:    map[string]*spec.Listener{},
		TargetGroups: map[string]*spec.TargetGroup{},
		Registered:   map[string][]spec.Target{},

		TaskDefinitions: map[string][]*TaskDefinitionRevision{},
		Services:        map[string]*Service{},
		Tasks:           map[string]*Task{},
		Deployments:     map[string]*Deployment{},
		Events:          map[string][]Event{},
		DrainingNodes:   map[string]time.Time{},
	}
}

// drainNode marks node as draining since at, or active again.
func drainNode(cur *State, node string, drain bool, at time.Time) (*State, error) {
	if node == "" || len(node) > 128 {
		return nil, fmt.Errorf("store: drain node: name %q: want 1 to 128 characters: %w", node, ErrInvalid)
	}
	if _, draining := cur.DrainingNodes[node]; draining == drain {
		return nil, nil
	}
	next := cur.clone()
	if next.DrainingNodes == nil {
		next.DrainingNodes = map[string]time.Time{}
	}
	if drain {
		next.DrainingNodes[node] = at.UTC()
	} else {
		delete(next.DrainingNodes, node)
	}
	return next, nil
}

// Check reports every problem applying docs to cur would find (nil if
// none) without applying anything: what Apply checks, for a caller that
// already holds other errors and wants them all reported at once. It applies
// the documents' defaults in place.
func Check(cur *State, docs []spec.Document) error {
	_, _, err := applyDocs(cur, docs)
	return err
}

// applyDocs validates docs merged with cur and returns the next state (nil
// when every resource is unchanged) and what happened to each resource. It
// applies the documents' defaults in place.
func applyDocs(cur *State, docs []spec.Document) (*State, []Result, error) {
	next := cur.clone()
	var (
		errs    spec.ErrorList
		results = make([]Result, 0, len(docs))
		firstL  = map[string]spec.Position{}
		firstG  = map[string]spec.Position{}
		work    []workDoc
	)
	dup := func(kind, name string, first map[string]spec.Position, pos spec.Position) bool {
		if p, ok := first[name]; ok {
			errs = append(errs, &spec.Error{Pos: pos, Path: "name", Msg: fmt.Sprintf("%s %q appears twice in this apply (first at %s)", kind, name, p)})
			return true
		}
		first[name] = pos
		return false
	}
	for _, d := range docs {
		switch {
		case d.Listener != nil:
			l := d.Listener
			l.SetDefaults()
			errs = append(errs, l.Validate()...)
			if dup("listener", l.Name, firstL, l.Pos) {
				continue
			}
			results = append(results, Result{spec.KindListener, l.Name, action(cur.Listeners[l.Name], l)})
			next.Listeners[l.Name] = l
		case d.TargetGroup != nil:
			g := d.TargetGroup
			g.SetDefaults()
			errs = append(errs, g.Validate()...)
			if dup("target group", g.Name, firstG, g.Pos) {
				continue
			}
			results = append(results, Result{spec.KindTargetGroup, g.Name, action(cur.TargetGroups[g.Name], g)})
			next.TargetGroups[g.Name] = g
		case d.TaskDefinition != nil:
			work = append(work, workDoc{at: len(results), td: d.TaskDefinition})
			results = append(results, Result{})
		case d.Service != nil:
			work = append(work, workDoc{at: len(results), svc: d.Service})
			results = append(results, Result{})
		default:
			errs = append(errs, &spec.Error{Pos: d.Pos, Msg: fmt.Sprintf("store: unsupported kind %q", d.Kind)})
		}
	}
	errs = append(errs, spec.ValidateSet(ordered(next.Listeners, firstL), ordered(next.TargetGroups, firstG))...)
	errs = append(errs, applyWorkloads(cur, next, work, results)...)
	if err := errs.Err(); err != nil {
		return nil, nil, err
	}
	for _, r := range results {
		if r.Action != ActionUnchanged {
			return next, results, nil
		}
	}
	return nil, results, nil
}

// action compares a resource with the one it replaces. Positions are left out
// of the comparison (they are not encoded), so re-applying the same document
// from another file is unchanged.
func action[T any](old, cur *T) string {
	if old == nil {
		return ActionCreated
	}
	a, errA := json.Marshal(old)
	b, errB := json.Marshal(cur)
	if errA != nil || errB != nil || string(a) != string(b) {
		return ActionConfigured
	}
	return ActionUnchanged
}

// ordered lists the resources of m that this apply does not touch first, by
// name, then the applied ones in document order, so that spec.ValidateSet
// blames a clash (a duplicate port, say) on the new document, not the stored one.
func ordered[T any](m map[string]*T, applied map[string]spec.Position) []*T {
	out := make([]*T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if _, ok := applied[k]; !ok {
			out = append(out, m[k])
		}
	}
	rest := slices.SortedFunc(maps.Keys(applied), func(a, b string) int {
		pa, pb := applied[a], applied[b]
		return cmp.Or(cmp.Compare(pa.File, pb.File), cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column), cmp.Compare(a, b))
	})
	for _, k := range rest {
		out = append(out, m[k])
	}
	return out
}

// deleteResource removes one resource of a kind ParseKind understands.
func deleteResource(cur *State, kind, name string) (*State, error) {
	canonical, ok := ParseKind(kind)
	if !ok {
		return nil, fmt.Errorf("store: delete: unknown kind %q: %w", kind, ErrInvalid)
	}
	switch canonical {
	case KindTaskDefinitions:
		return deregisterRevision(cur, name)
	case KindServices:
		return deleteService(cur, name)
	case KindTasks:
		return nil, fmt.Errorf("store: delete: task %q: tasks are not deleted: scale or delete their service: %w", name, ErrInvalid)
	}
	next := cur.clone()
	switch canonical {
	case KindListeners:
		if cur.Listeners[name] == nil {
			return nil, fmt.Errorf("store: delete: listener %q: %w", name, ErrNotFound)
		}
		delete(next.Listeners, name)
	case KindTargetGroups:
		if cur.TargetGroups[name] == nil {
			return nil, fmt.Errorf("store: delete: target group %q: %w", name, ErrNotFound)
		}
		if users := cur.ReferencedBy(name); len(users) > 0 {
			slices.Sort(users)
			return nil, fmt.Errorf("store: delete: target group %q: %w: listener %s forwards to it", name, ErrInUse, strings.Join(users, ", "))
		}
		if users := cur.servicesUsing(name); len(users) > 0 {
			return nil, fmt.Errorf("store: delete: target group %q: %w: service %s registers tasks in it", name, ErrInUse, strings.Join(users, ", "))
		}
		delete(next.TargetGroups, name)
		delete(next.Registered, name)
	}
	return next, nil
}

// registerTargets adds targets to a group or re-weights known ones.
func registerTargets(cur *State, group string, targets []spec.Target) (*State, error) {
	var problems []string
	for _, t := range targets {
		if p := targetProblem(t); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("store: register targets: %s: %w", strings.Join(problems, "; "), ErrInvalid)
	}
	if cur.TargetGroups[group] == nil {
		return nil, fmt.Errorf("store: register targets: target group %q: %w", group, ErrNotFound)
	}
	list := slices.Clone(cur.Registered[group])
	changed := false
	for _, t := range targets {
		t.Weight = t.EffectiveWeight()
		i := slices.IndexFunc(list, func(x spec.Target) bool { return x.Address == t.Address })
		switch {
		case i < 0:
			list = append(list, t)
			changed = true
		case list[i].Weight != t.Weight:
			list[i].Weight = t.Weight
			changed = true
		}
	}
	if !changed {
		return nil, nil
	}
	next := cur.clone()
	next.Registered[group] = list
	return next, nil
}

// targetProblem describes what is wrong with a target to register, or "".
func targetProblem(t spec.Target) string {
	if msg := spec.HostPortProblem(t.Address); msg != "" {
		return msg
	}
	if t.Weight < 0 || t.Weight > 1000 {
		return fmt.Sprintf("%q has weight %d outside 1..1000", t.Address, t.Weight)
	}
	return ""
}

// deregisterTargets removes registered targets, all or none.
func deregisterTargets(cur *State, group string, addrs []string) (*State, error) {
	g := cur.TargetGroups[group]
	if g == nil {
		return nil, fmt.Errorf("store: deregister targets: target group %q: %w", group, ErrNotFound)
	}
	list := slices.Clone(cur.Registered[group])
	var missing []string
	for _, a := range addrs {
		i := slices.IndexFunc(list, func(x spec.Target) bool { return x.Address == a })
		if i >= 0 {
			list = slices.Delete(list, i, i+1)
			continue
		}
		if slices.ContainsFunc(g.Targets, func(x spec.Target) bool { return x.Address == a }) {
			missing = append(missing, fmt.Sprintf("%s is a static target of the group document: edit and apply it", a))
		} else {
			missing = append(missing, fmt.Sprintf("%s is not registered", a))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("store: deregister targets: target group %q: %s: %w", group, strings.Join(missing, "; "), ErrNotFound)
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	next := cur.clone()
	if len(list) == 0 {
		delete(next.Registered, group)
	} else {
		next.Registered[group] = list
	}
	return next, nil
}
