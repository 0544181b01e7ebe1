package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(s), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// waitChildren waits until p has n descendants besides itself.
func waitChildren(t *testing.T, p *proc, n int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := descendants(allProcs(), p.pid())
		if len(pids) >= n+1 {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d processes, want %d", p.name, len(pids), n+1)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc: there is no event to wait on
	}
}

func TestSupervisorStopsProcessGroup(t *testing.T) {
	sup := newSupervisor(t.TempDir())
	sup.grace = 200 * time.Millisecond
	t.Cleanup(sup.stopAll)
	tests := []struct {
		name string
		argv []string
	}{
		{"polite", []string{"sh", "-c", "sleep 60 & sleep 60 & wait"}},
		{"ignores SIGTERM", []string{"sh", "-c", "trap '' TERM; sleep 60 & sleep 60 & wait"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sup.start("sh", "", tt.argv, nil)
			if err != nil {
				t.Fatal(err)
			}
			pids := waitChildren(t, p, 2)
			start := time.Now()
			sup.stop(p)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("stop took %v", d)
			}
			// SIGKILL is delivered asynchronously: poll until the group is gone.
			deadline := time.Now().Add(5 * time.Second)
			for _, pid := range pids {
				for alive(pid) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if alive(pid) {
					t.Errorf("pid %d of %v still alive 5s after stop", pid, pids)
				}
			}
		})
	}
}

func TestSupervisorStopAllAndWait(t *testing.T) {
	sup := newSupervisor(t.TempDir())
	sup.grace = 200 * time.Millisecond
	var ps []*proc
	for i := range 3 {
		p, err := sup.start(fmt.Sprintf("sleep%d", i), "", []string{"sleep", "60"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sup.wait(ctx, ps[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("wait(cancelled) = %v, want context.Canceled", err)
	}
	sup.stopAll()
	for _, p := range ps {
		if !p.exited() {
			t.Errorf("%s still running after stopAll", p.name)
		}
	}
	if len(sup.procs) != 0 {
		t.Errorf("supervisor still tracks %d processes", len(sup.procs))
	}
	p, err := sup.start("echo", "", []string{"sh", "-c", "echo hello; exit 3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.wait(context.Background(), p); err == nil {
		t.Errorf("wait(exit 3) = nil, want an error")
	}
	if got := p.logTail(); got != "hello" {
		t.Errorf("logTail() = %q, want hello", got)
	}
	if _, err := sup.start("missing", "", []string{"/nonexistent/binary"}, nil); err == nil {
		t.Errorf("start(/nonexistent/binary) = nil error")
	}
}

func TestBackendAndWaitReady(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sup := newSupervisor(t.TempDir())
	t.Cleanup(sup.stopAll)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := sup.start("backend", "", []string{self}, []string{backendEnv + "=" + addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitReady(ctx, p, addr, 10*time.Second); err != nil {
		t.Fatalf("waitReady(backend) = %v", err)
	}
	conns, err := openIdle(ctx, addr, 20)
	if err != nil {
		t.Fatalf("openIdle(backend, 20) = %v", err)
	}
	conns.close()

	// A process that exits is reported at once, with its log.
	dead, err := sup.start("dead", "", []string{"sh", "-c", "echo cannot start; exit 1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReady(ctx, dead, "127.0.0.1:1", 10*time.Second); err == nil || !strings.Contains(err.Error(), "cannot start") {
		t.Errorf("waitReady(dead) = %v, want an error quoting its log", err)
	}
	// A listener that accepts but never answers times out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	silent, err := sup.start("silent", "", []string{"sleep", "60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReady(ctx, silent, ln.Addr().String(), 300*time.Millisecond); !errors.Is(err, errNotReady) {
		t.Errorf("waitReady(silent) = %v, want errNotReady", err)
	}
	_ = syscall.Kill(-silent.pid(), syscall.SIGKILL)
}
