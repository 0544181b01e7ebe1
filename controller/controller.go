package controller

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/scheduler"
	"github.com/gantrylb/gantry/store"
)

// Config configures a Controller. Store and Nodes are required.
type Config struct {
	// Store holds the desired state; the controller writes plans to it.
	Store store.Store
	// Nodes lists the cluster's nodes. It must not block.
	Nodes func() []NodeInfo
	// Health reports target health; nil leaves every task's health unknown.
	Health TargetHealth
	// HostIP is the address tasks' host ports are registered at (as the
	// agents register them). Default 127.0.0.1.
	HostIP string
	// Interval between plans when nothing changes (time passing matters:
	// grace periods, rollouts). Default 1 s.
	Interval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Leading reports whether this node may plan (the raft leader). Default:
	// always.
	Leading func() bool
	// Logger, default slog.Default().
	Logger *slog.Logger
	// Registry receives the scheduler's metrics; nil keeps them unexported.
	Registry prometheus.Registerer
}

// Controller runs the scheduler on the leader.
type Controller struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	mu sync.Mutex // serializes Step
	// caughtUp is the raft term in which the store applied every write
	// committed before it (0: not yet, or not leading).
	caughtUp uint64
}

// catchingUp is a replicated store whose new leader may not have applied
// the writes committed before it led (store.Raft): Barrier waits until it
// has, once per Term.
type catchingUp interface {
	Barrier(ctx context.Context) error
	Term() uint64
}

// New returns a Controller for cfg with defaults applied.
func New(cfg Config) *Controller {
	if cfg.HostIP == "" {
		cfg.HostIP = "127.0.0.1"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leading == nil {
		cfg.Leading = func() bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Controller{cfg: cfg, log: cfg.Logger.With("component", "controller"), m: newMetrics(cfg.Registry)}
}

// Run plans after every change of the desired state and every Interval,
// until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var v uint64
		for {
			s, err := c.cfg.Store.Watch(ctx, v)
			if err != nil {
				return
			}
			v = s.Version
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	defer func() { <-done }()
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		if _, err := c.Step(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("plan not committed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// Step plans once and commits the plan; it returns the committed plan (nil
// when there was nothing to do).
func (c *Controller) Step(ctx context.Context) (*store.Plan, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cfg.Leading() {
		c.caughtUp = 0
		return nil, nil
	}
	if r, ok := c.cfg.Store.(catchingUp); ok {
		// A new leader's state may lag what earlier leaders committed (a
		// restarted server replays its log only now): a plan made from it
		// would start tasks already placed and bring back deployments since
		// retired. Plan only once it applied them.
		if term := r.Term(); c.caughtUp != term {
			if err := r.Barrier(ctx); err != nil {
				return nil, err
			}
			c.caughtUp = term
		}
	}
	began := time.Now()
	defer func() { c.m.duration.Observe(time.Since(began).Seconds()) }()
	c.m.plans.Inc()
	st := c.cfg.Store.Snapshot()
	now := c.cfg.Now()
	snap := SnapshotOf(st, c.cfg.Nodes(), c.cfg.Health, c.cfg.HostIP, now, st.Version)
	res := scheduler.Plan(snap)
	c.m.unplaced.Reset()
	for _, u := range res.Unplaced {
		c.m.unplaced.WithLabelValues(u.Service).Set(float64(u.Count))
	}
	res.Deployments = changedDeployments(st, res.Deployments)
	res.Events = newEvents(st, res.Events)
	plan := PlanOf(res, now)
	if plan == nil {
		return nil, nil
	}
	if _, err := c.cfg.Store.CommitPlan(ctx, plan); err != nil {
		return nil, err
	}
	c.m.started.Add(float64(len(plan.Start)))
	c.m.stopped.Add(float64(len(plan.Stop)))
	c.m.lost.Add(float64(len(plan.Lost)))
	return plan, nil
}

// changedDeployments keeps the deployments that differ from the stored ones
// (other than in UpdatedAt), so an idle cluster commits nothing.
func changedDeployments(st *store.State, ds []scheduler.Deployment) []scheduler.Deployment {
	var out []scheduler.Deployment
	for _, d := range ds {
		old := st.Deployments[d.ID]
		if old != nil {
			cmp := store.Deployment(d)
			cmp.UpdatedAt = old.UpdatedAt
			if cmp == *old {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

// newEvents drops an event that repeats its service's latest one (the
// scheduler says "unable to place" on every plan until it can).
func newEvents(st *store.State, es []scheduler.Event) []scheduler.Event {
	var out []scheduler.Event
	last := map[string]string{}
	for svc, list := range st.Events {
		if len(list) > 0 {
			last[svc] = list[len(list)-1].Message
		}
	}
	for _, e := range es {
		if last[e.Service] == e.Message {
			continue
		}
		last[e.Service] = e.Message
		out = append(out, e)
	}
	return out
}
