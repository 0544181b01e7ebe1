package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Sample is one measured wrk run against one peer.
type Sample struct {
	Peer  string
	Conns int
	// Run is the 1-based round the sample belongs to.
	Run int
	Wrk WrkResult
	// ProxyCPU is the CPU time the proxy's processes used during the run.
	ProxyCPU time.Duration
	// Mem is the proxy's resident set at the end of the run (summed over its processes).
	Mem Memory
	// OtherCPU is the CPU used by processes the harness does not own during
	// the run, in cores (1.0 = one core busy for the whole run).
	OtherCPU float64
	// Disturbers names the processes that used the most of OtherCPU.
	Disturbers string
	// Disturbed is true when OtherCPU was over the threshold.
	Disturbed bool
	// Repeat is true when this sample replaced a disturbed one.
	Repeat bool
}

// CPUPerRequest is the proxy CPU time per completed request, or 0 if unknown.
func (s Sample) CPUPerRequest() time.Duration {
	if s.Wrk.Requests <= 0 || s.Peer == peerDirect {
		return 0
	}
	return s.ProxyCPU / time.Duration(s.Wrk.Requests)
}

// IdleMemory is one proxy's memory with idle keep-alive clients.
type IdleMemory struct {
	Peer string
	// Conns is how many idle connections were held.
	Conns int
	// Before is the proxy's memory once ready; After with Conns idle connections.
	Before, After Memory
	// BurstHWM is the proxy's peak resident set after a short wrk burst at BurstConns.
	BurstHWM   int64
	BurstConns int
	// Err says why the measurement failed, if it did.
	Err string
}

// PerConn is the resident set added per idle connection, in bytes.
func (m IdleMemory) PerConn() float64 {
	if m.Conns == 0 || m.Err != "" {
		return 0
	}
	return float64(m.After.RSS-m.Before.RSS) / float64(m.Conns)
}

// Results is everything one invocation measured.
type Results struct {
	Cfg     Config
	Started time.Time
	// Host describes the machine (CPU model, CPU count, kernel).
	Host string
	// Peers is the measured order; direct first.
	Peers    []string
	Versions map[string]string
	Samples  []Sample
	Idle     []IdleMemory
	// Skipped maps a peer to why it was not measured (or stopped being measured).
	Skipped map[string]string
}

// harness is one invocation's running state.
type harness struct {
	cfg      Config
	sup      *supervisor
	dir      string
	wrk      string
	bins     map[string]string
	backends []string
	ownPIDs  []int // backends' processes
	gopt     gantryOptions
	raw      io.Writer
	log      io.Writer
}

// run measures everything cfg asks for and returns the results; it stops
// every process it started before returning.
func run(ctx context.Context, cfg Config, log io.Writer) (*Results, error) {
	dir, err := os.MkdirTemp("", "gantry-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	if cfg.Keep {
		fmt.Fprintf(log, "bench: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("bench: create out dir: %w", err)
	}
	raw, err := os.Create(filepath.Join(cfg.Out, "wrk-raw.txt"))
	if err != nil {
		return nil, fmt.Errorf("bench: create raw output: %w", err)
	}
	defer raw.Close()
	h := &harness{cfg: cfg, sup: newSupervisor(dir), dir: dir, bins: map[string]string{}, raw: raw, log: log}
	defer h.sup.stopAll()

	res := &Results{Cfg: cfg, Started: time.Now(), Host: hostInfo(), Versions: map[string]string{}, Skipped: map[string]string{}}
	if err := h.findTools(ctx, res); err != nil {
		return nil, err
	}
	if err := h.startBackends(ctx); err != nil {
		return nil, err
	}
	res.Peers = append([]string{peerDirect}, h.peerOrder()...)
	for r := 1; r <= cfg.Runs; r++ {
		for _, c := range cfg.Connections {
			for _, p := range res.Peers {
				if _, skip := res.Skipped[p]; skip {
					continue
				}
				s, err := h.measureWithRepeat(ctx, p, c, r)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					fmt.Fprintf(log, "bench: %s dropped: %v\n", p, err)
					res.Skipped[p] = err.Error()
					continue
				}
				res.Samples = append(res.Samples, s)
			}
		}
	}
	if cfg.IdleConns > 0 {
		for _, p := range res.Peers[1:] {
			if _, skip := res.Skipped[p]; skip {
				continue
			}
			m := h.measureIdle(ctx, p)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			res.Idle = append(res.Idle, m)
		}
	}
	return res, nil
}

// peerOrder is the proxies to measure: the requested ones that were found.
func (h *harness) peerOrder() []string {
	var out []string
	for _, p := range proxyPeers {
		if _, ok := h.bins[p]; ok {
			out = append(out, p)
		}
	}
	return out
}

