package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchmarkNginxQuick runs the whole harness in quick mode against
// nginx alone: backends, config, warm-up, wrk, /proc readings, idle-memory
// measurement, report files. It skips when wrk or nginx is not installed.
func TestBenchmarkNginxQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes for about 15 s")
	}
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	out := t.TempDir()
	cfg := Config{
		Peers: []string{peerNginx}, Connections: []int{8}, Runs: 1,
		Duration: time.Second, Warmup: time.Second,
		IdleConns: 50, BurstConns: 50, BurstDuration: time.Second,
		DisturbThreshold: 100, // a loaded test machine must not double the run time
		Out:              out,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := benchmark(ctx, cfg, io.Discard); err != nil {
		t.Fatalf("benchmark() = %v", err)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| direct |", "| nginx |", "## Memory", "coordinated omission"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "## Skipped") || strings.Contains(string(md), "failed:") {
		t.Errorf("results.md reports a failure:\n%s", md)
	}
	svg, err := os.ReadFile(filepath.Join(out, "results.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if counts := parseSVG(t, string(svg)); counts["rect"] != 1+2+2 {
		t.Errorf("results.svg has %d rects, want 5 (background, 2 bars, 2 legend)", counts["rect"])
	}
	raw, err := os.ReadFile(filepath.Join(out, "wrk-raw.txt"))
	if err != nil || !strings.Contains(string(raw), "### nginx-c8-r1\n") {
		t.Errorf("wrk-raw.txt lacks the nginx run (err %v)", err)
	}
}

// TestBenchmarkCancelled checks that a cancelled run returns promptly and
// leaves no process behind (goleak checks goroutines; the backends' pids are
// checked here).
func TestBenchmarkCancelled(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed")
	}
	before := allProcs()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{Peers: nil, Connections: []int{8}, Runs: 1, Duration: 30 * time.Second, Warmup: time.Second, Out: t.TempDir()}
	done := make(chan error, 1)
	go func() { done <- benchmark(ctx, cfg, io.Discard) }()
	// Cancel once wrk is running against the direct backend.
	deadline := time.Now().Add(20 * time.Second)
	for !wrkRunning(before) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling /proc: there is no event to wait on
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("benchmark(cancelled) = nil, want an error")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("benchmark did not return 15 s after cancel")
	}
	for pid, s := range allProcs() {
		if _, old := before[pid]; !old && s.PPID == os.Getpid() && alive(pid) {
			t.Errorf("process %d (%s) started by the harness survived cancellation", pid, s.Comm)
		}
	}
}

// wrkRunning reports whether a wrk process that was not in before is running.
func wrkRunning(before map[int]ProcStat) bool {
	for pid, s := range allProcs() {
		if _, old := before[pid]; !old && s.Comm == "wrk" && s.PPID == os.Getpid() {
			return true
		}
	}
	return false
}

// TestBenchmarkTCPQuick runs the TCP measurement small: Gantry built from
// this tree, the echo server, the bare relay, byte-exact transfers on every
// path and held connections, then checks the report.
func TestBenchmarkTCPQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gantry and moves bytes for about 20 s")
	}
	out := t.TempDir()
	cfg, err := parseFlags([]string{"--tcp", "--tcp-bytes", "16777216", "--tcp-runs", "1", "--tcp-conns", "50", "--out", out}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := benchmarkTCP(ctx, cfg, io.Discard); err != nil {
		t.Fatalf("benchmarkTCP() = %v", err)
	}
	md, err := os.ReadFile(filepath.Join(out, "tcp-results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| direct loopback |", "| through gantry |", "| through a bare splice relay (reference) |",
		"gantry / bare relay: **", "50 connections held open through the listener at once, each echoing twice: 0 errors"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("tcp-results.md lacks %q:\n%s", want, md)
		}
	}
}
