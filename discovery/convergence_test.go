package discovery

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// convergence records when each node first stores each registration.
type convergence struct {
	mu    sync.Mutex
	n     int
	start map[string]time.Time    // address -> Register called
	seen  map[string]map[int]bool // address -> nodes
	took  map[string]time.Duration
}

func (cv *convergence) hook(node int, r Registration) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.seen[r.Address] == nil {
		cv.seen[r.Address] = map[int]bool{}
	}
	cv.seen[r.Address][node] = true
	if _, done := cv.took[r.Address]; !done && len(cv.seen[r.Address]) == cv.n {
		cv.took[r.Address] = time.Since(cv.start[r.Address])
	}
}

func (cv *convergence) done(k int) bool {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return len(cv.took) == k
}

// TestConvergence100 measures, on an in-process cluster of 100 nodes on
// loopback UDP/TCP with the LAN profile, how long a new registration takes to
// reach every node, and the gossip bandwidth per node. Slow (about a minute
// on 2 cores), so it runs only with GANTRY_CONVERGENCE=1:
//
//	GANTRY_CONVERGENCE=1 go test ./discovery -run TestConvergence100 -v
//
// GANTRY_CONVERGENCE_NODES and GANTRY_CONVERGENCE_REGS change the size.
func TestConvergence100(t *testing.T) {
	if os.Getenv("GANTRY_CONVERGENCE") == "" {
		t.Skip("set GANTRY_CONVERGENCE=1 to run the 100-node measurement")
	}
	n, k := envInt("GANTRY_CONVERGENCE_NODES", 100), envInt("GANTRY_CONVERGENCE_REGS", 100)
	cv := &convergence{n: n, start: map[string]time.Time{}, seen: map[string]map[int]bool{}, took: map[string]time.Duration{}}
	quiet := slog.New(slog.DiscardHandler)
	var nodes []*testNode
	began := time.Now()
	for i := range n {
		cfg := Config{NodeName: fmt.Sprintf("n%03d", i), Profile: ProfileLAN, BindAddr: "127.0.0.1:0", Logger: quiet, onApply: func(r Registration) { cv.hook(i, r) }}
		if i > 0 {
			cfg.Join = []string{nodes[0].LocalNode().Addr}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	took := eventually(t, 2*time.Minute, fmt.Sprintf("all %d nodes see %d members", n, n), func() bool {
		for _, nd := range nodes {
			if int(nd.alive.Load()) != n {
				return false
			}
		}
		return true
	})
	t.Logf("%d nodes started and fully joined in %v (membership converged %v after the last start)", n, time.Since(began), took)

	bytesOut := func() uint64 {
		var sum uint64
		for _, nd := range nodes {
			sum += nd.metrics.bytesOut.Load()
		}
		return sum
	}
	idleFrom, idleStart := bytesOut(), time.Now()
	time.Sleep(5 * time.Second) // measuring idle bandwidth over a fixed window
	idleRate := float64(bytesOut()-idleFrom) / time.Since(idleStart).Seconds() / float64(n)

	rng := rand.New(rand.NewPCG(1, 2))
	from, start := bytesOut(), time.Now()
	for i := range k {
		addr := fmt.Sprintf("10.%d.%d.%d:8080", i/65536, i/256%256, i%256)
		cv.mu.Lock()
		cv.start[addr] = time.Now()
		cv.mu.Unlock()
		if err := nodes[rng.IntN(n)].Register(Registration{TargetGroup: "web", Address: addr}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // pacing: 10 registrations per second
	}
	eventually(t, time.Minute, "every registration reached every node", func() bool { return cv.done(k) })
	window := time.Since(start).Seconds()
	busyRate := float64(bytesOut()-from) / window / float64(n)

	cv.mu.Lock()
	var lat []time.Duration
	for _, d := range cv.took {
		lat = append(lat, d)
	}
	cv.mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("%d registrations on %d nodes (LAN profile: gossip 200 ms to 3 nodes, retransmit mult 4): "+
		"time to reach every node: median %v, p90 %v, p99 %v, max %v",
		k, n, q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), q(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	t.Logf("gossip bandwidth sent per node: idle %.0f B/s, with 10 registrations/s %.0f B/s", idleRate, busyRate)
	flaps := 0
	for _, nd := range nodes {
		for _, m := range nd.Members() {
			if m.Since.After(start) {
				flaps++
			}
		}
	}
	// A node wrongly declared dead (CPU starvation) loses its registrations
	// everywhere until it refutes: that, not dissemination, makes the tail.
	t.Logf("member state changes during the measurement (false failure detections under load): %d; load average %s", flaps, loadavg())
	if p99 := q(0.99); p99 > 2*time.Second {
		t.Errorf("p99 %v, goal under 2 s", p99)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
