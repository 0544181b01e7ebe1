package scheduler

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
)

func withLB(s *spec.Service) {
	s.LoadBalancers = []spec.LoadBalancer{{TargetGroup: "web", ContainerName: "web", ContainerPort: 8080}}
}

func deployment(min, max int, breaker, rollback bool) func(*spec.Service) {
	return func(s *spec.Service) {
		s.DeploymentConfiguration = spec.DeploymentConfiguration{MinimumHealthyPercent: &min, MaximumPercent: &max,
			DeploymentCircuitBreaker: &spec.CircuitBreaker{Enable: breaker, Rollback: rollback}}
	}
}

func TestSteadyStateAndScaling(t *testing.T) {
	h := newHarness(t)
	h.addNodes(3, 4096, 4096, "a", "b", "c")
	h.taskDef("web:1", 256, 128, 0)
	s := svc("web", 3, strategies(spec.PlacementStrategy{Type: "spread", Field: "attribute:zone"}))
	h.service(s, "web:1")
	h.converge(all)
	if got := h.running("web"); !reflect.DeepEqual(got, map[string]int{"web:1": 3}) {
		t.Fatalf("running = %v, want 3 of web:1", got)
	}
	for _, want := range []string{"(service web) has reached a steady state.", "(service web) (deployment web/1) deployment completed."} {
		if !h.hasEvent(want) {
			t.Errorf("events = %q, want %q", h.events, want)
		}
	}
	n := len(h.events)
	h.converge(all)
	if len(h.events) != n {
		t.Errorf("a steady service produced events %q", h.events[n:])
	}

	*s.DesiredCount = 6
	h.converge(all)
	perNode := map[string]int{}
	for _, task := range h.tasks {
		perNode[task.Node]++
	}
	if !reflect.DeepEqual(perNode, map[string]int{"node-01": 2, "node-02": 2, "node-03": 2}) {
		t.Errorf("after scaling to 6, tasks per node = %v, want 2 each", perNode)
	}

	*s.DesiredCount = 3
	r := h.plan()
	stopped := map[string]int{}
	for _, st := range r.Stop {
		stopped[st.Node]++
		if !strings.HasPrefix(st.Reason, "Scaling activity initiated by (deployment web/1)") {
			t.Errorf("stop reason = %q", st.Reason)
		}
	}
	if !reflect.DeepEqual(stopped, map[string]int{"node-01": 1, "node-02": 1, "node-03": 1}) {
		t.Errorf("scale-in stopped %v, want one per zone", stopped)
	}
}

