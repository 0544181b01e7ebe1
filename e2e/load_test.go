//go:build linux

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// load sends GETs over keep-alive connections from a fixed number of
// goroutines until stopped, counting every outcome. The client never retries
// by itself, so each error or non-2xx the balancer lets through is counted.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *fasthttp.HostClient

	requests atomic.Int64
	errors   atomic.Int64
	non2xx   atomic.Int64

	mu       sync.Mutex
	codes    map[int]int
	errTexts map[string]int
	servers  map[string]int
}

// startLoad starts conns goroutines sending GET path to addr (host:port).
func startLoad(t *testing.T, addr, path string, conns int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{
		cancel: cancel,
		client: &fasthttp.HostClient{
			Addr:                      addr,
			MaxConns:                  conns,
			MaxIdemponentCallAttempts: 1,
			ReadTimeout:               10 * time.Second,
			WriteTimeout:              10 * time.Second,
			MaxConnWaitTimeout:        10 * time.Second,
		},
		codes:    map[int]int{},
		errTexts: map[string]int{},
		servers:  map[string]int{},
	}
	for range conns {
		l.wg.Add(1)
		go l.run(ctx, "http://"+addr+path)
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) run(ctx context.Context, url string) {
	defer l.wg.Done()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	for ctx.Err() == nil {
		err := l.client.Do(req, resp)
		l.requests.Add(1)
		switch {
		case err != nil:
			l.errors.Add(1)
			l.note(0, err.Error(), "")
		case resp.StatusCode() < 200 || resp.StatusCode() > 299:
			l.non2xx.Add(1)
			l.note(resp.StatusCode(), "", "")
		default:
			l.note(0, "", string(resp.Header.Peek("X-Echo-Server")))
		}
	}
}

func (l *load) note(code int, errText, server string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case code != 0:
		l.codes[code]++
	case errText != "":
		l.errTexts[errText]++
	case server != "":
		l.servers[server]++
	}
}

// waitRequests waits until at least n requests completed.
func (l *load) waitRequests(t *testing.T, n int64) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%d load requests", n), func() bool { return l.requests.Load() >= n })
}

// stop ends the load and waits for its goroutines; it may be called twice.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// summary describes the outcomes, for logs and failures.
func (l *load) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d errors, %d non-2xx", l.requests.Load(), l.errors.Load(), l.non2xx.Load())
	if len(l.codes) > 0 {
		fmt.Fprintf(&b, "; codes %v", l.codes)
	}
	if len(l.errTexts) > 0 {
		fmt.Fprintf(&b, "; errors %v", l.errTexts)
	}
	names := make([]string, 0, len(l.servers))
	for s := range l.servers {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		fmt.Fprintf(&b, "; %s: %d", s, l.servers[s])
	}
	return b.String()
}

// served returns how many 2xx answers server gave.
func (l *load) served(server string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.servers[server]
}

// expectClean fails t unless every request got a 2xx answer.
func (l *load) expectClean(t *testing.T) {
	t.Helper()
	t.Logf("load: %s", l.summary())
	if l.errors.Load() != 0 || l.non2xx.Load() != 0 {
		t.Errorf("load got errors or non-2xx answers, want none: %s", l.summary())
	}
	if l.requests.Load() == 0 {
		t.Errorf("load sent no requests")
	}
}
