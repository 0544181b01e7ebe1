package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// Memory is a Store kept in this process's memory: the single-node store of
// `gantry server --dev`, the fake for tests and the model Raft is checked
// against. The zero value is not usable; call NewMemory.
type Memory struct {
	pub *published
	mu  sync.Mutex // serialises writers: read, transition, publish
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store at version 0.
func NewMemory() *Memory {
	return &Memory{pub: newPublished(emptyState())}
}

// Snapshot returns the current state.
func (m *Memory) Snapshot() *State { return m.pub.load() }

// commit publishes next unless the transition changed nothing. Callers hold mu.
func (m *Memory) commit(next *State) {
	if next != nil {
		m.pub.publish(next)
	}
}

// Apply validates and commits docs, all or nothing.
func (m *Memory) Apply(ctx context.Context, docs []spec.Document) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: apply: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next, results, err := applyDocs(m.pub.load(), docs)
	if err != nil {
		return nil, err
	}
	m.commit(next)
	return results, nil
}

// Delete removes one resource.
func (m *Memory) Delete(ctx context.Context, kind, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := deleteResource(m.pub.load(), kind, name)
	if err == nil {
		m.commit(next)
	}
	return err
}

// RegisterTargets adds or re-weights registered targets of a group.
func (m *Memory) RegisterTargets(ctx context.Context, group string, targets []spec.Target) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: register targets: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := registerTargets(m.pub.load(), group, targets)
	if err == nil {
		m.commit(next)
	}
	return err
}

// DeregisterTargets removes registered targets, all or none.
func (m *Memory) DeregisterTargets(ctx context.Context, group string, addrs []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: deregister targets: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := deregisterTargets(m.pub.load(), group, addrs)
	if err == nil {
		m.commit(next)
	}
	return err
}

// Watch waits for a version above since.
func (m *Memory) Watch(ctx context.Context, since uint64) (*State, error) {
	return m.pub.watch(ctx, since)
}

// CommitPlan commits one step of the scheduler, all or nothing.
func (m *Memory) CommitPlan(ctx context.Context, plan *Plan) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: commit plan: %w", err)
	}
	p, err := normalPlan(plan, time.Now())
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next, results, err := commitPlan(m.pub.load(), p)
	if err != nil {
		return nil, err
	}
	m.commit(next)
	return createdIDs(results), nil
}

// DrainNode marks a node as draining or active again.
func (m *Memory) DrainNode(ctx context.Context, node string, drain bool, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: drain node: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := drainNode(m.pub.load(), node, drain, at)
	if err == nil {
		m.commit(next)
	}
	return err
}

// UpdateTaskStatus records what a task's agent reports.
func (m *Memory) UpdateTaskStatus(ctx context.Context, id string, status TaskStatus) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: update task status: %w", err)
	}
	st, err := normalStatus(status, time.Now())
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := updateTaskStatus(m.pub.load(), id, st)
	if err == nil {
		m.commit(next)
	}
	return err
}
