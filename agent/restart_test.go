package agent_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/store"
)

// A restarted server's replica replays its log after the agent starts: its
// first placements show a task PROVISIONING that a previous run of the
// agent started, or that has stopped since. The agent must start neither:
// only its PENDING report showing in the placements makes the task its own.
func TestStalePlacementsDoNotStartTasks(t *testing.T) {
	running := store.TaskStatus{LastStatus: store.TaskRunning, HostPorts: []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 31000, Protocol: "tcp"}}}
	tests := []struct {
		name string
		// since is what the store recorded since the replica's snapshot.
		since      []store.TaskStatus
		wantReason string
		wantFailed bool
	}{
		{
			name:       "stopped since",
			since:      []store.TaskStatus{running, {LastStatus: store.TaskStopped, Failed: true, StoppedReason: "Essential container in task exited"}},
			wantReason: "Essential container in task exited", wantFailed: true,
		},
		{
			name:       "started by the previous run",
			since:      []store.TaskStatus{running},
			wantReason: agent.ReasonLost,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
			h.drain.auto = true
			id := h.place("web", "web:1", node)
			src := newLaggingSource(h.src, h.st.Snapshot())
			for _, st := range tt.since {
				h.report(id, st)
			}
			h.source = src
			h.start()
			h.eventually("the agent's PENDING report", func() bool { return h.j.has("status " + id + " PENDING") })
			src.catchUp()

			got := h.waitStatus(id, store.TaskStopped)
			if got.StoppedReason != tt.wantReason || got.Failed != tt.wantFailed {
				t.Errorf("task: reason %q, failed %v; want %q, %v", got.StoppedReason, got.Failed, tt.wantReason, tt.wantFailed)
			}
			// A task placed now proves the agent saw the current placements.
			other, _ := h.running()
			if got := h.drv.startedTasks(); len(got) != 1 || got[0].ID != other+".web" {
				t.Errorf("driver started %v, want only %s.web; journal:\n\t%s", got, other, strings.Join(h.j.all(), "\n\t"))
			}
			h.eventually("the agent to let the stale task go", func() bool { return slices.Equal(h.a.Tasks(), []string{other}) })
		})
	}
}

// A task the store shows RUNNING here only once the replica caught up, after
// the first placements, is lost all the same: nothing runs it.
func TestTaskLostAfterTheFirstPlacements(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	src := newLaggingSource(h.src, h.st.Snapshot())
	id := h.place("web", "web:1", node)
	h.report(id, store.TaskStatus{LastStatus: store.TaskRunning})
	h.source = src
	h.start()
	h.eventually("the stale placements", func() bool { return h.j.hasPrefix("placements stale") })
	src.catchUp()

	got := h.waitStatus(id, store.TaskStopped)
	if got.Failed || got.StoppedReason != agent.ReasonLost {
		t.Errorf("task: failed %v, reason %q; want not failed, %q", got.Failed, got.StoppedReason, agent.ReasonLost)
	}
	if n := len(h.drv.startedTasks()); n != 0 {
		t.Errorf("the driver started %d tasks, want none", n)
	}
}

// A task the store records STOPPED while it still desires it RUNNING (the
// runner was started by placements that were behind) is drained, stopped
// and deregistered: nothing may run, or take traffic, for a stopped task.
func TestRunnerOfAStoppedTaskStops(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	h.drain.auto = true
	h.start()
	id, addr := h.running()
	h.report(id, store.TaskStatus{LastStatus: store.TaskStopped, StoppedReason: "Task stopped: node n1 lost"})

	h.eventually("the container to be removed", func() bool { return h.j.has("remove " + id + ".web") })
	h.before("drain web "+addr, "stop "+id+".web")
	h.before("stop "+id+".web", "deregister web "+addr)
	if n := h.reg.count(); n != 0 {
		t.Errorf("%d registrations left, want none", n)
	}
	if got := h.task(id); got.StoppedReason != "Task stopped: node n1 lost" {
		t.Errorf("stopped reason = %q, want the store's", got.StoppedReason)
	}
	h.eventually("the agent to forget the task", func() bool { return len(h.a.Tasks()) == 0 })
}

// A Source that may lag behind the leader (agent.Syncer) is waited for: the
// first reconcile never sees the stale placements.
func TestFirstPlacementsWaitForTheLeader(t *testing.T) {
	h := newHarness(t, groupWeb(60), taskDefWeb, serviceWeb)
	id := h.place("web", "web:1", node)
	src := newLaggingSource(h.src, h.st.Snapshot())
	h.report(id, store.TaskStatus{LastStatus: store.TaskRunning})
	h.report(id, store.TaskStatus{LastStatus: store.TaskStopped, Failed: true, StoppedReason: "Essential container in task exited"})
	h.source = syncingSource{src}
	h.start()
	h.eventually("the agent to ask for placements", func() bool {
		return h.j.has("leader index") || h.j.hasPrefix("placements stale")
	})
	src.catchUp()

	other, _ := h.running()
	if h.j.hasPrefix("placements stale") {
		t.Errorf("the agent read the stale placements; journal:\n\t%s", strings.Join(h.j.all(), "\n\t"))
	}
	if got := h.src.statuses(id); len(got) != 0 {
		t.Errorf("reports for the stopped task = %v, want none", got)
	}
	if got := h.drv.startedTasks(); len(got) != 1 || got[0].ID != other+".web" {
		t.Errorf("driver started %v, want only %s.web", got, other)
	}
}
