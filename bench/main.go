package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is one invocation's settings; zero values are never used: flags
// carry the defaults and Validate checks the ranges.
type Config struct {
	// Gantry is the gantry binary to measure; empty builds ./cmd/gantry.
	Gantry string
	// GantryArgs are appended to "gantry server --dev ...".
	GantryArgs []string
	// Peers are the proxies to measure besides direct-to-backend, as far as found.
	Peers []string
	// Connections are wrk's -c values, each a column of results.
	Connections []int
	// Runs per peer and connection count; peers alternate within a run.
	Runs int
	// Duration of each measured wrk run; Warmup of the unmeasured one before it.
	Duration, Warmup time.Duration
	// Pin runs the proxy and backends on ProxyCPU and wrk on WrkCPU with taskset.
	Pin              bool
	ProxyCPU, WrkCPU string
	// IdleConns is how many idle keep-alive connections the memory measurement holds; 0 skips it.
	IdleConns int
	// BurstConns and BurstDuration shape the wrk burst read for VmHWM; 0 skips it.
	BurstConns    int
	BurstDuration time.Duration
	// DisturbThreshold is the CPU (in cores) other processes may use during a run before it is repeated.
	DisturbThreshold float64
	// Out is the directory for results.md, results.svg and wrk-raw.txt.
	Out string
	// Keep leaves the temporary directory (configs, logs) in place.
	Keep bool
	// Quick is the smoke-test mode: 1 run of 3 s.
	Quick bool
	// TCPMode measures a TCP listener instead (--tcp); TCP shapes it.
	TCPMode bool
	TCP     TCPConfig
}

// Validate returns every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Runs < 1 {
		errs = append(errs, errors.New("--runs must be at least 1"))
	}
	if len(c.Connections) == 0 {
		errs = append(errs, errors.New("--connections must name at least one count"))
	}
	for _, n := range c.Connections {
		if n < 1 {
			errs = append(errs, fmt.Errorf("--connections: %d is not positive", n))
		}
	}
	if c.Duration < time.Second {
		errs = append(errs, errors.New("--duration must be at least 1s (wrk counts whole seconds)"))
	}
	for _, p := range c.Peers {
		if !slices.Contains(proxyPeers, p) {
			errs = append(errs, fmt.Errorf("--peers: unknown peer %q (known: %s)", p, strings.Join(proxyPeers, ",")))
		}
	}
	if c.TCPMode && (c.TCP.Bytes < 1 || c.TCP.Runs < 1 || c.TCP.Conns < 0) {
		errs = append(errs, errors.New("--tcp-bytes and --tcp-runs must be positive, --tcp-conns not negative"))
	}
	if c.IdleConns < 0 || c.BurstConns < 0 {
		errs = append(errs, errors.New("--idle-conns and --burst-conns must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: config: %w", err)
	}
	return nil
}

func main() {
	if helper, err := runHelper(); helper {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := benchmark
	if cfg.TCPMode {
		run = benchmarkTCP
	}
	if err := run(ctx, cfg, os.Stderr); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("bench: interrupted (every process it started is stopped): %w", err)
		}
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}

// benchmark runs the measurements and writes the report files.
func benchmark(ctx context.Context, cfg Config, log io.Writer) error {
	raiseFileLimit(log)
	res, err := run(ctx, cfg, log)
	if err != nil {
		return err
	}
	md := filepath.Join(cfg.Out, "results.md")
	if err := os.WriteFile(md, []byte(Markdown(res)), 0o644); err != nil {
		return fmt.Errorf("bench: write results.md: %w", err)
	}
	svg := filepath.Join(cfg.Out, "results.svg")
	if err := os.WriteFile(svg, []byte(SVG(res)), 0o644); err != nil {
		return fmt.Errorf("bench: write results.svg: %w", err)
	}
	fmt.Fprintf(log, "bench: wrote %s and %s\n", md, svg)
	return nil
}

