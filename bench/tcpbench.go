package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// TCPConfig shapes the TCP listener measurement (go run ./bench --tcp).
type TCPConfig struct {
	// Bytes is the size of each transfer, sent and echoed back (default 1 GiB).
	Bytes int64
	// Runs of the transfer per path (direct, gantry), alternating.
	Runs int
	// Conns is how many concurrent connections are held through the listener.
	Conns int
}

// TCPResults is what the TCP measurement found.
type TCPResults struct {
	Cfg            TCPConfig
	Host           string
	Direct, Gantry []float64 // MB/s of each run (bytes moved one way / time)
	// Relay is the same transfer through a bare splice relay (relay.go):
	// the floor of what any user-space proxy costs on this machine.
	Relay []float64
	// HAProxy is the same transfer through HAProxy in TCP mode with
	// splice, when it is installed: a reference for what a proxy costs here.
	HAProxy        []float64
	HeldConns      int
	HeldErrors     int
	HeldFirstError string
	HoldTime       time.Duration
	GantryRSS      int64 // bytes, while the connections were held
}

// Ratio is the median Gantry throughput over the median direct one.
func (r *TCPResults) Ratio() float64 {
	d := median(r.Direct)
	if d == 0 {
		return 0
	}
	return median(r.Gantry) / d
}

// RelayRatio is the median Gantry throughput over the median bare relay's.
func (r *TCPResults) RelayRatio() float64 {
	d := median(r.Relay)
	if d == 0 {
		return 0
	}
	return median(r.Gantry) / d
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runTCP measures a TCP listener: throughput of a byte-exact echoed transfer
// through Gantry against the same transfer straight to the echo server, and
// many concurrent connections held open through Gantry.
func runTCP(ctx context.Context, cfg Config, log io.Writer) (*TCPResults, error) {
	dir, err := os.MkdirTemp("", "gantry-bench-tcp-")
	if err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	h := &harness{cfg: cfg, sup: newSupervisor(dir), dir: dir, bins: map[string]string{}, log: log}
	defer h.sup.stopAll()
	bin, err := h.gantryBinary(ctx)
	if err != nil {
		return nil, err
	}
	help, _ := exec.Command(bin, "server", "--help").CombinedOutput()

	echo, err := startEcho(true)
	if err != nil {
		return nil, err
	}
	defer echo.close()
	held, err := startEcho(false)
	if err != nil {
		return nil, err
	}
	defer held.close()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	holdPort, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "tcp-lb.yaml") // launchPeer writes lb.yaml
	if err := os.WriteFile(conf, []byte(gantryTCPConfig(port, echo.addr(), holdPort, held.addr())), 0o644); err != nil {
		return nil, fmt.Errorf("bench: write gantry config: %w", err)
	}
	l, err := launchPeer(peerGantry, bin, dir, port, nil, gantryOptions{help: string(help), extra: cfg.GantryArgs})
	if err != nil {
		return nil, err
	}
	l.argv[slices.Index(l.argv, "-f")+1] = conf
	l.env = nil // all CPUs: splice(2) runs in the kernel on the callers' threads
	p, err := h.sup.start(peerGantry, "", l.argv, l.env)
	if err != nil {
		return nil, err
	}
	lb := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitEcho(ctx, p, lb, 30*time.Second); err != nil {
		return nil, err
	}

	res := &TCPResults{Cfg: cfg.TCP, Host: hostInfo()}
	type path struct {
		name, addr string
		pid        int
		out        *[]float64
	}
	paths := []path{{"direct", echo.addr(), 0, &res.Direct}, {"gantry", lb, p.pid(), &res.Gantry}}
	rp, raddr, err := startRelay(ctx, h, echo.addr())
	if err != nil {
		return nil, err
	}
	paths = append(paths, path{"relay", raddr, rp.pid(), &res.Relay})
	if hp, addr := startHAProxyTCP(ctx, h, echo.addr(), log); hp != nil {
		paths = append(paths, path{"haproxy", addr, hp.pid(), &res.HAProxy})
	}
	for r := 1; r <= cfg.TCP.Runs; r++ {
		for _, path := range paths {
			before, self := cpuOf(path.pid), cpuOf(os.Getpid())
			mbps, err := transfer(ctx, path.addr, cfg.TCP.Bytes)
			if err != nil {
				return nil, fmt.Errorf("bench: %s transfer run %d: %w", path.name, r, err)
			}
			gcpu, bcpu := cpuOf(path.pid)-before, cpuOf(os.Getpid())-self
			fmt.Fprintf(log, "bench: tcp run %d %-7s %8.0f MB/s (%d bytes echoed byte-exact; CPU: proxy %v, bench+echo %v)\n",
				r, path.name, mbps, cfg.TCP.Bytes, gcpu, bcpu)
			*path.out = append(*path.out, mbps)
		}
	}
	hold(ctx, fmt.Sprintf("127.0.0.1:%d", holdPort), cfg.TCP.Conns, res, p.pid())
	if res.HeldErrors > 0 || p.exited() || res.GantryRSS == 0 {
		fmt.Fprintf(log, "bench: gantry log:\n%s\n", p.logTail())
	}
	fmt.Fprintf(log, "bench: held %d connections through gantry: %d errors in %v\n", res.HeldConns, res.HeldErrors, res.HoldTime.Round(time.Millisecond))
	return res, nil
}

