//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClientNodeRunsTasks: a node without a replica of the store (no --dev,
// no --server) runs the tasks placed on it: its agent watches its
// placements through the server's API (blocking query) and reports their
// status there; the server's listener balances over them through the
// registrations gossip carries.
func TestClientNodeRunsTasks(t *testing.T) {
	seed := freeAddr(t)
	srv := startNode(t, nil, "--node-name", "srv", "--gossip-profile", "test", "--docker=false", "--gossip-addr", seed)
	clientAPI := freeAddr(t)
	client := gantry(t, "gantry server (client)", nil, "server", "--node-name", "worker-1", "--api-addr", clientAPI,
		"--gossip-profile", "test", "--docker=false", "--gossip-addr", freeAddr(t), "--join", seed,
		"--driver", "process", "--attr", "pool=workers")
	eventually(t, 20*time.Second, "worker-1 alive with the process driver", func() bool {
		if client.exited() {
			t.Fatalf("client node exited: %s", client.out.tail(4<<10))
		}
		out := mustCLI(t, srv, "get", "nodes").stdout
		return strings.Contains(out, "worker-1") && strings.Count(out, "alive") == 2 && strings.Count(out, " process ") == 2
	})

	listen := freeAddr(t)
	doc := fmt.Sprintf(`kind: TaskDefinition
family: work
driver: process
containerDefinitions:
  - {name: web, command: [gantry, echo-server], memory: 64, stopTimeout: 5, portMappings: [{containerPort: 8080}]}
---
kind: Service
serviceName: work
taskDefinition: work
desiredCount: 2
placementConstraints: [{type: memberOf, expression: "attribute:pool == workers"}]
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
---
kind: TargetGroup
name: web
healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2}
deregistrationDelaySeconds: 10
---
kind: Listener
name: public
address: 127.0.0.1
port: %s
defaultAction: {forward: {targetGroup: web}}
`, port(t, listen))
	mustCLI(t, srv, "apply", "-f", writeFile(t, t.TempDir(), "work.yaml", doc))
	eventually(t, 60*time.Second, "two tasks RUNNING on worker-1 and serving through srv's listener", func() bool {
		out := cli(t, srv, "get", "tasks").stdout
		if strings.Count(out, "RUNNING") != 2 || strings.Count(out, "worker-1") != 2 {
			return false
		}
		seen := map[string]bool{}
		for range 10 {
			if r, err := do(http.MethodGet, "http://"+listen+"/", "", nil); err == nil && r.status == http.StatusOK {
				seen[r.server()] = true
			}
		}
		return len(seen) == 2
	})
	targets := mustCLI(t, srv, "get", "targets", "web").stdout
	if strings.Count(targets, "worker-1") != 2 || !strings.Contains(targets, "task") {
		t.Errorf("srv's targets of web =\n%s\nwant two task targets owned by worker-1", targets)
	}
	// worker-1 has no copy of the groups, so it checks nothing: srv checks
	// its targets (they used to stay "initial", served only because the
	// group failed open).
	eventually(t, 30*time.Second, "worker-1's targets healthy on srv", func() bool {
		healthy := 0
		for _, l := range strings.Split(cli(t, srv, "get", "targets", "web").stdout, "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[2] == "healthy" {
				healthy++
			}
		}
		return healthy == 2
	})

	// Scale in: the client's agent drains through srv before SIGTERM.
	mustCLI(t, srv, "apply", "-f", writeFile(t, t.TempDir(), "work.yaml", strings.Replace(doc, "desiredCount: 2", "desiredCount: 1", 1)))
	eventually(t, 60*time.Second, "one task left", func() bool {
		out := cli(t, srv, "get", "tasks").stdout
		return strings.Count(out, "RUNNING") == 1 && !strings.Contains(out, "DEACTIVATING") && !strings.Contains(out, "STOPPING")
	})
	if !strings.Contains(client.out.String(), "targets drained; stopping the task") {
		t.Errorf("worker-1's log does not show the acknowledged drain:\n%s", client.out.tail(4<<10))
	}
}
