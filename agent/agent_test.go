package agent_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/driver"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	node     = "n1"
	hostAddr = "10.0.0.5"
)

// groupWeb takes its deregistration delay as a parameter: long where the test
// acknowledges the drain itself, 1 s where the delay must end it.
func groupWeb(delaySeconds int) string {
	return fmt.Sprintf(`
kind: TargetGroup
name: web
deregistrationDelaySeconds: %d
`, delaySeconds)
}

const taskDefWeb = `
kind: TaskDefinition
family: web
driver: process
containerDefinitions:
  - name: web
    memory: 64
    command: ["gantry", "echo-server", "--port", "8080"]
    environment: [{name: GREETING, value: hello}, {name: MODE, value: test}]
    portMappings: [{containerPort: 8080}]
    stopTimeout: 7
`

const serviceWeb = `
kind: Service
serviceName: web
taskDefinition: web
desiredCount: 1
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
`

// taskDefWebChecked is taskDefWeb with a container health check.
var taskDefWebChecked = taskDefWeb + `    healthCheck: {command: ["CMD", "true"], interval: 5, retries: 1}
`

// A task definition for the docker driver, which the test agent lacks.
const dockerWorkload = `
kind: TaskDefinition
family: api
containerDefinitions:
  - name: api
    image: example/api:1
    memory: 64
---
kind: Service
serviceName: api
taskDefinition: api
desiredCount: 1
`

// harness runs one agent over a real in-memory store with fake driver,
// registrar and drain waiter.
type harness struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Memory
	j     *journal
	src   *memSource
	drv   *fakeDriver
	reg   *fakeRegistrar
	drain *fakeDrain
	a     *agent.Agent

	cancel context.CancelFunc
	done   chan error

	// host and listenTimeout override hostAddr and leave ListenTimeout off.
	host          string
	listenTimeout time.Duration
	prom          *prometheus.Registry
	// source, when set, replaces src as the agent's Source (src still
	// records the reports it passes on).
	source agent.Source
}

func newHarness(t *testing.T, docs ...string) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	j := &journal{}
	h := &harness{
		t: t, ctx: ctx, st: store.NewMemory(), j: j,
		drv: newFakeDriver("process", j), reg: &fakeRegistrar{j: j}, drain: newFakeDrain(j),
	}
	h.src = &memSource{node: node, st: h.st, j: j}
	parsed, err := spec.Decode("test.yaml", []byte(strings.Join(docs, "---")))
	if err != nil {
		t.Fatalf("spec.Decode() = %v", err)
	}
	if _, err := h.st.Apply(ctx, parsed); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	return h
}

// start runs the agent until the test ends.
func (h *harness) start() {
	h.t.Helper()
	host := hostAddr
	if h.host != "" {
		host = h.host
	}
	var src agent.Source = h.src
	if h.source != nil {
		src = h.source
	}
	a, err := agent.New(agent.Config{
		Node: node, Source: src, Drivers: map[string]driver.Driver{"process": h.drv},
		Registrar: h.reg, Drain: h.drain, HostAddress: host, ListenTimeout: h.listenTimeout, Registry: h.metrics(),
		Retry: 10 * time.Millisecond, HealthPoll: 5 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		h.t.Fatalf("agent.New() = %v", err)
	}
	h.a = a
	rctx, cancel := context.WithCancel(h.ctx)
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- a.Run(rctx) }()
	h.t.Cleanup(func() {
		h.drain.let()
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Errorf("Run() did not return after its context ended")
		}
	})
}

// place commits one placement and returns the task's ID.
func (h *harness) place(service, taskDef, on string) string {
	h.t.Helper()
	ids, err := h.st.CommitPlan(h.ctx, &store.Plan{Start: []store.Placement{{Service: service, TaskDefinition: taskDef, Node: on}}})
	if err != nil || len(ids) != 1 {
		h.t.Fatalf("CommitPlan(start %s on %s) = %v, %v", service, on, ids, err)
	}
	return ids[0]
}

