package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/driver"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// Stopped reasons the agent gives (ECS's words where ECS has them).
const (
	ReasonHealthCheck = "Task failed container health checks"
	ReasonNoDriver    = driver.ReasonCannotStart + ": this node has no %s driver"
	ReasonUnknownTD   = driver.ReasonCannotStart + ": task definition %s is unknown"
	ReasonLost        = "Task lost: the agent restarted and the host no longer runs it"
)

// reasonAlreadyStopped stops a runner whose task the store has STOPPED; the
// store keeps its own reason (a STOPPED task takes no more reports).
const reasonAlreadyStopped = "Task already stopped"

// drainSlack is how long past the deregistration delay the agent waits for
// the balancers' acknowledgement.
const drainSlack = 2 * time.Second

// DefaultDeregistrationDelay bounds a drain when the task's groups are not
// known (ALB's default).
const DefaultDeregistrationDelay = 300 * time.Second

// DefaultHealthPoll is how often a task with container health checks is
// polled unless Config.HealthPoll says otherwise.
const DefaultHealthPoll = 2 * time.Second

// runner drives one task from its placement to STOPPED.
type runner struct {
	a      *Agent
	id     string
	task   store.Task
	td     *spec.TaskDefinition
	svc    *store.Service
	groups map[string]*spec.TargetGroup
	adopt  []recovered
	log    *slog.Logger

	stopOnce sync.Once
	stopCh   chan string
	done     chan struct{}

	seenMu sync.Mutex
	seen   string        // the task's LastStatus in the newest placements
	seenCh chan struct{} // signalled (capacity 1) when seen changes

	drv        driver.Driver
	containers []container
	regs       []reg
}

// container is one started container definition of the task.
type container struct {
	def    *spec.ContainerDefinition
	id     string // the driver's task id
	status driver.Status
}

// reg is one target registration of the task.
type reg struct{ group, addr string }

func newRunner(a *Agent, p *store.Placements, t *store.Task, adopt []recovered) *runner {
	r := &runner{
		a: a, id: t.ID, task: *t, adopt: adopt,
		td:     p.TaskDefinitions[t.TaskDefinition],
		svc:    p.Services[t.Service],
		groups: map[string]*spec.TargetGroup{},
		log:    a.log.With("task", t.ID, "service", t.Service, "task_definition", t.TaskDefinition),
		stopCh: make(chan string, 1),
		done:   make(chan struct{}),
		seen:   t.LastStatus,
		seenCh: make(chan struct{}, 1),
	}
	if r.svc != nil {
		for _, lb := range r.svc.Spec.LoadBalancers {
			if g := p.TargetGroups[lb.GroupName()]; g != nil {
				r.groups[lb.GroupName()] = g
			}
		}
	}
	return r
}

// adopts reports whether the runner takes over recovered containers (and
// so removes them itself): it has some, and a driver for its definition.
func (r *runner) adopts() bool {
	return len(r.adopt) > 0 && r.td != nil && r.a.cfg.Drivers[r.td.EffectiveDriver()] != nil
}

// stop asks the runner to drain and stop the task (once).
func (r *runner) stop(reason string) {
	r.stopOnce.Do(func() { r.stopCh <- reason })
}

// observe records the task's LastStatus in the newest placements.
func (r *runner) observe(status string) {
	r.seenMu.Lock()
	changed := r.seen != status
	r.seen = status
	r.seenMu.Unlock()
	if changed {
		select {
		case r.seenCh <- struct{}{}:
		default:
		}
	}
}

func (r *runner) seenStatus() string {
	r.seenMu.Lock()
	defer r.seenMu.Unlock()
	return r.seen
}

