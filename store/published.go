package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// published holds a store's current state and wakes its watchers. Both Memory
// and the raft FSM publish through it, so Snapshot and Watch behave the same.
type published struct {
	state atomic.Pointer[State]

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced on every publish
}

func newPublished(s *State) *published {
	p := &published{changed: make(chan struct{})}
	p.state.Store(s)
	return p
}

// load returns the current state without blocking.
func (p *published) load() *State { return p.state.Load() }

// publish makes next the current state and wakes every watcher.
func (p *published) publish(next *State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.Store(next)
	close(p.changed)
	p.changed = make(chan struct{})
}

// watch waits for a version above since.
func (p *published) watch(ctx context.Context, since uint64) (*State, error) {
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if s := p.state.Load(); s.Version > since {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("store: watch: %w", ctx.Err())
		}
	}
}