func (h *harness) stopTask(id, reason string) {
	h.t.Helper()
	if _, err := h.st.CommitPlan(h.ctx, &store.Plan{Stop: []store.TaskStop{{TaskID: id, Reason: reason}}}); err != nil {
		h.t.Fatalf("CommitPlan(stop %s) = %v", id, err)
	}
}

// report sets a task's status in the store directly, as an earlier agent did.
func (h *harness) report(id string, st store.TaskStatus) {
	h.t.Helper()
	if err := h.st.UpdateTaskStatus(h.ctx, id, st); err != nil {
		h.t.Fatalf("UpdateTaskStatus(%s, %s) = %v", id, st.LastStatus, err)
	}
}

func (h *harness) task(id string) *store.Task {
	t := h.st.Snapshot().Tasks[id]
	if t == nil {
		h.t.Fatalf("task %s is gone from the store", id)
	}
	return t
}

// eventually polls cond until it holds or the test's deadline passes.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-h.ctx.Done():
			h.t.Fatalf("timed out waiting for %s; journal:\n\t%s", what, strings.Join(h.j.all(), "\n\t"))
		case <-tick.C:
		}
	}
}

func (h *harness) waitStatus(id, status string) *store.Task {
	h.t.Helper()
	h.eventually(fmt.Sprintf("task %s %s in the store", id, status), func() bool {
		return h.task(id).LastStatus == status
	})
	return h.task(id)
}

// before fails unless journal entry a comes before entry b (both present).
func (h *harness) before(a, b string) {
	h.t.Helper()
	ia, ib := h.j.index(a), h.j.index(b)
	if ia < 0 || ib < 0 || ia > ib {
		h.t.Errorf("journal: want %q (at %d) before %q (at %d); journal:\n\t%s", a, ia, b, ib, strings.Join(h.j.all(), "\n\t"))
	}
}

// running places a web task on this node and waits until it runs.
func (h *harness) running() (id, addr string) {
	h.t.Helper()
	id = h.place("web", "web:1", node)
	h.waitStatus(id, store.TaskRunning)
	t := h.task(id)
	if len(t.HostPorts) != 1 {
		h.t.Fatalf("host ports = %+v, want one", t.HostPorts)
	}
	return id, fmt.Sprintf("%s:%d", hostAddr, t.HostPorts[0].HostPort)
}

// draining starts the agent with one running task, asks for it to stop with
// reason, and returns once the agent is waiting for its drain.
func (h *harness) draining(reason string) (id, addr string) {
	h.t.Helper()
	h.start()
	id, addr = h.running()
	h.stopTask(id, reason)
	h.waitDrainAsked(addr)
	return id, addr
}

func (h *harness) waitDrainAsked(addr string) {
	h.t.Helper()
	h.eventually("the drain waiter to be asked", func() bool { return h.j.has("drain web " + addr) })
}

func TestNewValidates(t *testing.T) {
	_, err := agent.New(agent.Config{})
	for _, want := range []string{"node name is empty", "source is nil", "registrar is nil", "no driver"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(Config{}) = %v, want an error containing %q", err, want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	h.start()
	id, addr := h.running()

	if got, want := h.src.statuses(id), []string{store.TaskPending, store.TaskActivating, store.TaskRunning}; !reflect.DeepEqual(got, want) {
		t.Errorf("reported statuses = %v, want %v", got, want)
	}
	act, _ := h.src.report(id, store.TaskActivating)
	wantPorts := []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 30001, Protocol: "tcp"}}
	if !reflect.DeepEqual(act.HostPorts, wantPorts) {
		t.Errorf("ACTIVATING host ports = %+v, want %+v", act.HostPorts, wantPorts)
	}
	if got := h.task(id); !reflect.DeepEqual(got.HostPorts, wantPorts) || got.StartedAt.IsZero() {
		t.Errorf("stored task = %+v, want host ports %+v and a start time", got, wantPorts)
	}

	reg, ok := h.reg.get("web", addr)
	want := discovery.Registration{TargetGroup: "web", Address: hostAddr + ":30001", Source: discovery.SourceTask,
		Task: id, State: discovery.StateRegistered, Health: discovery.HealthInitial}
	if !ok || reg != want {
		t.Errorf("registration = %+v (found %v), want %+v", reg, ok, want)
	}
	h.before("status "+id+" ACTIVATING", "register web "+addr)
	h.before("register web "+addr, "status "+id+" RUNNING")

	wantTask := driver.Task{
		ID: id + ".web", Family: "web", Revision: 1, Container: "web",
		Command:      []string{"gantry", "echo-server", "--port", "8080"},
		Env:          map[string]string{"GREETING": "hello", "MODE": "test"},
		MemoryMiB:    64,
		PortMappings: []driver.PortMapping{{ContainerPort: 8080, Protocol: "tcp"}},
		StopTimeout:  7 * time.Second,
	}
	if got := h.drv.startedTasks(); len(got) != 1 || !reflect.DeepEqual(got[0], wantTask) {
		t.Errorf("driver started %+v, want [%+v]", got, wantTask)
	}
	if got := h.a.Tasks(); !reflect.DeepEqual(got, []string{id}) {
		t.Errorf("Tasks() = %v, want [%s]", got, id)
	}
}

