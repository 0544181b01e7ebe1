//go:build linux

package process

import (
	"os/exec"
	"syscall"
	"testing"
)

// startLeftover starts a process as a crashed agent would have left it: in
// its own group, marked with the task's id.
func startLeftover(t *testing.T, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.Env = []string{"PATH=/usr/bin:/bin", taskIDEnv + "=" + id}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start leftover: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd
}

func TestKillLeftoversSparesOtherProcesses(t *testing.T) {
	cmd := startLeftover(t, "someone-else")
	if n := killLeftovers(cmd.Process.Pid, "old-task"); n != 0 {
		t.Errorf("killLeftovers killed %d processes of another task", n)
	}
	if gone(cmd.Process.Pid) {
		t.Errorf("the unrelated process is gone")
	}
}

func TestDirName(t *testing.T) {
	for id, want := range map[string]string{
		"web-1":     "t-web-1",
		"..":        "t-..",
		"a/b":       "t-a_2Fb",
		"web:3/abc": "t-web_3A3_2Fabc",
	} {
		if got := dirName(id); got != want {
			t.Errorf("dirName(%q) = %q, want %q", id, got, want)
		}
	}
}