// awaitPending waits, once PENDING is reported, until the placements show
// the task past PROVISIONING, and reports whether the runner may go on
// (a stop asked meanwhile is the caller's to handle). Placements read from
// a replica that is behind the store (a restarted server replays its log)
// show as PROVISIONING a task that a previous run of the agent started, or
// that has stopped since: only PENDING, which the report just recorded
// (reports never move a task back), makes the task this runner's to start.
func (r *runner) awaitPending(ctx context.Context) bool {
	for {
		switch st := r.seenStatus(); st {
		case store.TaskProvisioning:
		case store.TaskPending:
			return true
		case store.TaskStopped:
			r.log.Info("the task had stopped already: not starting it")
			return false
		default:
			r.reportLost(ctx)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-r.seenCh:
		case reason := <-r.stopCh:
			r.stopCh <- reason
			return true
		}
	}
}

// reportLost reports a task that a previous run of the agent started and
// the host no longer runs. It is not the task's failure: it is replaced
// without counting against its deployment (no launch back-off, no breaker).
func (r *runner) reportLost(ctx context.Context) {
	r.log.Warn("task lost with the previous run of the agent")
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskStopped, StoppedReason: ReasonLost})
}

func (r *runner) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *runner) stopRequested() bool {
	select {
	case reason := <-r.stopCh:
		r.stopCh <- reason
		return true
	default:
		return false
	}
}

// run starts (or adopts) the task, registers it, follows it and stops it.
func (r *runner) run(ctx context.Context) {
	if r.td == nil {
		r.failStart(ctx, fmt.Sprintf(ReasonUnknownTD, r.task.TaskDefinition))
		return
	}
	name := r.td.EffectiveDriver()
	if r.drv = r.a.cfg.Drivers[name]; r.drv == nil {
		r.failStart(ctx, fmt.Sprintf(ReasonNoDriver, name))
		return
	}
	if len(r.adopt) > 0 {
		if reason, ok := r.adoptContainers(ctx); !ok {
			r.removeAll(ctx)
			r.failStart(ctx, reason)
			return
		}
		r.log.Info("adopted the task's containers from a previous run")
	} else {
		r.report(ctx, store.TaskStatus{LastStatus: store.TaskPending})
		if !r.awaitPending(ctx) {
			return
		}
		if r.stopRequested() {
			r.report(ctx, store.TaskStatus{LastStatus: store.TaskStopped})
			return
		}
		if reason, ok := r.start(ctx); !ok {
			if ctx.Err() != nil {
				return
			}
			r.removeAll(ctx)
			r.failStart(ctx, reason)
			return
		}
	}
	r.a.m.starts.WithLabelValues("started").Inc()
	r.a.m.running.Inc()
	defer r.a.m.running.Dec()
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskActivating, HostPorts: r.hostPorts()})
	r.waitListening(ctx)
	r.register()
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskRunning})
	r.log.Info("task running", "host_ports", r.hostPorts())
	r.follow(ctx)
}

func (r *runner) failStart(ctx context.Context, reason string) {
	r.a.m.starts.WithLabelValues("failed").Inc()
	r.log.Warn("task could not start", "reason", reason)
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskStopped, Failed: true, StoppedReason: reason})
}

// start starts every container definition in order.
func (r *runner) start(ctx context.Context) (string, bool) {
	rev := revisionOf(r.task.TaskDefinition)
	for i := range r.td.ContainerDefinitions {
		def := &r.td.ContainerDefinitions[i]
		t := driverTask(r.id, r.td.Family, rev, def)
		st, err := r.drv.Start(ctx, t)
		if err != nil {
			return driver.StoppedReason(err), false
		}
		r.containers = append(r.containers, container{def: def, id: t.ID, status: st})
	}
	return "", true
}

// adoptContainers takes over the running containers a previous run left;
// every essential container must still run.
func (r *runner) adoptContainers(ctx context.Context) (string, bool) {
	found := map[string]recovered{}
	for _, rc := range r.adopt {
		found[rc.Container] = rc
	}
	for i := range r.td.ContainerDefinitions {
		def := &r.td.ContainerDefinitions[i]
		rc, ok := found[def.Name]
		if !ok {
			if def.IsEssential() {
				return "Essential container " + def.Name + " was gone when the agent restarted", false
			}
			continue
		}
		st, err := r.drv.Status(ctx, rc.ID)
		if err != nil || st.State != driver.StateRunning {
			r.containers = append(r.containers, container{def: def, id: rc.ID})
			if def.IsEssential() {
				return driver.ReasonEssentialExited, false
			}
			continue
		}
		r.containers = append(r.containers, container{def: def, id: rc.ID, status: st})
	}
	return "", true
}

