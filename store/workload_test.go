package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
)

const taskDefWeb = `
kind: TaskDefinition
family: web
driver: process
containerDefinitions:
  - name: web
    command: ["gantry", "echo-server"]
    memory: 64
    portMappings: [{containerPort: 8080}]
`

const serviceWeb = `
kind: Service
serviceName: web
taskDefinition: web
desiredCount: 2
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
`

// taskDefWebV is taskDefWeb with another memory, a changed revision.
func taskDefWebV(memory int) string {
	return strings.Replace(taskDefWeb, "memory: 64", fmt.Sprintf("memory: %d", memory), 1)
}

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func TestApplyWorkloads(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		steps := []struct {
			name    string
			yaml    string
			want    []Result
			wantErr string
		}{
			{"first revision", groupWeb + "---" + taskDefWeb, []Result{{"TargetGroup", "web", ActionCreated}, {"TaskDefinition", "web:1", ActionCreated}}, ""},
			{"identical", taskDefWeb, []Result{{"TaskDefinition", "web:1", ActionUnchanged}}, ""},
			{"changed", taskDefWebV(128), []Result{{"TaskDefinition", "web:2", ActionCreated}}, ""},
			{"service on the latest", serviceWeb, []Result{{"Service", "web", ActionCreated}}, ""},
			{"service again", serviceWeb, []Result{{"Service", "web", ActionUnchanged}}, ""},
			{"service and a new revision together", serviceWeb + "---" + taskDefWebV(256), []Result{{"Service", "web", ActionConfigured}, {"TaskDefinition", "web:3", ActionCreated}}, ""},
			{"missing revision", strings.Replace(serviceWeb, "taskDefinition: web", "taskDefinition: web:9", 1), nil, `x.yaml:4:17: taskDefinition: task definition "web:9" does not exist: the latest revision of "web" is 3`},
			{"missing family", strings.Replace(serviceWeb, "taskDefinition: web", "taskDefinition: api", 1), nil, `task definition family "api" does not exist`},
			{"missing group", strings.Replace(serviceWeb, "targetGroup: web", "targetGroup: nope", 1), nil, `target group "nope" does not exist`},
			{"missing container", strings.Replace(serviceWeb, "containerName: web", "containerName: api", 1), nil, `has no container "api"`},
			{"family twice", taskDefWeb + "---" + taskDefWebV(32), nil, `task definition family "web" appears twice`},
		}
		for _, st := range steps {
			got, err := s.Apply(ctx(t), decode(t, "x.yaml", st.yaml))
			if st.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), st.wantErr) {
					t.Errorf("%s: Apply() = %v, want an error containing %q", st.name, err, st.wantErr)
				}
				continue
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(st.want) {
				t.Errorf("%s: Apply() = %v, %v, want %v", st.name, got, err, st.want)
			}
		}
		snap := s.Snapshot()
		if svc := snap.Services["web"]; svc == nil || svc.TaskDefinition != "web:3" || svc.Status != ServiceActive {
			t.Errorf("service = %+v, want ACTIVE on web:3", svc)
		}
		if n := len(snap.TaskDefinitions["web"]); n != 3 {
			t.Errorf("revisions = %d, want 3", n)
		}
		if err := s.Delete(ctx(t), "tg", "web"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "service web") {
			t.Errorf("Delete(tg web) = %v, want ErrInUse naming the service", err)
		}
	})
}

