package driver

import (
	"context"
	"errors"
	"io"
	"time"
)

// Driver runs tasks on this host. Implementations are safe for concurrent use
// by several goroutines; calls on different task ids never wait on each
// other, except where a method says so.
//
// Task ids are chosen by the caller and are unique on the host: Start with an
// id the driver already knows fails with ErrExists. Every other method with an
// unknown id fails with ErrNotFound.
type Driver interface {
	// Name is the driver's name as task definitions spell it: "process" or
	// "docker".
	Name() string

	// Start starts t and returns its status once it is running (State
	// running, HostPorts filled in) or has failed. It does not wait for the
	// task to become healthy. A task that cannot be started returns an error
	// that wraps a *TaskError whose Reason is the ECS-style stoppedReason
	// (CannotPullContainerError, CannotStartContainerError...); nothing is
	// left behind then. Cancelling ctx aborts the start, not the task.
	Start(ctx context.Context, t Task) (Status, error)

	// Stop stops the task: SIGTERM (or the image's stop signal), then SIGKILL
	// to everything the task started once timeout has passed (zero means the
	// task's StopTimeout). It returns when the task is stopped; stopping a
	// stopped task is a no-op. The final status (exit code, reason
	// ReasonStopped unless the task had already exited) stays readable
	// through Status and Wait until Remove. The docker driver removes the
	// container (and its logs) once it has stopped. Cancelling ctx abandons
	// the wait; the process driver still kills the task when its timeout
	// runs out.
	Stop(ctx context.Context, id string, timeout time.Duration) error

	// Status returns the task's current status. It may do I/O (the docker
	// driver inspects the container) but never blocks on the task itself.
	Status(ctx context.Context, id string) (Status, error)

	// Wait blocks until the task is stopped (by itself or by Stop) and
	// returns its final status, or returns ctx's error. Several goroutines
	// may wait on the same task.
	Wait(ctx context.Context, id string) (Status, error)

	// Remove releases everything the driver keeps for a task: a running task
	// is stopped first (with its StopTimeout), then its container and its
	// logs are deleted and the id is forgotten. Removing an unknown id is a
	// no-op.
	Remove(ctx context.Context, id string) error

	// Recover adopts the tasks a previous run of the agent left on the host
	// and returns them, running or stopped, so that the agent can compare
	// them with its placements instead of starting duplicates. The docker
	// driver finds its containers by their gantry.* labels; processes cannot
	// outlive the agent, so the process driver returns none (and kills what
	// a crashed agent may have left behind).
	Recover(ctx context.Context) ([]Recovered, error)

	// Logs returns the task's recent output on stream (the process driver
	// keeps at most its configured size per stream). The caller closes the
	// reader. Logs of a removed task are gone.
	Logs(ctx context.Context, id string, stream Stream) (io.ReadCloser, error)

	// Close releases the driver; call it exactly once, when the agent ends.
	// Tasks that can outlive the agent (docker containers) keep running;
	// tasks that cannot (processes) are stopped. Close waits for every
	// goroutine the driver started.
	Close(ctx context.Context) error
}

// Stream names one of a task's output streams.
type Stream string

// The output streams of a task.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Recovered is a task found by Recover: its identity as its labels recorded it
// and its current status.
type Recovered struct {
	ID        string
	Family    string
	Revision  int
	Container string
	Image     string
	Status    Status
}

// Errors the agent branches on.
var (
	// ErrNotFound means the driver knows no task with this id.
	ErrNotFound = errors.New("task not found")
	// ErrExists means Start was given an id the driver already runs.
	ErrExists = errors.New("task already exists")
)

// TaskError is a failure the task itself is responsible for (a missing image,
// a command that does not exist), as opposed to a failure of the driver or of
// the host. Reason is the ECS-style stoppedReason to report.
type TaskError struct {
	Reason string
	Err    error
}

func (e *TaskError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *TaskError) Unwrap() error { return e.Err }

// StoppedReason returns the stoppedReason to report for err: the Reason of a
// *TaskError it wraps, else a generic "CannotStartContainerError: ..." one.
func StoppedReason(err error) string {
	if te, ok := errors.AsType[*TaskError](err); ok {
		return te.Reason
	}
	return ReasonCannotStart + ": " + err.Error()
}

// Stopped reasons, as ECS spells them.
const (
	// ReasonEssentialExited: the task's process or container exited by itself.
	ReasonEssentialExited = "Essential container in task exited"
	// ReasonStopped: the task exited because Stop asked it to.
	ReasonStopped = "Task stopped by the agent"
	// ReasonOutOfMemory: the kernel killed the container at its memory limit.
	ReasonOutOfMemory = "OutOfMemoryError: Container killed due to memory usage"
	// ReasonCannotPull prefixes a missing or unpullable image.
	ReasonCannotPull = "CannotPullContainerError"
	// ReasonCannotStart prefixes a task that could not be created or started.
	ReasonCannotStart = "CannotStartContainerError"
)