// follow waits for the task to exit, fail its health checks or be stopped.
func (r *runner) follow(ctx context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := make(chan driver.Status, len(r.containers))
	checks := false
	for _, c := range r.containers {
		if c.def.HealthCheck != nil {
			checks = true
		}
		if !c.def.IsEssential() {
			continue
		}
		go func(id string) {
			st, err := r.drv.Wait(wctx, id)
			if err != nil {
				if wctx.Err() != nil {
					return
				}
				st = driver.Status{State: driver.StateStopped, Reason: driver.ReasonEssentialExited}
			}
			exited <- st
		}(c.id)
	}
	var poll <-chan time.Time
	reportedHealthy := false
	if checks {
		t := time.NewTicker(r.a.cfg.HealthPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			// The agent is ending: the driver's Close decides the task's fate.
			return
		case reason := <-r.stopCh:
			r.drainAndStop(ctx, exited, reason, false)
			return
		case st := <-exited:
			r.exited(ctx, st)
			return
		case <-poll:
			unhealthy, healthy := r.containerHealth(ctx)
			if unhealthy {
				r.log.Warn("task failed its container health checks")
				r.a.m.exits.Inc()
				r.drainAndStop(ctx, exited, ReasonHealthCheck, true)
				return
			}
			if healthy && !reportedHealthy {
				// ECS's task healthStatus HEALTHY: the scheduler counts the
				// task for its deployment without waiting for the checks'
				// worst case (scheduler.ContainerCheckWindow).
				r.report(ctx, store.TaskStatus{LastStatus: store.TaskRunning, ContainerHealth: store.ContainerHealthy})
				reportedHealthy = true
			}
		}
	}
}

// containerHealth reports whether an essential container with a health
// check is unhealthy, and whether all of them are healthy.
func (r *runner) containerHealth(ctx context.Context) (unhealthy, healthy bool) {
	healthy = true
	for _, c := range r.containers {
		if c.def.HealthCheck == nil || !c.def.IsEssential() {
			continue
		}
		st, err := r.drv.Status(ctx, c.id)
		if err == nil && st.Health == driver.HealthUnhealthy {
			return true, false
		}
		if err != nil || st.Health != driver.HealthHealthy {
			healthy = false
		}
	}
	return false, healthy
}

// exited handles an essential container that stopped by itself: the
// targets go at once (nothing answers there any more) and the task fails.
func (r *runner) exited(ctx context.Context, st driver.Status) {
	reason := st.Reason
	if reason == "" || reason == driver.ReasonStopped {
		reason = driver.ReasonEssentialExited
	}
	r.a.m.exits.Inc()
	r.log.Warn("essential container exited", "exit_code", st.ExitCode, "reason", reason)
	r.deregister()
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskStopping})
	r.stopAll(ctx)
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskStopped, Failed: true, StoppedReason: reason})
	r.removeAll(ctx)
}

