package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the tick counts in /proc/stat and /proc/PID/stat:
// the kernel exports USER_HZ, which is 100 on every Linux architecture Go supports.
const userHZ = 100

// tick is the duration of one USER_HZ tick.
const tick = time.Second / userHZ

// ProcStat is the part of /proc/PID/stat the harness uses.
type ProcStat struct {
	PID, PPID int
	// Comm is the executable name, without the parentheses.
	Comm string
	// UTime and STime are user and system CPU time in USER_HZ ticks.
	UTime, STime uint64
}

// ParseProcStat reads one /proc/PID/stat line. The command name may hold
// spaces and parentheses, so fields are counted after the last ')'.
func ParseProcStat(b []byte) (ProcStat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return ProcStat{}, errors.New("bench: parse proc stat: no command name")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return ProcStat{}, fmt.Errorf("bench: parse proc stat: pid: %w", err)
	}
	// After ')': state(3) ppid(4) ... utime(14) stime(15); index 0 is field 3.
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("bench: parse proc stat: %d fields after command, want at least 13", len(f))
	}
	s := ProcStat{PID: pid, Comm: string(b[open+1 : closing])}
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return ProcStat{}, fmt.Errorf("bench: parse proc stat: ppid: %w", err)
	}
	if s.UTime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return ProcStat{}, fmt.Errorf("bench: parse proc stat: utime: %w", err)
	}
	if s.STime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return ProcStat{}, fmt.Errorf("bench: parse proc stat: stime: %w", err)
	}
	return s, nil
}

// Memory is a process's resident set from /proc/PID/status, in bytes.
type Memory struct {
	// RSS is VmRSS, the current resident set.
	RSS int64
	// HWM is VmHWM, the peak resident set since the process started.
	HWM int64
}

// ParseProcStatus reads VmRSS and VmHWM (kB) from a /proc/PID/status file.
func ParseProcStatus(b []byte) (Memory, error) {
	var m Memory
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("bench: parse proc status: %s: bad value %q", key, val)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return Memory{}, fmt.Errorf("bench: parse proc status: %s: bad value %q", key, val)
		}
		if key == "VmRSS" {
			m.RSS, haveRSS = kb*1024, true
		} else {
			m.HWM, haveHWM = kb*1024, true
		}
	}
	if !haveRSS || !haveHWM {
		return Memory{}, errors.New("bench: parse proc status: VmRSS or VmHWM missing")
	}
	return m, nil
}

// SystemCPU is the aggregate "cpu" line of /proc/stat, in USER_HZ ticks.
type SystemCPU struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
	// CPUs is the number of per-CPU lines that follow.
	CPUs int
}

// Total is the sum of every field: CPUs times the wall time since boot.
func (c SystemCPU) Total() uint64 {
	return c.User + c.Nice + c.System + c.Idle + c.IOWait + c.IRQ + c.SoftIRQ + c.Steal
}

// ParseSystemCPU reads the first ("cpu ") line of /proc/stat.
func ParseSystemCPU(b []byte) (SystemCPU, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return SystemCPU{}, errors.New("bench: parse /proc/stat: no aggregate cpu line")
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return SystemCPU{}, fmt.Errorf("bench: parse /proc/stat: field %d: %w", i+1, err)
		}
		v[i] = n
	}
	c := SystemCPU{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], 0}
	for l := range strings.Lines(string(b)) {
		if strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			c.CPUs++
		}
	}
	if c.CPUs == 0 {
		return SystemCPU{}, errors.New("bench: parse /proc/stat: no per-cpu lines")
	}
	return c, nil
}

// readProcStat reads /proc/PID/stat.
func readProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, fmt.Errorf("bench: read proc stat: %w", err)
	}
	return ParseProcStat(b)
}

// readMemory reads /proc/PID/status.
func readMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("bench: read proc status: %w", err)
	}
	return ParseProcStatus(b)
}

// readSystemCPU reads the aggregate line of /proc/stat.
func readSystemCPU() (SystemCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return SystemCPU{}, fmt.Errorf("bench: read /proc/stat: %w", err)
	}
	return ParseSystemCPU(b)
}

// allProcs reads /proc/*/stat for every live process; processes that exit
// while it reads are skipped.
func allProcs() map[int]ProcStat {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	out := make(map[int]ProcStat, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if s, err := ParseProcStat(b); err == nil {
			out[s.PID] = s
		}
	}
	return out
}

// descendants returns root and every process below it in procs.
func descendants(procs map[int]ProcStat, root int) []int {
	children := make(map[int][]int)
	for _, s := range procs {
		children[s.PPID] = append(children[s.PPID], s.PID)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// treeCPU returns the CPU ticks used so far by the processes pids.
func treeCPU(procs map[int]ProcStat, pids []int) uint64 {
	var t uint64
	for _, p := range pids {
		if s, ok := procs[p]; ok {
			t += s.UTime + s.STime
		}
	}
	return t
}

// treeMemory sums the resident sets of pids; processes gone are skipped.
func treeMemory(pids []int) Memory {
	var m Memory
	for _, p := range pids {
		if pm, err := readMemory(p); err == nil {
			m.RSS += pm.RSS
			m.HWM += pm.HWM
		}
	}
	return m
}
