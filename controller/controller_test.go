package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/gantrylb/gantry/scheduler"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const workload = `kind: TargetGroup
name: web
---
kind: TaskDefinition
family: web
driver: process
containerDefinitions:
  - name: web
    command: [gantry, echo-server]
    cpu: 128
    memory: 64
    portMappings: [{containerPort: 8080}]
---
kind: Service
serviceName: web
taskDefinition: web
desiredCount: COUNT
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
`

func apply(t *testing.T, st store.Store, count string) {
	t.Helper()
	docs, err := spec.Decode("w.yaml", []byte(strings.Replace(workload, "COUNT", count, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(context.Background(), docs); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func nodes() []NodeInfo {
	return []NodeInfo{
		{Name: "n1", State: "alive", Drivers: []string{"process"}, CPU: 2048, MemoryMiB: 4096},
		{Name: "n2", State: "alive", Drivers: []string{"process"}, CPU: 2048, MemoryMiB: 4096},
	}
}

func live(st *store.State) (byNode map[string]int, n int) {
	byNode = map[string]int{}
	for _, task := range st.Tasks {
		if task.DesiredStatus == store.TaskRunning {
			byNode[task.Node]++
			n++
		}
	}
	return byNode, n
}

// TestPlacesScalesAndIdles: a service of 3 gets 3 tasks spread over both
// nodes; scaled to 1, two are stopped for the scaling; with nothing to do,
// nothing is committed.
func TestPlacesScalesAndIdles(t *testing.T) {
	st := store.NewMemory()
	apply(t, st, "3")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c := New(Config{Store: st, Nodes: nodes, Now: func() time.Time { return now }})
	ctx := context.Background()
	if _, err := c.Step(ctx); err != nil {
		t.Fatalf("Step: %v", err)
	}
	byNode, n := live(st.Snapshot())
	if n != 3 || byNode["n1"] == 0 || byNode["n2"] == 0 {
		t.Fatalf("after the first plan: %d tasks by node %v, want 3 spread over n1 and n2", n, byNode)
	}

	apply(t, st, "1")
	if _, err := c.Step(ctx); err != nil {
		t.Fatalf("Step: %v", err)
	}
	s := st.Snapshot()
	if _, n := live(s); n != 1 {
		t.Errorf("after scaling to 1: %d tasks desired running, want 1", n)
	}
	stopped := 0
	for _, task := range s.Tasks {
		if task.DesiredStatus != store.TaskRunning && strings.Contains(task.StoppedReason, "Scaling activity") {
			stopped++
		}
	}
	if stopped != 2 {
		t.Errorf("%d tasks stopped with the scaling reason, want 2", stopped)
	}

	// Twice more with nothing new: the second commits nothing.
	_, _ = c.Step(ctx)
	v := st.Snapshot().Version
	if p, err := c.Step(ctx); err != nil || p != nil {
		t.Errorf("idle Step = %+v, %v; want nothing committed", p, err)
	}
	if st.Snapshot().Version != v {
		t.Error("an idle plan changed the store")
	}
}

// TestDrainingNodeGetsNothing: a node drained in the store receives no task.
func TestDrainingNodeGetsNothing(t *testing.T) {
	st := store.NewMemory()
	if err := st.DrainNode(context.Background(), "n1", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	apply(t, st, "2")
	c := New(Config{Store: st, Nodes: nodes})
	if _, err := c.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	byNode, n := live(st.Snapshot())
	if n != 2 || byNode["n1"] != 0 {
		t.Errorf("tasks by node = %v (%d), want both on n2, none on the draining n1", byNode, n)
	}
}

// TestTaskHealthFromTargets: a task is healthy when its host port is healthy
// in its service's group.
func TestTaskHealthFromTargets(t *testing.T) {
	st := store.NewMemory()
	apply(t, st, "1")
	c := New(Config{Store: st, Nodes: nodes})
	if _, err := c.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	var id string
	for tid := range st.Snapshot().Tasks {
		id = tid
	}
	err := st.UpdateTaskStatus(context.Background(), id, store.TaskStatus{LastStatus: store.TaskRunning,
		HostPorts: []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 31000}}})
	if err != nil {
		t.Fatal(err)
	}
	health := func(group, addr string) (string, bool) {
		if group == "web" && addr == "127.0.0.1:31000" {
			return spec.TargetHealthy, true
		}
		return "", false
	}
	snap := SnapshotOf(st.Snapshot(), nodes(), health, "127.0.0.1", time.Now(), 1)
	if len(snap.Tasks) != 1 || snap.Tasks[0].Health != "healthy" {
		t.Errorf("snapshot tasks = %+v, want the task healthy", snap.Tasks)
	}
}

// TestRunFollowsTheStore: the loop places tasks when a service is applied.
func TestRunFollowsTheStore(t *testing.T) {
	st := store.NewMemory()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(Config{Store: st, Nodes: nodes, Interval: time.Hour}).Run(ctx) }()
	apply(t, st, "2")
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	for s := st.Snapshot(); ; {
		if _, n := live(s); n == 2 {
			break
		}
		var err error
		if s, err = st.Watch(wctx, s.Version); err != nil {
			t.Fatalf("the controller did not place the service's 2 tasks: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestMetrics: plans, placements, stops and unplaced tasks are counted.
func TestMetrics(t *testing.T) {
	st := store.NewMemory()
	apply(t, st, "3")
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	small := func() []NodeInfo {
		return []NodeInfo{{Name: "n1", State: "alive", Drivers: []string{"process"}, CPU: 256, MemoryMiB: 4096}}
	}
	c := New(Config{Store: st, Nodes: small, Now: func() time.Time { return now }, Registry: reg})
	if _, err := c.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP gantry_scheduler_tasks_placed_total Tasks the scheduler placed.
# TYPE gantry_scheduler_tasks_placed_total counter
gantry_scheduler_tasks_placed_total 2
# HELP gantry_scheduler_unplaced_tasks Tasks of a service no node could take at the last plan.
# TYPE gantry_scheduler_unplaced_tasks gauge
gantry_scheduler_unplaced_tasks{service="web"} 1
# HELP gantry_scheduler_plans_total Plans the scheduler made on this node while leader.
# TYPE gantry_scheduler_plans_total counter
gantry_scheduler_plans_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"gantry_scheduler_tasks_placed_total", "gantry_scheduler_unplaced_tasks", "gantry_scheduler_plans_total"); err != nil {
		t.Error(err)
	}
}

// TestSuspectNodeKeepsItsTasks: the balancer reads a suspect node's targets
// unhealthy (Target.Timeout) although no health check failed; the scheduler
// must not stop its tasks or count them failed. A real verdict still does.
func TestSuspectNodeKeepsItsTasks(t *testing.T) {
	for _, state := range []string{"suspect", "alive"} {
		t.Run(state, func(t *testing.T) {
			st := store.NewMemory()
			apply(t, st, "2")
			now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			c := New(Config{Store: st, Nodes: nodes, Now: func() time.Time { return now },
				Health: func(group, addr string) (string, bool) { return spec.TargetUnhealthy, true }})
			ctx := context.Background()
			if _, err := c.Step(ctx); err != nil {
				t.Fatal(err)
			}
			port := 31000
			for id := range st.Snapshot().Tasks {
				port++
				err := st.UpdateTaskStatus(ctx, id, store.TaskStatus{LastStatus: store.TaskRunning, At: now,
					HostPorts: []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: port}}})
				if err != nil {
					t.Fatal(err)
				}
			}
			c.cfg.Nodes = func() []NodeInfo {
				ns := nodes()
				ns[0].State = state
				return ns
			}
			now = now.Add(time.Minute)
			if _, err := c.Step(ctx); err != nil {
				t.Fatal(err)
			}
			s := st.Snapshot()
			stopped := map[string]int{}
			for _, task := range s.Tasks {
				if task.DesiredStatus != store.TaskRunning {
					stopped[task.Node]++
					if task.StoppedReason != "Task failed ELB health checks" {
						t.Errorf("task %s stopped: %q", task.ID, task.StoppedReason)
					}
				}
			}
			failed := 0
			for _, d := range s.Deployments {
				failed += d.FailedTasks
			}
			want := map[string]int{"n1": 1, "n2": 1}
			if state == "suspect" {
				want = map[string]int{"n2": 1} // n2 is alive: its verdict is real
			}
			if fmt.Sprint(stopped) != fmt.Sprint(want) || failed != len(s.Tasks)-2 {
				t.Errorf("n1 %s: stopped by node %v, failed tasks %d; want %v, %d", state, stopped, failed, want, len(s.Tasks)-2)
			}
		})
	}
}

// TestLoadBalancersChangeDeploys: a service moved to another target group
// gets a new deployment whose tasks replace the old ones (which stay
// registered where they started), as ECS UpdateService does.
func TestLoadBalancersChangeDeploys(t *testing.T) {
	st := store.NewMemory()
	apply(t, st, "2")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// The first two tasks (ports 31001, 31002) registered in web, the
	// others in web2; every one is healthy where it is.
	port := 31000
	healthy := func(group, addr string) (string, bool) {
		first := addr <= "127.0.0.1:31002"
		return spec.TargetHealthy, first == (group == "web")
	}
	c := New(Config{Store: st, Nodes: nodes, Now: func() time.Time { return now }, Health: healthy})
	ctx := context.Background()
	step := func() {
		t.Helper()
		if _, err := c.Step(ctx); err != nil {
			t.Fatalf("Step: %v", err)
		}
		for id, task := range st.Snapshot().Tasks {
			if task.LastStatus == store.TaskProvisioning && task.DesiredStatus == store.TaskRunning {
				port++
				err := st.UpdateTaskStatus(ctx, id, store.TaskStatus{LastStatus: store.TaskRunning, At: now,
					HostPorts: []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: port}}})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		now = now.Add(time.Minute)
	}
	step()
	step()
	if d := st.Snapshot().Deployments["web/1"]; d == nil || d.RolloutState != scheduler.RolloutCompleted {
		t.Fatalf("web/1 = %+v, want completed", d)
	}

	moved := strings.Replace(strings.Replace(workload, "COUNT", "2", 1), "targetGroup: web,", "targetGroup: web2,", 1)
	docs, err := spec.Decode("w.yaml", []byte("kind: TargetGroup\nname: web2\n---\n"+moved))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, docs); err != nil {
		t.Fatalf("apply: %v", err)
	}
	step()
	for _, task := range st.Snapshot().Tasks {
		if task.Deployment == "web/1" && task.DesiredStatus != store.TaskRunning {
			t.Errorf("task %s of web/1 stopped (%s) before its replacement ran", task.ID, task.StoppedReason)
		}
	}
	for range 3 {
		step()
	}
	s := st.Snapshot()
	if d := s.Deployments["web/2"]; d == nil || d.Status != scheduler.DeploymentPrimary || d.TaskDefinition != "web:1" {
		t.Fatalf("web/2 = %+v, want the primary deployment of web:1", d)
	}
	for _, task := range s.Tasks {
		if running := task.DesiredStatus == store.TaskRunning; running != (task.Deployment == "web/2") {
			t.Errorf("task %s of %s: desired %s (%s)", task.ID, task.Deployment, task.DesiredStatus, task.StoppedReason)
		}
	}
	if _, n := live(s); n != 2 {
		t.Errorf("%d tasks desired running, want 2", n)
	}
}

// TestAgentOnlyNodeBackFromSuspicion: this node checks an agent-only node's
// targets itself and read them unhealthy (Target.Timeout) while the node was
// suspect; once it is alive again the checks start from unhealthy, so until
// they had time to pass (healthyThresholdCount × interval + timeout) the
// scheduler must not stop its tasks as failing. After that window, or on a
// server node (whose own verdict is shared at once), it does.
func TestAgentOnlyNodeBackFromSuspicion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roles []string
		since time.Duration // before the step
		stop  bool
	}{
		{"agent-only just back", []string{"balancer", "agent"}, 2 * time.Second, false},
		{"agent-only back long ago", []string{"balancer", "agent"}, 10 * time.Minute, true},
		{"server just back", []string{"server", "balancer", "agent"}, 2 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			apply(t, st, "1")
			now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			c := New(Config{Store: st, Nodes: nodes, Now: func() time.Time { return now },
				Health: func(group, addr string) (string, bool) { return spec.TargetUnhealthy, true }})
			ctx := context.Background()
			if _, err := c.Step(ctx); err != nil {
				t.Fatal(err)
			}
			var node string
			for id, task := range st.Snapshot().Tasks {
				node = task.Node
				err := st.UpdateTaskStatus(ctx, id, store.TaskStatus{LastStatus: store.TaskRunning, At: now,
					HostPorts: []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 31000}}})
				if err != nil {
					t.Fatal(err)
				}
			}
			now = now.Add(time.Hour)
			c.cfg.Nodes = func() []NodeInfo {
				ns := nodes()
				for i := range ns {
					ns[i].Roles, ns[i].Since = tc.roles, now.Add(-tc.since)
				}
				return ns
			}
			if _, err := c.Step(ctx); err != nil {
				t.Fatal(err)
			}
			stopped := 0
			for _, task := range st.Snapshot().Tasks {
				if task.Node == node && task.DesiredStatus != store.TaskRunning {
					stopped++
				}
			}
			if (stopped > 0) != tc.stop {
				t.Errorf("tasks stopped = %d, want stopped %v", stopped, tc.stop)
			}
		})
	}
}

// lagging is a replicated store whose new leader has not applied earlier
// writes yet: until Barrier, Snapshot returns an older state.
type lagging struct {
	store.Store
	old      *store.State
	barriers int
}

func (l *lagging) Snapshot() *store.State {
	if l.barriers == 0 {
		return l.old
	}
	return l.Store.Snapshot()
}

func (l *lagging) Barrier(context.Context) error { l.barriers++; return nil }
func (l *lagging) Term() uint64                  { return 2 }

// TestNewLeaderPlansOnceCaughtUp: a leader plans from a state that has every
// write committed before it led, not from what its replica applied so far
// (a restarted server replays its log only once it leads): the tasks an
// earlier leader placed are not placed again.
func TestNewLeaderPlansOnceCaughtUp(t *testing.T) {
	mem := store.NewMemory()
	apply(t, mem, "2")
	old := mem.Snapshot() // the service, before any task was placed
	if _, err := New(Config{Store: mem, Nodes: nodes}).Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, n := live(mem.Snapshot()); n != 2 {
		t.Fatalf("%d tasks placed by the first leader, want 2", n)
	}
	l := &lagging{Store: mem, old: old}
	c := New(Config{Store: l, Nodes: nodes})
	for range 2 {
		if _, err := c.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, n := live(mem.Snapshot()); n != 2 || l.barriers != 1 {
		t.Errorf("after the new leader's steps: %d tasks, %d barriers; want 2 tasks, 1 barrier", n, l.barriers)
	}
}