func TestNodeLossAndDrain(t *testing.T) {
	h := newHarness(t)
	h.addNodes(3, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.service(svc("web", 3, withLB), "web:1")
	h.converge(all)

	h.node("node-02").Status = NodeDead
	r := h.plan()
	if len(r.Stop) != 1 || r.Stop[0].Reason != "Task replaced: node node-02 lost" {
		t.Errorf("Stop = %+v, want node-02's task replaced", r.Stop)
	}
	if len(r.Start) != 1 || r.Start[0].Node == "node-02" {
		t.Errorf("Start = %+v, want one replacement elsewhere", r.Start)
	}
	// No agent will report the dead node's task: the plan records it lost,
	// and the next plan forgets it.
	if len(r.Lost) != 1 || r.Lost[0].Node != "node-02" || r.Lost[0].Reason != "Task stopped: node node-02 lost" {
		t.Errorf("Lost = %+v, want node-02's task", r.Lost)
	}
	lost := r.Lost[0].TaskID
	if r := h.plan(); !slices.Contains(r.Counted, lost) || len(r.Lost) != 0 {
		t.Errorf("next plan: Counted = %v, Lost = %+v; want the lost task counted once", r.Counted, r.Lost)
	}
	h.settle(all)
	h.converge(all)

	// Draining with minimumHealthyPercent 100: the replacement starts first,
	// the drained task stops only once it is healthy.
	h.node("node-01").Status = NodeDraining
	r = h.plan()
	if len(r.Stop) != 0 || len(r.Start) != 2 {
		t.Errorf("first drain plan: Stop = %+v, Start = %+v; want 2 starts and no stop", r.Stop, r.Start)
	}
	h.settle(all)
	r = h.plan()
	if len(r.Stop) != 2 || !strings.Contains(r.Stop[0].Reason, "is draining") {
		t.Errorf("second drain plan: Stop = %+v, want node-01's 2 tasks stopped", r.Stop)
	}
	h.settle(all)
	h.converge(all)
	for _, task := range h.tasks {
		if task.live() && (task.Node == "node-01" || task.Node == "node-02") {
			t.Errorf("task %s still on %s", task.ID, task.Node)
		}
	}
}

// Stopped tasks stay listed for StoppedTaskTTL, at most MaxStoppedTasks per
// service, and are counted exactly once.
func TestStoppedTaskRetention(t *testing.T) {
	h := newHarness(t)
	h.addNodes(1, 1<<20, 1<<20)
	h.taskDef("web:1", 1, 6, 0)
	h.service(svc("web", 1), "web:1")
	h.plan()
	var first string
	for i := range MaxStoppedTasks + 5 {
		for _, task := range h.tasks {
			if task.live() {
				task.LastStatus, task.StoppedAt = StatusStopped, h.now
				if i == 0 {
					first = task.ID
				}
			}
		}
		h.now = h.now.Add(time.Second)
		r := h.plan()
		if len(r.Counted) != 1 {
			t.Fatalf("plan %d: Counted = %v, want the one newly stopped task", i, r.Counted)
		}
	}
	stopped := 0
	for _, task := range h.tasks {
		if !task.live() {
			stopped++
			if !task.Counted {
				t.Errorf("stopped task %s not counted", task.ID)
			}
		}
	}
	if stopped != MaxStoppedTasks {
		t.Errorf("%d stopped tasks kept, want %d", stopped, MaxStoppedTasks)
	}
	if _, ok := h.tasks[first]; ok {
		t.Errorf("the oldest stopped task %s is still kept", first)
	}
	h.now = h.now.Add(StoppedTaskTTL)
	if r := h.plan(); len(r.Reap) != MaxStoppedTasks || len(r.Counted) != 0 {
		t.Errorf("an hour later: Reap = %d tasks, Counted = %v; want all %d reaped, none counted again", len(r.Reap), r.Counted, MaxStoppedTasks)
	}
	for _, task := range h.tasks {
		if !task.live() {
			t.Errorf("stopped task %s kept past StoppedTaskTTL", task.ID)
		}
	}
}

func TestRollingDeployment(t *testing.T) {
	tests := []struct {
		name     string
		min, max int
		// peak is the most tasks alive at once; floor the fewest healthy.
		peak, floor int
	}{
		{"min 100 max 200", 100, 200, 8, 4},
		{"min 50 max 100", 50, 100, 4, 2},
		{"min 0 max 100", 0, 100, 4, 0},
		{"min 75 max 125", 75, 125, 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addNodes(4, 4096, 4096)
			h.taskDef("web:1", 256, 128, 0)
			h.taskDef("web:2", 256, 128, 0)
			s := svc("web", 4, withLB, deployment(tt.min, tt.max, false, false))
			h.service(s, "web:1")
			h.converge(all)
			h.service(s, "web:2")
			peak, floor := 0, 100
			for range 30 {
				h.plan()
				alive, healthy := 0, 0
				for _, task := range h.tasks {
					if task.live() && !task.stopping() {
						alive++
					}
					if task.live() && !task.stopping() && task.Health == HealthHealthy {
						healthy++
					}
				}
				peak, floor = max(peak, alive), min(floor, healthy)
				h.settle(all)
			}
			if got := h.running("web"); !reflect.DeepEqual(got, map[string]int{"web:2": 4}) {
				t.Fatalf("running = %v, want 4 of web:2", got)
			}
			if peak != tt.peak || floor != tt.floor {
				t.Errorf("peak %d, floor %d; want %d, %d", peak, floor, tt.peak, tt.floor)
			}
			if !h.hasEvent("(deployment web/2) deployment completed.") {
				t.Errorf("events = %q, want web/2 completed", h.events)
			}
		})
	}
}

