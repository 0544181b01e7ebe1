package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/driver"
	"github.com/gantrylb/gantry/store"
)

// Source is where the agent learns its placements and reports its tasks.
type Source interface {
	// Placements blocks until the desired state is newer than since (at
	// once when since is 0 or already stale) and returns this node's
	// placements.
	Placements(ctx context.Context, since uint64) (*store.Placements, error)
	// UpdateTaskStatus records what the agent saw of a task.
	UpdateTaskStatus(ctx context.Context, id string, st store.TaskStatus) error
}

// Syncer is implemented by a Source whose placements may lag behind the
// leader's: a local replica of the store, which a restarted raft follower
// restores from its last snapshot and replays only as the leader sends it
// the rest of the log. Before its first reconcile, the agent waits until
// the placements have caught up with the index LeaderIndex returned, so
// that it neither starts nor reports tasks by a state the store left long
// ago.
type Syncer interface {
	// LeaderIndex returns the index (Placements.Index) of the leader's
	// desired state now. It may block on I/O and honours ctx.
	LeaderIndex(ctx context.Context) (uint64, error)
}

// Registrar publishes the node's target registrations (discovery.Cluster).
type Registrar interface {
	Register(r discovery.Registration) error
	Update(group, address string, fn func(*discovery.Registration)) error
	Deregister(group, address string) error
}

// DrainWaiter blocks until no live node routes new requests to address in
// group and none has a request or WebSocket in flight to it, or ctx ends.
type DrainWaiter interface {
	WaitDrained(ctx context.Context, group, address string) error
}

// Config configures an Agent. Node, Source, Drivers and Registrar are
// required.
type Config struct {
	// Node is this node's name: the agent runs the tasks placed on it.
	Node   string
	Source Source
	// Drivers by name ("process", "docker").
	Drivers map[string]driver.Driver
	// Registrar publishes the tasks' targets.
	Registrar Registrar
	// Drain waits for every node to let go of a draining target; nil
	// waits the deregistration delay out.
	Drain DrainWaiter
	// HostAddress is the address other nodes reach this node's task ports
	// at. Default 127.0.0.1.
	HostAddress string
	// Retry is the pause after a failed watch or report. Default 500 ms.
	Retry time.Duration
	// ListenTimeout, when positive, makes the agent wait (at most this long)
	// until each load-balanced port of a started task accepts connections
	// before registering it, so that the target's first health check finds
	// it listening instead of failing and waiting a whole interval. Zero
	// registers at once.
	ListenTimeout time.Duration
	// HealthPoll is how often the container health of a task with
	// container health checks is read from its driver. Default 2 s.
	HealthPoll time.Duration
	// Registry receives the agent's metrics; nil keeps them unexported.
	Registry prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Agent runs the tasks the scheduler placed on this node.
type Agent struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	mu      sync.Mutex
	runners map[string]*runner // by task ID, until the store shows it STOPPED or forgets it
	wg      sync.WaitGroup
}