// findTools locates wrk, taskset and the peers; a missing requested peer is
// recorded as skipped, a missing wrk is fatal.
func (h *harness) findTools(ctx context.Context, res *Results) error {
	var err error
	if h.wrk, err = exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("bench: find wrk: %w (install it with your package manager)", err)
	}
	res.Versions["wrk"] = toolVersion(h.wrk, "-v")
	if rev, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		res.Versions["source commit"] = strings.TrimSpace(string(rev))
	}
	if h.cfg.Pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("bench: find taskset (or pass --pin=false): %w", err)
		}
	}
	for _, p := range h.cfg.Peers {
		switch p {
		case peerGantry:
			bin, err := h.gantryBinary(ctx)
			if err != nil {
				res.Skipped[p] = err.Error()
				fmt.Fprintf(h.log, "bench: skipping gantry: %v\n", err)
				continue
			}
			h.bins[p] = bin
			res.Versions[p] = toolVersion(bin, "version")
			help, _ := exec.Command(bin, "server", "--help").CombinedOutput()
			h.gopt = gantryOptions{help: string(help), extra: h.cfg.GantryArgs}
		default:
			bin, err := exec.LookPath(p)
			if err != nil {
				res.Skipped[p] = "not found on PATH"
				fmt.Fprintf(h.log, "bench: skipping %s: not found on PATH\n", p)
				continue
			}
			h.bins[p] = bin
			res.Versions[p] = toolVersion(bin, map[string]string{peerNginx: "-v", peerHAProxy: "-v", peerCaddy: "version"}[p])
		}
	}
	return nil
}

// gantryBinary returns --gantry, or builds ./cmd/gantry of the enclosing module.
func (h *harness) gantryBinary(ctx context.Context) (string, error) {
	if h.cfg.Gantry != "" {
		return filepath.Abs(h.cfg.Gantry)
	}
	out := filepath.Join(h.dir, "gantry")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/gantrylb/gantry/cmd/gantry")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: build gantry: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// startBackends starts the two fixed-body backends by re-executing the harness.
func (h *harness) startBackends(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find own executable: %w", err)
	}
	for i := range 2 {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p, err := h.sup.start(fmt.Sprintf("backend%d", i+1), h.proxyCPU(), []string{self},
			[]string{backendEnv + "=" + addr, "GOMAXPROCS=1"})
		if err != nil {
			return err
		}
		if err := waitReady(ctx, p, addr, 10*time.Second); err != nil {
			return err
		}
		h.backends = append(h.backends, addr)
		h.ownPIDs = append(h.ownPIDs, p.pid())
	}
	return nil
}

func (h *harness) proxyCPU() string {
	if !h.cfg.Pin {
		return ""
	}
	return h.cfg.ProxyCPU
}

func (h *harness) wrkCPU() string {
	if !h.cfg.Pin {
		return ""
	}
	return h.cfg.WrkCPU
}

// running is a peer started for one measurement.
type running struct {
	proc *proc // nil for direct
	addr string
	pids []int // the proxy's process tree; empty for direct
}

// startPeer starts a fresh instance of peer and waits until it proxies.
func (h *harness) startPeer(ctx context.Context, peer string) (*running, error) {
	if peer == peerDirect {
		return &running{addr: h.backends[0]}, nil
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	pdir, err := os.MkdirTemp(h.dir, peer+"-")
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", peer, err)
	}
	l, err := launchPeer(peer, h.bins[peer], pdir, port, h.backends, h.gopt)
	if err != nil {
		return nil, err
	}
	p, err := h.sup.start(peer, h.proxyCPU(), l.argv, l.env)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitReady(ctx, p, addr, 30*time.Second); err != nil {
		h.sup.stop(p)
		return nil, err
	}
	return &running{proc: p, addr: addr, pids: descendants(allProcs(), p.pid())}, nil
}

func (h *harness) stopPeer(r *running) {
	if r.proc != nil {
		h.sup.stop(r.proc)
	}
}

// runWrk runs wrk -t1 against addr and parses its output; the raw text is
// appended to wrk-raw.txt under a header naming the run.
func (h *harness) runWrk(ctx context.Context, label, addr string, conns int, d time.Duration) (WrkResult, *proc, error) {
	argv := []string{h.wrk, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", max(1, int(d.Round(time.Second)/time.Second))),
		"--latency", "http://" + addr + "/"}
	name := "wrk-" + label
	p, err := h.sup.start(name, h.wrkCPU(), argv, nil)
	if err != nil {
		return WrkResult{}, nil, err
	}
	if err := h.sup.wait(ctx, p); err != nil {
		return WrkResult{}, p, fmt.Errorf("bench: wrk %s: %w: %s", label, err, p.logTail())
	}
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		return WrkResult{}, p, fmt.Errorf("bench: wrk %s: %w", label, err)
	}
	_ = os.Remove(p.logPath)
	fmt.Fprintf(h.raw, "### %s\n%s\n", label, out)
	r, err := ParseWrk(out)
	return r, p, err
}

