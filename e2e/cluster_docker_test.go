//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// clusterConfig is a listener forwarding to group web, which has no static
// targets: they come from registrations.
const clusterConfig = `kind: TargetGroup
name: web
healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2}
deregistrationDelaySeconds: 1
---
kind: Listener
name: public
address: 0.0.0.0
port: 8080
defaultAction: {forward: {targetGroup: web}}
`

// dockerCluster starts an echo server and n Gantry nodes as containers on a
// private network; node i (from 1) joins node 1.
func dockerCluster(t *testing.T, n int) (network string, echo container, nodes []container) {
	t.Helper()
	image := gantryImage(t)
	network = dockerNet(t)
	suffix := randomName()
	echo = runContainer(t, image, network, "echo-"+suffix, nil, "echo-server", "--addr", "0.0.0.0:9001", "--name", "echo-in-docker")
	for i := 1; i <= n; i++ {
		args := []string{"server", "--node-name", fmt.Sprintf("n%d", i), "--gossip-addr", "0.0.0.0:7946",
			"--gossip-profile", "test", "--docker=false", "-f", "/gantry.yaml"}
		if i > 1 {
			args = append(args, "--join", nodes[0].ip+":7946")
		}
		nodes = append(nodes, runContainer(t, image, network, fmt.Sprintf("n%d-%s", i, suffix),
			map[string]string{"/gantry.yaml": clusterConfig}, args...))
	}
	return network, echo, nodes
}

// gantryIn runs the gantry CLI inside a container (against its own API).
func gantryIn(t *testing.T, c container, args ...string) string {
	t.Helper()
	return docker(t, append([]string{"exec", c.name, "/gantry"}, args...)...)
}

// answers reports whether GET / through node c's listener is answered by
// the echo server.
func answers(c container) bool {
	r, err := do("GET", "http://"+c.ip+":8080/", "", nil)
	return err == nil && r.status == 200 && r.server() == "echo-in-docker"
}

// TestDockerClusterNodeLoss: three nodes in containers; a target registered
// on one is routable through the others, and when that node is killed its
// target leaves the survivors' routing tables.
func TestDockerClusterNodeLoss(t *testing.T) {
	_, echo, nodes := dockerCluster(t, 3)
	eventually(t, 60*time.Second, "three members alive on n3", func() bool {
		out, err := dockerCmd("exec", nodes[2].name, "/gantry", "get", "nodes")
		return err == nil && strings.Count(out, "alive") == 3
	})
	gantryIn(t, nodes[0], "register-targets", "web", echo.ip+":9001")
	for _, n := range nodes[1:] {
		eventually(t, 30*time.Second, "the target registered on n1 answers through "+n.name, func() bool { return answers(n) })
	}
	if out := gantryIn(t, nodes[1], "get", "targets", "web"); !strings.Contains(out, "n1") {
		t.Errorf("n2's view of the target does not name its owner n1:\n%s", out)
	}

	killed := time.Now()
	docker(t, "kill", nodes[0].name)
	for _, n := range nodes[1:] {
		eventually(t, 30*time.Second, "n1's target gone from "+n.name, func() bool {
			r, err := do("GET", "http://"+n.ip+":8080/", "", nil)
			return err == nil && r.status == 503
		})
	}
	t.Logf("n1's target left the survivors' routing %v after docker kill", time.Since(killed).Round(10*time.Millisecond))
	eventually(t, 30*time.Second, "n1 dead in n2's members", func() bool {
		out, err := dockerCmd("exec", nodes[1].name, "/gantry", "get", "nodes")
		return err == nil && strings.Contains(out, "dead")
	})
}

// TestDockerClusterPartitionHeals: a node cut off from the network loses the
// others and their targets; reconnected, it merges back and routes again.
func TestDockerClusterPartitionHeals(t *testing.T) {
	network, echo, nodes := dockerCluster(t, 3)
	eventually(t, 60*time.Second, "three members alive on n1", func() bool {
		out, err := dockerCmd("exec", nodes[0].name, "/gantry", "get", "nodes")
		return err == nil && strings.Count(out, "alive") == 3
	})
	gantryIn(t, nodes[0], "register-targets", "web", echo.ip+":9001")
	eventually(t, 30*time.Second, "the target answers through n3", func() bool { return answers(nodes[2]) })

	docker(t, "network", "disconnect", network, nodes[2].name)
	eventually(t, 30*time.Second, "n3 sees the others dead and drops their target", func() bool {
		out, err := dockerCmd("exec", nodes[2].name, "/gantry", "get", "nodes")
		if err != nil || strings.Count(out, "dead") < 2 {
			return false
		}
		targets, err := dockerCmd("exec", nodes[2].name, "/gantry", "get", "targets", "web")
		return err == nil && !strings.Contains(targets, echo.ip)
	})
	healed := time.Now()
	docker(t, "network", "connect", network, nodes[2].name)
	nodes[2].ip = docker(t, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}", nodes[2].name)
	eventually(t, 60*time.Second, "n3 merged back and routes to n1's target", func() bool {
		out, err := dockerCmd("exec", nodes[2].name, "/gantry", "get", "nodes")
		return err == nil && strings.Count(out, "alive") == 3 && answers(nodes[2])
	})
	t.Logf("converged %v after reconnecting", time.Since(healed).Round(10*time.Millisecond))
}