// parseFlags reads the command line into a Config.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	var peers, conns, gantryArgs string
	fs.StringVar(&c.Gantry, "gantry", "", "gantry binary to measure (default: go build ./cmd/gantry into a temp dir)")
	fs.StringVar(&gantryArgs, "gantry-args", "", "extra arguments for 'gantry server', space separated")
	fs.StringVar(&peers, "peers", strings.Join(proxyPeers, ","), "proxies to measure besides direct-to-backend (missing ones are skipped)")
	fs.StringVar(&conns, "connections", "64,256", "wrk connection counts, comma separated")
	fs.IntVar(&c.Runs, "runs", 3, "runs per peer and connection count (peers alternate run by run)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured wrk duration per run (whole seconds)")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "unmeasured wrk run before each measured one")
	fs.BoolVar(&c.Pin, "pin", true, "pin proxy and backends to --proxy-cpu and wrk to --wrk-cpu with taskset")
	fs.StringVar(&c.ProxyCPU, "proxy-cpu", "0", "taskset CPU list for the proxy and the backends")
	fs.StringVar(&c.WrkCPU, "wrk-cpu", "1", "taskset CPU list for wrk")
	fs.IntVar(&c.IdleConns, "idle-conns", 1000, "idle keep-alive connections for the memory measurement (0 skips it)")
	fs.IntVar(&c.BurstConns, "burst-conns", 1000, "wrk connections of the burst after which VmHWM is read (0 skips it)")
	fs.DurationVar(&c.BurstDuration, "burst-duration", 2*time.Second, "duration of that burst")
	fs.Float64Var(&c.DisturbThreshold, "disturb-threshold", 0.10, "CPU (cores) other processes may use during a run before it is repeated once")
	fs.StringVar(&c.Out, "out", filepath.Join("bench", "results"), "directory for results.md, results.svg and wrk-raw.txt")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temporary directory with generated configs and logs")
	fs.BoolVar(&c.Quick, "quick", false, "smoke test: 1 run of 3s")
	fs.BoolVar(&c.TCPMode, "tcp", false, "measure a TCP listener (throughput against a direct copy, held connections) instead of HTTP")
	fs.Int64Var(&c.TCP.Bytes, "tcp-bytes", 1<<30, "--tcp: bytes per transfer, echoed back and checked")
	fs.IntVar(&c.TCP.Runs, "tcp-runs", 5, "--tcp: transfers per path (direct, gantry, bare relay, haproxy)")
	fs.IntVar(&c.TCP.Conns, "tcp-conns", 5000, "--tcp: concurrent connections held through the listener")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	c.Peers = splitList(peers)
	c.GantryArgs = strings.Fields(gantryArgs)
	for _, s := range splitList(conns) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Config{}, fmt.Errorf("bench: --connections: %q is not a number", s)
		}
		c.Connections = append(c.Connections, n)
	}
	if c.Quick {
		c.TCP = TCPConfig{Bytes: min(c.TCP.Bytes, 64<<20), Runs: 1, Conns: min(c.TCP.Conns, 200)}
		c.Runs, c.Duration = 1, 3*time.Second
		c.BurstDuration = min(c.BurstDuration, time.Second)
	}
	if c.Pin && runtime.NumCPU() < 2 {
		fmt.Fprintln(stderr, "bench: fewer than 2 CPUs: not pinning")
		c.Pin = false
	}
	return c, c.Validate()
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// raiseFileLimit sets the open-file soft limit to the hard limit. Calling
// Setrlimit explicitly (rather than relying on the runtime's own raise) makes
// children inherit it: wrk and the peers need thousands of descriptors.
func raiseFileLimit(log io.Writer) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		fmt.Fprintf(log, "bench: raise open-file limit: %v\n", err)
	}
}

// toolVersion returns the first line a tool prints for its version flag.
// The exit status is ignored (wrk -v prints its version and exits 1), but a
// tool that does not know the flag says so, and that is reported as unknown.
func toolVersion(bin, arg string) string {
	out, _ := exec.Command(bin, arg).CombinedOutput()
	low := strings.ToLower(string(out))
	if len(out) == 0 || strings.Contains(low, "unknown") || strings.Contains(low, "usage:") && !strings.Contains(low, "copyright") {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// hostInfo describes the CPU model, CPU count and kernel.
func hostInfo() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs, %s", model, runtime.NumCPU(), kernel)
}
