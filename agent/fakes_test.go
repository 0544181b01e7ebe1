package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/driver"
	"github.com/gantrylb/gantry/store"
)

// journal records what every fake was asked, in one order, so that tests can
// check the order across fakes ("the driver stopped the task only after the
// drain was acknowledged").
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
}

func (j *journal) all() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

// index returns the position of the first entry equal to e, -1 if none.
func (j *journal) index(e string) int {
	return slices.Index(j.all(), e)
}

func (j *journal) has(e string) bool { return j.index(e) >= 0 }

// hasPrefix reports whether some entry starts with prefix.
func (j *journal) hasPrefix(prefix string) bool {
	return slices.ContainsFunc(j.all(), func(e string) bool { return strings.HasPrefix(e, prefix) })
}

// memSource is the agent's Source over a real in-memory store, as cmd's
// placementSource reads a local replica. It records every report.
type memSource struct {
	node string
	st   *store.Memory
	j    *journal
	// alsoNodes lists other nodes whose tasks the placements include too,
	// to check that the agent ignores what is not its own.
	alsoNodes []string

	mu      sync.Mutex
	reports map[string][]store.TaskStatus
	// failReports is how many reports fail (with a transient error) before
	// they reach the store.
	failReports int
}

var _ agent.Source = (*memSource)(nil)

func (s *memSource) Placements(ctx context.Context, since uint64) (*store.Placements, error) {
	snap := s.st.Snapshot()
	if snap.Version <= since {
		var err error
		if snap, err = s.st.Watch(ctx, since); err != nil {
			return nil, err
		}
	}
	p := snap.PlacementsOf(s.node)
	for _, n := range s.alsoNodes {
		o := snap.PlacementsOf(n)
		p.Tasks = append(p.Tasks, o.Tasks...)
		for k, v := range o.TaskDefinitions {
			p.TaskDefinitions[k] = v
		}
		for k, v := range o.Services {
			p.Services[k] = v
		}
		for k, v := range o.TargetGroups {
			p.TargetGroups[k] = v
		}
	}
	return p, nil
}

func (s *memSource) UpdateTaskStatus(ctx context.Context, id string, st store.TaskStatus) error {
	s.mu.Lock()
	if s.reports == nil {
		s.reports = map[string][]store.TaskStatus{}
	}
	fail := s.failReports > 0
	if fail {
		s.failReports--
	} else {
		s.reports[id] = append(s.reports[id], st)
	}
	s.mu.Unlock()
	if fail {
		s.j.add("status %s %s: failed", id, st.LastStatus)
		return errors.New("leader unreachable")
	}
	s.j.add("status %s %s", id, st.LastStatus)
	err := s.st.UpdateTaskStatus(ctx, id, st)
	if err != nil {
		s.j.add("status %s %s: %v", id, st.LastStatus, err)
	}
	return err
}

// statuses returns the LastStatus of every report for the task, in order.
func (s *memSource) statuses(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, st := range s.reports[id] {
		out = append(out, st.LastStatus)
	}
	return out
}

// report returns the first report of the task with the given status.
func (s *memSource) report(id, status string) (store.TaskStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.reports[id] {
		if st.LastStatus == status {
			return st, true
		}
	}
	return store.TaskStatus{}, false
}

// fakeDriver runs nothing: its tasks are entries in a map that tests make
// exit or turn unhealthy.
type fakeDriver struct {
	name string
	j    *journal

	mu        sync.Mutex
	tasks     map[string]*fakeTask
	started   []driver.Task
	failStart map[string]error // by container name
	recovered []driver.Recovered
	nextPort  int
}

type fakeTask struct {
	st   driver.Status
	done chan struct{} // closed once stopped
}

var _ driver.Driver = (*fakeDriver)(nil)

func newFakeDriver(name string, j *journal) *fakeDriver {
	return &fakeDriver{name: name, j: j, tasks: map[string]*fakeTask{}, failStart: map[string]error{}, nextPort: 30000}
}