func TestDeregisterTaskDefinition(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustApply(t, s, groupWeb+"---"+taskDefWeb)
		mustApply(t, s, taskDefWebV(128))
		pinned := strings.Replace(serviceWeb, "taskDefinition: web", "taskDefinition: web:1", 1)
		mustApply(t, s, pinned)
		steps := []struct {
			name, kind, ref string
			want            error
		}{
			{"revision", "task-definitions", "web:1", nil},
			{"again is no change", "td", "web:1", nil},
			{"family alone", "td", "web", ErrInvalid},
			{"unknown revision", "td", "web:7", ErrNotFound},
			{"unknown family", "td", "api:1", ErrNotFound},
			{"tasks", "tasks", "abc", ErrInvalid},
		}
		for _, st := range steps {
			v := s.Snapshot().Version
			err := s.Delete(ctx(t), st.kind, st.ref)
			if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
				t.Errorf("%s: Delete(%s, %s) = %v, want %v", st.name, st.kind, st.ref, err, st.want)
			}
			if st.name == "again is no change" && s.Snapshot().Version != v {
				t.Errorf("deregistering an INACTIVE revision changed the version")
			}
		}
		if r := s.Snapshot().Revision("web:1"); r == nil || r.Status != RevisionInactive {
			t.Fatalf("web:1 = %+v, want INACTIVE", r)
		}
		// The service that runs web:1 may be applied again; a new one may not use it.
		if res := mustApply(t, s, pinned); res[0].Action != ActionUnchanged {
			t.Errorf("re-applying the service on its INACTIVE revision = %v, want unchanged", res)
		}
		other := strings.Replace(pinned, "serviceName: web", "serviceName: other", 1)
		if _, err := s.Apply(ctx(t), decode(t, "o.yaml", other)); err == nil || !strings.Contains(err.Error(), `"web:1" is INACTIVE`) {
			t.Errorf("new service on an INACTIVE revision: Apply() = %v", err)
		}
		// Every revision deregistered: the family has no latest.
		if err := s.Delete(ctx(t), "td", "web:2"); err != nil {
			t.Fatal(err)
		}
		latest := strings.Replace(other, "web:1", "web", 1)
		if _, err := s.Apply(ctx(t), decode(t, "o.yaml", latest)); err == nil || !strings.Contains(err.Error(), "no ACTIVE revision") {
			t.Errorf("service on a family without ACTIVE revision: Apply() = %v", err)
		}
		// Applying the same document again makes a new ACTIVE revision.
		if res := mustApply(t, s, taskDefWebV(128)); res[0].Name != "web:3" || res[0].Action != ActionCreated {
			t.Errorf("re-applying a deregistered definition = %v, want web:3 created", res)
		}
	})
}

func mustApply(t *testing.T, s Store, yaml string) []Result {
	t.Helper()
	res, err := s.Apply(ctx(t), decode(t, "x.yaml", yaml))
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	return res
}