func TestAcknowledgedDrain(t *testing.T) {
	h := newHarness(t, groupWeb(300), taskDefWeb, serviceWeb)
	id, addr := h.draining("Scaling activity initiated by (deployment web/1)")
	cid := id + ".web"
	// The runner is now blocked on the waiter: nothing may have stopped the task.
	if got := h.task(id).LastStatus; got != store.TaskDeactivating {
		t.Errorf("status while draining = %s, want DEACTIVATING", got)
	}
	if reg, _ := h.reg.get("web", addr); reg.State != discovery.StateDraining {
		t.Errorf("registration state while draining = %s, want draining", reg.State)
	}
	if h.j.has("stop "+cid) || h.j.hasPrefix("deregister ") || h.j.has("remove "+cid) {
		t.Fatalf("the task was stopped before the drain was acknowledged; journal:\n\t%s", strings.Join(h.j.all(), "\n\t"))
	}
	h.before("status "+id+" DEACTIVATING", "update web "+addr+" draining")
	h.before("update web "+addr+" draining", "drain web "+addr)

	h.drain.let()
	got := h.waitStatus(id, store.TaskStopped)
	h.eventually("the container to be removed", func() bool { return h.j.has("remove " + cid) })
	for _, pair := range [][2]string{
		{"drain web " + addr, "status " + id + " STOPPING"},
		{"status " + id + " STOPPING", "stop " + cid},
		{"stop " + cid, "deregister web " + addr},
		{"deregister web " + addr, "status " + id + " STOPPED"},
		{"status " + id + " STOPPED", "remove " + cid},
	} {
		h.before(pair[0], pair[1])
	}
	if got.Failed || got.StoppedReason != "Scaling activity initiated by (deployment web/1)" {
		t.Errorf("stopped task: failed %v, reason %q; want not failed with the plan's reason", got.Failed, got.StoppedReason)
	}
	if n := h.reg.count(); n != 0 {
		t.Errorf("%d registrations left, want none", n)
	}
	h.eventually("the agent to forget the task", func() bool { return len(h.a.Tasks()) == 0 })
}

func TestDrainEndsWithTheDeregistrationDelay(t *testing.T) {
	h := newHarness(t, groupWeb(1), taskDefWeb, serviceWeb)
	id, addr := h.draining("Scaling activity")
	asked := time.Now()
	// The waiter is never released: the 1 s delay must end the drain.
	h.waitStatus(id, store.TaskStopped)
	if waited := time.Since(asked); waited < 900*time.Millisecond {
		t.Errorf("the task stopped %v after the drain began, want the 1 s delay", waited)
	}
	h.before("drain web "+addr, "stop "+id+".web")
	h.before("stop "+id+".web", "deregister web "+addr)
}

