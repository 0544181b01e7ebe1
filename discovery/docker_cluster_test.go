package discovery

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeState is gossipnode's GET /state.
type nodeState struct {
	Members []Member
	Targets map[string][]Registration
}

func (s nodeState) member(name string) MemberState {
	for _, m := range s.Members {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

func fetchState(ip string) (nodeState, bool) {
	body, err := httpGet("http://" + ip + ":8080/state")
	if err != nil {
		return nodeState{}, false
	}
	var s nodeState
	return s, json.Unmarshal([]byte(body), &s) == nil
}

// gossipImage builds a FROM scratch image around a static gossipnode.
func gossipImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	run(t, 5*time.Minute, "..", []string{"CGO_ENABLED=0"}, "go", "build", "-o", filepath.Join(dir, "gossipnode"), "./discovery/internal/gossipnode")
	df := "FROM scratch\nCOPY gossipnode /gossipnode\nENTRYPOINT [\"/gossipnode\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "gantry-gossipnode-test:" + randHex(4)
	run(t, 2*time.Minute, dir, nil, "docker", "build", "-q", "-t", tag, ".")
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// TestDockerClusterNodeLossAndPartition runs three discovery nodes as
// containers on a private network: a killed node's targets vanish from the
// survivors; a node disconnected from the network and reconnected merges
// back and the registrations converge.
func TestDockerClusterNodeLossAndPartition(t *testing.T) {
	dockerEngine(t)
	image := gossipImage(t)
	subnet := fmt.Sprintf("10.%d.%d", 200+rand.IntN(50), rand.IntN(250))
	network := "gantry-disc-" + randHex(4)
	run(t, time.Minute, "", nil, "docker", "network", "create", "--subnet", subnet+".0/24", network)
	t.Cleanup(func() { exec.Command("docker", "network", "rm", network).Run() })

	names := []string{"a", "b", "c"}
	ips := map[string]string{}
	cnames := map[string]string{}
	for i, n := range names {
		ips[n] = fmt.Sprintf("%s.%d", subnet, 10+i)
		cnames[n] = network + "-" + n
		args := []string{"run", "-d", "--name", cnames[n], "--network", network, "--ip", ips[n], image,
			"--name", n, "--register", fmt.Sprintf("web=%s:9000", ips[n])}
		if i > 0 {
			args = append(args, "--join", ips["a"]+":7946")
		}
		run(t, time.Minute, "", nil, "docker", args...)
		cn := cnames[n]
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", cn).Run() })
	}
	converged := func(on []string, want int, members map[string]MemberState) func() bool {
		return func() bool {
			for _, n := range on {
				s, ok := fetchState(ips[n])
				if !ok || len(s.Targets["web"]) != want {
					return false
				}
				for m, st := range members {
					if s.member(m) != st {
						return false
					}
				}
			}
			return true
		}
	}
	alive := map[string]MemberState{"a": MemberAlive, "b": MemberAlive, "c": MemberAlive}
	eventually(t, time.Minute, "three containers see three registrations", converged(names, 3, alive))

	// Partition: disconnect b, each side declares the other dead.
	run(t, time.Minute, "", nil, "docker", "network", "disconnect", network, cnames["b"])
	took := eventually(t, time.Minute, "a and c declare b dead and drop its target", converged([]string{"a", "c"}, 2, map[string]MemberState{"b": MemberDead}))
	t.Logf("partitioned node declared dead after %v", took)
	run(t, time.Minute, "", nil, "docker", "network", "connect", "--ip", ips["b"], network, cnames["b"])
	took = eventually(t, time.Minute, "reconnected node merges back", converged(names, 3, alive))
	t.Logf("reconnected node merged and registrations converged after %v", took)

	// Crash: kill c, its target vanishes from a and b.
	run(t, time.Minute, "", nil, "docker", "kill", cnames["c"])
	took = eventually(t, time.Minute, "killed node's target gone", converged([]string{"a", "b"}, 2, map[string]MemberState{"c": MemberDead}))
	_, worst := Config{Profile: ProfileTest}.DetectionTime(3)
	t.Logf("killed container's target gone after %v (documented worst %v, plus polling)", took, worst)

	// Graceful stop: SIGTERM makes b leave.
	run(t, time.Minute, "", nil, "docker", "stop", "-t", "10", cnames["b"])
	eventually(t, time.Minute, "stopped node listed as left", converged([]string{"a"}, 1, map[string]MemberState{"b": MemberLeft}))
}