// runPlanScenario drives a service through placements, status reports,
// stops, deletion and reaping, checking each step, and returns the state.
func runPlanScenario(t *testing.T, s Store) *State {
	mustApply(t, s, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
	dep := Deployment{ID: "web/1", Service: "web", Seq: 1, TaskDefinition: "web:1", Status: DeploymentPrimary, RolloutState: "IN_PROGRESS", CreatedAt: t0, UpdatedAt: t0}
	ids, err := s.CommitPlan(ctx(t), &Plan{
		Now: t0,
		Start: []Placement{
			{Service: "web", TaskDefinition: "web:1", Deployment: "web/1", Node: "n1"},
			{Service: "gone", TaskDefinition: "web:1", Node: "n1"},
			{Service: "web", TaskDefinition: "web:1", Deployment: "web/1", Node: "n2"},
		},
		Deployments: []Deployment{dep},
		Events:      []ServiceEvent{{Service: "web", Message: "(service web) has started 2 tasks: (task a) (task b)."}},
	})
	if err != nil || len(ids) != 2 || ids[0] == ids[1] || len(ids[0]) != 32 {
		t.Fatalf("CommitPlan() = %v, %v, want two distinct IDs", ids, err)
	}
	st := s.Snapshot()
	if task := st.Tasks[ids[0]]; task == nil || task.LastStatus != TaskProvisioning || task.DesiredStatus != TaskRunning || task.Node != "n1" || !task.CreatedAt.Equal(t0) {
		t.Errorf("task 0 = %+v", task)
	}
	if d := st.Deployments["web/1"]; d == nil || d.Status != DeploymentPrimary {
		t.Errorf("deployment = %+v", d)
	}
	if ev := st.Events["web"]; len(ev) != 1 || !ev[0].At.Equal(t0) {
		t.Errorf("events = %+v", ev)
	}
	reports := []struct {
		id   string
		st   TaskStatus
		want error
	}{
		{ids[0], TaskStatus{LastStatus: TaskRunning, Health: "healthy", HostPorts: []PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 31000, Protocol: "tcp"}}, At: t0.Add(time.Second)}, nil},
		{ids[0], TaskStatus{LastStatus: TaskPending, Health: "healthy", At: t0.Add(2 * time.Second)}, nil}, // older: kept RUNNING
		{ids[0], TaskStatus{LastStatus: TaskRunning, At: t0.Add(3 * time.Second)}, nil},                    // no health: kept healthy
		{ids[1], TaskStatus{LastStatus: TaskRunning, At: t0.Add(time.Second)}, nil},
		{ids[1], TaskStatus{LastStatus: "BOGUS", At: t0}, ErrInvalid},
		{"nope", TaskStatus{LastStatus: TaskRunning, At: t0}, ErrNotFound},
	}
	for _, r := range reports {
		if err := s.UpdateTaskStatus(ctx(t), r.id, r.st); !errors.Is(err, r.want) || (r.want == nil && err != nil) {
			t.Errorf("UpdateTaskStatus(%s, %s) = %v, want %v", r.id, r.st.LastStatus, err, r.want)
		}
	}
	if task := s.Snapshot().Tasks[ids[0]]; task.LastStatus != TaskRunning || !task.StartedAt.Equal(t0.Add(time.Second)) || task.HostPorts[0].HostPort != 31000 || task.Health != "healthy" {
		t.Errorf("task 0 after reports = %+v", task)
	}
	if err := s.UpdateTaskStatus(ctx(t), ids[0], TaskStatus{LastStatus: TaskDeactivating, At: t0.Add(4 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if task := s.Snapshot().Tasks[ids[0]]; task.LastStatus != TaskDeactivating || task.Health != "" {
		t.Errorf("task 0 past RUNNING = %+v, want its health cleared", task)
	}
	// Deleting the service drains it: desired 0, its tasks stay.
	if err := s.Delete(ctx(t), "services", "web"); err != nil {
		t.Fatal(err)
	}
	if svc := s.Snapshot().Services["web"]; svc == nil || svc.Status != ServiceDraining || svc.Spec.Desired() != 0 {
		t.Fatalf("deleted service = %+v, want DRAINING with desired 0", svc)
	}
	stop := &Plan{Now: t0.Add(time.Minute), Stop: []TaskStop{{TaskID: ids[0], Reason: "Scaling activity initiated by (deployment web/1)"}, {TaskID: ids[1], Reason: "Scaling activity initiated by (deployment web/1)"}, {TaskID: "nope", Reason: "x"}},
		Start: []Placement{{Service: "web", TaskDefinition: "web:1", Node: "n3"}}}
	if ids, err := s.CommitPlan(ctx(t), stop); err != nil || len(ids) != 0 {
		t.Fatalf("CommitPlan(stop) = %v, %v: want no task placed for a DRAINING service", ids, err)
	}
	if task := s.Snapshot().Tasks[ids[0]]; task.DesiredStatus != TaskStopped || !strings.HasPrefix(task.StoppedReason, "Scaling") {
		t.Errorf("stopped task = %+v", task)
	}
	if err := s.UpdateTaskStatus(ctx(t), ids[0], TaskStatus{LastStatus: TaskStopped, At: t0.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitPlan(ctx(t), &Plan{Now: t0.Add(3 * time.Minute), Reap: []string{ids[0]}}); err != nil {
		t.Fatal(err)
	}
	if s.Snapshot().Services["web"] == nil {
		t.Fatal("service removed while a task is left")
	}
	if _, err := s.CommitPlan(ctx(t), &Plan{Now: t0.Add(4 * time.Minute), Reap: []string{ids[1]}}); err != nil {
		t.Fatal(err)
	}
	st = s.Snapshot()
	if st.Services["web"] != nil || len(st.Events["web"]) != 0 || len(st.Deployments) != 0 || len(st.Tasks) != 0 {
		t.Errorf("after the last reap: services %v, events %v, deployments %v, tasks %v; want all gone", st.Services, st.Events, st.Deployments, st.Tasks)
	}
	return st
}

func TestCommitPlan(t *testing.T) {
	var states []string
	forEachStore(t, func(t *testing.T, s Store) {
		states = append(states, stateJSON(t, runPlanScenario(t, s)))
	})
	if len(states) == 2 && states[0] != states[1] {
		t.Errorf("Memory and Raft disagree:\n%s\n%s", states[0], states[1])
	}
}

func TestCommitPlanRejects(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustApply(t, s, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
		bad := []*Plan{
			nil,
			{Now: t0, Start: []Placement{{Service: "web", TaskDefinition: "web", Node: "n1"}}},
			{Now: t0, Start: []Placement{{Service: "web", TaskDefinition: "web:1"}}},
			{Now: t0, Stop: []TaskStop{{Reason: "x"}}},
			{Now: t0, Deployments: []Deployment{{Service: "web"}}},
			{Now: t0, Events: []ServiceEvent{{Service: "web"}}},
		}
		for i, p := range bad {
			v := s.Snapshot().Version
			if _, err := s.CommitPlan(ctx(t), p); !errors.Is(err, ErrInvalid) {
				t.Errorf("plan %d: CommitPlan() = %v, want ErrInvalid", i, err)
			}
			if s.Snapshot().Version != v {
				t.Errorf("plan %d: a rejected plan changed the state", i)
			}
		}
		// An empty plan changes nothing; a zero time is the store's clock.
		v := s.Snapshot().Version
		if _, err := s.CommitPlan(ctx(t), &Plan{}); err != nil || s.Snapshot().Version != v {
			t.Errorf("empty plan: err %v, version %d -> %d", err, v, s.Snapshot().Version)
		}
	})
}

func TestEventsRingBuffer(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustApply(t, s, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
		p := &Plan{Now: t0}
		for i := range MaxServiceEvents + 5 {
			p.Events = append(p.Events, ServiceEvent{Service: "web", Message: fmt.Sprintf("event %d", i)})
		}
		p.Events = append(p.Events, ServiceEvent{Service: "gone", Message: "dropped"})
		if _, err := s.CommitPlan(ctx(t), p); err != nil {
			t.Fatal(err)
		}
		ev := s.Snapshot().Events["web"]
		if len(ev) != MaxServiceEvents || ev[0].Message != "event 5" || ev[len(ev)-1].Message != fmt.Sprintf("event %d", MaxServiceEvents+4) {
			t.Errorf("events: %d, first %q, last %q", len(ev), ev[0].Message, ev[len(ev)-1].Message)
		}
		if s.Snapshot().Events["gone"] != nil {
			t.Error("an event for an unknown service was kept")
		}
	})
}

func TestDeploymentsUpsert(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustApply(t, s, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
		d1 := Deployment{ID: "web/1", Service: "web", Seq: 1, TaskDefinition: "web:1", Status: DeploymentPrimary, CreatedAt: t0, UpdatedAt: t0}
		steps := []struct {
			name    string
			deps    []Deployment
			want    []string
			changed bool
		}{
			{"insert", []Deployment{d1}, []string{"web/1"}, true},
			{"same again", []Deployment{d1}, []string{"web/1"}, false},
			{"second and first active", []Deployment{func() Deployment { d := d1; d.Status = DeploymentActive; return d }(), {ID: "web/2", Service: "web", Seq: 2, TaskDefinition: "web:1", Status: DeploymentPrimary, CreatedAt: t0}}, []string{"web/1", "web/2"}, true},
			{"first inactive", []Deployment{func() Deployment { d := d1; d.Status = DeploymentInactive; return d }()}, []string{"web/2"}, true},
			{"unknown service", []Deployment{{ID: "api/1", Service: "api", Status: DeploymentPrimary}}, []string{"web/2"}, false},
		}
		for _, st := range steps {
			v := s.Snapshot().Version
			if _, err := s.CommitPlan(ctx(t), &Plan{Now: t0, Deployments: st.deps}); err != nil {
				t.Fatal(err)
			}
			snap := s.Snapshot()
			var got []string
			for _, id := range []string{"web/1", "web/2", "api/1"} {
				if snap.Deployments[id] != nil {
					got = append(got, id)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(st.want) || (snap.Version != v) != st.changed {
				t.Errorf("%s: deployments %v (version %d -> %d), want %v (changed %v)", st.name, got, v, snap.Version, st.want, st.changed)
			}
		}
	})
}

// TestWorkloadSnapshotRestore: the new maps survive a raft snapshot, with
// the documents' positions; a snapshot without them restores them empty.
func TestWorkloadSnapshotRestore(t *testing.T) {
	m := NewMemory()
	mustApply(t, m, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
	if _, err := m.CommitPlan(ctx(t), &Plan{Now: t0, Start: []Placement{{Service: "web", TaskDefinition: "web:1", Node: "n1"}},
		Deployments: []Deployment{{ID: "web/1", Service: "web", Seq: 1, Status: DeploymentPrimary}},
		Events:      []ServiceEvent{{Service: "web", Message: "hello"}}}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := encodeSnapshot(&b, m.Snapshot()); err != nil {
		t.Fatal(err)
	}
	f := newTestFSM()
	if err := f.Restore(io.NopCloser(bytes.NewReader(b.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got, want := stateJSON(t, f.pub.load()), b.String(); got != want {
		t.Errorf("restored =\n%s\nwant\n%s", got, want)
	}
	if p := f.pub.load().Services["web"].Spec.Pos; p.File != "x.yaml" || p.Line == 0 {
		t.Errorf("restored service position = %v, want x.yaml:N", p)
	}
	old, err := decodeSnapshot(strings.NewReader(`{"format":1,"version":3,"listeners":{}}`))
	if err != nil || old.Services == nil || old.Tasks == nil || old.TaskDefinitions == nil || old.Events == nil || old.Deployments == nil {
		t.Errorf("old snapshot: %v, %+v", err, old)
	}
}

// TestWorkloadCommands: the new operations and documents survive the raft
// command codec, and the FSM answers as Memory does.
func TestWorkloadCommands(t *testing.T) {
	m, f := NewMemory(), newTestFSM()
	docs := func() []spec.Document { return decode(t, "w.yaml", groupWeb+"---"+taskDefWeb+"---"+serviceWeb) }
	memRes, memErr := m.Apply(ctx(t), docs())
	fsmRes, fsmErr := applyFSM(t, f, &command{op: opApply, Docs: toWireDocs(docs())})
	if errString(memErr) != errString(fsmErr) || fmt.Sprint(memRes) != fmt.Sprint(fsmRes) {
		t.Fatalf("apply: Memory %v %v, FSM %v %v", memRes, memErr, fsmRes, fsmErr)
	}
	plan, _ := normalPlan(&Plan{Now: t0, Start: []Placement{{Service: "web", TaskDefinition: "web:1", Node: "n1"}}}, t0)
	ids, err := m.CommitPlan(ctx(t), plan)
	if err != nil {
		t.Fatal(err)
	}
	res, err := applyFSM(t, f, &command{op: opCommitPlan, Plan: plan})
	if err != nil || len(res) != 1 || res[0].Name != ids[0] {
		t.Fatalf("FSM commit plan = %v, %v, want task %s", res, err, ids[0])
	}
	status := TaskStatus{LastStatus: TaskRunning, At: t0}
	if err := m.UpdateTaskStatus(ctx(t), ids[0], status); err != nil {
		t.Fatal(err)
	}
	if _, err := applyFSM(t, f, &command{op: opTaskStatus, TaskID: ids[0], Status: &status}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyFSM(t, f, &command{op: opTaskStatus, TaskID: ids[0]}); !errors.Is(err, ErrInvalid) {
		t.Errorf("status command without a status = %v, want ErrInvalid", err)
	}
	if got, want := stateJSON(t, f.pub.load()), stateJSON(t, m.Snapshot()); got != want {
		t.Errorf("FSM state =\n%s\nMemory's =\n%s", got, want)
	}
	for _, op := range []byte{opCommitPlan, opTaskStatus} {
		if opName(op) == "unknown" {
			t.Errorf("opName(%d) = unknown", op)
		}
	}
}

// TestRaftRestartKeepsWorkloads: revisions, services, tasks, deployments and
// events survive a restart, part from a snapshot and part from the log.
func TestRaftRestartKeepsWorkloads(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.DataDir, cfg.Bootstrap = t.TempDir(), true
	first, err := NewRaft(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitSelfLeader(t, first)
	mustApply(t, first, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
	ids, err := first.CommitPlan(ctx(t), &Plan{Now: t0, Start: []Placement{{Service: "web", TaskDefinition: "web:1", Deployment: "web/1", Node: "n1"}},
		Deployments: []Deployment{{ID: "web/1", Service: "web", Seq: 1, TaskDefinition: "web:1", Status: DeploymentPrimary}},
		Events:      []ServiceEvent{{Service: "web", Message: "(service web) has started 1 tasks."}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.TakeSnapshot(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := first.UpdateTaskStatus(ctx(t), ids[0], TaskStatus{LastStatus: TaskRunning, At: t0}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, first, taskDefWebV(128))
	want, version := stateJSON(t, first.Snapshot()), first.Snapshot().Version
	cfg.BindAddr = first.Addr()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := openRaft(t, cfg)
	if err := again.Ready(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := stateJSON(t, waitVersion(t, again, version)); got != want {
		t.Errorf("after restart:\n%s\nwant\n%s", got, want)
	}
	if task := again.Snapshot().Tasks[ids[0]]; task == nil || task.LastStatus != TaskRunning {
		t.Errorf("task after restart = %+v", task)
	}
}

func TestDeleteService(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustApply(t, s, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
		if _, err := s.CommitPlan(ctx(t), &Plan{Now: t0, Start: []Placement{{Service: "web", TaskDefinition: "web:1", Node: "n1"}}}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name   string
			do     func() error
			status string // of the service afterwards, "" for gone
			want   error
		}{
			{"drain", func() error { return s.Delete(ctx(t), "svc", "web") }, ServiceDraining, nil},
			{"drain again", func() error { return s.Delete(ctx(t), "svc", "web") }, ServiceDraining, nil},
			{"revive", func() error {
				res, err := s.Apply(ctx(t), decode(t, "x.yaml", serviceWeb))
				if err == nil && res[0].Action != ActionConfigured {
					err = fmt.Errorf("re-apply = %v, want configured", res)
				}
				return err
			}, ServiceActive, nil},
			{"stop its task", func() error {
				for id := range s.Snapshot().Tasks {
					if err := s.UpdateTaskStatus(ctx(t), id, TaskStatus{LastStatus: TaskStopped, Failed: true, StoppedReason: "Essential container in task exited", At: t0}); err != nil {
						return err
					}
				}
				return nil
			}, ServiceActive, nil},
			{"delete without live tasks", func() error { return s.Delete(ctx(t), "services", "web") }, "", nil},
			{"delete again", func() error { return s.Delete(ctx(t), "services", "web") }, "", ErrNotFound},
		}
		for _, st := range steps {
			err := st.do()
			if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
				t.Fatalf("%s: error %v, want %v", st.name, err, st.want)
			}
			snap := s.Snapshot()
			got := ""
			if svc := snap.Services["web"]; svc != nil {
				got = svc.Status
			}
			if got != st.status {
				t.Errorf("%s: service status %q, want %q", st.name, got, st.status)
			}
		}
		if n := len(s.Snapshot().Tasks); n != 0 {
			t.Errorf("a removed service left %d tasks", n)
		}
	})
}

// BenchmarkCommitAndReport measures the control plane's write path at
// scale: one plan placing 10,000 tasks, then status reports, each of which
// copies the task map (snapshots are immutable).
func BenchmarkCommitAndReport(b *testing.B) {
	m := NewMemory()
	docs, err := spec.Decode("x.yaml", []byte(groupWeb+"---"+taskDefWeb+"---"+serviceWeb))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Apply(b.Context(), docs); err != nil {
		b.Fatal(err)
	}
	p := &Plan{Now: t0}
	for i := range 10000 {
		p.Start = append(p.Start, Placement{Service: "web", TaskDefinition: "web:1", Node: fmt.Sprintf("n%d", i%1000)})
	}
	ids, err := m.CommitPlan(b.Context(), p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		st := TaskStatus{LastStatus: TaskRunning, Health: []string{"healthy", "unhealthy"}[i%2], At: t0}
		if err := m.UpdateTaskStatus(b.Context(), ids[i%len(ids)], st); err != nil {
			b.Fatal(err)
		}
	}
}

// A lost task (its node died) is recorded STOPPED by the plan itself, with
// its reason and not failed; unknown and already stopped tasks are skipped.
func TestCommitPlanLost(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustApply(t, s, groupWeb+"---"+taskDefWeb+"---"+serviceWeb)
		ids, err := s.CommitPlan(ctx(t), &Plan{Now: t0, Start: []Placement{{Service: "web", TaskDefinition: "web:1", Node: "n1"}}})
		if err != nil || len(ids) != 1 {
			t.Fatalf("CommitPlan(start) = %v, %v", ids, err)
		}
		if err := s.UpdateTaskStatus(ctx(t), ids[0], TaskStatus{LastStatus: TaskRunning, Health: "healthy", At: t0}); err != nil {
			t.Fatal(err)
		}
		lost := &Plan{Now: t0.Add(time.Minute), Lost: []TaskStop{{TaskID: ids[0], Reason: "Task stopped: node n1 lost"}, {TaskID: "nope", Reason: "x"}}}
		if _, err := s.CommitPlan(ctx(t), lost); err != nil {
			t.Fatal(err)
		}
		task := s.Snapshot().Tasks[ids[0]]
		if task.LastStatus != TaskStopped || task.DesiredStatus != TaskStopped || task.Failed || task.Health != "" ||
			task.StoppedReason != "Task stopped: node n1 lost" || !task.StoppedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("lost task = %+v", task)
		}
		v := s.Snapshot().Version
		if _, err := s.CommitPlan(ctx(t), lost); err != nil || s.Snapshot().Version != v {
			t.Errorf("the same loss again: %v, version %d -> %d, want no change", err, v, s.Snapshot().Version)
		}
		if _, err := s.CommitPlan(ctx(t), &Plan{Now: t0, Lost: []TaskStop{{Reason: "x"}}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("a loss without a task ID = %v, want ErrInvalid", err)
		}
	})
}
