package agent

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gantrylb/gantry/driver"
)

// Errors Logs wraps, for callers that answer "not found".
var (
	// ErrNoTask means this node has no output of the task: it never ran
	// here, or it stopped and was removed (see Logs).
	ErrNoTask = errors.New("no such task on this node")
	// ErrNoContainer means the task's definition has no container of that
	// name.
	ErrNoContainer = errors.New("no such container in the task")
)

// Logs returns the recent output of one container of a task on stream, as
// the task's driver keeps it (the process driver a bounded file per stream,
// the docker driver the container's log). container "" names the task's
// first container definition. The caller closes the reader.
//
// Only tasks the agent still drives have logs: a runner is forgotten once
// the store shows its task STOPPED (or no longer placed here), and by then
// the driver's Remove has deleted the task's output, so the logs of a
// stopped task are gone; Logs then fails with ErrNoTask. It is safe for
// concurrent use and does not block on the task.
func (a *Agent) Logs(ctx context.Context, taskID, container string, stream driver.Stream) (io.ReadCloser, error) {
	a.mu.Lock()
	r := a.runners[taskID]
	a.mu.Unlock()
	// r.td and the driver map are fixed when the runner is made; the
	// runner's own fields (drv, containers) belong to its goroutine.
	if r == nil || r.td == nil || len(r.td.ContainerDefinitions) == 0 {
		return nil, fmt.Errorf("agent: logs of task %s: %w", taskID, ErrNoTask)
	}
	d := a.cfg.Drivers[r.td.EffectiveDriver()]
	if d == nil {
		return nil, fmt.Errorf("agent: logs of task %s: %w: this node has no %s driver", taskID, ErrNoTask, r.td.EffectiveDriver())
	}
	if container == "" {
		container = r.td.ContainerDefinitions[0].Name
	}
	found := false
	for _, c := range r.td.ContainerDefinitions {
		found = found || c.Name == container
	}
	if !found {
		return nil, fmt.Errorf("agent: logs of task %s: %w: %q (task definition %s)", taskID, ErrNoContainer, container, r.task.TaskDefinition)
	}
	rc, err := d.Logs(ctx, taskID+"."+container, stream)
	if errors.Is(err, driver.ErrNotFound) {
		// Not started yet, never started (lost, stopped before it
		// started), or already removed.
		return nil, fmt.Errorf("agent: logs of task %s: %w: container %s has no output here (not started, or stopped and removed)", taskID, ErrNoTask, container)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: logs of task %s: %w", taskID, err)
	}
	return rc, nil
}
