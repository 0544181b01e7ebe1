package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultStopGrace is how long a child gets between SIGTERM and SIGKILL.
const defaultStopGrace = 3 * time.Second

// supervisor starts child processes in their own process groups and stops
// them all on request; it is the single owner of every process the harness
// starts. Safe for concurrent use.
type supervisor struct {
	dir   string        // log files go here
	grace time.Duration // between SIGTERM and SIGKILL

	mu    sync.Mutex
	procs map[*proc]struct{}
}

// proc is one started child.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when Wait returned
	err     error         // Wait's error, valid after done
}

func newSupervisor(dir string) *supervisor {
	return &supervisor{dir: dir, grace: defaultStopGrace, procs: make(map[*proc]struct{})}
}

// start runs argv with env added to the harness's environment; output goes
// to DIR/name.log. cpu, when not empty, pins the child with taskset -c cpu.
func (s *supervisor) start(name, cpu string, argv, env []string) (*proc, error) {
	if cpu != "" {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	logPath := filepath.Join(s.dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group so a stop reaches grandchildren (nginx workers);
	// Pdeathsig as a backstop should the harness itself be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	s.mu.Lock()
	s.procs[p] = struct{}{}
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the child's process id (that of taskset's exec'ed program).
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the child to exit or ctx to end; on ctx's end it stops it.
func (s *supervisor) wait(ctx context.Context, p *proc) error {
	select {
	case <-p.done:
		s.forget(p)
		return p.err
	case <-ctx.Done():
		s.stop(p)
		return ctx.Err()
	}
}

// stop sends SIGTERM to the child's process group, then SIGKILL after
// the grace period, and waits for the child.
func (s *supervisor) stop(p *proc) {
	defer s.forget(p)
	if p.exited() {
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL) // orphans left in the group
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	t := time.NewTimer(s.grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

func (s *supervisor) forget(p *proc) {
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
}

// stopAll stops every child still running, in parallel.
func (s *supervisor) stopAll() {
	s.mu.Lock()
	ps := make([]*proc, 0, len(s.procs))
	for p := range s.procs {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { s.stop(p) })
	}
	wg.Wait()
}

// logTail returns the last lines of the child's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another process
// may take it before the child binds; the readiness check then fails loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errNotReady is returned when a child never answered its readiness check.
var errNotReady = errors.New("not ready")

// waitReady polls GET / on addr until it answers 200 with a body of
// backendBodyLen bytes, the child exits, or timeout passes.
func waitReady(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	var last error
	for {
		status, body, err := httpGet(addr, time.Second)
		if err == nil && status == 200 && body == backendBodyLen {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("answered %d with %d bytes", status, body)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("bench: %s exited before ready (%v): %s", p.name, p.err, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("bench: %s: %w after %v: %v: %s", p.name, errNotReady, timeout, last, p.logTail())
		case <-tk.C:
		}
	}
}