// gantryTCPConfig is two TCP listeners on loopback: one to the splicing
// echo server for throughput, one to the buffered one for held connections.
func gantryTCPConfig(port int, backend string, holdPort int, holdBackend string) string {
	return fmt.Sprintf(`kind: TargetGroup
name: echo
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
---
kind: Listener
name: echo
address: 127.0.0.1
port: %d
protocol: TCP
defaultAction: {forward: {targetGroup: echo}}
---
kind: TargetGroup
name: held
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
---
kind: Listener
name: held
address: 127.0.0.1
port: %d
protocol: TCP
defaultAction: {forward: {targetGroup: held}}
`, backend, port, holdBackend, holdPort)
}

// echoServer copies each connection back to itself with io.Copy, which is
// splice(2) between two *net.TCPConn.
type echoServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// With splice false it echoes through a small buffer instead: io.Copy
// holds a splice pipe (two descriptors) per waiting connection, which the
// held-connections test cannot afford under a 20,000 descriptor limit.
func startEcho(splice bool) (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: echo server: %w", err)
	}
	e := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				if splice {
					_, _ = io.Copy(c, c)
				} else {
					_, _ = io.CopyBuffer(c, struct{ io.Reader }{c}, make([]byte, 4096))
				}
				_ = c.(*net.TCPConn).CloseWrite()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
				_ = c.Close()
			}()
		}
	}()
	return e, nil
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) close() {
	_ = e.ln.Close()
	e.mu.Lock()
	for c := range e.conns {
		_ = c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// waitEcho waits until a connection through addr echoes a line.
func waitEcho(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = echoOnce(addr); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("bench: %s exited before ready (%v): %s", p.name, p.err, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("bench: %s: %w after %v: %v: %s", p.name, errNotReady, timeout, last, p.logTail())
}

func echoOnce(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping" {
		return fmt.Errorf("echo answered %q", buf)
	}
	return nil
}

// chunkSize is the unit of the transfer. Each chunk is one random block with
// its sequence number in the first 8 bytes, so a lost, duplicated or
// reordered chunk is caught as well as a changed byte.
const chunkSize = 1 << 20

// transfer sends n bytes to addr while reading the echo back, checks every
// byte, and returns the throughput in MB/s (n / elapsed).
func transfer(ctx context.Context, addr string, n int64) (float64, error) {
	block := make([]byte, chunkSize)
	_, _ = rand.Read(block)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		out := slices.Clone(block)
		var err error
		for sent, seq := int64(0), uint64(0); sent < n && err == nil; seq++ {
			binary.BigEndian.PutUint64(out, seq)
			k := min(int64(chunkSize), n-sent)
			_, err = c.Write(out[:k])
			sent += k
		}
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	in := make([]byte, chunkSize)
	want := slices.Clone(block)
	var got int64
	for seq := uint64(0); got < n; seq++ {
		k := min(int64(chunkSize), n-got)
		if _, err := io.ReadFull(c, in[:k]); err != nil {
			return 0, fmt.Errorf("after %d bytes: %w", got, err)
		}
		binary.BigEndian.PutUint64(want, seq)
		if !bytes.Equal(in[:k], want[:k]) {
			return 0, fmt.Errorf("chunk %d (at byte %d) differs from what was sent", seq, got)
		}
		got += k
	}
	if extra, err := io.Copy(io.Discard, c); err != nil || extra != 0 {
		return 0, fmt.Errorf("after the echo: %d extra bytes, %v", extra, err)
	}
	el := time.Since(start)
	if err := <-werr; err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	return float64(n) / el.Seconds() / 1e6, nil
}

// hold opens conns connections through addr, checks an echo on each while
// all are open, reads gantry's RSS, and closes them.
func hold(ctx context.Context, addr string, conns int, res *TCPResults, pid int) {
	start := time.Now()
	cs := make([]net.Conn, conns)
	var errs atomic.Int64
	var first atomic.Pointer[string]
	fail := func(err error) {
		errs.Add(1)
		s := err.Error()
		first.CompareAndSwap(nil, &s)
	}
	defer func() {
		for _, c := range cs {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	// Dial with bounded parallelism so the accept queue never overflows.
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range cs {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				fail(err)
				return
			}
			cs[i] = c
			if err := echoOn(c, fmt.Sprintf("hello %d\n", i)); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	// Every connection is open now: check each again.
	for i, c := range cs {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := echoOn(c, fmt.Sprintf("again %d\n", i)); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	res.GantryRSS = rssOf(pid)
	res.HoldTime = time.Since(start)
	for _, c := range cs {
		if c != nil {
			res.HeldConns++
		}
	}
	res.HeldErrors = int(errs.Load())
	if p := first.Load(); p != nil {
		res.HeldFirstError = *p
	}
}

func echoOn(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo differs")
	}
	return nil
}

// cpuOf is the user+system CPU time pid has used so far; 0 if unknown.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: utime and stime are the 12th and 13th of them.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var u, s int64
	_, _ = fmt.Sscan(f[11], &u)
	_, _ = fmt.Sscan(f[12], &s)
	return time.Duration(u+s) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// rssOf reads VmRSS of pid in bytes; 0 if unknown.
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// TCPMarkdown reports the TCP measurement.
func TCPMarkdown(r *TCPResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Gantry TCP listener\n\nHost: %s\n\n", r.Host)
	fmt.Fprintf(&b, "## Throughput\n\n%d bytes sent through one connection and echoed back byte-exact, %d runs per path, alternating.\n\n", r.Cfg.Bytes, len(r.Direct))
	fmt.Fprintf(&b, "| path | median MB/s | runs (MB/s) |\n|---|---|---|\n")
	for _, row := range []struct {
		name string
		xs   []float64
	}{{"direct loopback", r.Direct}, {"through gantry", r.Gantry},
		{"through a bare splice relay (reference)", r.Relay}, {"through haproxy (reference)", r.HAProxy}} {
		if len(row.xs) == 0 {
			continue
		}
		runs := make([]string, len(row.xs))
		for i, x := range row.xs {
			runs[i] = fmt.Sprintf("%.0f", x)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s |\n", row.name, median(row.xs), strings.Join(runs, ", "))
	}
	fmt.Fprintf(&b, "\nRatio gantry / direct (medians): **%.2f**", r.Ratio())
	if len(r.Relay) > 0 {
		fmt.Fprintf(&b, "; gantry / bare relay: **%.2f**", r.RelayRatio())
	}
	if d := median(r.Direct); len(r.HAProxy) > 0 && d > 0 {
		fmt.Fprintf(&b, "; haproxy / direct: %.2f", median(r.HAProxy)/d)
	}
	b.WriteString("\n\n")
	if len(r.Relay) > 0 {
		b.WriteString("The bare relay is the harness itself joining each connection to the echo server with io.Copy both ways " +
			"(splice(2) through a 1 MiB pipe) and nothing else: what any user-space relay costs here. " +
			"Every byte then crosses two more loopback sockets each way, and that kernel work, not the relay's own, " +
			"is what separates it from the direct path when the machine's CPUs are shared by client, server and proxy.\n\n")
	}
	fmt.Fprintf(&b, "## Concurrent connections\n\n%d connections held open through the listener at once, each echoing twice: %d errors",
		r.HeldConns, r.HeldErrors)
	if r.HeldFirstError != "" {
		fmt.Fprintf(&b, " (first: %s)", r.HeldFirstError)
	}
	fmt.Fprintf(&b, "; gantry RSS %.1f MiB while holding them, %.1f KiB per connection pair; %v.\n",
		float64(r.GantryRSS)/(1<<20), float64(r.GantryRSS)/1024/float64(max(r.HeldConns, 1)), r.HoldTime.Round(time.Millisecond))
	return b.String()
}

// benchmarkTCP runs the TCP measurement and writes tcp-results.md.
func benchmarkTCP(ctx context.Context, cfg Config, log io.Writer) error {
	raiseHardFileLimit(log, 1<<17)
	raiseFileLimit(log)
	res, err := runTCP(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("bench: create out dir: %w", err)
	}
	md := filepath.Join(cfg.Out, "tcp-results.md")
	if err := os.WriteFile(md, []byte(TCPMarkdown(res)), 0o644); err != nil {
		return fmt.Errorf("bench: write tcp-results.md: %w", err)
	}
	fmt.Fprint(log, TCPMarkdown(res))
	fmt.Fprintf(log, "bench: wrote %s\n", md)
	if res.HeldErrors > 0 {
		return fmt.Errorf("bench: %d errors holding %d connections", res.HeldErrors, cfg.TCP.Conns)
	}
	return nil
}

// startRelay starts the bare relay (relay.go) to backend by re-executing
// the harness, on all CPUs like Gantry.
func startRelay(ctx context.Context, h *harness, backend string) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("bench: find own executable: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := h.sup.start("relay", "", []string{self}, []string{relayEnv + "=" + addr + " " + backend})
	if err != nil {
		return nil, "", err
	}
	if err := waitEcho(ctx, p, addr, 10*time.Second); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}

// startHAProxyTCP starts HAProxy as a TCP proxy to backend, if installed;
// nil when it is not (or does not start).
func startHAProxyTCP(ctx context.Context, h *harness, backend string, log io.Writer) (*proc, string) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, ""
	}
	port, err := freePort()
	if err != nil {
		return nil, ""
	}
	conf := filepath.Join(h.dir, "haproxy-tcp.cfg")
	cfg := fmt.Sprintf(`global
    maxconn 4000
defaults
    mode tcp
    option splice-auto
    timeout connect 5s
    timeout client 350s
    timeout server 350s
frontend f
    bind 127.0.0.1:%d
    default_backend b
backend b
    server s1 %s
`, port, backend)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, ""
	}
	p, err := h.sup.start("haproxy", "", []string{bin, "-db", "-f", conf}, nil)
	if err != nil {
		return nil, ""
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitEcho(ctx, p, addr, 10*time.Second); err != nil {
		fmt.Fprintf(log, "bench: haproxy reference skipped: %v\n", err)
		h.sup.stop(p)
		return nil, ""
	}
	return p, addr
}

// raiseHardFileLimit lifts the hard open-file limit to at least n where the
// process may (root): the held connections cost this process two
// descriptors each plus the echo server's splice pipes (two more per
// connection while io.Copy waits), and Gantry two each.
func raiseHardFileLimit(log io.Writer, n uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Max >= n {
		return
	}
	l.Max, l.Cur = n, n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		fmt.Fprintf(log, "bench: hard open-file limit stays below %d: %v\n", n, err)
	}
}
