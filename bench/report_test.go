package main

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// fakeResults is two runs at 64 connections and one at 256 for direct,
// gantry and nginx, with round numbers so ratios are exact.
func fakeResults() *Results {
	mk := func(peer string, conns, run int, rps float64, p99 time.Duration) Sample {
		return Sample{Peer: peer, Conns: conns, Run: run,
			Wrk:      WrkResult{Requests: int64(rps) * 10, RPS: rps, P50: p99 / 4, P99: p99},
			ProxyCPU: time.Duration(rps) * 10 * 20 * time.Microsecond, // 20 µs per request
			Mem:      Memory{RSS: 10e6, HWM: 12e6}}
	}
	return &Results{
		Cfg: Config{Connections: []int{64, 256}, Runs: 2, Duration: 10 * time.Second, Warmup: time.Second,
			Pin: true, ProxyCPU: "0", WrkCPU: "1", DisturbThreshold: 0.1},
		Started:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Host:     "Test CPU & <friends>, 2 CPUs",
		Peers:    []string{peerDirect, peerGantry, peerNginx},
		Versions: map[string]string{"nginx": "nginx/1.22.1", "wrk": "wrk 4.1.0"},
		Samples: []Sample{
			mk(peerDirect, 64, 1, 100000, time.Millisecond), mk(peerGantry, 64, 1, 40000, 3*time.Millisecond), mk(peerNginx, 64, 1, 32000, 3*time.Millisecond),
			mk(peerDirect, 64, 2, 100000, time.Millisecond), mk(peerGantry, 64, 2, 44000, 3*time.Millisecond), mk(peerNginx, 64, 2, 32000, 5*time.Millisecond),
			mk(peerDirect, 256, 1, 90000, 4*time.Millisecond), mk(peerGantry, 256, 1, 36000, 9*time.Millisecond),
		},
		Idle: []IdleMemory{
			{Peer: peerGantry, Conns: 1000, Before: Memory{RSS: 10e6}, After: Memory{RSS: 20e6}, BurstConns: 1000, BurstHWM: 50e6},
			{Peer: peerNginx, Conns: 1000, Err: "bench: nginx: not ready | boom"},
		},
		Skipped: map[string]string{peerCaddy: "not found on PATH"},
	}
}

func TestAggregate(t *testing.T) {
	r := fakeResults()
	cells := Aggregate(r.Samples, r.Peers, r.Cfg.Connections)
	if len(cells) != 5 {
		t.Fatalf("Aggregate() = %d cells, want 5 (nginx has no 256 sample)", len(cells))
	}
	g, ok := find(cells, peerGantry, 64)
	if !ok {
		t.Fatal("find(gantry, 64) = not found")
	}
	if g.RPS != (Summary{42000, 40000, 44000, 2}) {
		t.Errorf("gantry c64 RPS = %+v, want median 42000 of 40000-44000, n 2", g.RPS)
	}
	if math.Abs(g.CPUPerReq.Median-20e-6) > 1e-12 {
		t.Errorf("gantry c64 CPU/request = %v, want 20µs", g.CPUPerReq.Median)
	}
	n, _ := find(cells, peerNginx, 64)
	if n.P99.Median != 0.004 {
		t.Errorf("nginx c64 p99 median = %v, want 0.004", n.P99.Median)
	}
	d, _ := find(cells, peerDirect, 64)
	if !math.IsNaN(d.CPUPerReq.Median) || !math.IsNaN(d.RSS.Median) {
		t.Errorf("direct c64 CPU/RSS = %v/%v, want NaN", d.CPUPerReq.Median, d.RSS.Median)
	}
	if got := medianRPS(cells, peerNginx, 256); !math.IsNaN(got) {
		t.Errorf("medianRPS(nginx, 256) = %v, want NaN", got)
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown(fakeResults())
	for _, want := range []string{
		"## 64 connections",
		"## 256 connections",
		"| gantry | 42.0k (40.0k-44.0k) | 2 | 0.42 | 1.00 | 750.0 µs | 3.00 ms | 0 | 20.0 µs | 10.0 MB / 12.0 MB |",
		"| nginx | 32.0k (32.0k-32.0k) | 2 | 0.32 | 1.31 |",
		"| direct | 100.0k (100.0k-100.0k) | 2 | 1.00 | 0.42 |",
		"| gantry | 36.0k (36.0k-36.0k) | 1 | 0.40 | 1.00 |",
		"does not correct for coordinated omission",
		"| gantry | 1000 | 10.0 MB | 20.0 MB | 10.0 kB | 1000 | 50.0 MB |",
		`| nginx | 1000 | failed: bench: nginx: not ready \| boom |`,
		"- caddy: not found on PATH",
		"Pinned with taskset",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown() lacks %q; got:\n%s", want, md)
		}
	}
	if strings.Contains(md, "nginx | 0.0") {
		t.Errorf("Markdown() shows a row for nginx at 256 connections:\n%s", md)
	}
}

