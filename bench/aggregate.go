package main

import "math"

// Cell summarises every sample of one peer at one connection count.
type Cell struct {
	Peer  string
	Conns int
	// RPS is requests per second: median with min-max; RPS.N is the number of runs.
	RPS Summary
	// P50 and P99 are medians over runs of wrk's percentiles, in seconds.
	P50, P99 Summary
	// CPUPerReq is the proxy CPU per request in seconds (NaN for direct).
	CPUPerReq Summary
	// RSS is VmRSS at the end of each run; HWM is VmHWM (bytes).
	RSS, HWM Summary
	// Errors is the total of failed requests over all runs.
	Errors int64
	// Disturbed counts runs still disturbed after their repeat; Repeats counts repeats.
	Disturbed, Repeats int
}

// Aggregate groups samples into cells, one per connection count and peer, in
// the order of conns and peers; combinations with no sample are left out.
func Aggregate(samples []Sample, peers []string, conns []int) []Cell {
	var out []Cell
	for _, c := range conns {
		for _, p := range peers {
			var rps, p50, p99, cpu, rss, hwm []float64
			cell := Cell{Peer: p, Conns: c}
			for _, s := range samples {
				if s.Peer != p || s.Conns != c {
					continue
				}
				rps = append(rps, s.Wrk.RPS)
				p50 = append(p50, s.Wrk.P50.Seconds())
				p99 = append(p99, s.Wrk.P99.Seconds())
				if p == peerDirect {
					cpu, rss, hwm = append(cpu, math.NaN()), append(rss, math.NaN()), append(hwm, math.NaN())
				} else {
					cpu = append(cpu, s.CPUPerRequest().Seconds())
					rss, hwm = append(rss, float64(s.Mem.RSS)), append(hwm, float64(s.Mem.HWM))
				}
				cell.Errors += s.Wrk.Errors()
				if s.Disturbed {
					cell.Disturbed++
				}
				if s.Repeat {
					cell.Repeats++
				}
			}
			if len(rps) == 0 {
				continue
			}
			cell.RPS, cell.P50, cell.P99 = Summarize(rps), Summarize(p50), Summarize(p99)
			cell.CPUPerReq, cell.RSS, cell.HWM = Summarize(cpu), Summarize(rss), Summarize(hwm)
			out = append(out, cell)
		}
	}
	return out
}

// find returns the cell of peer at conns, if any.
func find(cells []Cell, peer string, conns int) (Cell, bool) {
	for _, c := range cells {
		if c.Peer == peer && c.Conns == conns {
			return c, true
		}
	}
	return Cell{}, false
}

// medianRPS is the median req/s of peer at conns, NaN when not measured.
func medianRPS(cells []Cell, peer string, conns int) float64 {
	if c, ok := find(cells, peer, conns); ok {
		return c.RPS.Median
	}
	return math.NaN()
}
