package store

import (
	"cmp"
	"slices"

	"github.com/gantrylb/gantry/spec"
)

// Placements is what one node's agent needs from the desired state: the tasks
// placed on it and what they refer to. It is cut from one snapshot, so its
// references resolve within it; like the snapshot, it shares the resources it
// points to and callers must not modify them.
type Placements struct {
	// Index is the State.Version it was cut from: the index of the next
	// blocking query.
	Index uint64 `json:"index"`
	Node  string `json:"node"`
	// Tasks are every task whose Node is node, live or stopped, sorted by ID.
	Tasks []*Task `json:"tasks"`
	// TaskDefinitions the tasks run, by "family:revision", defaults applied.
	TaskDefinitions map[string]*spec.TaskDefinition `json:"taskDefinitions"`
	// Services of the tasks that still exist (DRAINING ones included), by name.
	Services map[string]*Service `json:"services"`
	// TargetGroups the services' load balancers name, by name, defaults
	// applied as stored. A group deleted since is left out.
	TargetGroups map[string]*spec.TargetGroup `json:"targetGroups"`
}

// PlacementsOf returns the placements of node in s. Its slices and maps are
// never nil, so that they encode as [] and {}.
func (s *State) PlacementsOf(node string) *Placements {
	p := &Placements{
		Index:           s.Version,
		Node:            node,
		Tasks:           []*Task{},
		TaskDefinitions: map[string]*spec.TaskDefinition{},
		Services:        map[string]*Service{},
		TargetGroups:    map[string]*spec.TargetGroup{},
	}
	for _, t := range s.Tasks {
		if t.Node == node {
			p.Tasks = append(p.Tasks, t)
		}
	}
	slices.SortFunc(p.Tasks, func(a, b *Task) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range p.Tasks {
		if _, ok := p.TaskDefinitions[t.TaskDefinition]; !ok {
			if r := s.Revision(t.TaskDefinition); r != nil {
				p.TaskDefinitions[t.TaskDefinition] = r.Spec
			}
		}
		svc := s.Services[t.Service]
		if svc == nil || p.Services[t.Service] != nil {
			continue
		}
		p.Services[t.Service] = svc
		for _, lb := range svc.Spec.LoadBalancers {
			if g := s.TargetGroups[lb.GroupName()]; g != nil {
				p.TargetGroups[g.Name] = g
			}
		}
	}
	return p
}