func TestStartFailure(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	const reason = "CannotPullContainerError: pull access denied for example/web"
	h.drv.failStart["web"] = fmt.Errorf("docker: create: %w", &driver.TaskError{Reason: reason, Err: errors.New("denied")})
	h.start()
	id := h.place("web", "web:1", node)

	got := h.waitStatus(id, store.TaskStopped)
	if !got.Failed || got.StoppedReason != reason {
		t.Errorf("stopped task: failed %v, reason %q; want failed with %q", got.Failed, got.StoppedReason, reason)
	}
	if want := []string{store.TaskPending, store.TaskStopped}; !reflect.DeepEqual(h.src.statuses(id), want) {
		t.Errorf("reported statuses = %v, want %v", h.src.statuses(id), want)
	}
	if h.j.hasPrefix("register ") || h.reg.count() != 0 {
		t.Errorf("a task that never started was registered; journal:\n\t%s", strings.Join(h.j.all(), "\n\t"))
	}
}

func TestTaskExits(t *testing.T) {
	h := newHarness(t, groupWeb(300), taskDefWeb, serviceWeb)
	h.start()
	id, addr := h.running()

	h.drv.exit(id+".web", 1)
	got := h.waitStatus(id, store.TaskStopped)
	if !got.Failed || got.StoppedReason != driver.ReasonEssentialExited {
		t.Errorf("stopped task: failed %v, reason %q; want failed with %q", got.Failed, got.StoppedReason, driver.ReasonEssentialExited)
	}
	if _, ok := h.reg.get("web", addr); ok {
		t.Errorf("target %s still registered after its task exited", addr)
	}
	// Nothing answers at the target any more: no drain to wait for.
	if h.j.has("drain web " + addr) {
		t.Errorf("the agent waited for a drain of an exited task")
	}
	h.before("deregister web "+addr, "status "+id+" STOPPED")
	h.eventually("the container to be removed", func() bool { return h.j.has("remove " + id + ".web") })
}

func TestUnknownDriver(t *testing.T) {
	h := newHarness(t, dockerWorkload)
	h.start()
	id := h.place("api", "api:1", node)

	got := h.waitStatus(id, store.TaskStopped)
	if !got.Failed || !strings.Contains(got.StoppedReason, "docker") || !strings.HasPrefix(got.StoppedReason, driver.ReasonCannotStart) {
		t.Errorf("stopped task: failed %v, reason %q; want failed with a CannotStartContainerError naming the docker driver", got.Failed, got.StoppedReason)
	}
	if n := len(h.drv.startedTasks()); n != 0 {
		t.Errorf("the process driver was asked to start %d tasks, want none", n)
	}
}

func TestAdoption(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	// What a previous run of the agent left: one task still running on the
	// host, one the host lost, and a container no placement wants.
	kept := h.place("web", "web:1", node)
	lost := h.place("web", "web:1", node)
	running := store.TaskStatus{LastStatus: store.TaskRunning, HostPorts: []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 31000, Protocol: "tcp"}}}
	h.report(kept, running)
	h.report(lost, running)
	const stray = "0123456789abcdef0123456789abcdef.web"
	h.drv.run(kept+".web", map[int]int{8080: 31000})
	h.drv.run(stray, map[int]int{8080: 31001})
	h.drv.recovered = []driver.Recovered{
		{ID: kept + ".web", Family: "web", Revision: 1, Container: "web", Status: driver.Status{ID: kept + ".web", State: driver.StateRunning}},
		{ID: stray, Family: "web", Revision: 1, Container: "web", Status: driver.Status{ID: stray, State: driver.StateRunning}},
	}
	h.start()

	addr := hostAddr + ":31000"
	h.eventually("the adopted task to be registered", func() bool { _, ok := h.reg.get("web", addr); return ok })
	h.eventually("the stray container to be removed", func() bool { return h.j.has("remove " + stray) })
	got := h.waitStatus(lost, store.TaskStopped)
	if got.Failed || !strings.HasPrefix(got.StoppedReason, "Task lost") {
		t.Errorf("lost task: failed %v, reason %q; want a Task lost reason, not counted as the task's failure", got.Failed, got.StoppedReason)
	}
	h.eventually("the adopted task's RUNNING report", func() bool {
		_, ok := h.src.report(kept, store.TaskRunning)
		return ok
	})
	if n := len(h.drv.startedTasks()); n != 0 {
		t.Errorf("the driver was asked to start %d tasks, want none (adopted)", n)
	}
	if reg, _ := h.reg.get("web", addr); reg.Task != kept || reg.State != discovery.StateRegistered {
		t.Errorf("adopted registration = %+v, want task %s registered", reg, kept)
	}
	if st := h.task(kept); st.LastStatus != store.TaskRunning {
		t.Errorf("adopted task = %s, want RUNNING", st.LastStatus)
	}
	if h.j.has("stop "+kept+".web") || h.j.has("remove "+kept+".web") {
		t.Errorf("the adopted task was stopped; journal:\n\t%s", strings.Join(h.j.all(), "\n\t"))
	}
	// The lost task leaves the agent's list once its STOPPED report is
	// done, which the store may show a moment before.
	h.eventually("Tasks() to hold the adopted task only", func() bool {
		return reflect.DeepEqual(h.a.Tasks(), []string{kept})
	})
}