func TestMarkdownDisturbed(t *testing.T) {
	r := fakeResults()
	r.Samples[1].Repeat = true
	r.Samples[2].Repeat, r.Samples[2].Disturbed, r.Samples[2].OtherCPU, r.Samples[2].Disturbers = true, true, 0.5, "compile(9) 0.40"
	md := Markdown(r)
	for _, want := range []string{
		"| gantry | 42.0k (40.0k-44.0k) | 2 (1 repeated, 0 disturbed) |",
		"- gantry, 64 connections, run 1: repeated once, quiet the second time",
		"- nginx, 64 connections, run 1: still disturbed after one repeat (other processes: 0.50 cores; compile(9) 0.40)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown() lacks %q; got:\n%s", want, md)
		}
	}
}

func TestFormatters(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		got, want string
	}{
		{fmtRPS(31812.4), "31.8k"}, {fmtRPS(999), "999"}, {fmtRPS(1.5e6), "1.50M"}, {fmtRPS(nan), "-"},
		{fmtRatio(0.3149), "0.31"}, {fmtRatio(nan), "-"},
		{fmtDuration(21e-6), "21.0 µs"}, {fmtDuration(0.00325), "3.25 ms"}, {fmtDuration(1.2), "1.20 s"}, {fmtDuration(nan), "-"},
		{fmtBytes(800), "800 B"}, {fmtBytes(1300), "1.3 kB"}, {fmtBytes(-2500), "-2.5 kB"}, {fmtBytes(12.3e6), "12.3 MB"}, {fmtBytes(2e9), "2.00 GB"}, {fmtBytes(nan), "-"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("formatter = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0, 0}, {1, 1}, {1.1, 2}, {31800, 50000}, {100000, 100000}, {100001, 200000}, {7, 10},
	}
	for _, tt := range tests {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// parseSVG checks that s is well-formed XML with an <svg> root and counts elements by name.
func parseSVG(t *testing.T, s string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	counts := map[string]int{}
	var root string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, s)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
				if se.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("SVG root namespace = %q, want the SVG namespace", se.Name.Space)
				}
			}
			counts[se.Name.Local]++
		}
	}
	if root != "svg" {
		t.Fatalf("SVG root element = %q, want svg", root)
	}
	return counts
}

func TestSVG(t *testing.T) {
	r := fakeResults()
	r.Peers = append(r.Peers, "a&b<c>") // a hostile name must be escaped
	s := SVG(r)
	counts := parseSVG(t, s)
	// Background + 5 bars (direct, gantry, nginx at 64; direct, gantry at 256) + 4 legend swatches.
	if got, want := counts["rect"], 1+5+4; got != want {
		t.Errorf("SVG has %d rect elements, want %d", got, want)
	}
	for _, want := range []string{"42.0k", "64 connections", "256 connections", "a&amp;b&lt;c&gt;", "Median requests/s"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestSVGEmpty(t *testing.T) {
	parseSVG(t, SVG(&Results{Cfg: Config{Connections: []int{64}}, Peers: []string{peerDirect}}))
	parseSVG(t, SVG(&Results{}))
}
