//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests in this file run a three-node scheduling cluster: every node is
// a raft server, an agent with the process driver and a balancer. They run
// the nodes as Docker containers, not as processes on 127.0.0.1, because
// every node binds the same Listener document: one shared port on one
// address. Processes on one host collide on it (the balancer binds without
// SO_REUSEPORT, and a Listener cannot name a different address per node), so
// each node needs its own network namespace and address, which is what a
// container gives, with `docker kill` as the node loss. (Network namespaces
// made by hand would do too, but need root and a bridge on the host; the
// Docker harness already exists.) The scratch image
// holds only the gantry binary, which is all a task needs: the process driver
// runs `gantry echo-server` from it. Like every Docker test, they skip
// without a Docker engine, and fail instead when CI=true.

// schedConfig is a spread service of $COUNT echo-server tasks behind the
// listener public (port 8080 on every node).
const schedConfig = `kind: TaskDefinition
family: echo
driver: process
containerDefinitions:
  - name: web
    command: [gantry, echo-server]
    cpu: 128
    memory: 64
    stopTimeout: 5
    portMappings: [{containerPort: 8080}]
---
kind: Service
serviceName: echo
taskDefinition: echo
desiredCount: $COUNT
placementStrategy: [{type: spread, field: instanceId}]
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
---
kind: TargetGroup
name: web
algorithm: round_robin
healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2, unhealthyThresholdCount: 2}
deregistrationDelaySeconds: 5
---
kind: Listener
name: public
port: 8080
defaultAction: {forward: {targetGroup: web}}
`

// schedNode is one node of a scheduling cluster.
type schedNode struct {
	container
	node     string // --node-name
	hostname string // the container's hostname: echo-server tasks answer as hostname:port
}

func (n schedNode) api() *node       { return &node{api: "http://" + n.ip + ":7070"} }
func (n schedNode) listener() string { return n.ip + ":8080" }

// schedCluster starts n server+agent nodes as containers on a private
// network (n2.. join n1) and waits until all of them see n alive members
// and a raft leader is elected.
func schedCluster(t *testing.T, n int) []schedNode {
	t.Helper()
	needBinary(t)
	image := gantryImage(t)
	network := dockerNet(t)
	suffix := randomName()
	var nodes []schedNode
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		// --data-dir: a scratch image has no /tmp for the process
		// driver's task directories.
		args := []string{"server", "--server", "--bootstrap-expect", fmt.Sprint(n), "--driver", "process",
			"--node-name", name, "--gossip-addr", "0.0.0.0:7946", "--api-addr", "0.0.0.0:7070",
			"--gossip-profile", "test", "--docker=false", "--data-dir", "/data"}
		if i > 1 {
			args = append(args, "--join", nodes[0].ip+":7946")
		}
		c := runContainer(t, image, network, name+"-"+suffix, nil, args...)
		nodes = append(nodes, schedNode{container: c, node: name,
			hostname: docker(t, "inspect", "-f", "{{.Config.Hostname}}", c.name)})
	}
	for _, sn := range nodes {
		eventually(t, 60*time.Second, fmt.Sprintf("%d members alive on %s", n, sn.node), func() bool {
			r := cli(t, sn.api(), "get", "nodes")
			return r.code == 0 && strings.Count(r.stdout, "alive") == n
		})
	}
	schedLeader(t, nodes)
	return nodes
}

