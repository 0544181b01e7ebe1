//go:build linux

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestNonSchedulerNodeRefusesSchedulerWrites: a node that is neither --dev
// nor a --server runs no scheduler, so a Service or TaskDefinition applied
// to it, or a node drain sent to it, is refused with the reason (each was
// accepted and never acted on); its own listeners and groups still apply.
func TestNonSchedulerNodeRefusesSchedulerWrites(t *testing.T) {
	needBinary(t)
	apiAddr := freeAddr(t)
	p := gantry(t, "gantry server", nil, "server", "--api-addr", apiAddr, "--node-name", "m1",
		"--gossip-addr", freeAddr(t))
	n := &node{proc: p, api: "http://" + apiAddr}
	waitOK(t, n.api+"/healthz", 15*time.Second)
	dir := t.TempDir()

	svc := writeFile(t, dir, "svc.yaml", `kind: TaskDefinition
family: echo
driver: process
containerDefinitions:
  - name: web
    command: [gantry, echo-server]
    memory: 64
    portMappings: [{containerPort: 8080}]
---
kind: Service
serviceName: echo
taskDefinition: echo
desiredCount: 1
`)
	r := cli(t, n, "apply", "-f", svc)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "services and task definitions belong to the scheduler") ||
		!strings.Contains(r.stdout+r.stderr, svc+":1:1:") {
		t.Errorf("apply of a service on a non-scheduler node: exit %d\n%s%s\nwant exit 1 and the located refusal", r.code, r.stdout, r.stderr)
	}
	if r := mustCLI(t, n, "get", "services", "-o", "json"); strings.Contains(r.stdout, `"echo"`) {
		t.Errorf("the refused service was stored:\n%s", r.stdout)
	}
	r = cli(t, n, "node", "drain", "m1")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "node drains belong to the scheduler") {
		t.Errorf("node drain on a non-scheduler node: exit %d\n%s%s\nwant an error", r.code, r.stdout, r.stderr)
	}
	lb := writeFile(t, dir, "lb.yaml", `kind: TargetGroup
name: web
targets: ["127.0.0.1:1"]
healthCheck: {enabled: false}
---
`+listenerYAML("web", port(t, freeAddr(t))))
	if r := cli(t, n, "apply", "-f", lb); r.code != 0 {
		t.Errorf("apply of a listener and group on a non-scheduler node: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
