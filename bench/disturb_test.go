package main

import (
	"math"
	"testing"
	"time"
)

func TestOtherCPU(t *testing.T) {
	// Two CPUs, 1000 ticks of wall time between the snapshots (2000 in total).
	before := snapshot{
		sys: SystemCPU{User: 1000, System: 500, Idle: 10000, CPUs: 2},
		procs: map[int]ProcStat{
			10: {PID: 10, Comm: "proxy", UTime: 100, STime: 100},
			20: {PID: 20, Comm: "compile", UTime: 50, STime: 10},
			30: {PID: 30, Comm: "ksoftirqd/0", STime: 5},
			40: {PID: 40, Comm: "old", UTime: 7},
		},
	}
	after := snapshot{
		sys: SystemCPU{User: 1000 + 900, System: 500 + 600, Idle: 10000 + 500, CPUs: 2},
		procs: map[int]ProcStat{
			10: {PID: 10, Comm: "proxy", UTime: 100 + 500, STime: 100 + 300},
			20: {PID: 20, Comm: "compile", UTime: 50 + 200, STime: 10 + 100},
			30: {PID: 30, Comm: "ksoftirqd/0", STime: 5 + 200},
			40: {PID: 40, Comm: "new", UTime: 3, STime: 1}, // pid reused: counted whole
		},
	}
	// Owned user: proxy 500 + wrk 100 = 600; machine user 900, so others' user is 300
	// (compile's 200, the reused pid's 3, and 97 from processes gone by the second snapshot).
	// Others' system: compile 100 + new 1; ksoftirqd is left out. Total 401 ticks over 1000.
	cores, who := otherCPU(before, after, []int{10}, 100*tick)
	if math.Abs(cores-0.401) > 1e-9 {
		t.Errorf("otherCPU() cores = %v, want 0.401", cores)
	}
	if want := "compile(20) 0.30, exited processes 0.10, new(40) 0.00"; who != want {
		t.Errorf("otherCPU() who = %q, want %q", who, want)
	}
	// Time stolen by the hypervisor disturbs a run like another process.
	stolen := after
	stolen.sys.Steal += 250
	stolen.sys.Idle -= 250
	cores, who = otherCPU(before, stolen, []int{10}, 100*tick)
	if math.Abs(cores-0.651) > 1e-9 {
		t.Errorf("otherCPU(with steal) cores = %v, want 0.651", cores)
	}
	if want := "compile(20) 0.30, hypervisor steal 0.25, exited processes 0.10"; who != want {
		t.Errorf("otherCPU(with steal) who = %q, want %q", who, want)
	}
	if cores, _ := otherCPU(after, after, nil, 0); cores != 0 {
		t.Errorf("otherCPU(no time) = %v, want 0", cores)
	}
	// Owned processes using more user time than the machine recorded never
	// make others' share negative.
	cores, _ = otherCPU(before, after, []int{10, 20, 40}, time.Hour)
	if cores < 0 {
		t.Errorf("otherCPU(all owned) = %v, want >= 0", cores)
	}
}
