//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantrylb/gantry/driver"
)

// newDriver returns a Driver on a temporary data dir, closed when t ends.
func newDriver(t *testing.T, cfg Config) *Driver {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// testCtx is a context bounded so that a hung test fails instead of waiting
// for the global timeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or 15s have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func start(t *testing.T, d *Driver, task driver.Task) driver.Status {
	t.Helper()
	st, err := d.Start(testCtx(t), task)
	if err != nil {
		t.Fatalf("Start(%s): %v", task.ID, err)
	}
	return st
}

func logsOf(t *testing.T, d *Driver, id string, s driver.Stream) string {
	t.Helper()
	rc, err := d.Logs(testCtx(t), id, s)
	if err != nil {
		t.Fatalf("Logs(%s, %s): %v", id, s, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	return string(b)
}

// gone reports whether pid no longer runs (a zombie waiting for a reaper
// that is not us counts as gone).
func gone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func TestStartServesOnDynamicPorts(t *testing.T) {
	t.Setenv("GANTRY_TEST_AGENT_SECRET", "hunter2")
	d := newDriver(t, Config{})
	task := driver.Task{
		ID:           "web-1",
		Command:      []string{os.Args[0]},
		Env:          map[string]string{helperEnv: "serve", "GREETING": "hi"},
		PortMappings: []driver.PortMapping{{ContainerPort: 8080}, {ContainerPort: 9090}},
		StopTimeout:  10 * time.Second,
	}
	st := start(t, d, task)
	if st.State != driver.StateRunning {
		t.Fatalf("Start state = %s, want running", st.State)
	}
	hp, other := st.HostPorts[8080], st.HostPorts[9090]
	if hp == 0 || other == 0 || hp == other {
		t.Fatalf("HostPorts = %v, want two distinct non-zero ports", st.HostPorts)
	}

	var body string
	eventually(t, "the task to answer on its port", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/env", hp))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	env := strings.Split(body, "\n")
	for _, want := range []string{
		"PORT=" + strconv.Itoa(hp),
		"GANTRY_PORT_8080=" + strconv.Itoa(hp),
		"GANTRY_PORT_9090=" + strconv.Itoa(other),
		"GREETING=hi",
		"GANTRY_TASK_ID=web-1",
		"GANTRY_HOST_IP=127.0.0.1",
	} {
		if !contains(env, want) {
			t.Errorf("task env lacks %q; got %q", want, env)
		}
	}
	if strings.Contains(body, "hunter2") {
		t.Errorf("the agent's environment leaked into the task: %q", env)
	}

	if err := d.Stop(testCtx(t), "web-1", 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	final, err := d.Wait(testCtx(t), "web-1")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if final.State != driver.StateStopped || final.ExitCode != 0 || final.Reason != driver.ReasonStopped {
		t.Errorf("final status = %+v, want stopped, exit 0, reason %q", final, driver.ReasonStopped)
	}
	if out := logsOf(t, d, "web-1", driver.Stdout); !strings.Contains(out, "serving on") {
		t.Errorf("stdout = %q, want the task's output", out)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// childPID waits until the task printed the pid of the child it spawned.
func childPID(t *testing.T, d *Driver, id string) int {
	t.Helper()
	var pid int
	eventually(t, "the task to print its child's pid", func() bool {
		out := strings.TrimSpace(logsOf(t, d, id, driver.Stdout))
		n, err := strconv.Atoi(out)
		pid = n
		return err == nil && n > 0
	})
	return pid
}

func TestStopKillsTheWholeGroup(t *testing.T) {
	d := newDriver(t, Config{})
	// Both the shell and its child ignore SIGTERM (an ignored signal stays
	// ignored across exec), so only the SIGKILL after StopTimeout ends them.
	task := driver.Task{
		ID:          "stubborn",
		Command:     []string{"/bin/sh", "-c", `trap "" TERM; sleep 300 & echo $!; wait`},
		StopTimeout: 200 * time.Millisecond,
	}
	st := start(t, d, task)
	child := childPID(t, d, "stubborn")
	if err := d.Stop(testCtx(t), "stubborn", 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	final, _ := d.Wait(testCtx(t), "stubborn")
	if final.ExitCode != 128+int(syscall.SIGKILL) || final.Reason != driver.ReasonStopped {
		t.Errorf("final = %+v, want exit %d (SIGKILL), reason %q", final, 128+int(syscall.SIGKILL), driver.ReasonStopped)
	}
	eventually(t, "the child sleep to be gone", func() bool { return gone(child) })
	_ = st
}

func TestExitIsDetectedAndStragglersKilled(t *testing.T) {
	d := newDriver(t, Config{})
	start(t, d, driver.Task{
		ID:      "short",
		Command: []string{"/bin/sh", "-c", `sleep 300 & echo $!; exit 3`},
	})
	final, err := d.Wait(testCtx(t), "short")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if final.State != driver.StateStopped || final.ExitCode != 3 || final.Reason != driver.ReasonEssentialExited {
		t.Errorf("final = %+v, want stopped, exit 3, reason %q", final, driver.ReasonEssentialExited)
	}
	child, err := strconv.Atoi(strings.TrimSpace(logsOf(t, d, "short", driver.Stdout)))
	if err != nil {
		t.Fatalf("stdout: %v", err)
	}
	eventually(t, "the task's background sleep to be gone", func() bool { return gone(child) })
	if err := d.Stop(testCtx(t), "short", 0); err != nil {
		t.Errorf("Stop of a stopped task: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	d := newDriver(t, Config{})
	_, err := d.Start(testCtx(t), driver.Task{ID: "missing", Command: []string{"/nonexistent/program"}})
	if te, ok := errors.AsType[*driver.TaskError](err); !ok || !strings.HasPrefix(te.Reason, driver.ReasonCannotStart) {
		t.Errorf("Start(missing program) = %v, want a TaskError with reason %s...", err, driver.ReasonCannotStart)
	}
	if _, err := d.Status(testCtx(t), "missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Status after a failed start = %v, want ErrNotFound", err)
	}
	_, err = d.Start(testCtx(t), driver.Task{ID: "empty"})
	if _, ok := errors.AsType[*driver.TaskError](err); !ok {
		t.Errorf("Start(no command) = %v, want a TaskError", err)
	}
	_, err = d.Start(testCtx(t), driver.Task{ID: "bad", Command: []string{"true"},
		PortMappings: []driver.PortMapping{{ContainerPort: 0}}})
	if err == nil || !strings.Contains(err.Error(), "containerPort") {
		t.Errorf("Start(bad port) = %v, want a containerPort error", err)
	}

	start(t, d, driver.Task{ID: "dup", Command: []string{"sleep", "300"}, StopTimeout: time.Second})
	if _, err := d.Start(testCtx(t), driver.Task{ID: "dup", Command: []string{"true"}}); !errors.Is(err, driver.ErrExists) {
		t.Errorf("second Start(dup) = %v, want ErrExists", err)
	}
	for name, err := range map[string]error{
		"Stop":   d.Stop(testCtx(t), "nope", 0),
		"Status": second(d.Status(testCtx(t), "nope")),
		"Wait":   second(d.Wait(testCtx(t), "nope")),
		"Logs":   second(d.Logs(testCtx(t), "nope", driver.Stdout)),
	} {
		if !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("%s(unknown id) = %v, want ErrNotFound", name, err)
		}
	}
	if err := d.Remove(testCtx(t), "nope"); err != nil {
		t.Errorf("Remove(unknown id) = %v, want nil", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestRemoveDeletesTheTask(t *testing.T) {
	d := newDriver(t, Config{})
	start(t, d, driver.Task{ID: "rm", Command: []string{"sleep", "300"}, StopTimeout: time.Second})
	dir := filepath.Join(d.cfg.DataDir, "tasks", dirName("rm"))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("task dir: %v", err)
	}
	if err := d.Remove(testCtx(t), "rm"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task dir after Remove: %v, want it gone", err)
	}
	if _, err := d.Status(testCtx(t), "rm"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Status after Remove = %v, want ErrNotFound", err)
	}
}

func TestCloseStopsEveryTask(t *testing.T) {
	d, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		start(t, d, driver.Task{ID: id, Command: []string{"sleep", "300"}, StopTimeout: 5 * time.Second})
	}
	if err := d.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		st, err := d.Status(testCtx(t), id)
		if err != nil || st.State != driver.StateStopped {
			t.Errorf("Status(%s) after Close = %+v, %v; want stopped", id, st, err)
		}
	}
	if _, err := d.Start(testCtx(t), driver.Task{ID: "c", Command: []string{"true"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestLogsAreBounded(t *testing.T) {
	d := newDriver(t, Config{MaxLogBytes: 4096})
	// 64 KiB on stderr in lines of 100 bytes.
	start(t, d, driver.Task{ID: "chatty", Command: []string{"/bin/sh", "-c",
		`i=0; while [ $i -lt 655 ]; do printf '%099d\n' $i >&2; i=$((i+1)); done; echo last >&2`}})
	if _, err := d.Wait(testCtx(t), "chatty"); err != nil {
		t.Fatal(err)
	}
	out := logsOf(t, d, "chatty", driver.Stderr)
	if len(out) > 2*4096 || !strings.HasSuffix(out, "last\n") {
		t.Errorf("stderr: %d bytes ending %q; want at most %d ending with the last line", len(out), tail(out), 2*4096)
	}
}

func tail(s string) string {
	if len(s) > 20 {
		return s[len(s)-20:]
	}
	return s
}

func TestRecoverKillsWhatACrashedAgentLeft(t *testing.T) {
	dataDir := t.TempDir()
	// A previous agent's task: a process group whose members carry the
	// task's id in their environment.
	leftover := startLeftover(t, "old-task")
	dir := filepath.Join(dataDir, "tasks", dirName("old-task"))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"id": "old-task", "pgid": strconv.Itoa(leftover.Process.Pid)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	d := newDriver(t, Config{DataDir: dataDir})
	got, err := d.Recover(testCtx(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("Recover = %v, %v; want no task and no error", got, err)
	}
	if err := leftover.Wait(); err == nil {
		t.Errorf("leftover process exited cleanly; want it killed")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale task dir: %v, want it removed", err)
	}
}

func TestConcurrentStartsAndStops(t *testing.T) {
	d := newDriver(t, Config{})
	const n = 8
	errs := make(chan error, 2*n)
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("c-%d", i))
	}
	for _, id := range ids {
		go func() {
			_, err := d.Start(testCtx(t), driver.Task{ID: id, Command: []string{"sleep", "300"},
				PortMappings: []driver.PortMapping{{ContainerPort: 80}}, StopTimeout: 5 * time.Second})
			errs <- err
		}()
	}
	ports := map[int]string{}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	for _, id := range ids {
		st, err := d.Status(testCtx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := ports[st.HostPorts[80]]; dup {
			t.Errorf("%s and %s got the same host port %d", id, other, st.HostPorts[80])
		}
		ports[st.HostPorts[80]] = id
	}
	for _, id := range ids {
		go func() { errs <- d.Stop(testCtx(t), id, 0) }()
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Errorf("Stop: %v", err)
		}
	}
}
