//go:build linux

package process

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"

	"github.com/gantrylb/gantry/driver"
)

// healthState is a task's health-check bookkeeping, guarded by task.mu.
type healthState struct {
	status   driver.Health
	passed   bool // a check has passed since the start
	failures int  // consecutive counted failures
}

func (h *healthState) value() driver.Health {
	if h.status == "" {
		return driver.HealthUnknown
	}
	return h.status
}

// record applies one check result with ECS's (and Docker's) semantics: a pass
// makes the task healthy; a failure counts unless the start period still runs
// and nothing has passed yet; Retries counted failures in a row make it
// unhealthy.
func (h *healthState) record(ok, inStartPeriod bool, retries int) {
	switch {
	case ok:
		h.passed, h.failures, h.status = true, 0, driver.HealthHealthy
	case inStartPeriod && !h.passed:
	default:
		h.failures++
		if h.failures >= retries {
			h.status = driver.HealthUnhealthy
		}
	}
}

// runHealth runs the task's health check every Interval until ctx ends. As
// Docker does, the first check runs one interval after the start.
func (t *task) runHealth(ctx context.Context, hc driver.HealthCheck) {
	start := time.Now()
	timer := time.NewTimer(hc.Interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ok := t.check(ctx, hc)
		if ctx.Err() != nil {
			return // the task is stopping: this result means nothing
		}
		t.mu.Lock()
		before := t.health.value()
		t.health.record(ok, time.Since(start) < hc.StartPeriod, hc.Retries)
		after := t.health.value()
		t.mu.Unlock()
		if before != after {
			t.log.Info("task health changed", "health", string(after))
		}
		timer.Reset(hc.Interval)
	}
}

// check runs the health-check command once, in the task's environment and
// directory, in its own process group, killed with its group at Timeout.
func (t *task) check(ctx context.Context, hc driver.HealthCheck) bool {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	var argv []string
	if hc.Command[0] == "CMD-SHELL" {
		argv = []string{"/bin/sh", "-c", hc.Command[1]}
	} else {
		argv = hc.Command[1:]
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.dir
	t.mu.Lock()
	cmd.Env = t.env
	t.mu.Unlock()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := t.spawn(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil && !errors.As(err, new(*exec.ExitError)) {
		t.log.Debug("health check did not run", "err", err)
	}
	return err == nil
}
