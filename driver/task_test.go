package driver

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTaskValidate(t *testing.T) {
	ok := Task{ID: "a", Command: []string{"true"}, PortMappings: []PortMapping{{ContainerPort: 80}, {ContainerPort: 80, Protocol: "UDP"}},
		HealthCheck: &HealthCheck{Command: []string{"CMD-SHELL", "true"}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(valid task) = %v", err)
	}
	for _, tc := range []struct {
		name string
		task Task
		want []string
	}{
		{"empty", Task{CPU: -1, MemoryMiB: -1}, []string{"id is empty", "cpu -1", "memory -1"}},
		{"ports", Task{ID: "a", PortMappings: []PortMapping{{ContainerPort: 0}, {ContainerPort: 80, HostPort: 70000}, {ContainerPort: 80}, {ContainerPort: 81, Protocol: "sctp"}}},
			[]string{"containerPort 0", "hostPort 70000", "mapped twice", `protocol "sctp"`}},
		{"health CMD", Task{ID: "a", HealthCheck: &HealthCheck{Command: []string{"CMD"}}}, []string{"names no program"}},
		{"health shell", Task{ID: "a", HealthCheck: &HealthCheck{Command: []string{"CMD-SHELL", "a", "b"}}}, []string{"exactly one"}},
		{"health form", Task{ID: "a", HealthCheck: &HealthCheck{Command: []string{"curl"}, Retries: -1}}, []string{`not "curl"`, "negative"}},
		{"health empty", Task{ID: "a", HealthCheck: &HealthCheck{}}, []string{"command is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.task.Validate()
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	h := HealthCheck{Command: []string{"CMD", "true"}}.WithDefaults()
	if h.Interval != 30*time.Second || h.Timeout != 5*time.Second || h.Retries != 3 || h.StartPeriod != 0 {
		t.Errorf("WithDefaults = %+v, want ECS's 30s/5s/3/0", h)
	}
	if got := (Task{}).StopTimeoutOrDefault(); got != 30*time.Second {
		t.Errorf("StopTimeoutOrDefault = %v, want 30s", got)
	}
	if got := (Task{StopTimeout: time.Second}).StopTimeoutOrDefault(); got != time.Second {
		t.Errorf("StopTimeoutOrDefault = %v, want 1s", got)
	}
}

func TestStoppedReason(t *testing.T) {
	te := &TaskError{Reason: "CannotPullContainerError: image not found locally: x", Err: errors.New("cause")}
	wrapped := fmt.Errorf("driver/docker: start a: %w", te)
	if got := StoppedReason(wrapped); got != te.Reason {
		t.Errorf("StoppedReason(task error) = %q, want %q", got, te.Reason)
	}
	if !errors.Is(wrapped, te.Err) {
		t.Errorf("TaskError does not unwrap to its cause")
	}
	if got := StoppedReason(errors.New("boom")); got != "CannotStartContainerError: boom" {
		t.Errorf("StoppedReason(other) = %q", got)
	}
}