// schedLeader returns the index of the raft leader among nodes (each asked
// for its gantry_store_raft_leader metric).
func schedLeader(t *testing.T, nodes []schedNode) int {
	t.Helper()
	leader := -1
	eventually(t, 30*time.Second, "a raft leader", func() bool {
		for i, n := range nodes {
			r, err := do(http.MethodGet, n.api().api+"/metrics", "", nil)
			if err == nil && strings.Contains(r.body, "gantry_store_raft_leader 1") {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// schedApply applies the scheduling config with count tasks through n,
// retrying while the cluster has no leader to take the write.
func schedApply(t *testing.T, n schedNode, count int) {
	t.Helper()
	file := writeFile(t, t.TempDir(), "sched.yaml", render(schedConfig, map[string]string{"COUNT": fmt.Sprint(count)}))
	var last string
	if !poll(60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, gantryBin, "apply", "-f", file, "--api", n.api().api)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		last = string(out)
		return err == nil
	}) {
		t.Fatalf("apply through %s failed:\n%s", n.node, last)
	}
}

// schedTask is the part of a task the tests look at.
type schedTask struct {
	ID            string `json:"id"`
	Node          string `json:"node"`
	DesiredStatus string `json:"desiredStatus"`
	LastStatus    string `json:"lastStatus"`
}

// schedTasks lists the tasks of service echo as n's replica has them.
func schedTasks(n schedNode) ([]schedTask, error) {
	r, err := do(http.MethodGet, n.api().api+"/v1/tasks?service=echo", "", nil)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/tasks: %d %s", r.status, r.body)
	}
	var out struct {
		Items []schedTask `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		return nil, fmt.Errorf("GET /v1/tasks: %w in %s", err, r.body)
	}
	return out.Items, nil
}

// runningByNode counts the tasks that are RUNNING and meant to stay so, per node.
func runningByNode(ts []schedTask) map[string]int {
	out := map[string]int{}
	for _, t := range ts {
		if t.LastStatus == "RUNNING" && t.DesiredStatus == "RUNNING" {
			out[t.Node]++
		}
	}
	return out
}

// liveOn counts the tasks on node that have not stopped.
func liveOn(ts []schedTask, node string) int {
	n := 0
	for _, t := range ts {
		if t.Node == node && t.LastStatus != "STOPPED" {
			n++
		}
	}
	return n
}

// describeTasks is a one-line view of ts for failures.
func describeTasks(ts []schedTask) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "[%s on %s: %s->%s] ", t.ID, t.Node, t.LastStatus, t.DesiredStatus)
	}
	return b.String()
}

// waitSpread waits until count tasks are RUNNING as n sees them, on exactly
// the nodes named in on, as evenly as spread places them (at most one more
// on one node than on another).
func waitSpread(t *testing.T, n schedNode, count int, on []string, d time.Duration) {
	t.Helper()
	var last []schedTask
	ok := poll(d, func() bool {
		ts, err := schedTasks(n)
		if err != nil {
			return false
		}
		last = ts
		by := runningByNode(ts)
		total := 0
		for _, c := range by {
			total += c
		}
		if total != count || len(by) != len(on) {
			return false
		}
		lo, hi := count, 0
		for _, name := range on {
			c, ok := by[name]
			if !ok {
				return false
			}
			lo, hi = min(lo, c), max(hi, c)
		}
		return hi-lo <= 1
	})
	if !ok {
		t.Fatalf("%d tasks RUNNING spread over %v (as %s sees them): not within %v; tasks: %s",
			count, on, n.node, d, describeTasks(last))
	}
}

// distinctServers sends GETs through addr and reports whether window
// consecutive ones were all answered 200 by count distinct echo servers,
// none of them on a host in avoid.
func distinctServers(addr string, window, count int, avoid ...string) bool {
	seen := map[string]bool{}
	for range window {
		r, err := do(http.MethodGet, "http://"+addr+"/", "", nil)
		if err != nil || r.status != http.StatusOK {
			return false
		}
		s := r.server()
		for _, a := range avoid {
			if strings.HasPrefix(s, a+":") {
				return false
			}
		}
		seen[s] = true
	}
	return len(seen) == count
}

// TestClusterNodeLossReschedules: three nodes run a spread service of three
// tasks, one on each. When a node is killed (SIGKILL of its container: no
// leave, no drain), the tasks it ran are replaced on the two survivors and
// the survivors' listeners answer from three live tasks again. The follower
// case loses an agent; the leader case also loses the raft leader, whose
// successor's controller must do the replacing.
func TestClusterNodeLossReschedules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leader bool
	}{
		{"follower", false},
		{"leader", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := schedCluster(t, 3)
			schedApply(t, nodes[0], 3)
			all := []string{"n1", "n2", "n3"}
			waitSpread(t, nodes[0], 3, all, 60*time.Second)
			for _, n := range nodes {
				eventually(t, 30*time.Second, "three task servers answer through "+n.node, func() bool {
					return distinctServers(n.listener(), 9, 3)
				})
			}

			leader := schedLeader(t, nodes)
			victim := (leader + 1) % len(nodes)
			if tc.leader {
				victim = leader
			}
			dead := nodes[victim]
			survivors := slices.Delete(slices.Clone(nodes), victim, victim+1)
			t.Logf("raft leader %s; killing %s", nodes[leader].node, dead.node)

			// A load through a survivor across the loss, for the log only.
			// Until gossip declares the node dead (about a second with the
			// test profile) its tasks stay targets, and a killed
			// container's address may drop SYNs silently: a request sent
			// there waits for the group's connect timeout (10 s by
			// default) before its retry on another target, and the load's
			// own 10 s timeout can fire first (seen: 4 timeouts in 1 run
			// of 9, none in the others).
			l := startLoad(t, survivors[0].listener(), "/", 4)
			l.waitRequests(t, 100)
			killed := time.Now()
			docker(t, "kill", dead.name)
			var on []string
			for _, s := range survivors {
				on = append(on, s.node)
			}
			waitSpread(t, survivors[0], 3, on, 60*time.Second)
			tasksBack := time.Since(killed)
			if tc.leader {
				t.Logf("new raft leader %s", survivors[schedLeader(t, survivors)].node)
			}
			eventually(t, 30*time.Second, "three live task servers answer through "+survivors[0].node, func() bool {
				return distinctServers(survivors[0].listener(), 9, 3, dead.hostname)
			})
			t.Logf("node loss (%s): tasks back on the survivors after %v; the listener answers from 3 live tasks after %v",
				tc.name, tasksBack.Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond))
			eventually(t, 30*time.Second, "three live task servers answer through "+survivors[1].node, func() bool {
				return distinctServers(survivors[1].listener(), 9, 3, dead.hostname)
			})
			l.stop()
			t.Logf("load through %s across the loss: %s", survivors[0].node, l.summary())
			ts, err := schedTasks(survivors[1])
			if err != nil {
				t.Fatal(err)
			}
			if by := runningByNode(ts); by[dead.node] != 0 {
				t.Errorf("%s still has RUNNING tasks on the dead node %s: %s", survivors[1].node, dead.node, describeTasks(ts))
			}
			// No agent reports for a dead node: the leader records its
			// tasks STOPPED (lost) itself.
			eventually(t, 15*time.Second, "the dead node's task recorded STOPPED", func() bool {
				ts, err := schedTasks(survivors[1])
				if err != nil {
					return false
				}
				seen := false
				for _, task := range ts {
					if task.Node == dead.node {
						if task.LastStatus != "STOPPED" {
							return false
						}
						seen = true
					}
				}
				return seen
			})
		})
	}
}

// TestNodeDrainUnderLoad: three nodes run a spread service of three tasks
// under load through two listeners, one on a node that stays active and one
// on the node being drained (which stays a balancer). `gantry node drain`
// moves the node's task to the other two; the replacement starts before the
// old task is drained and stopped, so neither load sees an error or a
// non-2xx answer.
func TestNodeDrainUnderLoad(t *testing.T) {
	nodes := schedCluster(t, 3)
	schedApply(t, nodes[0], 3)
	waitSpread(t, nodes[0], 3, []string{"n1", "n2", "n3"}, 60*time.Second)
	for _, n := range nodes {
		eventually(t, 30*time.Second, "three task servers answer through "+n.node, func() bool {
			return distinctServers(n.listener(), 9, 3)
		})
	}

	drained, active := nodes[2], nodes[0]
	viaActive := startLoad(t, active.listener(), "/", 4)
	viaDrained := startLoad(t, drained.listener(), "/", 4)
	viaActive.waitRequests(t, 200)
	viaDrained.waitRequests(t, 200)

	start := time.Now()
	mustCLI(t, nil, "node", "drain", drained.node, "--api", active.api().api)
	var last []schedTask
	ok := poll(60*time.Second, func() bool {
		ts, err := schedTasks(active)
		if err != nil {
			return false
		}
		last = ts
		by := runningByNode(ts)
		return liveOn(ts, drained.node) == 0 && by["n1"]+by["n2"] == 3 && by["n1"] > 0 && by["n2"] > 0
	})
	if !ok {
		t.Fatalf("drain of %s: no task left on it and 3 RUNNING on n1 and n2: not within 60s; tasks: %s",
			drained.node, describeTasks(last))
	}
	t.Logf("drain of %s done after %v", drained.node, time.Since(start).Round(10*time.Millisecond))
	// Both loads reach the replacement (a fourth server) before they stop,
	// so each ran across the whole move.
	loads := []struct {
		name string
		l    *load
	}{{"through " + active.node, viaActive}, {"through the drained " + drained.node, viaDrained}}
	for _, ld := range loads {
		eventually(t, 20*time.Second, "the replacement answering the load "+ld.name, func() bool {
			ld.l.mu.Lock()
			defer ld.l.mu.Unlock()
			return len(ld.l.servers) >= 4
		})
	}
	viaActive.stop()
	viaDrained.stop()
	for _, ld := range loads {
		t.Run(ld.name, func(t *testing.T) { ld.l.expectClean(t) })
	}
}