func (d *fakeDriver) Name() string { return d.name }

func (d *fakeDriver) Start(ctx context.Context, t driver.Task) (driver.Status, error) {
	d.j.add("start %s", t.ID)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started = append(d.started, t)
	if err := d.failStart[t.Container]; err != nil {
		return driver.Status{}, err
	}
	if d.tasks[t.ID] != nil {
		return driver.Status{}, driver.ErrExists
	}
	st := driver.Status{ID: t.ID, State: driver.StateRunning, HostPorts: map[int]int{}, Health: driver.HealthUnknown, StartedAt: time.Now()}
	for _, pm := range t.PortMappings {
		d.nextPort++
		st.HostPorts[pm.ContainerPort] = d.nextPort
	}
	d.tasks[t.ID] = &fakeTask{st: st, done: make(chan struct{})}
	return copyStatus(st), nil
}

// run makes the driver know a running task, as a previous agent left it.
func (d *fakeDriver) run(id string, hostPorts map[int]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tasks[id] = &fakeTask{st: driver.Status{ID: id, State: driver.StateRunning, HostPorts: hostPorts, Health: driver.HealthUnknown}, done: make(chan struct{})}
}

// exit makes a running task exit by itself.
func (d *fakeDriver) exit(id string, code int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.tasks[id]; t != nil && t.st.State == driver.StateRunning {
		t.st.State, t.st.ExitCode, t.st.Reason = driver.StateStopped, code, driver.ReasonEssentialExited
		close(t.done)
	}
}

func (d *fakeDriver) setHealth(id string, h driver.Health) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.tasks[id]; t != nil {
		t.st.Health = h
	}
}

func (d *fakeDriver) Stop(ctx context.Context, id string, timeout time.Duration) error {
	d.j.add("stop %s", id)
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[id]
	if t == nil {
		return driver.ErrNotFound
	}
	if t.st.State == driver.StateRunning {
		t.st.State, t.st.ExitCode, t.st.Reason = driver.StateStopped, 143, driver.ReasonStopped
		close(t.done)
	}
	return nil
}

func (d *fakeDriver) Status(ctx context.Context, id string) (driver.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[id]
	if t == nil {
		return driver.Status{}, driver.ErrNotFound
	}
	return copyStatus(t.st), nil
}

func (d *fakeDriver) Wait(ctx context.Context, id string) (driver.Status, error) {
	d.mu.Lock()
	t := d.tasks[id]
	d.mu.Unlock()
	if t == nil {
		return driver.Status{}, driver.ErrNotFound
	}
	select {
	case <-t.done:
		return d.Status(ctx, id)
	case <-ctx.Done():
		return driver.Status{}, ctx.Err()
	}
}

func (d *fakeDriver) Remove(ctx context.Context, id string) error {
	d.j.add("remove %s", id)
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.tasks[id]; t != nil {
		if t.st.State == driver.StateRunning {
			close(t.done)
		}
		delete(d.tasks, id)
	}
	return nil
}

func (d *fakeDriver) Recover(ctx context.Context) ([]driver.Recovered, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.recovered), nil
}

// Logs answers one line naming the task and stream, for the tasks the
// driver knows (a removed task's logs are gone).
func (d *fakeDriver) Logs(ctx context.Context, id string, stream driver.Stream) (io.ReadCloser, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tasks[id] == nil {
		return nil, driver.ErrNotFound
	}
	return io.NopCloser(strings.NewReader(fakeLogLine(id, stream))), nil
}

func fakeLogLine(id string, stream driver.Stream) string {
	return fmt.Sprintf("%s of %s\n", stream, id)
}

func (d *fakeDriver) Close(ctx context.Context) error { return nil }

func (d *fakeDriver) startedTasks() []driver.Task {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.started)
}