func TestGracePeriodAndUnhealthyTasks(t *testing.T) {
	h := newHarness(t)
	h.addNodes(2, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	s := svc("web", 2, withLB)
	s.HealthCheckGracePeriodSeconds = 60
	h.service(s, "web:1")
	h.plan()
	h.settle(all)
	for _, task := range h.tasks {
		task.Health = HealthUnhealthy
	}
	if r := h.plan(); len(r.Stop) != 0 {
		t.Errorf("within the grace period Stop = %+v, want none", r.Stop)
	}
	h.now = h.now.Add(time.Minute)
	r := h.plan()
	if len(r.Stop) != 2 || r.Stop[0].Reason != "Task failed ELB health checks" {
		t.Errorf("after the grace period Stop = %+v, want both stopped", r.Stop)
	}
	if len(r.Start) != 2 {
		t.Errorf("Start = %+v, want 2 replacements at once", r.Start)
	}
	if !h.hasEvent("is unhealthy in (target-group web) due to (reason Health checks failed).") {
		t.Errorf("events = %q, want the unhealthy tasks reported", h.events)
	}
	if d := h.deps["web/1"]; d.FailedTasks != 2 {
		t.Errorf("FailedTasks = %d, want 2", d.FailedTasks)
	}
}

func TestCircuitBreaker(t *testing.T) {
	for _, rollback := range []bool{true, false} {
		t.Run(map[bool]string{true: "rollback", false: "stop"}[rollback], func(t *testing.T) {
			h := newHarness(t)
			h.addNodes(3, 4096, 4096)
			h.taskDef("web:1", 256, 128, 0)
			h.taskDef("web:2", 256, 128, 0)
			s := svc("web", 4, deployment(50, 200, true, rollback))
			h.service(s, "web:1")
			h.converge(all)
			h.service(s, "web:2")
			good := func(rev string) bool { return rev == "web:1" }
			for range 20 {
				h.plan()
				h.settle(good)
			}
			if !h.hasEvent("(service web) (deployment web/2) deployment failed: tasks failed to start.") {
				t.Fatalf("events = %q, want web/2 failed", h.events)
			}
			got := h.running("web")
			if rollback {
				if !reflect.DeepEqual(got, map[string]int{"web:1": 4}) {
					t.Errorf("after rollback running = %v, want 4 of web:1", got)
				}
				if !h.hasEvent("(deployment web/3) rolling back to task definition web:1 after deployment web/2 failed.") {
					t.Errorf("events = %q, want the rollback", h.events)
				}
				if d := h.deps["web/3"]; d.RolloutState != RolloutCompleted || d.RollbackOf != "web:2" {
					t.Errorf("deployment web/3 = %+v, want completed rollback of web:2", d)
				}
			} else if got["web:1"] < 2 {
				t.Errorf("without rollback running = %v, want at least the minimum healthy 2 of web:1 kept", got)
			}
			if d, ok := h.deps["web/2"]; ok && d.FailedTasks < spec.FailureThreshold(4) {
				t.Errorf("web/2 FailedTasks = %d, want at least %d", d.FailedTasks, spec.FailureThreshold(4))
			}
		})
	}
}

func TestDeletedServiceTasksStop(t *testing.T) {
	h := newHarness(t)
	h.addNodes(1, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.service(svc("web", 2), "web:1")
	h.converge(all)
	delete(h.services, "web")
	r := h.plan()
	if len(r.Stop) != 2 || r.Stop[0].Reason != "Service web was deleted" {
		t.Errorf("Stop = %+v, want both tasks stopped", r.Stop)
	}
	h.settle(all)
	h.plan()
	if len(h.tasks) != 0 {
		t.Errorf("tasks left: %v", maps.Collect(maps.All(h.tasks)))
	}
}

func TestUnknownRevisionAndNilSpec(t *testing.T) {
	h := newHarness(t)
	h.addNodes(1, 4096, 4096)
	h.service(svc("web", 2), "web:9")
	h.services["ghost"] = &Service{}
	r := h.plan()
	if len(r.Start) != 0 || !h.hasEvent("(service web) cannot start tasks: task definition web:9 is not registered.") {
		t.Errorf("Start = %+v, events = %q; want no start and an event", r.Start, h.events)
	}
}

func TestFailedRollbackStaysFailed(t *testing.T) {
	h := newHarness(t)
	h.addNodes(3, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.taskDef("web:2", 256, 128, 0)
	s := svc("web", 4, deployment(50, 200, true, true))
	h.service(s, "web:1")
	h.converge(all)
	h.service(s, "web:2")
	for range 30 { // nothing starts any more: both revisions fail
		h.plan()
		h.settle(func(string) bool { return false })
	}
	if !h.hasEvent("(deployment web/3) deployment failed") || h.hasEvent("(deployment web/4)") {
		t.Errorf("events = %q, want web/3 (the rollback) failed and no web/4", h.events)
	}
	if d := h.deps["web/3"]; d.Status != DeploymentPrimary || d.RolloutState != RolloutFailed {
		t.Errorf("web/3 = %+v, want the failed primary", d)
	}
}

// A task that keeps failing is not restarted in a tight loop: after the
// third failure launches wait LaunchBackoff, doubling with each failure.
func TestCrashLoopBacksOff(t *testing.T) {
	h := newHarness(t)
	h.addNodes(1, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.service(svc("web", 1), "web:1")
	crash := func() {
		for _, task := range h.tasks {
			if task.live() {
				task.LastStatus, task.Failed, task.StoppedReason = StatusStopped, true, "Essential container in task exited"
			}
		}
	}
	if r := h.plan(); len(r.Start) != 1 {
		t.Fatalf("first plan Start = %v, want 1", r.Start)
	}
	for failures := 1; failures <= 2; failures++ {
		crash()
		if r := h.plan(); len(r.Start) != 1 {
			t.Fatalf("after failure %d Start = %v, want an immediate replacement", failures, r.Start)
		}
	}
	if !h.hasEvent("(service web) (task t0001) failed: Essential container in task exited.") {
		t.Errorf("events = %q, want the failed task's reason", h.events)
	}
	for failures := 3; failures <= 5; failures++ {
		crash()
		if r := h.plan(); len(r.Start) != 0 {
			t.Fatalf("failure %d: Start = %v at once, want a backoff", failures, r.Start)
		}
		if !h.hasEvent("(service web) is unable to consistently start tasks successfully.") {
			t.Fatalf("events = %q, want the throttle event", h.events)
		}
		wait := LaunchBackoff(failures - 1)
		h.now = h.now.Add(wait - time.Millisecond)
		if r := h.plan(); len(r.Start) != 0 {
			t.Fatalf("failure %d: Start = %v before %v passed", failures, r.Start, wait)
		}
		h.now = h.now.Add(time.Millisecond)
		if r := h.plan(); len(r.Start) != 1 {
			t.Fatalf("failure %d: Start = %v after %v, want the replacement", failures, r.Start, wait)
		}
	}
	if LaunchBackoff(100) != 5*time.Minute || LaunchBackoff(1) != 0 || LaunchBackoff(2) != time.Second || LaunchBackoff(3) != 2*time.Second {
		t.Errorf("LaunchBackoff(100) = %v", LaunchBackoff(100))
	}
}

// A revision whose tasks reach RUNNING and then fail (an exit soon after the
// start, a container health check that fails) must not complete its
// deployment: the failures trip the circuit breaker, which rolls back, and
// the old tasks keep running meanwhile. No load balancer is involved.
func TestCrashAfterRunningTripsBreaker(t *testing.T) {
	tests := []struct {
		name        string
		healthCheck *spec.ContainerHealthCheck
		crashAfter  time.Duration // how long web:2's tasks run before failing
	}{
		{"exit after 2s", nil, 2 * time.Second},
		{"container health check", &spec.ContainerHealthCheck{Command: []string{"CMD", "false"}, Interval: 5, Retries: 2, Timeout: 2}, 14 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addNodes(3, 4096, 4096)
			h.taskDef("web:1", 256, 128, 0)
			h.taskDef("web:2", 256, 128, 0)
			h.taskDefs["web:2"].ContainerDefinitions[0].HealthCheck = tt.healthCheck
			s := svc("web", 2, deployment(100, 200, true, true))
			h.service(s, "web:1")
			h.converge(all)
			h.service(s, "web:2")
			for range 120 {
				h.plan()
				for _, task := range h.tasks {
					switch {
					case task.DesiredStatus == StatusStopped:
						task.LastStatus = StatusStopped
					case task.LastStatus == StatusPending:
						task.LastStatus, task.StartedAt = StatusRunning, h.now
					case task.TaskDefinition == "web:2" && task.live() && !h.now.Before(task.StartedAt.Add(tt.crashAfter)):
						task.LastStatus, task.Failed, task.StoppedReason = StatusStopped, true, "Essential container in task exited"
					}
				}
				h.now = h.now.Add(time.Second)
				if h.running("web")["web:1"] < 2 {
					t.Fatalf("running = %v: web:1 tasks stopped while web:2 was not stable; events:\n%s", h.running("web"), strings.Join(h.events, "\n"))
				}
			}
			if h.hasEvent("(deployment web/2) deployment completed.") {
				t.Errorf("events = %q, want web/2 never completed", h.events)
			}
			if !h.hasEvent("(deployment web/2) deployment failed: tasks failed to start.") ||
				!h.hasEvent("(deployment web/3) rolling back to task definition web:1 after deployment web/2 failed.") {
				t.Errorf("events = %q, want web/2 failed and rolled back", h.events)
			}
			if got := h.running("web"); !reflect.DeepEqual(got, map[string]int{"web:1": 2}) {
				t.Errorf("running = %v, want 2 of web:1", got)
			}
		})
	}
}

// A task counts as healthy once it stayed RUNNING for StabilizationPeriod,
// plus the window its container health checks need to fail.
func TestStabilizationPeriod(t *testing.T) {
	h := newHarness(t)
	h.addNodes(1, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.service(svc("web", 1), "web:1")
	hc := &spec.ContainerHealthCheck{Command: []string{"CMD", "true"}, Interval: 10, Retries: 3, StartPeriod: 20}
	if got, want := ContainerCheckWindow(h.taskDefs["web:1"]), time.Duration(0); got != want {
		t.Errorf("ContainerCheckWindow(no checks) = %v, want %v", got, want)
	}
	h.taskDefs["web:1"].ContainerDefinitions[0].HealthCheck = hc
	window := ContainerCheckWindow(h.taskDefs["web:1"])
	if want := (20 + 3*10 + spec.DefaultContainerHCTimeout) * time.Second; window != want {
		t.Errorf("ContainerCheckWindow = %v, want %v", window, want)
	}
	h.plan()
	for _, task := range h.tasks {
		task.LastStatus, task.StartedAt = StatusRunning, h.now
	}
	h.now = h.now.Add(StabilizationPeriod + window - time.Millisecond)
	h.plan()
	if h.hasEvent("deployment completed") {
		t.Fatalf("events = %q: completed before the stabilization period passed", h.events)
	}
	h.now = h.now.Add(time.Millisecond)
	h.plan()
	if !h.hasEvent("(deployment web/1) deployment completed.") {
		t.Errorf("events = %q, want web/1 completed once stable", h.events)
	}
}

// A new revision spreads evenly whatever the spread of the old revision it
// replaces: the old tasks are about to stop and do not count.
func TestRolloutSpreadsTheNewRevision(t *testing.T) {
	h := newHarness(t)
	h.addNodes(3, 4096, 4096, "a", "b", "c")
	h.taskDef("web:1", 256, 128, 0)
	h.taskDef("web:2", 256, 128, 0)
	s := svc("web", 6, withLB, deployment(100, 200, false, false),
		strategies(spec.PlacementStrategy{Type: "spread", Field: "attribute:zone"}))
	h.service(s, "web:1")
	h.node("node-01").Memory = 0 // zone a is full: web:1 lands on b and c only
	h.converge(all)
	h.node("node-01").Memory = 4096
	zones := func(revision string) map[string]int {
		out := map[string]int{}
		for _, task := range h.tasks {
			if task.TaskDefinition == revision && task.live() && !task.stopping() {
				out[h.node(task.Node).Attributes["zone"]]++
			}
		}
		return out
	}
	if got := zones("web:1"); !reflect.DeepEqual(got, map[string]int{"b": 3, "c": 3}) {
		t.Fatalf("web:1 by zone = %v, want b:3 c:3", got)
	}
	h.service(s, "web:2")
	h.converge(all)
	if got := zones("web:2"); !reflect.DeepEqual(got, map[string]int{"a": 2, "b": 2, "c": 2}) {
		t.Errorf("web:2 by zone = %v, want 2 in each zone", got)
	}
	if got := h.running("web"); !reflect.DeepEqual(got, map[string]int{"web:2": 6}) {
		t.Errorf("running = %v, want 6 of web:2", got)
	}
}

// A forced deployment of the running revision replaces every task of the
// older deployment, within minimumHealthyPercent, and completes.
func TestForceNewDeployment(t *testing.T) {
	h := newHarness(t)
	h.addNodes(3, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	s := svc("web", 3, withLB, deployment(100, 200, false, false))
	h.service(s, "web:1")
	h.converge(all)
	h.services["web"].ForceNewDeployment = true
	r := h.plan()
	h.services["web"].ForceNewDeployment = false
	if len(r.Start) != 3 || len(r.Stop) != 0 || !h.hasEvent("(service web) has started a deployment (deployment web/2) of task definition web:1.") {
		t.Errorf("Start = %+v, Stop = %+v, events = %q; want 3 new tasks of web/2 and none stopped yet", r.Start, r.Stop, h.events)
	}
	h.settle(all)
	h.converge(all)
	for _, task := range h.tasks {
		if task.live() && task.Deployment != "web/2" {
			t.Errorf("task %s of %s still %s", task.ID, task.Deployment, task.LastStatus)
		}
	}
	if got := h.running("web"); !reflect.DeepEqual(got, map[string]int{"web:1": 3}) {
		t.Errorf("running = %v, want 3 of web:1", got)
	}
	if !h.hasEvent("(deployment web/2) deployment completed.") {
		t.Errorf("events = %q, want web/2 completed", h.events)
	}
}

// TestLoadBalancersChangeStartsDeployment: the primary deployment records
// the service's loadBalancers; a later change of them starts a deployment
// whoever plans it (the record is in the store, not in a leader's memory).
// A deployment recorded without them adopts the current ones.
func TestLoadBalancersChangeStartsDeployment(t *testing.T) {
	h := newHarness(t)
	h.addNodes(3, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.service(svc("web", 3, withLB, deployment(100, 200, false, false)), "web:1")
	h.converge(all)
	if d := h.deps["web/1"]; d.LoadBalancers != LoadBalancersKey(h.services["web"].Spec.LoadBalancers) {
		t.Fatalf("web/1 recorded loadBalancers %q, want %q", d.LoadBalancers, LoadBalancersKey(h.services["web"].Spec.LoadBalancers))
	}

	// Recorded before the field existed: adopted, no deployment.
	d := h.deps["web/1"]
	d.LoadBalancers = ""
	h.deps["web/1"] = d
	if r := h.plan(); len(r.Start) != 0 || len(r.Stop) != 0 {
		t.Fatalf("a deployment without recorded loadBalancers: Start %d, Stop %d; want nothing", len(r.Start), len(r.Stop))
	}
	h.converge(all)
	if d := h.deps["web/1"]; d.LoadBalancers == "" {
		t.Fatal("web/1 did not adopt the service's loadBalancers")
	}

	h.services["web"].Spec.LoadBalancers = []spec.LoadBalancer{{TargetGroup: "web2", ContainerName: "web", ContainerPort: 8080}}
	r := h.plan()
	if len(r.Start) != 3 || !h.hasEvent("(service web) has started a deployment (deployment web/2) of task definition web:1.") {
		t.Errorf("after a change of loadBalancers: Start = %d, events = %q; want 3 new tasks of web/2", len(r.Start), h.events)
	}
}

// TestContainerHealthyNeedsNoCheckWindow: a task its agent reports HEALTHY
// (its container checks passed) counts after StabilizationPeriod alone.
func TestContainerHealthyNeedsNoCheckWindow(t *testing.T) {
	h := newHarness(t)
	h.addNodes(1, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.service(svc("web", 1), "web:1")
	h.taskDefs["web:1"].ContainerDefinitions[0].HealthCheck = &spec.ContainerHealthCheck{Command: []string{"CMD", "true"}, Interval: 30, Retries: 3}
	h.plan()
	for _, task := range h.tasks {
		task.LastStatus, task.StartedAt = StatusRunning, h.now
	}
	h.now = h.now.Add(StabilizationPeriod)
	h.plan()
	if h.hasEvent("deployment completed") {
		t.Fatalf("events = %q: completed before the container checks passed or their window ended", h.events)
	}
	for _, task := range h.tasks {
		task.ContainerHealth = ContainerHealthy
	}
	h.plan()
	if !h.hasEvent("(deployment web/1) deployment completed.") {
		t.Errorf("events = %q, want web/1 completed once its task is HEALTHY and past the stabilization period", h.events)
	}
}

// Failures older than launchBackoffMemory no longer hold launches back: a
// service that crash-looped an hour ago and has run since gets its next
// crashed task replaced at once, not after the backoff the old failures
// would add up to.
func TestOldFailuresDoNotThrottle(t *testing.T) {
	h := newHarness(t)
	h.addNodes(1, 4096, 4096)
	h.taskDef("web:1", 256, 128, 0)
	h.service(svc("web", 1), "web:1")
	crash := func() {
		for _, task := range h.tasks {
			if task.live() {
				task.LastStatus, task.Failed, task.StoppedReason = StatusStopped, true, "Essential container in task exited"
			}
		}
	}
	h.plan()
	for range 8 {
		crash()
		h.plan()
		h.now = h.now.Add(maxLaunchBackoff)
		h.plan()
	}
	h.now = h.now.Add(time.Hour)
	h.plan()
	crash()
	if r := h.plan(); len(r.Start) != 1 {
		t.Fatalf("a crash an hour after the last failures: Start = %v, want an immediate replacement", r.Start)
	}
	crash()
	if r := h.plan(); len(r.Start) != 1 {
		t.Fatalf("second recent crash: Start = %v, want an immediate replacement", r.Start)
	}
	crash()
	if r := h.plan(); len(r.Start) != 0 {
		t.Fatalf("third recent crash: Start = %v, want the backoff", r.Start)
	}
}
