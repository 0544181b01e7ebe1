package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Markdown renders the results as results.md.
func Markdown(r *Results) string {
	var b strings.Builder
	cfg := r.Cfg
	cells := Aggregate(r.Samples, r.Peers, cfg.Connections)
	fmt.Fprintf(&b, "# Gantry benchmark results\n\n")
	fmt.Fprintf(&b, "- Started %s on %s.\n", r.Started.UTC().Format(time.RFC3339), r.Host)
	if cfg.Pin {
		fmt.Fprintf(&b, "- Pinned with taskset: proxy and both backends on CPU %s, wrk on CPU %s.\n", cfg.ProxyCPU, cfg.WrkCPU)
	} else {
		fmt.Fprintf(&b, "- Not pinned (--pin=false): a second view; pinned runs are the headline.\n")
	}
	fmt.Fprintf(&b, "- `wrk -t1 -cN -d%s --latency` after a %s warm-up; %d run(s) per cell, peers alternated run by run (%s), each peer restarted before its run.\n",
		cfg.Duration, cfg.Warmup, cfg.Runs, strings.Join(r.Peers, " → "))
	fmt.Fprintf(&b, "- Two fasthttp backends (GOMAXPROCS=1) answering a %d-byte body; every proxy keep-alive, round robin, one thread/worker, no access log, each forwarding Host, X-Forwarded-For/-Proto/-Port and X-Request-Id as Gantry does.\n", backendBodyLen)
	if len(r.Versions) > 0 {
		var vs []string
		for _, k := range slices.Sorted(maps.Keys(r.Versions)) {
			vs = append(vs, fmt.Sprintf("%s: `%s`", k, r.Versions[k]))
		}
		fmt.Fprintf(&b, "- Versions: %s.\n", strings.Join(vs, "; "))
	}
	b.WriteString("\nOnly ratios within this one invocation are meaningful: the same machine runs 10-35% slower in some periods.\n")
	for _, c := range cfg.Connections {
		writeTable(&b, cells, r.Peers, c)
	}
	b.WriteString("\nLatency figures come from wrk, which does not correct for coordinated omission: " +
		"p50 and p99 understate what an open-loop client would see under the same load.\n")
	b.WriteString("Each figure is the median over the runs counted in column n (req/s shows min-max too); " +
		"CPU/request is the proxy's user+system time during the run divided by completed requests; " +
		"RSS is VmRSS / VmHWM of the proxy's processes at the end of the run.\n")
	writeIdle(&b, r.Idle)
	writeNotes(&b, r)
	return b.String()
}

// writeTable writes the table of one connection count.
func writeTable(b *strings.Builder, cells []Cell, peers []string, conns int) {
	fmt.Fprintf(b, "\n## %d connections\n\n", conns)
	b.WriteString("| proxy | req/s median (min-max) | n | vs direct | Gantry ÷ this | p50 | p99 | errors | CPU/request | RSS / peak |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	direct := medianRPS(cells, peerDirect, conns)
	gantry := medianRPS(cells, peerGantry, conns)
	for _, p := range peers {
		c, ok := find(cells, p, conns)
		if !ok {
			continue
		}
		n := fmt.Sprint(c.RPS.N)
		if c.Repeats > 0 || c.Disturbed > 0 {
			n += fmt.Sprintf(" (%d repeated, %d disturbed)", c.Repeats, c.Disturbed)
		}
		gantryRatio := fmtRatio(Ratio(gantry, c.RPS.Median))
		if p == peerGantry {
			gantryRatio = "1.00"
		}
		rss := "-"
		if p != peerDirect {
			rss = fmtBytes(c.RSS.Median) + " / " + fmtBytes(c.HWM.Median)
		}
		cpu := "-"
		if p != peerDirect {
			cpu = fmtDuration(c.CPUPerReq.Median)
		}
		fmt.Fprintf(b, "| %s | %s (%s-%s) | %s | %s | %s | %s | %s | %d | %s | %s |\n",
			p, fmtRPS(c.RPS.Median), fmtRPS(c.RPS.Min), fmtRPS(c.RPS.Max), n,
			fmtRatio(Ratio(c.RPS.Median, direct)), gantryRatio,
			fmtDuration(c.P50.Median), fmtDuration(c.P99.Median), c.Errors, cpu, rss)
	}
}

// writeIdle writes the memory-per-idle-connection table.
func writeIdle(b *strings.Builder, idle []IdleMemory) {
	if len(idle) == 0 {
		return
	}
	b.WriteString("\n## Memory\n\n")
	b.WriteString("Idle: a fresh proxy, then N keep-alive client connections that each completed one request; " +
		"per connection = (RSS with them - RSS at start) / N. Peak: VmHWM after a short wrk burst at the burst connection count.\n\n")
	b.WriteString("| proxy | idle connections | RSS at start | RSS with idle connections | per idle connection | burst connections | VmHWM after burst |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, m := range idle {
		if m.Err != "" {
			fmt.Fprintf(b, "| %s | %d | failed: %s | | | | |\n", m.Peer, m.Conns, oneLine(m.Err))
			continue
		}
		hwm := "-"
		if m.BurstConns > 0 {
			hwm = fmtBytes(float64(m.BurstHWM))
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %d | %s |\n", m.Peer, m.Conns,
			fmtBytes(float64(m.Before.RSS)), fmtBytes(float64(m.After.RSS)), fmtBytes(m.PerConn()), m.BurstConns, hwm)
	}
}

// writeNotes lists disturbed runs and skipped peers.
func writeNotes(b *strings.Builder, r *Results) {
	var dist []string
	for _, s := range r.Samples {
		if s.Disturbed || s.Repeat {
			state := "repeated once, quiet the second time"
			if s.Disturbed {
				state = "still disturbed after one repeat"
			}
			dist = append(dist, fmt.Sprintf("- %s, %d connections, run %d: %s (other processes: %.2f cores; %s)",
				s.Peer, s.Conns, s.Run, state, s.OtherCPU, s.Disturbers))
		}
	}
	if len(dist) > 0 {
		fmt.Fprintf(b, "\n## Disturbed runs\n\nA run is disturbed when processes the harness does not own used more than %.2f cores during it.\n\n%s\n",
			r.Cfg.DisturbThreshold, strings.Join(dist, "\n"))
	}
	if len(r.Skipped) > 0 {
		b.WriteString("\n## Skipped\n\n")
		for _, k := range slices.Sorted(maps.Keys(r.Skipped)) {
			fmt.Fprintf(b, "- %s: %s\n", k, oneLine(r.Skipped[k]))
		}
	}
}

// oneLine keeps a multi-line error readable inside a table or list item.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// fmtRPS writes 31812.4 as "31.8k".
func fmtRPS(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// fmtRatio writes a ratio with two decimals, "-" when unknown.
func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// fmtDuration writes seconds as "21 µs", "3.25 ms" or "1.20 s".
func fmtDuration(sec float64) string {
	switch {
	case math.IsNaN(sec):
		return "-"
	case sec < 1e-3:
		return fmt.Sprintf("%.1f µs", sec*1e6)
	case sec < 1:
		return fmt.Sprintf("%.2f ms", sec*1e3)
	}
	return fmt.Sprintf("%.2f s", sec)
}

// fmtBytes writes a byte count in decimal units: "0.8 kB", "12.3 MB".
func fmtBytes(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 1e9:
		return fmt.Sprintf("%.2f GB", v/1e9)
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%.1f MB", v/1e6)
	case math.Abs(v) >= 1e3:
		return fmt.Sprintf("%.1f kB", v/1e3)
	}
	return fmt.Sprintf("%.0f B", v)
}
