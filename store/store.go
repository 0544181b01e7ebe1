package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// State is one immutable snapshot of the desired state. Callers must not
// modify it or anything it points to: snapshots share unchanged resources.
type State struct {
	// Version increases by one with every change; an apply that changes
	// nothing keeps it.
	Version uint64
	// Listeners by name, with defaults applied.
	Listeners map[string]*spec.Listener
	// TargetGroups by name, with defaults applied.
	TargetGroups map[string]*spec.TargetGroup
	// Registered lists, per group name, the targets registered through the API
	// beside the group's own static targets, in registration order, weights
	// defaulted.
	Registered map[string][]spec.Target
	// TaskDefinitions by family: every revision, revision N at index N-1.
	TaskDefinitions map[string][]*TaskDefinitionRevision
	// Services by name.
	Services map[string]*Service
	// Tasks by ID: every task placed and not reaped yet.
	Tasks map[string]*Task
	// Deployments by ID: the PRIMARY and ACTIVE ones of every service.
	Deployments map[string]*Deployment
	// Events per service name, oldest first, at most MaxServiceEvents.
	Events map[string][]Event
	// DrainingNodes are the nodes an operator is draining (gantry node
	// drain), with when the drain was asked: the scheduler places nothing
	// new on them and moves their tasks elsewhere.
	DrainingNodes map[string]time.Time
}

// Result says what an apply did to one resource.
type Result struct {
	// Kind is spec.KindListener, spec.KindTargetGroup,
	// spec.KindTaskDefinition (Name is "family:revision"), spec.KindService
	// or KindTask (created by CommitPlan; Name is the ID).
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Action is ActionCreated, ActionConfigured or ActionUnchanged.
	Action string `json:"action"`
}

// Apply actions, as kubectl prints them.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
)

// Canonical kind names used by the API and the CLI.
const (
	KindListeners    = "listeners"
	KindTargetGroups = "target-groups"
)

// Errors callers branch on; returned errors wrap them.
var (
	// ErrNotFound: the named resource or target does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInUse: the resource is referenced by another and cannot be deleted.
	ErrInUse = errors.New("in use")
	// ErrInvalid: the request itself is malformed (unknown kind, bad address).
	ErrInvalid = errors.New("invalid")
)

// Store holds the desired state. Implementations are safe for concurrent use;
// every method may block on I/O and honours ctx.
type Store interface {
	// Snapshot returns the current state without blocking. Never nil.
	Snapshot() *State
	// Apply validates docs merged with the current state (defaults, each
	// resource's Validate, spec.ValidateSet) and commits all or nothing. A
	// rejected apply changes nothing and returns the located problems as a
	// spec.ErrorList. Apply takes ownership of the documents' resources: it
	// applies their defaults and keeps them in snapshots.
	Apply(ctx context.Context, docs []spec.Document) ([]Result, error)
	// Delete removes the resource of a canonical kind (see ParseKind). It
	// returns ErrNotFound when there is none, and ErrInUse for a target group
	// that a listener forwards to or a service registers in.
	//
	// For task definitions, name is "family:revision" and the revision is
	// deregistered: it stays, INACTIVE, for the services and tasks that run
	// it, but no service may newly reference it. A service with no live task
	// is removed at once (with its stopped tasks, deployments and events);
	// one with live tasks becomes DRAINING with a desired count of 0, so the
	// scheduler stops its tasks, and is removed when CommitPlan reaps its
	// last task. Applying it again revives it. Tasks cannot be deleted
	// (ErrInvalid): scale their service.
	Delete(ctx context.Context, kind, name string) error
	// RegisterTargets adds targets to a group (ErrNotFound if it does not
	// exist); registering a known address again updates its weight.
	RegisterTargets(ctx context.Context, group string, targets []spec.Target) error
	// DeregisterTargets removes registered targets by address, all or none:
	// ErrNotFound for an address that is not registered.
	DeregisterTargets(ctx context.Context, group string, addrs []string) error
	// CommitPlan commits one step of the scheduler, all or nothing: it
	// creates the placed tasks (PROVISIONING, desired RUNNING, IDs generated
	// deterministically from the state's version), stops tasks, upserts
	// deployments, appends events and reaps tasks, then removes DRAINING
	// services left without tasks. It returns the created tasks' IDs in
	// plan.Start's order. A placement for a service that no longer exists or
	// is DRAINING, a stop or reap of an unknown task, are skipped (the state
	// moved since the plan was made); a malformed plan is ErrInvalid.
	CommitPlan(ctx context.Context, plan *Plan) ([]string, error)
	// UpdateTaskStatus records what a task's agent reports: ErrNotFound for an
	// unknown task, ErrInvalid for an unknown status.
	UpdateTaskStatus(ctx context.Context, id string, status TaskStatus) error
	// DrainNode marks a node as draining (drain true, at the given time) or
	// active again (false). Nodes are named freely: a node not yet seen may be
	// drained before it joins. An unchanged state keeps the version.
	DrainNode(ctx context.Context, node string, drain bool, at time.Time) error
	// Watch blocks until the state's version exceeds since, or ctx ends, and
	// returns the newest snapshot.
	Watch(ctx context.Context, since uint64) (*State, error)
}

// ParseKind maps the names operators type to a canonical kind: "listeners",
// "listener", "Listener", "lis" and "l" give KindListeners; "target-groups",
// "target-group", "targetgroups", "TargetGroup", "tgs" and "tg" give
// KindTargetGroups; "task-definitions", "task-definition", "TaskDefinition"
// and "td" give KindTaskDefinitions; "services", "service" and "svc" give
// KindServices; "tasks" and "task" give KindTasks. It reports false for
// anything else.
func ParseKind(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "listeners", "listener", "lis", "l":
		return KindListeners, true
	case "target-groups", "target-group", "targetgroups", "targetgroup", "tgs", "tg":
		return KindTargetGroups, true
	case "task-definitions", "task-definition", "taskdefinitions", "taskdefinition", "td":
		return KindTaskDefinitions, true
	case "services", "service", "svc":
		return KindServices, true
	case "tasks", "task":
		return KindTasks, true
	}
	return "", false
}

// AllTargets returns a group's static targets followed by its registered ones
// that are not also static, weights defaulted.
func (s *State) AllTargets(group string) []spec.Target {
	g := s.TargetGroups[group]
	if g == nil {
		return nil
	}
	out := make([]spec.Target, 0, len(g.Targets)+len(s.Registered[group]))
	seen := make(map[string]bool, cap(out))
	for _, t := range g.Targets {
		t.Weight = t.EffectiveWeight()
		out = append(out, t)
		seen[t.Address] = true
	}
	for _, t := range s.Registered[group] {
		if !seen[t.Address] {
			out = append(out, t)
		}
	}
	return out
}

// ReferencedBy returns the names of the listeners that forward to group.
func (s *State) ReferencedBy(group string) []string {
	var out []string
	for name, l := range s.Listeners {
		if forwardsTo(l, group) {
			out = append(out, name)
		}
	}
	return out
}

func forwardsTo(l *spec.Listener, group string) bool {
	check := func(a *spec.Action) bool {
		if a.Forward == nil {
			return false
		}
		for _, g := range a.Forward.Groups() {
			if g.Name == group {
				return true
			}
		}
		return false
	}
	if check(&l.DefaultAction) {
		return true
	}
	for i := range l.Rules {
		if check(&l.Rules[i].Action) {
			return true
		}
	}
	return false
}
