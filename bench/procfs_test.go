package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in   string
		want ProcStat
		ok   bool
	}{
		{"1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 200\n",
			ProcStat{PID: 1234, PPID: 1, Comm: "nginx", UTime: 250, STime: 75}, true},
		{"77 (a (b) c) R 5 77 77 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0\n",
			ProcStat{PID: 77, PPID: 5, Comm: "a (b) c", UTime: 1, STime: 2}, true},
		{"", ProcStat{}, false},
		{"12 (x) S 1 2 3\n", ProcStat{}, false},
		{"x (y) S 1 1 1 0 -1 0 0 0 0 0 1 2 0\n", ProcStat{}, false},
		{"1 (y) S z 1 1 0 -1 0 0 0 0 0 1 2 0\n", ProcStat{}, false},
		{"1 (y) S 1 1 1 0 -1 0 0 0 0 0 -1 2 0\n", ProcStat{}, false},
		{"1 )y( S 1 1 1 0 -1 0 0 0 0 0 1 2 0\n", ProcStat{}, false},
	}
	for _, tt := range tests {
		got, err := ParseProcStat([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseProcStat(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Memory
		ok   bool
	}{
		{"Name:\tnginx\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t1\n", Memory{RSS: 1 << 20, HWM: 2 << 20}, true},
		{"VmRSS:\t1 kB\n", Memory{}, false},
		{"VmRSS:\t1 MB\nVmHWM:\t1 kB\n", Memory{}, false},
		{"VmRSS:\t-1 kB\nVmHWM:\t1 kB\n", Memory{}, false},
		{"VmRSS:\tx kB\nVmHWM:\t1 kB\n", Memory{}, false},
	}
	for _, tt := range tests {
		got, err := ParseProcStatus([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseProcStatus(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseSystemCPU(t *testing.T) {
	tests := []struct {
		in   string
		want SystemCPU
		ok   bool
	}{
		{"cpu  10 1 5 100 2 0 3 4 0 0\ncpu0 5 0 2 50 1 0 1 2 0 0\ncpu1 5 1 3 50 1 0 2 2 0 0\nintr 1\n",
			SystemCPU{User: 10, Nice: 1, System: 5, Idle: 100, IOWait: 2, SoftIRQ: 3, Steal: 4, CPUs: 2}, true},
		{"cpu0 5 0 2 50 1 0 1 2 0 0\n", SystemCPU{}, false},
		{"cpu  1 2 3\n", SystemCPU{}, false},
		{"cpu  1 2 3 4 5 6 7 x\ncpu0 1\n", SystemCPU{}, false},
		{"cpu  1 2 3 4 5 6 7 8\n", SystemCPU{}, false},
	}
	for _, tt := range tests {
		got, err := ParseSystemCPU([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSystemCPU(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if got := (SystemCPU{User: 1, Nice: 2, System: 3, Idle: 4, IOWait: 5, IRQ: 6, SoftIRQ: 7, Steal: 8}).Total(); got != 36 {
		t.Errorf("Total() = %d, want 36", got)
	}
}

func TestDescendants(t *testing.T) {
	procs := map[int]ProcStat{
		1: {PID: 1}, 10: {PID: 10, PPID: 1}, 11: {PID: 11, PPID: 10, UTime: 3, STime: 4},
		12: {PID: 12, PPID: 11, UTime: 1}, 20: {PID: 20, PPID: 1, UTime: 100},
	}
	got := descendants(procs, 10)
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12}) {
		t.Errorf("descendants(10) = %v, want [10 11 12]", got)
	}
	if cpu := treeCPU(procs, got); cpu != 8 {
		t.Errorf("treeCPU = %d, want 8", cpu)
	}
}

func TestReadOwnProcess(t *testing.T) {
	s, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatalf("readProcStat(self) error = %v", err)
	}
	if s.PID != os.Getpid() || s.PPID != os.Getppid() {
		t.Errorf("readProcStat(self) = %+v, want pid %d ppid %d", s, os.Getpid(), os.Getppid())
	}
	m := treeMemory([]int{os.Getpid()})
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("treeMemory(self) = %+v, want 0 < RSS <= HWM", m)
	}
	if _, ok := allProcs()[os.Getpid()]; !ok {
		t.Errorf("allProcs() lacks pid %d", os.Getpid())
	}
	if c, err := readSystemCPU(); err != nil || c.CPUs < 1 {
		t.Errorf("readSystemCPU() = %+v, %v; want at least one CPU", c, err)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 200\n"))
	f.Add([]byte("77 (a (b) c) R 5 77 77 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseProcStat(b)
		if err == nil && strings.ContainsRune(s.Comm, 0) && !strings.ContainsRune(string(b), 0) {
			t.Errorf("ParseProcStat(%q) invented a NUL", b)
		}
	})
}

func FuzzParseProcStatus(f *testing.F) {
	f.Add([]byte("VmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseProcStatus(b)
		if err == nil && (m.RSS < 0 || m.HWM < 0) {
			t.Errorf("ParseProcStatus(%q) = %+v: negative", b, m)
		}
	})
}

func FuzzParseSystemCPU(f *testing.F) {
	f.Add([]byte("cpu  10 1 5 100 2 0 3 4 0 0\ncpu0 5 0 2 50 1 0 1 2 0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseSystemCPU(b)
		if err == nil && c.CPUs < 1 {
			t.Errorf("ParseSystemCPU(%q) = %+v: no CPUs", b, c)
		}
	})
}
