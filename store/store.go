package store

import (
	"context"
	"errors"
	"strings"

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
}

// Result says what an apply did to one resource.
type Result struct {
	// Kind is spec.KindListener or spec.KindTargetGroup.
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
	// that a listener forwards to.
	Delete(ctx context.Context, kind, name string) error
	// RegisterTargets adds targets to a group (ErrNotFound if it does not
	// exist); registering a known address again updates its weight.
	RegisterTargets(ctx context.Context, group string, targets []spec.Target) error
	// DeregisterTargets removes registered targets by address, all or none:
	// ErrNotFound for an address that is not registered.
	DeregisterTargets(ctx context.Context, group string, addrs []string) error
	// Watch blocks until the state's version exceeds since, or ctx ends, and
	// returns the newest snapshot.
	Watch(ctx context.Context, since uint64) (*State, error)
}

// ParseKind maps the names operators type to a canonical kind: "listeners",
// "listener", "Listener", "lis" and "l" give KindListeners; "target-groups",
// "target-group", "targetgroups", "TargetGroup", "tgs" and "tg" give
// KindTargetGroups. It reports false for anything else.
func ParseKind(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "listeners", "listener", "lis", "l":
		return KindListeners, true
	case "target-groups", "target-group", "targetgroups", "targetgroup", "tgs", "tg":
		return KindTargetGroups, true
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
