//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantrylb/gantry/driver"
)

// Name is the process driver's name in task definitions.
const Name = "process"

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("driver/process: driver is closed")

// Driver runs tasks as host processes. Create it with New; it is safe for
// concurrent use.
type Driver struct {
	cfg   Config
	log   *slog.Logger
	spawn *spawner
	// portMu serialises picking host ports (see reservePorts).
	portMu sync.Mutex
	wg     sync.WaitGroup // one per launch and supervisor; the spawner's users

	mu     sync.Mutex
	tasks  map[string]*task
	closed bool

	closeOnce sync.Once
}

var _ driver.Driver = (*Driver)(nil)

// New returns a Driver for cfg; it creates cfg.DataDir.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("driver/process: config: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "tasks"), 0o750); err != nil {
		return nil, fmt.Errorf("driver/process: data dir: %w", err)
	}
	return &Driver{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "driver/process"),
		spawn: newSpawner(),
		tasks: make(map[string]*task),
	}, nil
}

// Name returns "process".
func (d *Driver) Name() string { return Name }

// Start starts the task's command; see driver.Driver.
func (d *Driver) Start(ctx context.Context, spec driver.Task) (driver.Status, error) {
	argv := append(slices.Clone(spec.EntryPoint), spec.Command...)
	if err := spec.Validate(); err != nil {
		return driver.Status{}, fmt.Errorf("driver/process: start %s: %w", spec.ID,
			&driver.TaskError{Reason: driver.ReasonCannotStart + ": invalid task", Err: err})
	}
	if len(argv) == 0 {
		return driver.Status{}, fmt.Errorf("driver/process: start %s: %w", spec.ID,
			&driver.TaskError{Reason: driver.ReasonCannotStart + ": no command to run"})
	}
	if err := ctx.Err(); err != nil {
		return driver.Status{}, fmt.Errorf("driver/process: start %s: %w", spec.ID, err)
	}
	spec = cloneTask(spec)
	dir := filepath.Join(d.cfg.DataDir, "tasks", dirName(spec.ID))
	t := newTask(spec, dir, d.log.With("task_id", spec.ID), d.spawn.start)

	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return driver.Status{}, ErrClosed
	case d.tasks[spec.ID] != nil:
		d.mu.Unlock()
		return driver.Status{}, fmt.Errorf("driver/process: start %s: %w", spec.ID, driver.ErrExists)
	}
	d.tasks[spec.ID] = t // reserves the id while launching
	d.wg.Add(1)          // before Unlock: Close must wait for this launch
	d.mu.Unlock()

	if err := d.launch(t, argv); err != nil {
		d.wg.Done()
		d.mu.Lock()
		delete(d.tasks, spec.ID)
		d.mu.Unlock()
		_ = os.RemoveAll(dir)
		t.mu.Lock()
		t.status.State, t.status.Reason = driver.StateStopped, driver.StoppedReason(err)
		t.mu.Unlock()
		close(t.done)
		return driver.Status{}, fmt.Errorf("driver/process: start %s: %w", spec.ID, err)
	}
	return t.snapshot(), nil
}

// launch creates the task's directory, picks its ports and starts its
// process and supervisor. On error nothing is left running.
func (d *Driver) launch(t *task, argv []string) error {
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("task dir: %w", err)
	}
	if err := os.MkdirAll(t.dir, 0o750); err != nil {
		return fmt.Errorf("task dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(t.dir, "id"), []byte(t.spec.ID), 0o640); err != nil {
		return fmt.Errorf("task dir: %w", err)
	}
	ports, err := d.reservePorts(t)
	if err != nil {
		return err
	}
	home := d.cfg.Home
	if home == "" {
		home = t.dir
	}
	env := taskEnv(d.cfg, t.spec, home, ports)
	t.mu.Lock()
	t.env = env
	t.mu.Unlock()

	streams, files, err := d.openStreams(t.dir)
	if err != nil {
		return err
	}
	prog, err := lookPath(argv[0], env)
	if err != nil {
		for _, s := range streams {
			_ = s.r.Close()
			_ = s.log.Close()
		}
		for _, f := range files {
			_ = f.Close()
		}
		return &driver.TaskError{Reason: driver.ReasonCannotStart + ": " + err.Error(), Err: err}
	}
	cmd := exec.Command(prog, argv[1:]...)
	cmd.Env, cmd.Dir = env, t.dir
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	// Own process group: Stop signals the whole tree. Pdeathsig: the task
	// dies with the agent (see Recover for its children).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = d.spawn.start(cmd)
	for _, f := range files {
		_ = f.Close() // the child has its copies
	}
	if err != nil {
		for _, s := range streams {
			_ = s.r.Close()
			_ = s.log.Close()
		}
		return &driver.TaskError{Reason: driver.ReasonCannotStart + ": " + err.Error(), Err: err}
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(t.dir, "pgid"), []byte(strconv.Itoa(pid)), 0o640); err != nil {
		t.log.Warn("record process group", "err", err)
	}
	t.started(pid, ports)
	t.log.Info("task started", "pid", pid, "host_ports", fmt.Sprint(ports))
	go func() {
		defer d.wg.Done()
		supervise(t, cmd, streams)
	}()
	return nil
}