// A task stopped while the agent was down, whose container the host still
// runs, is drained and stopped as asked: it did not fail.
func TestAdoptionOfAStoppedTask(t *testing.T) {
	h := newHarness(t, groupWeb(300), taskDefWeb, serviceWeb)
	h.drain.auto = true
	id := h.place("web", "web:1", node)
	h.report(id, store.TaskStatus{LastStatus: store.TaskRunning})
	h.stopTask(id, "Scaling activity")
	h.drv.run(id+".web", map[int]int{8080: 31000})
	h.drv.recovered = []driver.Recovered{{ID: id + ".web", Family: "web", Revision: 1, Container: "web", Status: driver.Status{ID: id + ".web", State: driver.StateRunning}}}
	h.start()

	got := h.waitStatus(id, store.TaskStopped)
	if got.Failed || got.StoppedReason != "Scaling activity" {
		t.Errorf("stopped task: failed %v, reason %q; want not failed with the plan's reason", got.Failed, got.StoppedReason)
	}
	h.eventually("the container to be removed", func() bool { return h.j.has("remove " + id + ".web") })
	if n := h.reg.count(); n != 0 {
		t.Errorf("%d registrations left, want none", n)
	}
}

func TestContainerHealthCheck(t *testing.T) {
	h := newHarness(t, groupWeb(300), taskDefWebChecked, serviceWeb)
	h.start()
	id, addr := h.running()
	if got := h.drv.startedTasks(); len(got) != 1 || got[0].HealthCheck == nil || got[0].HealthCheck.Interval != 5*time.Second || got[0].HealthCheck.Retries != 1 {
		t.Errorf("driver task health check = %+v, want the definition's", got)
	}

	h.drv.setHealth(id+".web", driver.HealthHealthy)
	// Passing checks are reported (ECS's task healthStatus), for the
	// scheduler to count the task without the checks' worst case.
	h.eventually("the task reported HEALTHY", func() bool { return h.task(id).ContainerHealth == store.ContainerHealthy })
	h.drv.setHealth(id+".web", driver.HealthUnhealthy)
	h.waitDrainAsked(addr)
	if st := h.task(id).LastStatus; st != store.TaskDeactivating {
		t.Errorf("status while draining an unhealthy task = %s, want DEACTIVATING", st)
	}
	h.drain.let()
	got := h.waitStatus(id, store.TaskStopped)
	if !got.Failed || got.StoppedReason != agent.ReasonHealthCheck {
		t.Errorf("stopped task: failed %v, reason %q; want failed with %q", got.Failed, got.StoppedReason, agent.ReasonHealthCheck)
	}
	h.before("drain web "+addr, "stop "+id+".web")
}

func TestOtherNodesTasksAreIgnored(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	// The source lists n2's tasks too: the agent itself must leave them.
	h.src.alsoNodes = []string{"n2"}
	h.start()
	other := h.place("web", "web:1", "n2")
	mine, _ := h.running()

	if got := h.task(other); got.LastStatus != store.TaskProvisioning {
		t.Errorf("n2's task = %s, want PROVISIONING (untouched)", got.LastStatus)
	}
	if got := h.src.statuses(other); len(got) != 0 {
		t.Errorf("reports for n2's task = %v, want none", got)
	}
	if got := h.drv.startedTasks(); len(got) != 1 || got[0].ID != mine+".web" {
		t.Errorf("driver started %v, want only %s.web", got, mine)
	}
	if got := h.a.Tasks(); !reflect.DeepEqual(got, []string{mine}) {
		t.Errorf("Tasks() = %v, want [%s]", got, mine)
	}
}

