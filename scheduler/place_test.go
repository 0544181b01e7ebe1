package scheduler

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

func svc(name string, desired int, mod ...func(*spec.Service)) *spec.Service {
	s := &spec.Service{ServiceName: name, TaskDefinition: name, DesiredCount: &desired}
	for _, m := range mod {
		m(s)
	}
	return s
}

func strategies(ps ...spec.PlacementStrategy) func(*spec.Service) {
	return func(s *spec.Service) { s.PlacementStrategy = ps }
}

func constraints(pc ...spec.PlacementConstraint) func(*spec.Service) {
	return func(s *spec.Service) { s.PlacementConstraints = pc }
}

func TestPlacement(t *testing.T) {
	spreadZone := spec.PlacementStrategy{Type: "spread", Field: "attribute:zone"}
	tests := []struct {
		name    string
		nodes   func(h *harness)
		service *spec.Service
		port    int
		want    []string // nodes of the started tasks, sorted
		event   string
	}{
		{"spread over nodes by default", func(h *harness) { h.addNodes(3, 4096, 4096) }, svc("web", 4), 0,
			[]string{"node-01", "node-01", "node-02", "node-03"}, "(service web) has started 4 tasks."},
		{"spread over zones", func(h *harness) { h.addNodes(4, 4096, 4096, "a", "a", "a", "b") },
			svc("web", 4, strategies(spreadZone)), 0,
			[]string{"node-01", "node-01", "node-04", "node-04"}, ""},
		{"binpack memory fills one node first", func(h *harness) { h.addNodes(3, 4096, 300) },
			svc("web", 4, strategies(spec.PlacementStrategy{Type: "binpack", Field: "memory"})), 0,
			[]string{"node-01", "node-01", "node-02", "node-02"}, ""},
		{"spread zones then binpack", func(h *harness) { h.addNodes(4, 4096, 1000, "a", "b") },
			svc("web", 4, strategies(spreadZone, spec.PlacementStrategy{Type: "binpack", Field: "memory"})), 0,
			[]string{"node-01", "node-01", "node-02", "node-02"}, ""},
		{"memberOf", func(h *harness) { h.addNodes(3, 4096, 4096, "a", "b", "c") },
			svc("web", 2, constraints(spec.PlacementConstraint{Type: "memberOf", Expression: "attribute:zone in [b, c]"})), 0,
			[]string{"node-02", "node-03"}, ""},
		{"distinctInstance leaves one unplaced", func(h *harness) { h.addNodes(2, 4096, 4096) },
			svc("web", 3, constraints(spec.PlacementConstraint{Type: "distinctInstance"})), 0,
			[]string{"node-01", "node-02"},
			"(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance node-01) is already running a task of this service (distinctInstance)."},
		{"fixed host port", func(h *harness) { h.addNodes(2, 4096, 4096) }, svc("web", 3), 80,
			[]string{"node-01", "node-02"}, "(container-instance node-01) is already using a port required by your task."},
		{"memory closest match", func(h *harness) {
			h.addNodes(2, 4096, 100)
			h.nodes[0].Status = NodeDraining
			h.nodes[1].UsedMemory = 60
		}, svc("web", 1), 0, nil, "The closest matching (container-instance node-02) has insufficient memory available."},
		{"driver", func(h *harness) { h.addNodes(1, 4096, 4096); h.nodes[0].Drivers = []string{"docker"} }, svc("web", 1), 0, nil,
			"(container-instance node-01) does not offer the process driver."},
		{"no nodes", func(*harness) {}, svc("web", 1), 0, nil, "Reason: no nodes are registered."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.nodes(h)
			h.taskDef("web:1", 256, 128, tt.port)
			h.service(tt.service, "web:1")
			r := h.plan()
			if got := sortedStarts(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan() started on %v, want %v", got, tt.want)
			}
			if tt.event != "" && !h.hasEvent(tt.event) {
				t.Errorf("events = %q, want one containing %q", h.events, tt.event)
			}
		})
	}
}

func TestRejectionsRecordEveryNode(t *testing.T) {
	h := newHarness(t)
	h.addNodes(5, 1024, 1024, "a", "b")
	h.nodes[0].Status = NodeDead
	h.nodes[1].Drivers = nil
	h.nodes[2].UsedMemory = 1000
	h.nodes[4].ReservedPorts = []spec.HostPort{{Port: 80, Protocol: "tcp"}}
	h.taskDef("web:1", 256, 128, 80)
	h.service(svc("web", 1, constraints(spec.PlacementConstraint{Type: "memberOf", Expression: "attribute:zone != b"})), "web:1")
	r := h.plan()
	if len(r.Unplaced) != 1 || len(r.Start) != 0 {
		t.Fatalf("Start = %+v, Unplaced = %+v; want one unplaced task", r.Start, r.Unplaced)
	}
	var got []string
	for _, rej := range r.Unplaced[0].Rejections {
		got = append(got, rej.Node+" "+rej.Check+": "+rej.Reason)
	}
	want := []string{
		"node-01 status: is dead",
		"node-02 driver: does not offer the process driver",
		"node-03 memory: has insufficient memory available",
		`node-04 memberOf: does not match the memberOf expression "attribute:zone != b"`,
		"node-05 ports: is already using a port required by your task",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejections =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := r.Unplaced[0].Closest; c.Node != "node-05" {
		t.Errorf("Closest = %+v, want node-05 (it failed the last check)", c)
	}
}
