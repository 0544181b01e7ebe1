package balancer

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantrylb/gantry/health"
)

// dialRaw opens a client connection to addr with an overall deadline; the
// test's cleanup closes it.
func dialRaw(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(d))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readStatus reads one status line and the response head that follows it,
// returning the status code and the header lines.
func readStatus(br *bufio.Reader) (int, []string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, nil, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, nil, io.ErrUnexpectedEOF
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, nil, err
	}
	var hdr []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return code, hdr, err
		}
		if l == "\r\n" {
			return code, hdr, nil
		}
		hdr = append(hdr, strings.TrimRight(l, "\r\n"))
	}
}

// rawStatus writes raw on a fresh connection and returns the status code of
// the answer.
func rawStatus(t *testing.T, addr, raw string) int {
	t.Helper()
	c := dialRaw(t, addr, 5*time.Second)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	code, _, err := readStatus(bufio.NewReader(c))
	if err != nil && code == 0 {
		t.Fatalf("reading the answer to %.40q: %v", raw, err)
	}
	return code
}

// startLBChecked runs startLB with a real health.Checker whose "seconds"
// last unit, wired in as the balancer's HealthChecker and OnChange hook.
func startLBChecked(t *testing.T, doc string, unit time.Duration, opts ...func(*Options)) *lbHarness {
	t.Helper()
	var (
		mu sync.Mutex
		b  *Balancer
	)
	c := health.NewChecker(health.CheckerConfig{
		TimeUnit: unit,
		Jitter:   -1,
		OnChange: func(group, addr string, from, to health.State) {
			mu.Lock()
			bb := b
			mu.Unlock()
			if bb != nil {
				bb.HealthChanged(group, addr, from, to)
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	h := startLB(t, doc, append(opts, func(o *Options) { o.Health = c })...)
	mu.Lock()
	b = h.b
	mu.Unlock()
	return h
}

// stateOf returns the reported state of addr in group, "" if not listed.
func stateOf(h *lbHarness, group, addr string) (string, int64) {
	ths, _ := h.b.TargetHealth(group)
	for _, th := range ths {
		if th.Address == addr {
			return th.State, th.InFlight
		}
	}
	return "", 0
}