// New returns an Agent for cfg.
func New(cfg Config) (*Agent, error) {
	var errs []error
	if cfg.Node == "" {
		errs = append(errs, errors.New("node name is empty"))
	}
	if cfg.Source == nil {
		errs = append(errs, errors.New("source is nil"))
	}
	if cfg.Registrar == nil {
		errs = append(errs, errors.New("registrar is nil"))
	}
	if len(cfg.Drivers) == 0 {
		errs = append(errs, errors.New("no driver"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.HostAddress == "" {
		cfg.HostAddress = "127.0.0.1"
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 500 * time.Millisecond
	}
	if cfg.HealthPoll <= 0 {
		cfg.HealthPoll = DefaultHealthPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent"), runners: map[string]*runner{}, m: newMetrics(cfg.Registry)}, nil
}

// Run adopts what a previous run left on the host, then follows the node's
// placements until ctx ends. Tasks keep running when Run returns: the
// drivers' Close decides (processes stop, containers stay to be adopted).
func (a *Agent) Run(ctx context.Context) error {
	adopt := a.recover(ctx)
	// Placements(ctx, since) return once their index exceeds since: from
	// the leader's index minus one, the first are at least as new as the
	// leader's state now.
	var since uint64
	if idx := a.leaderIndex(ctx); idx > 0 {
		since = idx - 1
	}
	first := true
	for ctx.Err() == nil {
		p, err := a.cfg.Source.Placements(ctx, since)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			a.log.Warn("watching placements", "err", err)
			sleep(ctx, a.cfg.Retry)
			continue
		}
		since = p.Index
		if first {
			a.removeForeign(ctx, p, adopt)
		}
		a.reconcile(ctx, p, adopt)
		if first {
			a.removeStrays(ctx, adopt)
			adopt = nil
			first = false
		}
	}
	a.wg.Wait()
	return nil
}

// leaderIndex is the leader's index when the Source may lag behind it (see
// Syncer), 0 otherwise or once ctx ends. It retries until the leader
// answers: nothing this node could do before is safe.
func (a *Agent) leaderIndex(ctx context.Context) uint64 {
	s, ok := a.cfg.Source.(Syncer)
	if !ok {
		return 0
	}
	for ctx.Err() == nil {
		idx, err := s.LeaderIndex(ctx)
		if err == nil {
			return idx
		}
		if ctx.Err() == nil {
			a.log.Debug("asking the leader's index before the first placements", "err", err)
			sleep(ctx, a.cfg.Retry)
		}
	}
	return 0
}

// recover asks every driver for the tasks it still has, by task ID.
func (a *Agent) recover(ctx context.Context) map[string][]recovered {
	out := map[string][]recovered{}
	for name, d := range a.cfg.Drivers {
		rs, err := d.Recover(ctx)
		if err != nil {
			a.log.Warn("recovering tasks", "driver", name, "err", err)
			continue
		}
		for _, r := range rs {
			task, _ := splitID(r.ID)
			out[task] = append(out[task], recovered{driver: name, Recovered: r})
		}
	}
	if len(out) > 0 {
		a.log.Info("found tasks of a previous run", "tasks", len(out))
	}
	return out
}

type recovered struct {
	driver string
	driver.Recovered
}

// removeStrays removes recovered containers that no runner adopted: a
// task the store stopped or forgot. A task desired STOPPED that still runs
// here is adopted and drained by its runner instead, so that its targets
// are let go before it stops.
func (a *Agent) removeStrays(ctx context.Context, adopt map[string][]recovered) {
	a.mu.Lock()
	adopted := map[string]bool{}
	for id, r := range a.runners {
		adopted[id] = r.adopts()
	}
	a.mu.Unlock()
	for id, rs := range adopt {
		if adopted[id] {
			continue
		}
		for _, r := range rs {
			a.log.Info("removing a task no placement wants", "task", id, "driver", r.driver, "id", r.ID)
			if err := a.cfg.Drivers[r.driver].Remove(ctx, r.ID); err != nil {
				a.log.Warn("removing stray task", "id", r.ID, "err", err)
			}
		}
	}
}

// removeForeign removes, and forgets, recovered containers that carry the
// ID of a task still PROVISIONING: this agent reports PENDING before it
// starts anything, so they were never started for that task and belong to
// another store (a --dev node restarted without --data-dir). Task IDs now
// include the plan's time, so this should not happen; adopting such a
// container would run another task definition under this task's name.
func (a *Agent) removeForeign(ctx context.Context, p *store.Placements, adopt map[string][]recovered) {
	for _, t := range p.Tasks {
		if t.Node != a.cfg.Node || t.LastStatus != store.TaskProvisioning {
			continue
		}
		for _, r := range adopt[t.ID] {
			a.log.Info("removing a container of a previous store that carries a new task's ID", "task", t.ID, "driver", r.driver, "id", r.ID)
			if err := a.cfg.Drivers[r.driver].Remove(ctx, r.ID); err != nil {
				a.log.Warn("removing a foreign container", "id", r.ID, "err", err)
			}
		}
		delete(adopt, t.ID)
	}
}

// reconcile starts runners for new placements, passes desired-status
// changes to running ones, and stops tasks the store no longer has.
func (a *Agent) reconcile(ctx context.Context, p *store.Placements, adopt map[string][]recovered) {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make(map[string]bool, len(p.Tasks))
	for _, t := range p.Tasks {
		if t.Node != a.cfg.Node {
			continue
		}
		seen[t.ID] = true
		r := a.runners[t.ID]
		switch {
		case r != nil:
			r.observe(t.LastStatus)
			if !t.Live() && r.finished() {
				delete(a.runners, t.ID)
				continue
			}
			if t.DesiredStatus != store.TaskRunning {
				r.stop(t.StoppedReason)
			} else if !t.Live() {
				// The store has it STOPPED while this runner drives it: it
				// was started by placements that were behind the store.
				// Nothing may run for a stopped task.
				r.stop(reasonAlreadyStopped)
			}
		case !t.Live():
		case t.DesiredStatus != store.TaskRunning && t.LastStatus == store.TaskProvisioning:
			// Stopped before it started: nothing ran.
			a.startRunner(ctx, p, t, nil, modeNeverStarted)
		case t.LastStatus == store.TaskProvisioning || len(adopt[t.ID]) > 0:
			r := a.startRunner(ctx, p, t, adopt[t.ID], modeRun)
			if t.DesiredStatus != store.TaskRunning {
				// Stopped while the agent was away: adopt it to drain it.
				r.stop(t.StoppedReason)
			}
		default:
			// The store says it runs here (PENDING or later), but this agent
			// never started it and the host has nothing of it: a previous
			// run's task is lost. Not only on the first placements: a
			// restarted node's replica may show it only once it caught up.
			a.startRunner(ctx, p, t, nil, modeLost)
		}
	}
	for id, r := range a.runners {
		if !seen[id] {
			// Forgotten by the store while it ran (reaped, or the placement
			// moved): stop it without reporting.
			r.stop("Task no longer placed on this node")
			if r.finished() {
				delete(a.runners, id)
			}
		}
	}
}

// Runner modes.
const (
	modeRun          = iota // start (or adopt) the task and follow it
	modeNeverStarted        // stopped before it started: report STOPPED
	modeLost                // a previous run's task the host no longer has
)

func (a *Agent) startRunner(ctx context.Context, p *store.Placements, t *store.Task, adopt []recovered, mode int) *runner {
	r := newRunner(a, p, t, adopt)
	a.runners[t.ID] = r
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(r.done)
		switch mode {
		case modeNeverStarted:
			r.report(ctx, store.TaskStatus{LastStatus: store.TaskStopped})
		case modeLost:
			r.reportLost(ctx)
		default:
			r.run(ctx)
		}
	}()
	return r
}

// Tasks reports the IDs of the tasks the agent currently drives, sorted.
func (a *Agent) Tasks() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.runners))
	for id, r := range a.runners {
		if !r.finished() {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
