package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gantrylb/gantry/spec"
)

// Memory is a Store kept in this process's memory: the single-node store of
// `gantry server --dev` and the fake for tests. The zero value is not usable;
// call NewMemory.
type Memory struct {
	state atomic.Pointer[State]

	mu      sync.Mutex    // serialises writers
	changed chan struct{} // closed and replaced on every commit; guarded by mu
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store at version 0.
func NewMemory() *Memory {
	m := &Memory{changed: make(chan struct{})}
	m.state.Store(&State{
		Listeners:    map[string]*spec.Listener{},
		TargetGroups: map[string]*spec.TargetGroup{},
		Registered:   map[string][]spec.Target{},
	})
	return m
}

// Snapshot returns the current state.
func (m *Memory) Snapshot() *State { return m.state.Load() }

// commit publishes next as the new state and wakes watchers. Callers hold mu.
func (m *Memory) commit(next *State) {
	next.Version = m.state.Load().Version + 1
	m.state.Store(next)
	close(m.changed)
	m.changed = make(chan struct{})
}

// next returns a copy of the current state whose maps may be modified.
func (m *Memory) next() *State {
	cur := m.state.Load()
	return &State{
		Version:      cur.Version,
		Listeners:    maps.Clone(cur.Listeners),
		TargetGroups: maps.Clone(cur.TargetGroups),
		Registered:   maps.Clone(cur.Registered),
	}
}

// Apply validates and commits docs, all or nothing.
func (m *Memory) Apply(ctx context.Context, docs []spec.Document) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: apply: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.state.Load()
	next := m.next()
	var (
		errs    spec.ErrorList
		results = make([]Result, 0, len(docs))
		firstL  = map[string]spec.Position{}
		firstG  = map[string]spec.Position{}
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
		default:
			errs = append(errs, &spec.Error{Pos: d.Pos, Msg: fmt.Sprintf("store: unsupported kind %q", d.Kind)})
		}
	}
	errs = append(errs, spec.ValidateSet(ordered(next.Listeners, firstL), ordered(next.TargetGroups, firstG))...)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	for _, r := range results {
		if r.Action != ActionUnchanged {
			m.commit(next)
			break
		}
	}
	return results, nil
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

// Delete removes one resource.
func (m *Memory) Delete(ctx context.Context, kind, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	canonical, ok := ParseKind(kind)
	if !ok {
		return fmt.Errorf("store: delete: unknown kind %q: %w", kind, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.state.Load()
	next := m.next()
	switch canonical {
	case KindListeners:
		if cur.Listeners[name] == nil {
			return fmt.Errorf("store: delete: listener %q: %w", name, ErrNotFound)
		}
		delete(next.Listeners, name)
	case KindTargetGroups:
		if cur.TargetGroups[name] == nil {
			return fmt.Errorf("store: delete: target group %q: %w", name, ErrNotFound)
		}
		if users := cur.ReferencedBy(name); len(users) > 0 {
			slices.Sort(users)
			return fmt.Errorf("store: delete: target group %q: %w: listener %s forwards to it", name, ErrInUse, strings.Join(users, ", "))
		}
		delete(next.TargetGroups, name)
		delete(next.Registered, name)
	}
	m.commit(next)
	return nil
}

// RegisterTargets adds or re-weights registered targets of a group.
func (m *Memory) RegisterTargets(ctx context.Context, group string, targets []spec.Target) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: register targets: %w", err)
	}
	var problems []string
	for _, t := range targets {
		if p := targetProblem(t); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: register targets: %s: %w", strings.Join(problems, "; "), ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.state.Load()
	if cur.TargetGroups[group] == nil {
		return fmt.Errorf("store: register targets: target group %q: %w", group, ErrNotFound)
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
		return nil
	}
	next := m.next()
	next.Registered[group] = list
	m.commit(next)
	return nil
}

// targetProblem describes what is wrong with a target to register, or "".
func targetProblem(t spec.Target) string {
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil || host == "" || strings.ContainsAny(host, " /\t@") {
		return fmt.Sprintf("%q is not host:port", t.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("%q has an invalid port (1..65535)", t.Address)
	}
	if t.Weight < 0 || t.Weight > 1000 {
		return fmt.Sprintf("%q has weight %d outside 1..1000", t.Address, t.Weight)
	}
	return ""
}

// DeregisterTargets removes registered targets, all or none.
func (m *Memory) DeregisterTargets(ctx context.Context, group string, addrs []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: deregister targets: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.state.Load()
	g := cur.TargetGroups[group]
	if g == nil {
		return fmt.Errorf("store: deregister targets: target group %q: %w", group, ErrNotFound)
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
		return fmt.Errorf("store: deregister targets: target group %q: %s: %w", group, strings.Join(missing, "; "), ErrNotFound)
	}
	if len(addrs) == 0 {
		return nil
	}
	next := m.next()
	if len(list) == 0 {
		delete(next.Registered, group)
	} else {
		next.Registered[group] = list
	}
	m.commit(next)
	return nil
}

// Watch waits for a version above since.
func (m *Memory) Watch(ctx context.Context, since uint64) (*State, error) {
	for {
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		if s := m.state.Load(); s.Version > since {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("store: watch: %w", ctx.Err())
		}
	}
}
