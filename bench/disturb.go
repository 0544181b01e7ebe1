package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// otherCPU returns how many cores' worth of CPU the processes outside owned
// used between two snapshots, and the top users among them.
//
// Task system time and /proc/stat's system field disagree about softirq
// time (loopback traffic the benchmark itself causes), so the two are read
// separately: user time of other processes is the machine's user time minus
// the owned processes' (wrkUser is the user time of a wrk that started and
// exited between the snapshots), which also catches processes too short-lived
// to be seen; system time of other processes is summed per process, leaving
// out ksoftirqd, which serves the benchmark's own packets. Time the
// hypervisor stole from the virtual CPUs counts too: on a shared host it
// slows whichever peer it hits, and is invisible in any process's times.
func otherCPU(before, after snapshot, owned []int, wrkUser time.Duration) (cores float64, who string) {
	if after.sys.CPUs == 0 || after.sys.Total() <= before.sys.Total() {
		return 0, ""
	}
	wall := float64(after.sys.Total()-before.sys.Total()) / float64(after.sys.CPUs)
	isOwned := make(map[int]bool, len(owned))
	for _, p := range owned {
		isOwned[p] = true
	}
	ownedUser := float64(wrkUser) / float64(tick)
	type user struct {
		name  string
		ticks uint64
	}
	var others []user
	var otherSys, otherSeenUser float64
	for pid, a := range after.procs {
		b, seen := before.procs[pid]
		if seen && b.Comm != a.Comm {
			seen = false // pid reused by a new process
		}
		du, ds := a.UTime, a.STime
		if seen {
			du, ds = a.UTime-min(a.UTime, b.UTime), a.STime-min(a.STime, b.STime)
		}
		if isOwned[pid] {
			ownedUser += float64(du)
			continue
		}
		if strings.HasPrefix(a.Comm, "ksoftirqd") {
			continue
		}
		otherSys += float64(ds)
		otherSeenUser += float64(du)
		if du+ds > 0 {
			others = append(others, user{fmt.Sprintf("%s(%d)", a.Comm, pid), du + ds})
		}
	}
	sysUser := float64((after.sys.User + after.sys.Nice) - (before.sys.User + before.sys.Nice))
	otherUser := max(0, sysUser-ownedUser)
	steal := float64(after.sys.Steal - min(after.sys.Steal, before.sys.Steal))
	if steal > 0 {
		others = append(others, user{"hypervisor steal", uint64(steal)})
	}
	cores = (otherUser + otherSys + steal) / wall
	// User time nobody alive at the second snapshot accounts for belongs to
	// processes that exited during the run (compilers, test binaries...).
	if exited := otherUser - otherSeenUser; exited > 0 {
		others = append(others, user{"exited processes", uint64(exited)})
	}
	slices.SortFunc(others, func(x, y user) int { return cmp.Compare(y.ticks, x.ticks) })
	var names []string
	for _, o := range others[:min(3, len(others))] {
		names = append(names, fmt.Sprintf("%s %.2f", o.name, float64(o.ticks)/wall))
	}
	return cores, strings.Join(names, ", ")
}
