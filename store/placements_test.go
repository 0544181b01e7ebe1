package store

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// placementDocs are two services on two target groups and task definitions,
// with an environment, a command, a container health check, a fixed host
// port and a group with a tuned health check and deregistration delay.
const placementDocs = groupWeb + `---
kind: TargetGroup
name: api
deregistrationDelaySeconds: 20
healthCheck: {path: /healthz, intervalSeconds: 10, matcher: "200-299"}
---` + taskDefWeb + `---
kind: TaskDefinition
family: api
driver: process
containerDefinitions:
  - name: api
    command: ["gantry", "echo-server", "--name", "api"]
    memory: 32
    environment: [{name: MODE, value: test}]
    portMappings: [{containerPort: 9000, hostPort: 19000, protocol: tcp}]
    healthCheck: {command: ["CMD-SHELL", "true"], interval: 10}
---` + serviceWeb + `---
kind: Service
serviceName: api
taskDefinition: api:1
loadBalancers: [{targetGroup: api, containerName: api, containerPort: 9000}]
deploymentConfiguration: {minimumHealthyPercent: 50, deploymentCircuitBreaker: {enable: true, rollback: true}}
placementStrategy: [{type: spread, field: instanceId}]
placementConstraints: [{type: distinctInstance}]
healthCheckGracePeriodSeconds: 30
`

