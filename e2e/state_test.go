//go:build linux

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevDataDirKeepsState: a --dev node with --data-dir keeps what was
// applied (through its single-voter raft log) across a restart.
func TestDevDataDirKeepsState(t *testing.T) {
	dir := t.TempDir()
	e := startEcho(t, "kept")
	listen := freeAddr(t)
	file := writeFile(t, t.TempDir(), "web.yaml", config(t, listen, "", e))

	n := startNode(t, nil, "--data-dir", dir)
	mustCLI(t, n, "apply", "-f", file)
	n.signal(t, syscall.SIGTERM)
	if code := n.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("gantry server exited %d after SIGTERM", code)
	}

	// No -f this time: the state comes from the data directory alone.
	n2 := startNode(t, nil, "--data-dir", dir)
	out := mustCLI(t, n2, "get", "listeners").stdout
	if !strings.Contains(out, "public") {
		t.Fatalf("after a restart with the same --data-dir, gantry get listeners =\n%s\nwant the listener applied before", out)
	}
	waitOK(t, "http://"+listen+"/", 15*time.Second)
	if r := get(t, "http://"+listen+"/"); r.server() != "kept" {
		t.Errorf("answer from %q, want the echo server kept", r.server())
	}
}

// TestServiceReportsWhyUnplaced: a service applied to a --dev node is
// planned by the scheduler; its task definition wants the docker driver,
// which the node (process driver only) does not offer, and its events say
// so in ECS's words.
func TestServiceReportsWhyUnplaced(t *testing.T) {
	n := startNode(t, nil, "--docker=false")
	doc := `kind: TargetGroup
name: web
---
kind: TaskDefinition
family: web
driver: docker
containerDefinitions:
  - {name: web, image: gantry-echo:none, cpu: 128, memory: 64, portMappings: [{containerPort: 8080}]}
---
kind: Service
serviceName: web
taskDefinition: web
desiredCount: 2
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
`
	out := mustCLI(t, n, "apply", "-f", writeFile(t, t.TempDir(), "svc.yaml", doc)).stdout
	if !strings.Contains(out, "task-definition/web:1 created") || !strings.Contains(out, "service/web created") {
		t.Fatalf("apply printed %q", out)
	}
	eventually(t, 15*time.Second, "the unplaceable event", func() bool {
		d := cli(t, n, "describe", "service", "web").stdout
		return strings.Contains(d, "was unable to place a task") && strings.Contains(d, "does not offer the docker driver")
	})
}
