package scheduler_test

import (
	"fmt"
	"time"

	"github.com/gantrylb/gantry/scheduler"
	"github.com/gantrylb/gantry/spec"
)

// ExamplePlan places a new service's three tasks over two zones; the caller
// would create the tasks, record the deployment and append the events.
func ExamplePlan() {
	three := 3
	snap := &scheduler.Snapshot{
		Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Nodes: []scheduler.Node{
			{Name: "n1", Attributes: map[string]string{"zone": "a"}, Drivers: []string{"process"}, CPU: 2048, Memory: 2048, Status: scheduler.NodeAlive},
			{Name: "n2", Attributes: map[string]string{"zone": "b"}, Drivers: []string{"process"}, CPU: 2048, Memory: 2048, Status: scheduler.NodeAlive},
			{Name: "n3", Attributes: map[string]string{"zone": "c"}, Drivers: []string{"docker"}, CPU: 2048, Memory: 2048, Status: scheduler.NodeAlive},
		},
		Services: []scheduler.Service{{
			Spec: &spec.Service{ServiceName: "web", TaskDefinition: "web", DesiredCount: &three,
				PlacementStrategy: []spec.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}}},
			TaskDefinition: "web:1",
		}},
		TaskDefinitions: map[string]*spec.TaskDefinition{"web:1": {Family: "web", Driver: "process",
			ContainerDefinitions: []spec.ContainerDefinition{{Name: "web", Command: []string{"gantry", "echo-server"}, CPU: 128, Memory: 64}}}},
	}
	r := scheduler.Plan(snap)
	for _, s := range r.Start {
		fmt.Println("start", s.TaskDefinition, "on", s.Node, "for", s.Deployment)
	}
	for _, e := range r.Events {
		fmt.Println(e.Message)
	}
	// Output:
	// start web:1 on n1 for web/1
	// start web:1 on n2 for web/1
	// start web:1 on n1 for web/1
	// (service web) has started 3 tasks.
}
