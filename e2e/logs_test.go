//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// logsWorkload is one process task whose command writes a known line on
// each stream before it serves.
const logsWorkload = `kind: TaskDefinition
family: chatty
driver: process
containerDefinitions:
  - name: web
    command: [sh, -c, "echo hello-from-task; echo trouble-from-task >&2; exec gantry echo-server"]
    memory: 64
    stopTimeout: 5
    portMappings: [{containerPort: 8080}]
---
kind: Service
serviceName: chatty
taskDefinition: chatty
desiredCount: 1
%s`

// runningTask waits until n lists one RUNNING task and returns its ID.
func runningTask(t *testing.T, n *node) string {
	t.Helper()
	var id string
	eventually(t, 60*time.Second, "one task RUNNING", func() bool {
		var tasks []struct {
			ID         string `json:"id"`
			LastStatus string `json:"lastStatus"`
		}
		if json.Unmarshal([]byte(cli(t, n, "get", "tasks", "-o", "json").stdout), &tasks) != nil {
			return false
		}
		for _, tk := range tasks {
			if tk.LastStatus == "RUNNING" {
				id = tk.ID
			}
		}
		return id != ""
	})
	return id
}

// TestLogs: `gantry logs ID` prints what a --dev node's process task wrote,
// stdout by default and stderr with --stderr; a wrong task or container is
// a clear error.
func TestLogs(t *testing.T) {
	n := startNode(t, nil, "--docker=false")
	mustCLI(t, n, "apply", "-f", writeFile(t, t.TempDir(), "chatty.yaml", fmt.Sprintf(logsWorkload, "")))
	id := runningTask(t, n)

	eventually(t, 10*time.Second, "gantry logs to print the task's stdout", func() bool {
		r := cli(t, n, "logs", id)
		return r.code == 0 && strings.Contains(r.stdout, "hello-from-task") && !strings.Contains(r.stdout, "trouble-from-task")
	})
	if r := mustCLI(t, n, "logs", id, "--container", "web", "--stderr"); !strings.Contains(r.stdout, "trouble-from-task") || strings.Contains(r.stdout, "hello-from-task") {
		t.Errorf("gantry logs %s --stderr printed %q, want the task's stderr alone", id, r.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "0123456789abcdef0123456789abcdef"}, "not found"},
		{[]string{"logs", id, "--container", "db"}, `no such container in the task: "db"`},
	} {
		r := cli(t, n, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("gantry %s = exit %d, stderr %q; want a failure saying %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}

// TestLogsOfAnotherNodesTask: the server's API answers `gantry logs` for a
// task that runs on a client node by asking that node's API.
func TestLogsOfAnotherNodesTask(t *testing.T) {
	seed := freeAddr(t)
	srv := startNode(t, nil, "--node-name", "srv", "--gossip-profile", "test", "--docker=false", "--gossip-addr", seed)
	worker := gantry(t, "gantry server (client)", nil, "server", "--node-name", "worker-1", "--api-addr", freeAddr(t),
		"--gossip-profile", "test", "--docker=false", "--gossip-addr", freeAddr(t), "--join", seed,
		"--driver", "process", "--attr", "pool=workers")
	eventually(t, 20*time.Second, "worker-1 alive", func() bool {
		if worker.exited() {
			t.Fatalf("client node exited: %s", worker.out.tail(4<<10))
		}
		return strings.Count(mustCLI(t, srv, "get", "nodes").stdout, "alive") == 2
	})
	only := `placementConstraints: [{type: memberOf, expression: "attribute:pool == workers"}]` + "\n"
	mustCLI(t, srv, "apply", "-f", writeFile(t, t.TempDir(), "chatty.yaml", fmt.Sprintf(logsWorkload, only)))
	id := runningTask(t, srv)
	if out := mustCLI(t, srv, "get", "tasks").stdout; !strings.Contains(out, "worker-1") {
		t.Fatalf("tasks =\n%s\nwant the task on worker-1", out)
	}
	eventually(t, 10*time.Second, "gantry logs through srv to print the worker's task output", func() bool {
		r := cli(t, srv, "logs", id)
		return r.code == 0 && strings.Contains(r.stdout, "hello-from-task")
	})
}