// drainAndStop is the acknowledged drain: targets to draining everywhere,
// wait until every node let go (or the delay ran out), then SIGTERM.
func (r *runner) drainAndStop(ctx context.Context, exited <-chan driver.Status, reason string, failed bool) {
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskDeactivating})
	for _, g := range r.regs {
		err := r.a.cfg.Registrar.Update(g.group, g.addr, func(x *discovery.Registration) { x.State = discovery.StateDraining })
		if err != nil {
			r.log.Warn("marking target draining", "target_group", g.group, "target", g.addr, "err", err)
		}
	}
	start := r.a.cfg.Now()
	drained := make(chan struct{})
	// The balancers end their own drains when the delay runs out (closing
	// WebSockets with 1001 first); waiting a little longer lets them do so
	// before the task's SIGTERM cuts those connections from the other end.
	wait := r.drainDelay()
	if r.a.cfg.Drain != nil && wait > 0 {
		wait += drainSlack
	}
	dctx, cancel := context.WithTimeout(ctx, wait)
	go func() {
		defer close(drained)
		r.waitDrained(dctx)
	}()
	select {
	case <-drained:
	case st := <-exited:
		r.log.Info("task exited while draining", "exit_code", st.ExitCode)
	}
	timedOut := dctx.Err() == context.DeadlineExceeded
	cancel()
	<-drained
	if ctx.Err() != nil {
		return
	}
	r.a.m.drainSeconds.Observe(r.a.cfg.Now().Sub(start).Seconds())
	if timedOut && len(r.regs) > 0 {
		r.a.m.drainTimeouts.Inc()
	}
	r.log.Info("targets drained; stopping the task", "waited", r.a.cfg.Now().Sub(start).Round(time.Millisecond))
	r.report(ctx, store.TaskStatus{LastStatus: store.TaskStopping})
	r.stopAll(ctx)
	r.deregister()
	st := store.TaskStatus{LastStatus: store.TaskStopped, Failed: failed}
	if failed {
		st.StoppedReason = reason
	}
	r.report(ctx, st)
	r.removeAll(ctx)
}

// drainDelay is the longest deregistration delay of the task's groups.
func (r *runner) drainDelay() time.Duration {
	if len(r.regs) == 0 {
		return 0
	}
	d := time.Duration(0)
	for _, g := range r.regs {
		gd := DefaultDeregistrationDelay
		if tg := r.groups[g.group]; tg != nil && tg.DeregistrationDelaySeconds != nil {
			gd = time.Duration(*tg.DeregistrationDelaySeconds) * time.Second
		}
		d = max(d, gd)
	}
	return d
}

func (r *runner) waitDrained(ctx context.Context) {
	if r.a.cfg.Drain == nil {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	for _, g := range r.regs {
		wg.Go(func() {
			if err := r.a.cfg.Drain.WaitDrained(ctx, g.group, g.addr); err != nil && ctx.Err() == nil {
				r.log.Warn("waiting for the drain", "target_group", g.group, "target", g.addr, "err", err)
				<-ctx.Done()
			}
		})
	}
	wg.Wait()
}

func (r *runner) stopAll(ctx context.Context) {
	for i := len(r.containers) - 1; i >= 0; i-- {
		if err := r.drv.Stop(ctx, r.containers[i].id, 0); err != nil && !errors.Is(err, driver.ErrNotFound) {
			r.log.Warn("stopping container", "container", r.containers[i].def.Name, "err", err)
		}
	}
}

func (r *runner) removeAll(ctx context.Context) {
	if r.drv == nil {
		return
	}
	for _, c := range r.containers {
		if err := r.drv.Remove(ctx, c.id); err != nil {
			r.log.Warn("removing container", "container", c.def.Name, "err", err)
		}
	}
}

// hostPorts are the task's port bindings for the store.
func (r *runner) hostPorts() []store.PortBinding {
	out := []store.PortBinding{}
	for _, c := range r.containers {
		for _, pm := range c.def.PortMappings {
			hp := c.status.HostPorts[pm.ContainerPort]
			if hp == 0 {
				continue
			}
			out = append(out, store.PortBinding{ContainerName: c.def.Name, ContainerPort: pm.ContainerPort,
				HostPort: hp, Protocol: pm.EffectiveProtocol()})
		}
	}
	return out
}

// waitListening waits, up to Config.ListenTimeout, until every port the
// service balances accepts a connection on HostAddress.
func (r *runner) waitListening(ctx context.Context) {
	if r.a.cfg.ListenTimeout <= 0 || r.svc == nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, r.a.cfg.ListenTimeout)
	defer cancel()
	var d net.Dialer
	for _, lb := range r.svc.Spec.LoadBalancers {
		port := r.hostPort(lb.ContainerName, lb.ContainerPort)
		if port == 0 {
			continue
		}
		addr := net.JoinHostPort(r.a.cfg.HostAddress, strconv.Itoa(port))
		for wctx.Err() == nil && !r.stopRequested() {
			cctx, ccancel := context.WithTimeout(wctx, time.Second)
			c, err := d.DialContext(cctx, "tcp", addr)
			ccancel()
			if err == nil {
				_ = c.Close()
				break
			}
			sleep(wctx, 50*time.Millisecond)
		}
	}
}