// TestDockerLabelSidecar follows the README's worked example: a --dev node
// on the host registers a labelled container's published port, routes to
// it, and drops it when the container stops.
func TestDockerLabelSidecar(t *testing.T) {
	image := gantryImage(t)
	e := startEcho(t, "host-echo")
	listen := freeAddr(t)
	n := startNode(t, []string{writeFile(t, t.TempDir(), "web.yaml", config(t, listen, "", e))}, "--docker")
	name := "shop-" + randomName()
	docker(t, "run", "-d", "--name", name, "-p", "127.0.0.1::9000",
		"--label", "gantry.targetGroup=web", "--label", "gantry.port=9000",
		image, "echo-server", "--addr", "0.0.0.0:9000", "--name", name)
	t.Cleanup(func() { _, _ = dockerCmd("rm", "-f", name) })

	eventually(t, 60*time.Second, "the labelled container answers through Gantry", func() bool {
		for range 4 {
			if r, err := do("GET", "http://"+listen+"/", "", nil); err == nil && r.server() == name {
				return true
			}
		}
		return false
	})
	if out := mustCLI(t, n, "get", "targets", "web").stdout; !strings.Contains(out, "docker") {
		t.Errorf("gantry get targets web does not show a docker target:\n%s", out)
	}
	docker(t, "stop", "-t", "1", name)
	eventually(t, 30*time.Second, "the stopped container leaves the group", func() bool {
		out := mustCLI(t, n, "get", "targets", "web").stdout
		return !strings.Contains(out, "docker")
	})
}

// TestDockerRaftServers: three --server nodes form a raft cluster through
// gossip (--bootstrap-expect 3); a write sent to any of them is forwarded to
// the leader and reaches all three; when the leader is killed, the others
// elect a new one and keep taking writes.
func TestDockerRaftServers(t *testing.T) {
	needBinary(t)
	image := gantryImage(t)
	network := dockerNet(t)
	suffix := randomName()
	var nodes []container
	for i := 1; i <= 3; i++ {
		args := []string{"server", "--server", "--bootstrap-expect", "3", "--node-name", fmt.Sprintf("s%d", i),
			"--gossip-addr", "0.0.0.0:7946", "--api-addr", "0.0.0.0:7070", "--gossip-profile", "test", "--docker=false"}
		if i > 1 {
			args = append(args, "--join", nodes[0].ip+":7946")
		}
		nodes = append(nodes, runContainer(t, image, network, fmt.Sprintf("s%d-%s", i, suffix), nil, args...))
	}
	api := func(c container) *node { return &node{api: "http://" + c.ip + ":7070"} }
	dir := t.TempDir()
	apply := func(via container, name string) {
		t.Helper()
		file := writeFile(t, dir, name+".yaml", "kind: TargetGroup\nname: "+name+"\n")
		eventually(t, 60*time.Second, "apply "+name+" through "+via.name, func() bool {
			// Right after the leader's loss a write may time out or fail
			// (the old leader is still named): try again.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, gantryBin, "apply", "-f", file, "--api", api(via).api)
			cmd.Env = cleanEnv()
			return cmd.Run() == nil
		})
	}
	has := func(c container, name string) bool {
		r := cli(t, api(c), "get", "target-groups", name)
		return r.code == 0 && strings.Contains(r.stdout, name)
	}

	apply(nodes[2], "first")
	for _, n := range nodes {
		eventually(t, 30*time.Second, "first replicated to "+n.name, func() bool { return has(n, "first") })
	}

	// Find and kill the leader: the node whose raft leader metric is 1.
	leader := -1
	eventually(t, 30*time.Second, "a leader", func() bool {
		for i, n := range nodes {
			r, err := do("GET", api(n).api+"/metrics", "", nil)
			if err == nil && strings.Contains(r.body, "gantry_store_raft_leader 1") {
				leader = i
				return true
			}
		}
		return false
	})
	docker(t, "kill", nodes[leader].name)
	survivors := append(append([]container{}, nodes[:leader]...), nodes[leader+1:]...)
	apply(survivors[0], "second")
	for _, n := range survivors {
		eventually(t, 30*time.Second, "second replicated to "+n.name, func() bool { return has(n, "second") && has(n, "first") })
	}
}