// A task stopped before its agent saw it is reported STOPPED without starting.
func TestStoppedBeforeStart(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	id := h.place("web", "web:1", node)
	h.stopTask(id, "Scaling activity")
	h.start()

	got := h.waitStatus(id, store.TaskStopped)
	if got.Failed || got.StoppedReason != "Scaling activity" {
		t.Errorf("stopped task: failed %v, reason %q; want not failed with the plan's reason", got.Failed, got.StoppedReason)
	}
	if n := len(h.drv.startedTasks()); n != 0 {
		t.Errorf("the driver started %d tasks, want none", n)
	}
}

// A task the store forgets while it runs (reaped, or moved) is drained and
// stopped without reports: there is nothing left to report to.
func TestForgottenTaskIsStopped(t *testing.T) {
	h := newHarness(t, groupWeb(300), taskDefWeb, serviceWeb)
	h.drain.auto = true
	h.start()
	id, addr := h.running()

	if _, err := h.st.CommitPlan(h.ctx, &store.Plan{Reap: []string{id}}); err != nil {
		t.Fatalf("CommitPlan(reap) = %v", err)
	}
	h.eventually("the container to be removed", func() bool { return h.j.has("remove " + id + ".web") })
	h.before("update web "+addr+" draining", "drain web "+addr)
	h.before("drain web "+addr, "stop "+id+".web")
	h.before("stop "+id+".web", "deregister web "+addr)
	h.eventually("the agent to forget the task", func() bool { return len(h.a.Tasks()) == 0 })
}

// Ending the agent in the middle of a drain leaves the task to the driver's
// Close: the agent neither stops nor deregisters it, and Run returns.
func TestRunEndsDuringADrain(t *testing.T) {
	h := newHarness(t, groupWeb(300), taskDefWeb, serviceWeb)
	id, addr := h.draining("Scaling activity")

	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
	case <-h.ctx.Done():
		t.Fatal("Run() did not return after its context ended")
	}
	if h.j.has("stop "+id+".web") || h.j.has("deregister web "+addr) || h.j.has("remove "+id+".web") {
		t.Errorf("the task was stopped as the agent ended; journal:\n\t%s", strings.Join(h.j.all(), "\n\t"))
	}
}

// A task that exits while it drains is stopped at once: no node can have
// anything in flight to it any more.
func TestExitWhileDraining(t *testing.T) {
	h := newHarness(t, groupWeb(300), taskDefWeb, serviceWeb)
	id, addr := h.draining("Scaling activity")

	h.drv.exit(id+".web", 0)
	got := h.waitStatus(id, store.TaskStopped)
	if got.Failed || got.StoppedReason != "Scaling activity" {
		t.Errorf("stopped task: failed %v, reason %q; want not failed with the plan's reason", got.Failed, got.StoppedReason)
	}
	h.before("deregister web "+addr, "status "+id+" STOPPED")
}

// Reports that fail are retried until they land.
func TestReportsAreRetried(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	h.src.failReports = 3
	h.start()
	id, _ := h.running()
	if got, want := h.src.statuses(id), []string{store.TaskPending, store.TaskActivating, store.TaskRunning}; !reflect.DeepEqual(got, want) {
		t.Errorf("reported statuses = %v, want %v", got, want)
	}
	if !h.j.has("status " + id + " PENDING: failed") {
		t.Errorf("no report failed; journal:\n\t%s", strings.Join(h.j.all(), "\n\t"))
	}
}

const groupAdmin = `
kind: TargetGroup
name: admin
deregistrationDelaySeconds: 300
`

const taskDefTwoPorts = `
kind: TaskDefinition
family: web
driver: process
containerDefinitions:
  - name: web
    memory: 64
    command: ["gantry", "echo-server"]
    portMappings: [{containerPort: 8080}, {containerPort: 9090}]
`

