package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gantrylb/gantry/driver"
)

// Name is the Docker driver's name in task definitions.
const Name = "docker"

// Driver runs tasks as Docker containers. Create it with New; it is safe for
// concurrent use. It starts no goroutine of its own.
type Driver struct {
	cfg Config
	eng Engine
	log *slog.Logger

	mu sync.Mutex
	// final holds the last status of tasks whose container Stop removed,
	// until Remove.
	final map[string]driver.Status
	// starting holds the ids whose Start is under way.
	starting map[string]bool
	// stopping holds the ids Stop was called for (until Remove), so that a
	// status read between the container's exit and its removal already says
	// ReasonStopped.
	stopping map[string]bool
}

var _ driver.Driver = (*Driver)(nil)

// New returns a Driver for cfg.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("driver/docker: config: %w", err)
	}
	cfg = cfg.withDefaults()
	return &Driver{
		cfg:      cfg,
		eng:      cfg.Engine,
		log:      cfg.Logger.With("component", "driver/docker"),
		final:    make(map[string]driver.Status),
		starting: make(map[string]bool),
		stopping: make(map[string]bool),
	}, nil
}

// Name returns "docker".
func (d *Driver) Name() string { return Name }

// Start creates and starts the task's container; see driver.Driver.
func (d *Driver) Start(ctx context.Context, t driver.Task) (driver.Status, error) {
	if err := t.Validate(); err != nil {
		return driver.Status{}, fmt.Errorf("driver/docker: start %s: %w", t.ID,
			&driver.TaskError{Reason: driver.ReasonCannotStart + ": invalid task", Err: err})
	}
	if t.Image == "" {
		return driver.Status{}, fmt.Errorf("driver/docker: start %s: %w", t.ID,
			&driver.TaskError{Reason: driver.ReasonCannotStart + ": no image"})
	}
	d.mu.Lock()
	_, stopped := d.final[t.ID]
	if stopped || d.starting[t.ID] {
		d.mu.Unlock()
		return driver.Status{}, fmt.Errorf("driver/docker: start %s: %w", t.ID, driver.ErrExists)
	}
	d.starting[t.ID] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.starting, t.ID)
		d.mu.Unlock()
	}()

	st, err := d.start(ctx, t)
	if err != nil {
		return driver.Status{}, fmt.Errorf("driver/docker: start %s: %w", t.ID, err)
	}
	return st, nil
}

func (d *Driver) start(ctx context.Context, t driver.Task) (driver.Status, error) {
	if err := d.ensureImage(ctx, t.Image); err != nil {
		return driver.Status{}, err
	}
	spec := d.containerSpec(t)
	id, err := d.eng.Create(ctx, spec)
	if errors.Is(err, ErrConflict) {
		return driver.Status{}, driver.ErrExists
	}
	if err != nil {
		if ctx.Err() != nil {
			return driver.Status{}, err
		}
		return driver.Status{}, &driver.TaskError{Reason: driver.ReasonCannotStart + ": create: " + err.Error(), Err: err}
	}
	log := d.log.With("task_id", t.ID, "container_id", shortID(id))
	if err := d.eng.Start(ctx, id); err != nil {
		d.removeQuietly(id, log)
		if ctx.Err() != nil {
			return driver.Status{}, err // the caller gave up; not the task's fault
		}
		return driver.Status{}, &driver.TaskError{Reason: driver.ReasonCannotStart + ": " + err.Error(), Err: err}
	}
	c, err := d.eng.Inspect(ctx, id)
	if err != nil {
		d.removeQuietly(id, log) // the contract: a failed Start leaves nothing
		return driver.Status{}, fmt.Errorf("inspect: %w", err)
	}
	st := statusOf(t.ID, c)
	log.Info("task started", "image", t.Image, "host_ports", fmt.Sprint(st.HostPorts))
	return st, nil
}

// ensureImage checks that image is on the host, pulling it when configured.
func (d *Driver) ensureImage(ctx context.Context, image string) error {
	ok, err := d.eng.ImageExists(ctx, image)
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	if ok {
		return nil
	}
	if !d.cfg.Pull {
		return &driver.TaskError{Reason: fmt.Sprintf(
			"%s: pull access denied / image not found locally: %s (pulling is disabled on this node)",
			driver.ReasonCannotPull, image)}
	}
	if err := d.eng.PullImage(ctx, image); err != nil {
		return &driver.TaskError{Reason: fmt.Sprintf("%s: pull %s: %v", driver.ReasonCannotPull, image, err), Err: err}
	}
	return nil
}

// removeQuietly removes a container the driver gives up on; it outlives ctx
// so that a cancelled Start leaves nothing behind.
func (d *Driver) removeQuietly(id string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.eng.Remove(ctx, id); err != nil && !errors.Is(err, ErrNoSuchContainer) {
		log.Warn("remove container", "err", err)
	}
}

// inspect returns the container of task id, or driver.ErrNotFound (also when
// a container has the name but not the task's label).
func (d *Driver) inspect(ctx context.Context, id string) (Container, error) {
	c, err := d.eng.Inspect(ctx, d.containerName(id))
	if errors.Is(err, ErrNoSuchContainer) || (err == nil && c.Labels[LabelTask] != id) {
		return Container{}, driver.ErrNotFound
	}
	return c, err
}

// finalStatus returns the kept status of a task Stop removed.
func (d *Driver) finalStatus(id string) (driver.Status, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.final[id]
	return st, ok
}

