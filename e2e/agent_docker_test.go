//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDockerDriverRunsService runs a service with the docker driver on a
// --dev node: containers of a locally built FROM scratch image, registered
// in the target group through their published ports; a restarted node
// adopts its running containers instead of starting new ones; a missing
// image stops the task with a CannotPullContainerError reason.
func TestDockerDriverRunsService(t *testing.T) {
	image := gantryImage(t)
	name := "dock-" + randomName()
	t.Cleanup(func() {
		ids, _ := dockerCmd("ps", "-aq", "--filter", "label=gantry.node="+name)
		for _, id := range strings.Fields(ids) {
			_, _ = dockerCmd("rm", "-f", "-v", id)
		}
	})
	dir := t.TempDir()
	listen := freeAddr(t)
	flags := []string{"--node-name", name, "--driver", "docker", "--docker=false", "--data-dir", dir}
	n := startNode(t, nil, flags...)
	doc := fmt.Sprintf(`kind: TaskDefinition
family: dweb
driver: docker
containerDefinitions:
  - name: web
    image: %s
    command: [echo-server]
    memory: 64
    stopTimeout: 5
    portMappings: [{containerPort: 8080}]
    healthCheck: {command: [CMD, /gantry, version], interval: 5, retries: 2}
---
kind: Service
serviceName: dweb
taskDefinition: dweb
desiredCount: 2
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
`, image, port(t, listen))
	mustCLI(t, n, "apply", "-f", writeFile(t, t.TempDir(), "dweb.yaml", doc))

	servers := func() map[string]bool {
		seen := map[string]bool{}
		for range 12 {
			r, err := do(http.MethodGet, "http://"+listen+"/", "", nil)
			if err == nil && r.status == http.StatusOK {
				seen[r.server()] = true
			}
		}
		return seen
	}
	containers := func() []string {
		out, _ := dockerCmd("ps", "-q", "--no-trunc", "--filter", "label=gantry.node="+name, "--filter", "label=gantry.family=dweb")
		ids := strings.Fields(out)
		slices.Sort(ids)
		return ids
	}
	eventually(t, 90*time.Second, "two dweb containers answering through the listener", func() bool {
		return len(servers()) == 2 && strings.Count(cli(t, n, "get", "tasks").stdout, "RUNNING") == 2
	})
	before := containers()
	if len(before) != 2 {
		t.Fatalf("docker ps shows %d dweb containers, want 2: %v", len(before), before)
	}
	tasks := mustCLI(t, n, "get", "tasks", "-o", "json").stdout

	// A restarted node keeps its state (--data-dir) and adopts the
	// containers its previous run left, by their labels.
	n.proc.signal(t, syscall.SIGTERM)
	if code := n.proc.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("gantry server exited with %d on SIGTERM:\n%s", code, n.proc.out.tail(4<<10))
	}
	if got := containers(); !slices.Equal(got, before) {
		t.Fatalf("after the node stopped, containers = %v, want %v still running", got, before)
	}
	n = startNode(t, nil, flags...)
	eventually(t, 60*time.Second, "the adopted containers answering again", func() bool {
		return len(servers()) == 2
	})
	if got := containers(); !slices.Equal(got, before) {
		t.Errorf("after the restart, containers = %v, want the same %v (adopted, not duplicated)", got, before)
	}
	after := mustCLI(t, n, "get", "tasks", "-o", "json").stdout
	for _, id := range taskIDs(tasks) {
		if !strings.Contains(after, id) {
			t.Errorf("task %s is gone after the restart; tasks now:\n%s", id, after)
		}
	}
	if !strings.Contains(n.proc.out.String(), "adopted the task's containers") {
		t.Errorf("the node's log does not mention adopting containers:\n%s", n.proc.out.tail(4<<10))
	}

	// A missing image: the task stops with ECS's reason, in the events.
	ghost := strings.NewReplacer("dweb", "ghost", image, "gantry-e2e-missing:none", "desiredCount: 2", "desiredCount: 1").
		Replace(doc[:strings.Index(doc, "---\nkind: TargetGroup")])
	ghost = strings.Replace(ghost, "loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]\n", "", 1)
	mustCLI(t, n, "apply", "-f", writeFile(t, t.TempDir(), "ghost.yaml", ghost))
	eventually(t, 60*time.Second, "the ghost service's CannotPullContainerError", func() bool {
		return strings.Contains(cli(t, n, "describe", "service", "ghost").stdout, "CannotPullContainerError")
	})
}

// taskIDs picks the "id" values out of `gantry get tasks -o json`.
func taskIDs(js string) []string {
	var out []string
	for _, part := range strings.Split(js, `"id": "`)[1:] {
		if i := strings.IndexByte(part, '"'); i > 0 {
			out = append(out, part[:i])
		}
	}
	return out
}