func (r *runner) hostPort(container string, containerPort int) int {
	for _, c := range r.containers {
		if c.def.Name == container {
			return c.status.HostPorts[containerPort]
		}
	}
	return 0
}

// register publishes one target per load balancer of the service.
func (r *runner) register() {
	if r.svc == nil {
		return
	}
	for _, lb := range r.svc.Spec.LoadBalancers {
		port := 0
		for _, c := range r.containers {
			if c.def.Name == lb.ContainerName {
				port = c.status.HostPorts[lb.ContainerPort]
			}
		}
		if port == 0 {
			r.log.Warn("load balancer names a port the task does not publish", "container", lb.ContainerName, "port", lb.ContainerPort)
			continue
		}
		g := reg{group: lb.GroupName(), addr: net.JoinHostPort(r.a.cfg.HostAddress, strconv.Itoa(port))}
		err := r.a.cfg.Registrar.Register(discovery.Registration{TargetGroup: g.group, Address: g.addr,
			Source: discovery.SourceTask, Task: r.id, State: discovery.StateRegistered, Health: discovery.HealthInitial})
		if err != nil {
			r.log.Warn("registering target", "target_group", g.group, "target", g.addr, "err", err)
			continue
		}
		r.regs = append(r.regs, g)
	}
}

func (r *runner) deregister() {
	for _, g := range r.regs {
		if err := r.a.cfg.Registrar.Deregister(g.group, g.addr); err != nil {
			r.log.Warn("deregistering target", "target_group", g.group, "target", g.addr, "err", err)
		}
	}
}

// report records a status, retrying until it lands, the task is gone from
// the store, or the agent ends.
func (r *runner) report(ctx context.Context, st store.TaskStatus) {
	st.At = r.a.cfg.Now()
	for {
		err := r.a.cfg.Source.UpdateTaskStatus(ctx, r.id, st)
		switch {
		case err == nil:
			return
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
			r.log.Debug("task status not recorded", "status", st.LastStatus, "err", err)
			return
		}
		r.log.Warn("reporting task status; retrying", "status", st.LastStatus, "err", err)
		sleep(ctx, r.a.cfg.Retry)
	}
}

// driverTask resolves one container definition into a driver task.
func driverTask(taskID, family string, revision int, c *spec.ContainerDefinition) driver.Task {
	t := driver.Task{
		ID: taskID + "." + c.Name, Family: family, Revision: revision, Container: c.Name,
		Image: c.Image, EntryPoint: c.EntryPoint, Command: c.Command,
		CPU: c.CPU, MemoryMiB: c.Memory, StopTimeout: c.StopTimeoutDuration(),
	}
	if len(c.Environment) > 0 {
		t.Env = make(map[string]string, len(c.Environment))
		for _, e := range c.Environment {
			t.Env[e.Name] = e.Value
		}
	}
	for _, pm := range c.PortMappings {
		t.PortMappings = append(t.PortMappings, driver.PortMapping{ContainerPort: pm.ContainerPort, HostPort: pm.HostPort, Protocol: pm.EffectiveProtocol()})
	}
	if h := c.HealthCheck; h != nil {
		t.HealthCheck = &driver.HealthCheck{
			Command: h.Command, Interval: time.Duration(h.Interval) * time.Second,
			Timeout: time.Duration(h.Timeout) * time.Second, StartPeriod: time.Duration(h.StartPeriod) * time.Second,
			Retries: h.Retries,
		}
	}
	return t
}

// splitID splits a driver task id into the task id and the container name.
func splitID(id string) (task, container string) {
	task, container, _ = strings.Cut(id, ".")
	return task, container
}

func revisionOf(ref string) int {
	i := strings.LastIndexByte(ref, ':')
	n, _ := strconv.Atoi(ref[i+1:])
	return n
}