func copyStatus(st driver.Status) driver.Status {
	if st.HostPorts != nil {
		hp := make(map[int]int, len(st.HostPorts))
		for k, v := range st.HostPorts {
			hp[k] = v
		}
		st.HostPorts = hp
	}
	return st
}

// fakeRegistrar keeps the registrations as a Cluster would.
type fakeRegistrar struct {
	j *journal

	mu   sync.Mutex
	regs map[string]discovery.Registration // by "group address"
}

var _ agent.Registrar = (*fakeRegistrar)(nil)

func (r *fakeRegistrar) Register(reg discovery.Registration) error {
	r.j.add("register %s %s", reg.TargetGroup, reg.Address)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.regs == nil {
		r.regs = map[string]discovery.Registration{}
	}
	r.regs[reg.TargetGroup+" "+reg.Address] = reg
	return nil
}

func (r *fakeRegistrar) Update(group, address string, fn func(*discovery.Registration)) error {
	r.mu.Lock()
	reg, ok := r.regs[group+" "+address]
	if ok {
		fn(&reg)
		r.regs[group+" "+address] = reg
	}
	r.mu.Unlock()
	if !ok {
		r.j.add("update %s %s: not found", group, address)
		return discovery.ErrNotFound
	}
	r.j.add("update %s %s %s", group, address, reg.State)
	return nil
}

func (r *fakeRegistrar) Deregister(group, address string) error {
	r.j.add("deregister %s %s", group, address)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.regs[group+" "+address]; !ok {
		return discovery.ErrNotFound
	}
	delete(r.regs, group+" "+address)
	return nil
}

func (r *fakeRegistrar) get(group, address string) (discovery.Registration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg, ok := r.regs[group+" "+address]
	return reg, ok
}

func (r *fakeRegistrar) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.regs)
}

// fakeDrain acknowledges a drain only when the test releases it (or at once
// when auto is set); it respects ctx as the contract says.
type fakeDrain struct {
	j       *journal
	auto    bool
	release chan struct{}
	once    sync.Once
}

var _ agent.DrainWaiter = (*fakeDrain)(nil)

func newFakeDrain(j *journal) *fakeDrain { return &fakeDrain{j: j, release: make(chan struct{})} }

func (d *fakeDrain) WaitDrained(ctx context.Context, group, address string) error {
	d.j.add("drain %s %s", group, address)
	if d.auto {
		return nil
	}
	select {
	case <-d.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *fakeDrain) let() { d.once.Do(func() { close(d.release) }) }

// laggingSource is the Source of a restarted server whose replica of the
// store is behind: its placements are cut from stale (an older snapshot of
// the same store) until catchUp, then from the store. Reports reach the
// store (the leader) all along.
type laggingSource struct {
	*memSource
	stale  *store.State
	caught chan struct{}
	once   sync.Once
}

var _ agent.Source = (*laggingSource)(nil)

func newLaggingSource(src *memSource, stale *store.State) *laggingSource {
	return &laggingSource{memSource: src, stale: stale, caught: make(chan struct{})}
}

func (s *laggingSource) Placements(ctx context.Context, since uint64) (*store.Placements, error) {
	select {
	case <-s.caught:
		return s.memSource.Placements(ctx, since)
	default:
	}
	if s.stale.Version > since {
		s.j.add("placements stale %d", s.stale.Version)
		return s.stale.PlacementsOf(s.node), nil
	}
	select {
	case <-s.caught:
		return s.memSource.Placements(ctx, since)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// catchUp makes the replica current: placements come from the store.
func (s *laggingSource) catchUp() { s.once.Do(func() { close(s.caught) }) }

// syncingSource is a laggingSource that knows the leader's index.
type syncingSource struct{ *laggingSource }

var _ agent.Syncer = syncingSource{}

func (s syncingSource) LeaderIndex(ctx context.Context) (uint64, error) {
	s.j.add("leader index")
	return s.st.Snapshot().Version, nil
}
