package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		file string
		want WrkResult
	}{
		{"wrk-ok.txt", WrkResult{
			Requests: 1007563, Elapsed: 10 * time.Second, RPS: 100748.92,
			P50: 601 * time.Microsecond, P75: 672 * time.Microsecond, P90: 760 * time.Microsecond, P99: 1260 * time.Microsecond,
		}},
		{"wrk-errors.txt", WrkResult{
			Requests: 1800000, Elapsed: time.Minute, RPS: 29999.5,
			P50: 12100 * time.Microsecond, P75: 13300 * time.Microsecond, P90: 20500 * time.Microsecond, P99: 1200 * time.Millisecond,
			Non2xx3xx: 42, Read: 12, Write: 3, Timeout: 7,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseWrk(b)
			if err != nil {
				t.Fatalf("ParseWrk(%s) error = %v", tt.file, err)
			}
			if got != tt.want {
				t.Errorf("ParseWrk(%s) = %+v, want %+v", tt.file, got, tt.want)
			}
		})
	}
}

func TestWrkErrors(t *testing.T) {
	r := WrkResult{Non2xx3xx: 1, Connect: 2, Read: 3, Write: 4, Timeout: 5}
	if got := r.Errors(); got != 15 {
		t.Errorf("Errors() = %d, want 15", got)
	}
}

func TestParseWrkRejects(t *testing.T) {
	ok, err := os.ReadFile(filepath.Join("testdata", "wrk-ok.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "missing Requests/sec"},
		{"no rps", strings.Replace(string(ok), "Requests/sec: 100748.92", "", 1), "missing Requests/sec"},
		{"no p99", strings.Replace(string(ok), "99%    1.26ms", "", 1), "missing 99% latency"},
		{"bad unit", strings.Replace(string(ok), "601.00us", "601.00xs", 1), "bad duration"},
		{"bad socket errors", string(ok) + "  Socket errors: connect x, read 0, write 0, timeout 0\n", "socket errors"},
		{"unknown socket counter", string(ok) + "  Socket errors: refused 1\n", "unknown counter"},
		{"connection refused", "unable to connect to 127.0.0.1:1 Connection refused\n", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWrk([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWrk(%q) error = %v, want one containing %q", tt.name, err, tt.wantErr)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"601.00us", 601 * time.Microsecond, true},
		{"1.26ms", 1260 * time.Microsecond, true},
		{"10.00s", 10 * time.Second, true},
		{"1.50m", 90 * time.Second, true},
		{"2.00h", 2 * time.Hour, true},
		{"0.00us", 0, true},
		{"ms", 0, false},
		{"-1.00ms", 0, false},
		{"12", 0, false},
		{"1e99s", 0, false},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseWrk(f *testing.F) {
	for _, name := range []string{"wrk-ok.txt", "wrk-errors.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("  Socket errors: connect 1, read 2, write 3, timeout 4\n"))
	f.Add([]byte("50% 1.0ms\n99% 2.0h\n1 requests in 1.00s, 1B read\nRequests/sec: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseWrk(b)
		if err != nil {
			return
		}
		if r.P50 < 0 || r.P99 < 0 || r.Elapsed < 0 {
			t.Errorf("ParseWrk(%q) = %+v: negative duration", b, r)
		}
	})
}