// measureWithRepeat measures once and, if other processes used more CPU than
// the threshold, once more, keeping the second sample.
func (h *harness) measureWithRepeat(ctx context.Context, peer string, conns, run int) (Sample, error) {
	s, err := h.measure(ctx, peer, conns, run)
	if err != nil || !s.Disturbed {
		return s, err
	}
	fmt.Fprintf(h.log, "bench: %s c%d run %d disturbed (%.2f cores: %s), repeating\n", peer, conns, run, s.OtherCPU, s.Disturbers)
	s2, err := h.measure(ctx, peer, conns, run)
	if err != nil {
		return Sample{}, err
	}
	s2.Repeat = true
	return s2, nil
}

// measure starts peer, warms it up, runs wrk and reads /proc around the run.
func (h *harness) measure(ctx context.Context, peer string, conns, run int) (Sample, error) {
	r, err := h.startPeer(ctx, peer)
	if err != nil {
		return Sample{}, err
	}
	defer h.stopPeer(r)
	label := fmt.Sprintf("%s-c%d-r%d", peer, conns, run)
	if _, _, err := h.runWrk(ctx, label+"-warmup", r.addr, conns, h.cfg.Warmup); err != nil {
		return Sample{}, err
	}
	before, err := takeSnapshot()
	if err != nil {
		return Sample{}, err
	}
	w, wp, err := h.runWrk(ctx, label, r.addr, conns, h.cfg.Duration)
	if err != nil {
		return Sample{}, err
	}
	after, err := takeSnapshot()
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Peer: peer, Conns: conns, Run: run, Wrk: w, Mem: treeMemory(r.pids)}
	s.ProxyCPU = time.Duration(treeCPU(after.procs, r.pids)-treeCPU(before.procs, r.pids)) * tick
	owned := slices.Concat(r.pids, h.ownTrees(after.procs), []int{os.Getpid()})
	var wrkUser time.Duration
	if wp != nil && wp.cmd.ProcessState != nil {
		wrkUser = wp.cmd.ProcessState.UserTime()
	}
	s.OtherCPU, s.Disturbers = otherCPU(before, after, owned, wrkUser)
	s.Disturbed = s.OtherCPU > h.cfg.DisturbThreshold
	return s, ctx.Err()
}

// ownTrees lists the backends' process trees.
func (h *harness) ownTrees(procs map[int]ProcStat) []int {
	var out []int
	for _, p := range h.ownPIDs {
		out = append(out, descendants(procs, p)...)
	}
	return out
}

// measureIdle measures memory per idle keep-alive connection and the peak
// after a burst of BurstConns connections on a fresh instance of peer.
func (h *harness) measureIdle(ctx context.Context, peer string) IdleMemory {
	m := IdleMemory{Peer: peer, Conns: h.cfg.IdleConns, BurstConns: h.cfg.BurstConns}
	fail := func(err error) IdleMemory {
		m.Err = err.Error()
		fmt.Fprintf(h.log, "bench: %s idle memory: %v\n", peer, err)
		return m
	}
	r, err := h.startPeer(ctx, peer)
	if err != nil {
		return fail(err)
	}
	defer h.stopPeer(r)
	m.Before = treeMemory(r.pids)
	conns, err := openIdle(ctx, r.addr, h.cfg.IdleConns)
	if err != nil {
		return fail(err)
	}
	// Let proxies that release per-connection buffers on idle do so: this
	// is a settling interval for the measurement, not a wait for an event.
	settle := time.NewTimer(500 * time.Millisecond)
	select {
	case <-ctx.Done():
	case <-settle.C:
	}
	settle.Stop()
	m.After = treeMemory(descendants(allProcs(), r.proc.pid()))
	conns.close()
	if h.cfg.BurstConns > 0 {
		if _, _, err := h.runWrk(ctx, peer+"-burst", r.addr, h.cfg.BurstConns, h.cfg.BurstDuration); err != nil {
			return fail(err)
		}
		m.BurstHWM = treeMemory(descendants(allProcs(), r.proc.pid())).HWM
	}
	return m
}

// snapshot is the CPU accounting of the whole machine at one instant.
type snapshot struct {
	sys   SystemCPU
	procs map[int]ProcStat
}

func takeSnapshot() (snapshot, error) {
	sys, err := readSystemCPU()
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{sys: sys, procs: allProcs()}, nil
}