// placeTasks applies placementDocs and places web on n1 and n2 and api on n2;
// web's task on n2 is then stopped and reported STOPPED.
func placeTasks(t *testing.T, s Store) (web1, web2, api2 string) {
	t.Helper()
	mustApply(t, s, placementDocs)
	ids, err := s.CommitPlan(ctx(t), &Plan{Now: t0, Start: []Placement{
		{Service: "web", TaskDefinition: "web:1", Node: "n1"},
		{Service: "web", TaskDefinition: "web:1", Node: "n2"},
		{Service: "api", TaskDefinition: "api:1", Node: "n2"},
	}})
	if err != nil || len(ids) != 3 {
		t.Fatalf("CommitPlan() = %v, %v", ids, err)
	}
	if _, err := s.CommitPlan(ctx(t), &Plan{Now: t0, Stop: []TaskStop{{TaskID: ids[1], Reason: "scaled in"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTaskStatus(ctx(t), ids[1], TaskStatus{LastStatus: TaskStopped, At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	err = s.UpdateTaskStatus(ctx(t), ids[2], TaskStatus{
		LastStatus: TaskRunning, At: t0.Add(time.Second),
		HostPorts: []PortBinding{{ContainerName: "api", ContainerPort: 9000, HostPort: 19000, Protocol: "tcp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids[0], ids[1], ids[2]
}

func taskIDs(ts []*Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestPlacementsOf(t *testing.T) {
	forEachStore(t, testPlacementsOf)
}

func testPlacementsOf(t *testing.T, m Store) {
	web1, web2, api2 := placeTasks(t, m)
	st := m.Snapshot()
	tests := []struct {
		node                     string
		tasks, tds, svcs, groups []string
	}{
		{"n1", []string{web1}, []string{"web:1"}, []string{"web"}, []string{"web"}},
		{"n2", slices.Sorted(slices.Values([]string{web2, api2})), []string{"api:1", "web:1"}, []string{"api", "web"}, []string{"api", "web"}},
		{"n3", []string{}, []string{}, []string{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			p := st.PlacementsOf(tt.node)
			if p.Index != st.Version || p.Node != tt.node {
				t.Errorf("PlacementsOf(%s) index, node = %d, %s; want %d, %s", tt.node, p.Index, p.Node, st.Version, tt.node)
			}
			if got := taskIDs(p.Tasks); !slices.Equal(got, tt.tasks) {
				t.Errorf("PlacementsOf(%s).Tasks = %v, want %v", tt.node, got, tt.tasks)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"TaskDefinitions", slices.Sorted(maps.Keys(p.TaskDefinitions)), tt.tds},
				{"Services", slices.Sorted(maps.Keys(p.Services)), tt.svcs},
				{"TargetGroups", slices.Sorted(maps.Keys(p.TargetGroups)), tt.groups},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("PlacementsOf(%s).%s = %v, want %v", tt.node, c.what, c.got, c.want)
				}
			}
			for ref, td := range p.TaskDefinitions {
				if want := st.Revision(ref).Spec; td != want {
					t.Errorf("PlacementsOf(%s).TaskDefinitions[%s] is not the stored revision", tt.node, ref)
				}
			}
		})
	}
	// A deleted service with a live task drains: it still exists and is
	// sent; once its last task is reaped, it is gone.
	if err := m.Delete(ctx(t), KindServices, "web"); err != nil {
		t.Fatal(err)
	}
	if p := m.Snapshot().PlacementsOf("n1"); p.Services["web"] == nil || p.Services["web"].Status != ServiceDraining {
		t.Errorf("PlacementsOf(n1).Services after delete = %v, want web DRAINING", p.Services)
	}
	if _, err := m.CommitPlan(ctx(t), &Plan{Now: t0, Reap: []string{web1, web2}}); err != nil {
		t.Fatal(err)
	}
	if p := m.Snapshot().PlacementsOf("n1"); len(p.Tasks) != 0 || len(p.Services) != 0 || len(p.TaskDefinitions) != 0 {
		t.Errorf("PlacementsOf(n1) after reaping web = %+v, want nothing", p)
	}
}

// TestPlacementsJSON: placements survive the JSON an agent reads them as.
func TestPlacementsJSON(t *testing.T) {
	m := NewMemory()
	placeTasks(t, m)
	p := m.Snapshot().PlacementsOf("n2")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("json.Marshal(placements) = %v", err)
	}
	var got Placements
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("json.Unmarshal(placements) = %v", err)
	}
	if want := withoutPositions(p); !reflect.DeepEqual(&got, want) {
		g, _ := json.MarshalIndent(&got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("placements after a JSON round trip:\n%s\nwant\n%s", g, w)
	}
	// Spot checks, so that a field both sides lost cannot pass unseen.
	api := got.TaskDefinitions["api:1"].ContainerDefinitions[0]
	if api.Command[2] != "--name" || api.Environment[0].Value != "test" || api.PortMappings[0].HostPort != 19000 || api.HealthCheck.Interval != 10 {
		t.Errorf("api:1 container after the round trip = %+v", api)
	}
	if lbs := got.Services["api"].Spec.LoadBalancers; len(lbs) != 1 || lbs[0].GroupName() != "api" || lbs[0].ContainerPort != 9000 {
		t.Errorf("api service load balancers after the round trip = %+v", lbs)
	}
	if svc := got.Services["api"].Spec; *svc.DeploymentConfiguration.MinimumHealthyPercent != 50 || !svc.DeploymentConfiguration.DeploymentCircuitBreaker.Rollback ||
		svc.PlacementStrategy[0].Field != "instanceId" || svc.PlacementConstraints[0].Type != "distinctInstance" || svc.HealthCheckGracePeriodSeconds != 30 {
		t.Errorf("api service after the round trip = %+v", svc)
	}
	g := got.TargetGroups["api"]
	if *g.DeregistrationDelaySeconds != 20 || g.HealthCheck.Path != "/healthz" || g.HealthCheck.IntervalSeconds != 10 || g.HealthCheck.Matcher != "200-299" {
		t.Errorf("api group after the round trip = %+v", g)
	}
	if w := got.TargetGroups["web"]; w.DeregistrationDelaySeconds == nil || *w.DeregistrationDelaySeconds != 300 || len(w.Targets) != 1 {
		t.Errorf("web group after the round trip = %+v, want defaults applied and its target", w)
	}
	for _, task := range got.Tasks {
		if task.Service == "api" && (task.LastStatus != TaskRunning || len(task.HostPorts) != 1 || !task.StartedAt.Equal(t0.Add(time.Second))) {
			t.Errorf("api task after the round trip = %+v", task)
		}
		if task.Service == "web" && (task.LastStatus != TaskStopped || task.StoppedReason != "scaled in") {
			t.Errorf("web task after the round trip = %+v", task)
		}
	}
}

// withoutPositions copies p with the documents' source positions, which
// JSON does not carry (json:"-"), cleared.
func withoutPositions(p *Placements) *Placements {
	c := *p
	c.TaskDefinitions = map[string]*spec.TaskDefinition{}
	for ref, td := range p.TaskDefinitions {
		cp := *td
		cp.Pos, cp.Positions = spec.Position{}, nil
		c.TaskDefinitions[ref] = &cp
	}
	c.Services = map[string]*Service{}
	for name, svc := range p.Services {
		cs, sp := *svc, *svc.Spec
		sp.Pos, sp.Positions = spec.Position{}, nil
		cs.Spec = &sp
		c.Services[name] = &cs
	}
	c.TargetGroups = map[string]*spec.TargetGroup{}
	for name, g := range p.TargetGroups {
		cg := *g
		cg.Pos, cg.Positions = spec.Position{}, nil
		c.TargetGroups[name] = &cg
	}
	return &c
}
