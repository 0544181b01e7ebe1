//go:build linux

package process

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gantrylb/gantry/driver"
)

// Recover reports no task: processes cannot outlive the agent (see the package
// doc). It cleans up after a previous agent that crashed: every process still
// in a recorded task's process group and carrying that task's GANTRY_TASK_ID
// gets SIGKILL, and the task directories the driver does not know are deleted.
// Call it once, before starting tasks.
func (d *Driver) Recover(ctx context.Context) ([]driver.Recovered, error) {
	root := filepath.Join(d.cfg.DataDir, "tasks")
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("driver/process: recover: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("driver/process: recover: %w", err)
		}
		dir := filepath.Join(root, e.Name())
		id, err := os.ReadFile(filepath.Join(dir, "id"))
		if err != nil {
			continue // not a task directory, or one being created
		}
		d.mu.Lock()
		known := d.tasks[string(id)] != nil
		d.mu.Unlock()
		if known {
			continue
		}
		if raw, err := os.ReadFile(filepath.Join(dir, "pgid")); err == nil {
			if pgid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pgid > 1 {
				n := killLeftovers(pgid, string(id))
				if n > 0 {
					d.log.Warn("killed processes of a previous agent's task", "task_id", string(id), "count", n)
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			d.log.Warn("remove stale task dir", "path", dir, "err", err)
		}
	}
	return nil, nil
}

// killLeftovers sends SIGKILL to every process in group pgid whose
// environment marks it as task id, and returns how many it found. The check
// on the environment keeps a reused pid from costing an unrelated process
// its life.
func killLeftovers(pgid int, id string) int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	mark := []byte(taskIDEnv + "=" + id + "\x00")
	n := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", p.Name(), "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, mark...)) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// dirName maps a task id to a directory name: safe characters are kept,
// others are escaped as _XX, and a prefix keeps "." and ".." harmless.
func dirName(id string) string {
	var b strings.Builder
	b.WriteString("t-")
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}