// Stop stops the task's container (its stop signal, SIGKILL after timeout,
// zero meaning the task's StopTimeout recorded in the container; Docker counts
// whole seconds, so a timeout is rounded up), keeps its final status and
// removes the container. If ctx ends first, the engine decides whether the
// stop goes on; a later Stop or Remove finishes the job.
func (d *Driver) Stop(ctx context.Context, id string, timeout time.Duration) error {
	c, err := d.inspect(ctx, id)
	if errors.Is(err, driver.ErrNotFound) {
		if _, ok := d.finalStatus(id); ok {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("driver/docker: stop %s: %w", id, err)
	}
	wasRunning := statusOf(id, c).State != driver.StateStopped
	if wasRunning {
		d.mu.Lock()
		d.stopping[id] = true
		d.mu.Unlock()
	}
	if err := d.eng.Stop(ctx, c.ID, timeout); err != nil && !errors.Is(err, ErrNoSuchContainer) {
		return fmt.Errorf("driver/docker: stop %s: %w", id, err)
	}
	if after, err := d.eng.Inspect(ctx, c.ID); err == nil {
		c = after
	}
	st := d.statusOf(id, c)
	if st.State != driver.StateStopped {
		return fmt.Errorf("driver/docker: stop %s: container is still %s", id, c.Status)
	}
	d.mu.Lock()
	d.final[id] = st
	d.mu.Unlock()
	if err := d.eng.Remove(ctx, c.ID); err != nil && !errors.Is(err, ErrNoSuchContainer) {
		return fmt.Errorf("driver/docker: stop %s: remove: %w", id, err)
	}
	d.log.Info("task stopped", "task_id", id, "exit_code", st.ExitCode, "reason", st.Reason)
	return nil
}

// Status inspects the task's container.
func (d *Driver) Status(ctx context.Context, id string) (driver.Status, error) {
	if st, ok := d.finalStatus(id); ok {
		return st, nil
	}
	c, err := d.inspect(ctx, id)
	if errors.Is(err, driver.ErrNotFound) {
		// Stop may have removed it between the two looks.
		if st, ok := d.finalStatus(id); ok {
			return st, nil
		}
	}
	if err != nil {
		return driver.Status{}, fmt.Errorf("driver/docker: status %s: %w", id, err)
	}
	return d.statusOf(id, c), nil
}

// statusOf is statusOf with the reason ReasonStopped for a container that
// exited after Stop asked it to (an OOM kill keeps its own reason).
func (d *Driver) statusOf(id string, c Container) driver.Status {
	st := statusOf(id, c)
	d.mu.Lock()
	stopping := d.stopping[id]
	d.mu.Unlock()
	if st.State == driver.StateStopped && stopping && !c.OOMKilled {
		st.Reason = driver.ReasonStopped
	}
	return st
}

// Wait blocks until the task's container is not running.
func (d *Driver) Wait(ctx context.Context, id string) (driver.Status, error) {
	if st, ok := d.finalStatus(id); ok {
		return st, nil
	}
	c, err := d.inspect(ctx, id)
	if err == nil {
		err = d.eng.Wait(ctx, c.ID)
		if errors.Is(err, ErrNoSuchContainer) {
			err = nil // removed by Stop: its final status is kept
		}
	}
	if err != nil && !errors.Is(err, driver.ErrNotFound) {
		return driver.Status{}, fmt.Errorf("driver/docker: wait %s: %w", id, err)
	}
	return d.Status(ctx, id)
}

// Remove stops the task if it runs, removes its container and forgets it.
func (d *Driver) Remove(ctx context.Context, id string) error {
	err := d.Stop(ctx, id, 0)
	if err != nil && !errors.Is(err, driver.ErrNotFound) {
		return err
	}
	d.mu.Lock()
	delete(d.final, id)
	delete(d.stopping, id)
	d.mu.Unlock()
	return nil
}

// Recover adopts the containers labelled gantry.managed=true (and
// gantry.node=Config.Node when set), running or stopped: they are the tasks
// of a previous run of the agent. A container found in state pending was
// created but never started (the agent died in between): Remove it.
func (d *Driver) Recover(ctx context.Context) ([]driver.Recovered, error) {
	labels := map[string]string{LabelManaged: "true"}
	if d.cfg.Node != "" {
		labels[LabelNode] = d.cfg.Node
	}
	ids, err := d.eng.List(ctx, labels)
	if err != nil {
		return nil, fmt.Errorf("driver/docker: recover: %w", err)
	}
	var out []driver.Recovered
	for _, cid := range ids {
		c, err := d.eng.Inspect(ctx, cid)
		if errors.Is(err, ErrNoSuchContainer) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("driver/docker: recover: %w", err)
		}
		if c.Labels[LabelTask] == "" {
			continue
		}
		r := recovered(c)
		d.log.Info("adopted task", "task_id", r.ID, "container_id", shortID(c.ID), "state", string(r.Status.State))
		out = append(out, r)
	}
	return out, nil
}

// Logs returns the container's output on stream.
func (d *Driver) Logs(ctx context.Context, id string, s driver.Stream) (io.ReadCloser, error) {
	if s != driver.Stdout && s != driver.Stderr {
		return nil, fmt.Errorf("driver/docker: logs %s: unknown stream %q", id, s)
	}
	c, err := d.inspect(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("driver/docker: logs %s: %w", id, err)
	}
	rc, err := d.eng.Logs(ctx, c.ID, s == driver.Stderr)
	if err != nil {
		return nil, fmt.Errorf("driver/docker: logs %s: %w", id, err)
	}
	return rc, nil
}

// Close does nothing: containers outlive the agent, and the caller owns the
// Engine.
func (d *Driver) Close(context.Context) error { return nil }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