const serviceTwoGroups = `
kind: Service
serviceName: web
taskDefinition: web
desiredCount: 1
loadBalancers:
  - {targetGroup: web, containerName: web, containerPort: 8080}
  - {targetGroup: admin, containerName: web, containerPort: 9090}
`

// A service with two load balancers registers the task in both groups and
// stops it only once both are drained.
func TestTwoTargetGroups(t *testing.T) {
	h := newHarness(t, groupWeb(300), groupAdmin, taskDefTwoPorts, serviceTwoGroups)
	h.start()
	id := h.place("web", "web:1", node)
	h.waitStatus(id, store.TaskRunning)
	ports := map[int]int{}
	for _, b := range h.task(id).HostPorts {
		ports[b.ContainerPort] = b.HostPort
	}
	web, admin := fmt.Sprintf("%s:%d", hostAddr, ports[8080]), fmt.Sprintf("%s:%d", hostAddr, ports[9090])
	if _, ok := h.reg.get("web", web); !ok {
		t.Errorf("no registration web %s", web)
	}
	if _, ok := h.reg.get("admin", admin); !ok {
		t.Errorf("no registration admin %s", admin)
	}

	h.stopTask(id, "Scaling activity")
	h.eventually("both drains to be asked", func() bool { return h.j.has("drain web "+web) && h.j.has("drain admin "+admin) })
	if h.j.has("stop " + id + ".web") {
		t.Fatal("the task was stopped before its drains were acknowledged")
	}
	h.drain.let()
	h.waitStatus(id, store.TaskStopped)
	h.before("update admin "+admin+" draining", "stop "+id+".web")
	h.before("stop "+id+".web", "deregister admin "+admin)
	if n := h.reg.count(); n != 0 {
		t.Errorf("%d registrations left, want none", n)
	}
}

// With ListenTimeout the target is registered only once the task's port
// accepts connections, so its first health check finds it listening.
func TestRegistersOnceListening(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	h.drv.nextPort = port - 1 // the task's host port, nothing listening yet
	h.host, h.listenTimeout = "127.0.0.1", 10*time.Second
	h.start()
	id := h.place("web", "web:1", node)
	h.waitStatus(id, store.TaskActivating)
	if n := h.reg.count(); n != 0 {
		t.Fatalf("%d registrations while nothing listens on the task's port, want none", n)
	}
	l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d was taken meanwhile: %v", port, err)
	}
	defer l.Close()
	h.waitStatus(id, store.TaskRunning)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if _, ok := h.reg.get("web", addr); !ok {
		t.Errorf("no registration of %s once it listens", addr)
	}
}

func (h *harness) metrics() *prometheus.Registry {
	if h.prom == nil {
		h.prom = prometheus.NewRegistry()
	}
	return h.prom
}

// TestMetrics: starts, running tasks and acknowledged drains are counted.
func TestMetrics(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	h.start()
	id, _ := h.running()
	if got := gauge(t, h.metrics(), "gantry_agent_running_tasks"); got != 1 {
		t.Errorf("running tasks = %v, want 1", got)
	}
	h.stopTask(id, "Scaling activity initiated by (deployment web/1)")
	h.drain.let()
	h.waitStatus(id, store.TaskStopped)
	h.eventually("the running gauge back to 0", func() bool {
		return gauge(t, h.metrics(), "gantry_agent_running_tasks") == 0
	})
	want := `
# HELP gantry_agent_task_starts_total Task starts by this node's agent, by result (started, failed).
# TYPE gantry_agent_task_starts_total counter
gantry_agent_task_starts_total{result="failed"} 0
gantry_agent_task_starts_total{result="started"} 1
# HELP gantry_agent_drain_timeouts_total Drains ended by the deregistration delay rather than by every node's acknowledgement.
# TYPE gantry_agent_drain_timeouts_total counter
gantry_agent_drain_timeouts_total 0
`
	if err := testutil.GatherAndCompare(h.metrics(), strings.NewReader(want),
		"gantry_agent_task_starts_total", "gantry_agent_drain_timeouts_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(h.metrics(), "gantry_agent_drain_seconds"); err != nil || n != 1 {
		t.Errorf("drain histogram series = %d, %v; want 1", n, err)
	}
}

// gauge reads the gauge named name from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
