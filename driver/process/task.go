//go:build linux

package process

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gantrylb/gantry/driver"
)

// copyDrainTimeout bounds how long output is still collected after a task's
// process group is gone: a process that escaped the group (setsid) and keeps
// the pipes open must not keep the task from being reported stopped.
const copyDrainTimeout = 2 * time.Second

// task is one running or stopped task. Its supervisor goroutine owns the
// process; everything else goes through mu.
type task struct {
	spec driver.Task
	dir  string
	log  *slog.Logger
	// spawn starts a process with Pdeathsig (see spawner).
	spawn func(*exec.Cmd) error
	// done is closed once the task is stopped and status is final.
	done chan struct{}

	mu     sync.Mutex
	status driver.Status
	// pgid is the task's process group (its main process's pid), 0 before
	// the start. Signals go to the group only while reaped is false: until
	// the main process is reaped its pid, hence the group id, cannot be
	// reused by an unrelated process.
	pgid     int
	reaped   bool
	stopping bool
	timeout  time.Duration
	killer   *time.Timer
	health   healthState
	env      []string // the task's environment, for health checks
}

func newTask(spec driver.Task, dir string, log *slog.Logger, spawn func(*exec.Cmd) error) *task {
	return &task{
		spec:  spec,
		dir:   dir,
		log:   log,
		spawn: spawn,
		done:  make(chan struct{}),
		status: driver.Status{
			ID:     spec.ID,
			State:  driver.StatePending,
			Health: driver.HealthUnknown,
		},
	}
}

// signalGroup sends sig to every process of the task, as long as the group
// id is still the task's.
func (t *task) signalGroup(sig syscall.Signal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.signalGroupLocked(sig)
}

func (t *task) signalGroupLocked(sig syscall.Signal) {
	if t.reaped || t.pgid == 0 {
		return
	}
	if err := syscall.Kill(-t.pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.log.Warn("signal task", "signal", sig.String(), "pgid", t.pgid, "err", err)
	}
}

// requestStop sends SIGTERM to the group and arms SIGKILL after timeout. A
// second request changes nothing. A request before the process started is
// applied by started.
func (t *task) requestStop(timeout time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return
	}
	t.stopping, t.timeout = true, timeout
	t.applyStopLocked()
}

func (t *task) applyStopLocked() {
	if t.reaped || t.pgid == 0 || t.killer != nil {
		return
	}
	t.signalGroupLocked(syscall.SIGTERM)
	t.killer = time.AfterFunc(t.timeout, func() { t.signalGroup(syscall.SIGKILL) })
}

// started records the running process.
func (t *task) started(pid int, ports map[int]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pgid = pid
	t.status.State = driver.StateRunning
	t.status.HostPorts = ports
	t.status.StartedAt = time.Now()
	if t.stopping {
		t.applyStopLocked()
	}
}

// snapshot returns a copy of the task's status.
func (t *task) snapshot() driver.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.status
	st.HostPorts = maps.Clone(st.HostPorts)
	st.Health = t.health.value()
	if st.State == driver.StateStopped {
		st.Health = driver.HealthUnknown // as the docker driver: no check runs
	}
	return st
}

// stream is one output stream of a task: the read end of its pipe and the
// file it is copied to.
type stream struct {
	r   *os.File
	log *logFile
}

// supervise owns a started task until it stops: it copies its output, runs
// its health check, waits for the main process, kills what is left of the
// group, reaps, and publishes the final status.
func supervise(t *task, cmd *exec.Cmd, streams []stream) {
	var copiers sync.WaitGroup
	for _, s := range streams {
		copiers.Go(func() {
			if _, err := io.Copy(s.log, s.r); err != nil && !errors.Is(err, os.ErrClosed) {
				t.log.Warn("copy task output", "path", s.log.path, "err", err)
			}
		})
	}
	hctx, hcancel := context.WithCancel(context.Background())
	var checker sync.WaitGroup
	if hc := t.spec.HealthCheck; hc != nil {
		checker.Go(func() { t.runHealth(hctx, hc.WithDefaults()) })
	}

	waitExited(cmd.Process.Pid)
	// ECS semantics: when the essential process exits, the task is over;
	// nothing it started may linger (the leader is a zombie here, so the
	// group id is still the task's).
	t.signalGroup(syscall.SIGKILL)
	hcancel()
	checker.Wait()

	t.mu.Lock()
	t.reaped = true
	if t.killer != nil {
		t.killer.Stop()
	}
	stopping := t.stopping
	t.mu.Unlock()
	_ = cmd.Wait() // the exit status is read from ProcessState below

	drainCopiers(&copiers, streams)

	t.mu.Lock()
	t.status.State = driver.StateStopped
	t.status.ExitCode = exitCode(cmd.ProcessState)
	t.status.StoppedAt = time.Now()
	t.status.Reason = driver.ReasonEssentialExited
	if stopping {
		t.status.Reason = driver.ReasonStopped
	}
	t.mu.Unlock()
	t.log.Info("task stopped", "exit_code", t.status.ExitCode, "reason", t.status.Reason)
	close(t.done)
}

// drainCopiers waits for the output copiers, closing the pipes after
// copyDrainTimeout if an escaped process still holds them open.
func drainCopiers(copiers *sync.WaitGroup, streams []stream) {
	drained := make(chan struct{})
	var waiter sync.WaitGroup
	waiter.Go(func() {
		copiers.Wait()
		close(drained)
	})
	timer := time.NewTimer(copyDrainTimeout)
	select {
	case <-drained:
	case <-timer.C:
	}
	timer.Stop()
	for _, s := range streams {
		_ = s.r.Close() // unblocks a copier still reading
	}
	waiter.Wait()
	for _, s := range streams {
		_ = s.log.Close()
	}
}

// waitExited blocks until process pid has exited, without reaping it.
func waitExited(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// exitCode is the process's exit code, or 128+signal when a signal killed it.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
