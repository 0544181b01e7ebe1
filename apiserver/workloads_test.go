package apiserver

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/store"
)

// workloads is an ECS task definition, as describe-task-definition prints
// it (an ignored field included), and a service running it.
const workloads = `kind: TaskDefinition
family: web
driver: process
networkMode: bridge
containerDefinitions:
  - name: web
    command: ["gantry", "echo-server"]
    memory: 64
    portMappings: [{containerPort: 8080}]
---
kind: Service
serviceName: web
taskDefinition: web
desiredCount: 2
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
`

// seedWorkloads applies the workloads, places two tasks (one running), a
// deployment and an event, and returns the task IDs.
func seedWorkloads(t *testing.T, f *fixture) []string {
	t.Helper()
	f.seed(t)
	resp, err := f.client.ApplyReport(testCtx(t), []File{{Name: "w.yaml", Data: []byte(workloads)}})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(resp.Warnings) != 1 || resp.Warnings[0].String() != `w.yaml:4:1: networkMode: ECS field "networkMode" is ignored by Gantry` {
		t.Errorf("warnings = %v, want networkMode at w.yaml:4:1", resp.Warnings)
	}
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	ids, err := f.store.CommitPlan(testCtx(t), &store.Plan{
		Now: now,
		Start: []store.Placement{
			{Service: "web", TaskDefinition: "web:1", Deployment: "web/1", Node: "n1"},
			{Service: "web", TaskDefinition: "web:1", Deployment: "web/1", Node: "n2"},
		},
		Deployments: []store.Deployment{{ID: "web/1", Service: "web", Seq: 1, TaskDefinition: "web:1", Status: store.DeploymentPrimary, RolloutState: "IN_PROGRESS", CreatedAt: now, UpdatedAt: now}},
		Events: []store.ServiceEvent{
			{Service: "web", Message: "(service web) has started 2 tasks."},
			{Service: "web", At: now.Add(time.Minute), Message: "(service web) has reached a steady state."},
		},
	})
	if err != nil || len(ids) != 2 {
		t.Fatalf("CommitPlan() = %v, %v", ids, err)
	}
	if err := f.store.UpdateTaskStatus(testCtx(t), ids[0], store.TaskStatus{LastStatus: store.TaskRunning, At: now}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestWorkloadEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	ids := seedWorkloads(t, f)
	if _, err := f.client.Apply(testCtx(t), []byte(strings.Replace(workloads[:strings.Index(workloads, "---")], "memory: 64", "memory: 128", 1))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		code         int
		contains     []string
	}{
		{"GET", "/v1/task-definitions", 200, []string{`"family": "web"`, `"revision": 2`, `"status": "ACTIVE"`}},
		{"GET", "/v1/task-definitions/web", 200, []string{`"revisions": [`, `"revision": 1`, `"revision": 2`}},
		{"GET", "/v1/task-definitions/web:1", 200, []string{`"revision": 1`, `"memory": 64`}},
		{"GET", "/v1/td/web:9", 404, []string{`latest revision is 2`}},
		{"GET", "/v1/task-definitions/api", 404, []string{`not found`}},
		{"GET", "/v1/task-definitions/bad:x", 400, []string{`family:revision`}},
		{"DELETE", "/v1/task-definitions/web:1", 200, []string{`"status": "INACTIVE"`}},
		{"DELETE", "/v1/task-definitions/web", 400, []string{`name one revision`}},
		{"DELETE", "/v1/task-definitions/web:5", 404, []string{`not found`}},
		{"GET", "/v1/services", 200, []string{`"serviceName": "web"`, `"desiredCount": 2`, `"runningCount": 1`, `"pendingCount": 1`, `"taskDefinition": "web:1"`}},
		{"GET", "/v1/services/web", 200, []string{`"id": "web/1"`, `"rolloutState": "IN_PROGRESS"`}},
		{"GET", "/v1/services/nope", 404, []string{`not found`}},
		{"GET", "/v1/services/web/events", 200, []string{`steady state`}},
		{"GET", "/v1/tasks", 200, []string{ids[0], ids[1]}},
		{"GET", "/v1/tasks?node=n2", 200, []string{ids[1], `"lastStatus": "PROVISIONING"`}},
		{"GET", "/v1/tasks?service=nope", 200, []string{`"items": []`}},
		{"GET", "/v1/tasks/" + ids[0], 200, []string{`"lastStatus": "RUNNING"`, `"node": "n1"`, `"startedAt"`}},
		{"DELETE", "/v1/tasks/" + ids[0], 400, []string{`scale or delete their service`}},
		{"DELETE", "/v1/target-groups/web", 409, []string{`in use`}},
		{"DELETE", "/v1/services/web", 200, []string{`"status": "DRAINING"`, `"desiredCount": 0`}},
		{"GET", "/v1/status", 200, []string{`"services": 1`, `"tasks": 2`, `"taskDefinitions": 1`}},
	}
	for _, tt := range tests {
		code, _, body := f.call(t, tt.method, tt.path, "")
		if code != tt.code {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.code)
			continue
		}
		for _, want := range tt.contains {
			if !strings.Contains(body, want) {
				t.Errorf("%s %s = %s, want it to contain %s", tt.method, tt.path, body, want)
			}
		}
	}
	// Events come newest first; tasks filter in the client too.
	events, err := f.client.ServiceEvents(testCtx(t), "web")
	if err != nil || len(events) != 2 || !strings.Contains(events[0].Message, "steady state") {
		t.Errorf("ServiceEvents() = %v, %v, want the steady state first", events, err)
	}
	tasks, err := f.client.Tasks(testCtx(t), "web", "n1")
	if err != nil || len(tasks) != 1 || tasks[0].ID != ids[0] {
		t.Errorf("Tasks(web, n1) = %v, %v", tasks, err)
	}
	svc, err := f.client.Service(testCtx(t), "web")
	if err != nil || svc.Status != store.ServiceDraining || len(svc.Deployments) != 1 || svc.Deployments[0].RunningCount != 1 {
		b, _ := json.Marshal(svc)
		t.Errorf("Service(web) = %s, %v", b, err)
	}
}