// openStreams opens the stdout and stderr pipes and log files of a task. It
// returns the streams (read ends and files) and the write ends for the child.
func (d *Driver) openStreams(dir string) ([]stream, []*os.File, error) {
	var streams []stream
	var files []*os.File
	fail := func(err error) ([]stream, []*os.File, error) {
		for _, s := range streams {
			_ = s.r.Close()
			_ = s.log.Close()
		}
		for _, f := range files {
			_ = f.Close()
		}
		return nil, nil, fmt.Errorf("output: %w", err)
	}
	for _, name := range []driver.Stream{driver.Stdout, driver.Stderr} {
		lf, err := openLogFile(filepath.Join(dir, string(name)+".log"), d.cfg.MaxLogBytes)
		if err != nil {
			return fail(err)
		}
		r, w, err := os.Pipe()
		if err != nil {
			_ = lf.Close()
			return fail(err)
		}
		streams = append(streams, stream{r: r, log: lf})
		files = append(files, w)
	}
	return streams, files, nil
}

// reservePorts picks the task's host ports and records them on it at once, so
// that a concurrent start does not pick them too.
func (d *Driver) reservePorts(t *task) (map[int]int, error) {
	d.portMu.Lock()
	defer d.portMu.Unlock()
	ports, err := pickPorts(d.cfg.HostIP, t.spec.PortMappings, d.portsInUse())
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.status.HostPorts = ports
	t.mu.Unlock()
	return ports, nil
}

// portsInUse returns the host ports of the tasks that are not stopped.
func (d *Driver) portsInUse() map[int]bool {
	d.mu.Lock()
	tasks := make([]*task, 0, len(d.tasks))
	for _, t := range d.tasks {
		tasks = append(tasks, t)
	}
	d.mu.Unlock()
	used := map[int]bool{}
	for _, t := range tasks {
		if st := t.snapshot(); st.State != driver.StateStopped {
			for _, hp := range st.HostPorts {
				used[hp] = true
			}
		}
	}
	return used
}

// get returns the task with id, or driver.ErrNotFound.
func (d *Driver) get(id string) (*task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("driver/process: task %s: %w", id, driver.ErrNotFound)
	}
	return t, nil
}

// Stop stops the task's process group; see driver.Driver.
func (d *Driver) Stop(ctx context.Context, id string, timeout time.Duration) error {
	t, err := d.get(id)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = t.spec.StopTimeoutOrDefault()
	}
	t.requestStop(timeout)
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("driver/process: stop %s: %w", id, ctx.Err())
	}
}

// Status returns the task's status.
func (d *Driver) Status(_ context.Context, id string) (driver.Status, error) {
	t, err := d.get(id)
	if err != nil {
		return driver.Status{}, err
	}
	return t.snapshot(), nil
}

// Wait blocks until the task has stopped and returns its final status.
func (d *Driver) Wait(ctx context.Context, id string) (driver.Status, error) {
	t, err := d.get(id)
	if err != nil {
		return driver.Status{}, err
	}
	select {
	case <-t.done:
		return t.snapshot(), nil
	case <-ctx.Done():
		return driver.Status{}, fmt.Errorf("driver/process: wait %s: %w", id, ctx.Err())
	}
}

// Remove stops the task if needed, deletes its directory and forgets it.
func (d *Driver) Remove(ctx context.Context, id string) error {
	t, err := d.get(id)
	if errors.Is(err, driver.ErrNotFound) {
		return nil
	}
	if err := d.Stop(ctx, id, 0); err != nil {
		return err
	}
	d.mu.Lock()
	if d.tasks[id] == t {
		delete(d.tasks, id)
	}
	d.mu.Unlock()
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("driver/process: remove %s: %w", id, err)
	}
	return nil
}

// Logs returns the task's output on stream: the rotated file, if any,
// followed by the current one.
func (d *Driver) Logs(_ context.Context, id string, s driver.Stream) (io.ReadCloser, error) {
	t, err := d.get(id)
	if err != nil {
		return nil, err
	}
	if s != driver.Stdout && s != driver.Stderr {
		return nil, fmt.Errorf("driver/process: logs %s: unknown stream %q", id, s)
	}
	rc, err := openLogs(filepath.Join(t.dir, string(s)+".log"))
	if err != nil {
		return nil, fmt.Errorf("driver/process: logs %s: %w", id, err)
	}
	return rc, nil
}

// Close stops every task (each with its StopTimeout, all at once) and waits
// for them. When ctx ends first, what is left gets SIGKILL; Close still waits
// for it to exit, which SIGKILL makes quick.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	tasks := make([]*task, 0, len(d.tasks))
	for _, t := range d.tasks {
		tasks = append(tasks, t)
	}
	d.mu.Unlock()
	for _, t := range tasks {
		t.requestStop(t.spec.StopTimeoutOrDefault())
	}
	var err error
	for _, t := range tasks {
		select {
		case <-t.done:
		case <-ctx.Done():
			err = fmt.Errorf("driver/process: close: %w", ctx.Err())
			t.signalGroup(syscall.SIGKILL)
		}
	}
	d.wg.Wait()
	d.closeOnce.Do(d.spawn.stop)
	return err
}

// cloneTask returns a deep copy of t, so that the caller may reuse its slices
// and maps.
func cloneTask(t driver.Task) driver.Task {
	t.Command = slices.Clone(t.Command)
	t.EntryPoint = slices.Clone(t.EntryPoint)
	t.PortMappings = slices.Clone(t.PortMappings)
	env := make(map[string]string, len(t.Env))
	for k, v := range t.Env {
		env[k] = v
	}
	t.Env = env
	if t.HealthCheck != nil {
		hc := *t.HealthCheck
		hc.Command = slices.Clone(hc.Command)
		t.HealthCheck = &hc
	}
	return t
}

// lookPath finds a program without a slash in the task's own PATH (which
// Config.Path sets), not the agent's.
func lookPath(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in the task's PATH", prog)
}
