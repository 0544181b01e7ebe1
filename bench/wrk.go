package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what one wrk --latency run reported.
type WrkResult struct {
	// Requests is the number of completed requests.
	Requests int64
	// Elapsed is the run time wrk reports ("in 10.00s").
	Elapsed time.Duration
	// RPS is wrk's Requests/sec line.
	RPS float64
	// P50, P75, P90 and P99 are the latency distribution percentiles.
	P50, P75, P90, P99 time.Duration
	// Non2xx3xx counts responses whose status was not 2xx or 3xx.
	Non2xx3xx int64
	// Connect, Read, Write and Timeout are wrk's socket error counters.
	Connect, Read, Write, Timeout int64
}

// Errors is the number of failed requests: non-2xx/3xx answers plus socket errors.
func (r WrkResult) Errors() int64 {
	return r.Non2xx3xx + r.Connect + r.Read + r.Write + r.Timeout
}

// ParseWrk reads the text wrk prints with --latency. Requests/sec, the request
// count and the 50% and 99% percentiles are required; error lines are optional
// because wrk prints them only when non-zero.
func ParseWrk(out []byte) (WrkResult, error) {
	var r WrkResult
	var haveRPS, haveReq, haveP50, haveP99 bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		var err error
		switch {
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			r.RPS, err = strconv.ParseFloat(f[1], 64)
			if err == nil && !(r.RPS >= 0 && r.RPS < 1e12) { // also rejects NaN
				err = errors.New("requests/sec out of range")
			}
			haveRPS = err == nil
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			r.Requests, err = parseCount(f[0])
			if err == nil {
				r.Elapsed, err = parseWrkDuration(strings.TrimSuffix(f[3], ","))
			}
			haveReq = err == nil
		case len(f) == 2 && strings.HasSuffix(f[0], "%") && !strings.HasPrefix(line, "+/-"):
			var d time.Duration
			d, err = parseWrkDuration(f[1])
			switch f[0] {
			case "50%":
				r.P50, haveP50 = d, err == nil
			case "75%":
				r.P75 = d
			case "90%":
				r.P90 = d
			case "99%":
				r.P99, haveP99 = d, err == nil
			}
		case strings.HasPrefix(line, "Socket errors:"):
			err = parseSocketErrors(strings.TrimPrefix(line, "Socket errors:"), &r)
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			r.Non2xx3xx, err = parseCount(f[4])
		}
		if err != nil {
			return WrkResult{}, fmt.Errorf("bench: parse wrk output: line %q: %w", line, err)
		}
	}
	var missing []string
	for _, m := range []struct {
		ok   bool
		name string
	}{{haveRPS, "Requests/sec"}, {haveReq, "request count"}, {haveP50, "50% latency"}, {haveP99, "99% latency"}} {
		if !m.ok {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return WrkResult{}, fmt.Errorf("bench: parse wrk output: missing %s", strings.Join(missing, ", "))
	}
	return r, nil
}

// parseSocketErrors reads " connect 0, read 1, write 0, timeout 2".
func parseSocketErrors(s string, r *WrkResult) error {
	for part := range strings.SplitSeq(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return fmt.Errorf("socket errors: bad field %q", part)
		}
		n, err := parseCount(f[1])
		if err != nil {
			return fmt.Errorf("socket errors: %w", err)
		}
		switch f[0] {
		case "connect":
			r.Connect = n
		case "read":
			r.Read = n
		case "write":
			r.Write = n
		case "timeout":
			r.Timeout = n
		default:
			return fmt.Errorf("socket errors: unknown counter %q", f[0])
		}
	}
	return nil
}

// parseCount reads a non-negative decimal count.
func parseCount(s string) (int64, error) {
	n, err := strconv.ParseUint(s, 10, 63)
	return int64(n), err
}

// wrkUnits are the suffixes wrk's format_time_us and format_time_s use.
var wrkUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"us", time.Microsecond},
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
}

var errBadDuration = errors.New("bad duration")

// parseWrkDuration reads wrk's "601.00us", "1.26ms", "10.00s", "1.00m".
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range wrkUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || v > 1e9 {
			return 0, fmt.Errorf("%w %q", errBadDuration, s)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("%w %q", errBadDuration, s)
}
