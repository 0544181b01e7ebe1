package agent_test

import (
	"errors"
	"io"
	"testing"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/driver"
	"github.com/gantrylb/gantry/store"
)

// taskDefTwo has a second container, to name one that is not the first.
const taskDefTwo = `
kind: TaskDefinition
family: two
driver: process
containerDefinitions:
  - name: main
    memory: 64
    command: ["gantry", "echo-server"]
  - name: side
    memory: 16
    essential: false
    command: ["sleep", "1000"]
---
kind: Service
serviceName: two
taskDefinition: two
desiredCount: 1
`

func TestLogs(t *testing.T) {
	h := newHarness(t, taskDefTwo)
	h.start()
	id := h.place("two", "two:1", node)
	h.waitStatus(id, store.TaskRunning)

	tests := []struct {
		name, task, container string
		stream                driver.Stream
		want                  string
		wantErr               error
	}{
		{"first container by default", id, "", driver.Stdout, fakeLogLine(id+".main", driver.Stdout), nil},
		{"named container, stderr", id, "side", driver.Stderr, fakeLogLine(id+".side", driver.Stderr), nil},
		{"unknown container", id, "nope", driver.Stdout, "", agent.ErrNoContainer},
		{"unknown task", "0123456789abcdef", "", driver.Stdout, "", agent.ErrNoTask},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := h.a.Logs(h.ctx, tt.task, tt.container, tt.stream)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Logs(%q, %q) = %v, want an error wrapping %v", tt.task, tt.container, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Logs(%q, %q) = %v", tt.task, tt.container, err)
			}
			defer rc.Close()
			got, _ := io.ReadAll(rc)
			if string(got) != tt.want {
				t.Errorf("Logs(%q, %q, %s) read %q, want %q", tt.task, tt.container, tt.stream, got, tt.want)
			}
		})
	}
}

// TestLogsOfAStoppedTaskAreGone: once the task stopped, its driver removed
// its output, and once the store shows it STOPPED the agent forgets it.
func TestLogsOfAStoppedTaskAreGone(t *testing.T) {
	h := newHarness(t, taskDefTwo)
	h.start()
	id := h.place("two", "two:1", node)
	h.waitStatus(id, store.TaskRunning)
	h.drv.exit(id+".main", 1)
	h.waitStatus(id, store.TaskStopped)
	h.eventually("Logs(stopped task) to fail with ErrNoTask", func() bool {
		rc, err := h.a.Logs(h.ctx, id, "", driver.Stdout)
		if err == nil {
			rc.Close()
		}
		return errors.Is(err, agent.ErrNoTask)
	})
	if !h.j.has("remove " + id + ".main") {
		t.Errorf("the task's logs are gone but the driver never removed it")
	}
}