// TestApplyRejectsBadService: a service naming a missing revision is a
// located 400 and changes nothing.
func TestApplyRejectsBadService(t *testing.T) {
	f := newFixture(t, nil)
	f.seed(t)
	bad := strings.Replace(workloads, "taskDefinition: web\n", "taskDefinition: web:4\n", 1)
	_, err := f.client.ApplyFiles(testCtx(t), []File{{Name: "w.yaml", Data: []byte(bad)}})
	if err == nil || !strings.Contains(err.Error(), `w.yaml:13:17: taskDefinition: task definition "web:4" does not exist`) {
		t.Errorf("ApplyFiles(bad) = %v", err)
	}
	if n := len(f.store.Snapshot().TaskDefinitions); n != 0 {
		t.Errorf("a rejected apply registered %d families", n)
	}
}

// TestServiceStatusAfterRollback: after a circuit-breaker rollback from
// web:2 to web:1, the service shows web:1, the revision in force, and the
// rollback's deployment counts the web:1 tasks it kept, though they name
// the retired deployment that started them.
func TestServiceStatusAfterRollback(t *testing.T) {
	f := newFixture(t, nil)
	ids := seedWorkloads(t, f)
	if err := f.store.UpdateTaskStatus(testCtx(t), ids[1], store.TaskStatus{LastStatus: store.TaskRunning, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// web:2, and the service applied again to run it.
	if _, err := f.client.Apply(testCtx(t), []byte(strings.Replace(workloads, "memory: 64", "memory: 128", 1))); err != nil {
		t.Fatal(err)
	}
	if svc, err := f.client.Service(testCtx(t), "web"); err != nil || svc.TaskDefinition != "web:2" {
		t.Fatalf("Service(web) after the apply = %+v, %v; want web:2", svc, err)
	}
	now := time.Date(2026, 11, 22, 9, 10, 0, 0, time.UTC)
	if _, err := f.store.CommitPlan(testCtx(t), &store.Plan{Now: now, Deployments: []store.Deployment{
		{ID: "web/1", Service: "web", Seq: 1, TaskDefinition: "web:1", Status: store.DeploymentInactive, RolloutState: "COMPLETED", CreatedAt: now, UpdatedAt: now},
		{ID: "web/2", Service: "web", Seq: 2, TaskDefinition: "web:2", Status: store.DeploymentActive, RolloutState: "FAILED", FailedTasks: 2, CreatedAt: now, UpdatedAt: now},
		{ID: "web/3", Service: "web", Seq: 3, TaskDefinition: "web:1", Status: store.DeploymentPrimary, RolloutState: "COMPLETED", RollbackOf: "web:2", CreatedAt: now, UpdatedAt: now},
	}}); err != nil {
		t.Fatal(err)
	}
	svc, err := f.client.Service(testCtx(t), "web")
	if err != nil {
		t.Fatal(err)
	}
	if svc.TaskDefinition != "web:1" || svc.RunningCount != 2 {
		t.Errorf("Service(web) = %s running %d, want web:1 running 2", svc.TaskDefinition, svc.RunningCount)
	}
	counts := map[string]int{}
	for _, d := range svc.Deployments {
		counts[d.ID] = d.RunningCount
	}
	if want := map[string]int{"web/3": 2, "web/2": 0}; !maps.Equal(counts, want) {
		t.Errorf("deployments' running counts = %v, want %v", counts, want)
	}
	code, _, body := f.call(t, "GET", "/v1/services", "")
	var list ListResponse[Service]
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Items) != 1 || list.Items[0].TaskDefinition != "web:1" {
		t.Errorf("GET /v1/services = %d %s, want the service's taskDefinition web:1", code, body)
	}
}
