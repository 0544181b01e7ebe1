package health

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/spec"
)

// testUnit makes one configured "second" 10 ms: IntervalSeconds 5 checks
// every 50 ms.
const testUnit = 10 * time.Millisecond

// awaitLimit bounds every wait for an event in these tests.
const awaitLimit = 10 * time.Second

type transition struct {
	group, address string
	from, to       State
}

type harness struct {
	c   *Checker
	reg *prometheus.Registry

	mu      sync.Mutex
	history []transition
	cursor  map[string]int // per address: history index after the last awaited event
	notify  chan struct{}
}

// startChecker runs a Checker until the test ends; Run must have returned
// by then.
func startChecker(t *testing.T, cfg CheckerConfig) *harness {
	t.Helper()
	h := newHarness(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(awaitLimit):
			t.Errorf("Run did not return after cancel")
		}
	})
	return h
}

func newHarness(cfg CheckerConfig) *harness {
	h := &harness{reg: prometheus.NewRegistry(), cursor: make(map[string]int), notify: make(chan struct{}, 1)}
	cfg.Registry = h.reg
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TimeUnit == 0 {
		cfg.TimeUnit = testUnit
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = -1
	}
	cfg.OnChange = func(group, address string, from, to State) {
		h.mu.Lock()
		h.history = append(h.history, transition{group, address, from, to})
		h.mu.Unlock()
		select {
		case h.notify <- struct{}{}:
		default:
		}
	}
	h.c = NewChecker(cfg)
	return h
}

// await waits for the next change of address to state to, skipping its
// other changes.
func (h *harness) await(t *testing.T, address string, to State) transition {
	t.Helper()
	deadline := time.After(awaitLimit)
	for {
		h.mu.Lock()
		for i := h.cursor[address]; i < len(h.history); i++ {
			if ev := h.history[i]; ev.address == address {
				h.cursor[address] = i + 1
				if ev.to == to {
					h.mu.Unlock()
					return ev
				}
			}
		}
		h.mu.Unlock()
		select {
		case <-h.notify:
		case <-deadline:
			t.Fatalf("%s did not become %v within %v", address, to, awaitLimit)
			return transition{}
		}
	}
}

// backend is an HTTP target on 127.0.0.1 whose answer a test flips.
type backend struct {
	srv       *httptest.Server
	code      atomic.Int32
	hang      atomic.Bool
	requests  atomic.Int64
	host, ua  atomic.Value
	path      atomic.Value
	requested chan struct{} // one value per request, dropped when full
}

func newBackend(t *testing.T, code int) *backend {
	t.Helper()
	b := &backend{requested: make(chan struct{}, 64)}
	b.code.Store(int32(code))
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.host.Store(r.Host)
		b.ua.Store(r.UserAgent())
		b.path.Store(r.URL.RequestURI())
		b.requests.Add(1)
		select {
		case b.requested <- struct{}{}:
		default:
		}
		if b.hang.Load() {
			<-r.Context().Done() // the probe's timeout closes the connection
			return
		}
		w.WriteHeader(int(b.code.Load()))
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<16)))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

// awaitRequests waits until the backend has answered n more requests.
func (b *backend) awaitRequests(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(awaitLimit)
	for range n {
		select {
		case <-b.requested:
		case <-deadline:
			t.Fatalf("backend saw fewer than %d requests within %v", n, awaitLimit)
		}
	}
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func httpCheck() spec.HealthCheck {
	return spec.HealthCheck{
		Path:                    "/health",
		IntervalSeconds:         5,
		TimeoutSeconds:          200, // 2 s: generous, only the timeout test wants it short
		HealthyThresholdCount:   2,
		UnhealthyThresholdCount: 2,
	}
}

func group(name string, check spec.HealthCheck, targets ...Target) Group {
	return Group{Name: name, Protocol: "HTTP", Check: check, Targets: targets}
}

func TestHTTPCheckFlips(t *testing.T) {
	b := newBackend(t, http.StatusOK)
	h := startChecker(t, CheckerConfig{})
	s := new(Status)
	h.c.Set([]Group{group("web", httpCheck(), Target{Address: b.addr(), Status: s})})

	h.await(t, b.addr(), StateHealthy)
	if got := b.host.Load(); got != b.addr() {
		t.Errorf("Host header = %v, want %q", got, b.addr())
	}
	if got := b.ua.Load(); got != UserAgent {
		t.Errorf("User-Agent = %v, want %q", got, UserAgent)
	}
	if got := b.path.Load(); got != "/health" {
		t.Errorf("path = %v, want %q", got, "/health")
	}

	b.code.Store(http.StatusInternalServerError)
	ev := h.await(t, b.addr(), StateUnhealthy)
	if ev.from != StateHealthy || ev.group != "web" {
		t.Errorf("transition = %+v, want web healthy → unhealthy", ev)
	}
	if got, want := s.Reason(), ReasonResponseCodeMismatch; got != want {
		t.Errorf("Reason() = %q, want %q", got, want)
	}
	if got, want := s.Description(), "Health checks failed with these codes: [500]"; got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}

	b.code.Store(http.StatusOK)
	h.await(t, b.addr(), StateHealthy)
	if got := s.Reason(); got != "" {
		t.Errorf("Reason() after recovery = %q, want empty", got)
	}
	if got := counterValue(t, h.reg, "gantry_health_checks_total", resultCodeMismatch); got < 2 {
		t.Errorf("gantry_health_checks_total{result=code_mismatch} = %v, want >= 2", got)
	}
	if got := counterValue(t, h.reg, "gantry_health_checks_total", resultPass); got < 3 {
		t.Errorf("gantry_health_checks_total{result=pass} = %v, want >= 3", got)
	}
}

func TestHTTPCheckFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, check *spec.HealthCheck) string // returns the target address
		reason string
	}{
		{"refused", func(t *testing.T, _ *spec.HealthCheck) string { return closedAddr(t) }, ReasonFailedHealthChecks},
		{"timeout", func(t *testing.T, check *spec.HealthCheck) string {
			b := newBackend(t, http.StatusOK)
			b.hang.Store(true)
			check.TimeoutSeconds = 10
			return b.addr()
		}, ReasonTimeout},
		{"matcher range excludes 404", func(t *testing.T, check *spec.HealthCheck) string {
			check.Matcher = "200-299"
			return newBackend(t, http.StatusNotFound).addr()
		}, ReasonResponseCodeMismatch},
		{"redirect is not followed", func(t *testing.T, _ *spec.HealthCheck) string {
			return newBackend(t, http.StatusMovedPermanently).addr()
		}, ReasonResponseCodeMismatch},
		{"bad matcher", func(t *testing.T, check *spec.HealthCheck) string {
			check.Matcher = "2xx"
			return newBackend(t, http.StatusOK).addr()
		}, ReasonInternalError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := httpCheck()
			addr := tt.setup(t, &check)
			h := startChecker(t, CheckerConfig{})
			s := new(Status)
			h.c.Set([]Group{group("g", check, Target{Address: addr, Status: s})})
			ev := h.await(t, addr, StateUnhealthy)
			if ev.from != StateInitial {
				t.Errorf("transition from %v, want %v", ev.from, StateInitial)
			}
			if got := s.Reason(); got != tt.reason {
				t.Errorf("Reason() = %q, want %q", got, tt.reason)
			}
		})
	}
}

func TestHTTPCheckMatcherAndPort(t *testing.T) {
	b := newBackend(t, http.StatusNoContent)
	_, port, err := net.SplitHostPort(b.addr())
	if err != nil {
		t.Fatal(err)
	}
	check := httpCheck()
	check.Matcher = "200,204"
	check.Port = port
	traffic := closedAddr(t) // the traffic port refuses; the check port answers
	h := startChecker(t, CheckerConfig{})
	h.c.Set([]Group{group("g", check, Target{Address: traffic, Status: new(Status)})})
	h.await(t, traffic, StateHealthy)
	if got := b.host.Load(); got != b.addr() {
		t.Errorf("Host header = %v, want the check address %q", got, b.addr())
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	})
	closeLn := sync.OnceFunc(func() { _ = ln.Close(); wg.Wait() })
	t.Cleanup(closeLn)

	addr := ln.Addr().String()
	h := startChecker(t, CheckerConfig{})
	s := new(Status)
	// A TCP group's check defaults to TCP.
	check := spec.HealthCheck{IntervalSeconds: 5, TimeoutSeconds: 200, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2}
	h.c.Set([]Group{{Name: "db", Protocol: "TCP", Check: check, Targets: []Target{{Address: addr, Status: s}}}})
	h.await(t, addr, StateHealthy)

	closeLn()
	h.await(t, addr, StateUnhealthy)
	if got, want := s.Reason(), ReasonFailedHealthChecks; got != want {
		t.Errorf("Reason() = %q, want %q", got, want)
	}
}

func TestSetReconcile(t *testing.T) {
	b1 := newBackend(t, http.StatusOK)
	b2 := newBackend(t, http.StatusOK)
	h := startChecker(t, CheckerConfig{})
	s1, s2 := new(Status), new(Status)
	check := httpCheck()
	h.c.Set([]Group{group("g", check, Target{Address: b1.addr(), Status: s1}, Target{Address: b2.addr(), Status: s2})})
	h.await(t, b1.addr(), StateHealthy)
	h.await(t, b2.addr(), StateHealthy)
	if got := h.c.running(); got != 2 {
		t.Fatalf("running() = %d, want 2", got)
	}
	p1 := h.c.probeFor("g", b1.addr())
	p2 := h.c.probeFor("g", b2.addr())

	// The same Set again keeps both probes.
	h.c.Set([]Group{group("g", check, Target{Address: b1.addr(), Status: s1}, Target{Address: b2.addr(), Status: s2})})
	if h.c.probeFor("g", b1.addr()) != p1 || h.c.probeFor("g", b2.addr()) != p2 {
		t.Errorf("an identical Set replaced probes")
	}

	// b1 unchanged; b2 moves to a group of its own with another path.
	changed := httpCheck()
	changed.Path = "/other"
	h.c.Set([]Group{
		group("g", check, Target{Address: b1.addr(), Status: s1}),
		group("g2", changed, Target{Address: b2.addr(), Status: s2}),
	})
	if got := h.c.probeFor("g", b1.addr()); got != p1 {
		t.Errorf("unchanged target got a new probe")
	}
	awaitDone(t, p2) // (g, b2) was removed
	if got := s2.State(); got != StateHealthy {
		t.Errorf("moved target state = %v, want %v (kept)", got, StateHealthy)
	}
	b2.awaitRequests(t, 1)
	for b2.path.Load() != "/other" {
		b2.awaitRequests(t, 1)
	}

	// A changed config for the same key restarts the probe but keeps state.
	changed.Path = "/third"
	h.c.Set([]Group{
		group("g", check, Target{Address: b1.addr(), Status: s1}),
		group("g2", changed, Target{Address: b2.addr(), Status: s2}),
	})
	p3 := h.c.probeFor("g2", b2.addr())
	if got := s2.State(); got != StateHealthy {
		t.Errorf("state after config change = %v, want %v", got, StateHealthy)
	}
	for b2.path.Load() != "/third" {
		b2.awaitRequests(t, 1)
	}

	// Removal stops the goroutine.
	h.c.Set([]Group{group("g", check, Target{Address: b1.addr(), Status: s1})})
	awaitDone(t, p3)
	if got := h.c.running(); got != 1 {
		t.Errorf("running() after removal = %d, want 1", got)
	}
	h.c.Set(nil)
	awaitDone(t, p1)
	if got := h.c.running(); got != 0 {
		t.Errorf("running() after Set(nil) = %d, want 0", got)
	}
	if got := s1.State(); got != StateHealthy {
		t.Errorf("removed target state = %v, want %v (left to the consumer)", got, StateHealthy)
	}
}

func awaitDone(t *testing.T, p *probe) {
	t.Helper()
	if p == nil || p.done == nil {
		t.Fatalf("probe was never started")
	}
	select {
	case <-p.done:
	case <-time.After(awaitLimit):
		t.Fatalf("probe goroutine of %s still running %v after removal", p.address, awaitLimit)
	}
}

func TestSetBeforeRun(t *testing.T) {
	b := newBackend(t, http.StatusOK)
	h := newHarness(CheckerConfig{})
	h.c.Set([]Group{group("g", httpCheck(), Target{Address: b.addr(), Status: new(Status)})})
	if got := h.c.running(); got != 0 {
		t.Fatalf("running() before Run = %d, want 0", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	h.await(t, b.addr(), StateHealthy)
	if err := h.c.Run(ctx); err == nil {
		t.Errorf("second Run() = nil, want an error")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	// After Run returned, Set starts nothing.
	h.c.Set([]Group{group("g2", httpCheck(), Target{Address: b.addr(), Status: new(Status)})})
	if got := h.c.running(); got != 0 {
		t.Errorf("running() after Run returned = %d, want 0", got)
	}
}

func TestDisabledCheck(t *testing.T) {
	h := startChecker(t, CheckerConfig{})
	s := new(Status)
	check := httpCheck()
	check.Enabled = boolp(false)
	addr := closedAddr(t)
	h.c.Set([]Group{group("g", check, Target{Address: addr, Status: s})})
	if got := s.State(); got != StateHealthy {
		t.Errorf("State() = %v, want %v", got, StateHealthy)
	}
	if got, want := s.Reason(), ReasonHealthCheckDisabled; got != want {
		t.Errorf("Reason() = %q, want %q", got, want)
	}
	if got := h.c.running(); got != 0 {
		t.Errorf("running() = %d, want 0", got)
	}
	h.await(t, addr, StateHealthy)

	// Re-enabling checks a target that refuses: it goes unhealthy.
	h.c.Set([]Group{group("g", httpCheck(), Target{Address: addr, Status: s})})
	h.await(t, addr, StateUnhealthy)
	if got, want := s.Reason(), ReasonFailedHealthChecks; got != want {
		t.Errorf("Reason() after re-enable = %q, want %q", got, want)
	}
}

func TestDrainingSticks(t *testing.T) {
	b := newBackend(t, http.StatusOK)
	h := startChecker(t, CheckerConfig{})
	s := new(Status)
	h.c.Set([]Group{group("g", httpCheck(), Target{Address: b.addr(), Status: s})})
	h.await(t, b.addr(), StateHealthy)
	s.SetDraining()
	b.code.Store(http.StatusInternalServerError)
	for len(b.requested) > 0 { // forget requests answered before the flip
		<-b.requested
	}
	b.awaitRequests(t, 4) // at least three checks saw 500 after the flip
	if got := s.State(); got != StateDraining {
		t.Errorf("State() = %v, want %v", got, StateDraining)
	}
}

func TestProbePanicRecovered(t *testing.T) {
	var panics atomic.Int64
	h := startChecker(t, CheckerConfig{
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			panics.Add(1)
			panic("dial exploded")
		},
	})
	s := new(Status)
	addr := closedAddr(t)
	h.c.Set([]Group{group("g", httpCheck(), Target{Address: addr, Status: s})})
	h.await(t, addr, StateUnhealthy)
	if got, want := s.Reason(), ReasonInternalError; got != want {
		t.Errorf("Reason() = %q, want %q", got, want)
	}
	if got := counterValue(t, h.reg, "gantry_health_check_panics_total", ""); got < 2 {
		t.Errorf("gantry_health_check_panics_total = %v, want >= 2", got)
	}
}

func TestOnChangePanicRecovered(t *testing.T) {
	b := newBackend(t, http.StatusOK)
	reached := make(chan struct{}, 16)
	c := NewChecker(CheckerConfig{Logger: slog.New(slog.DiscardHandler), TimeUnit: testUnit, Jitter: -1, OnChange: func(string, string, State, State) {
		reached <- struct{}{}
		panic("hook exploded")
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	s := new(Status)
	c.Set([]Group{group("g", httpCheck(), Target{Address: b.addr(), Status: s})})
	select {
	case <-reached:
	case <-time.After(awaitLimit):
		t.Fatalf("OnChange never called")
	}
	b.awaitRequests(t, 2) // the probe goroutine survived the panic and checks again
	if got := s.State(); got != StateHealthy {
		t.Errorf("State() = %v, want %v", got, StateHealthy)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

func TestNormalizeDefaults(t *testing.T) {
	conf := normalize(Group{Protocol: "tcp", Check: spec.HealthCheck{Path: "health", Port: "traffic-port"}}, time.Second)
	want := checkConfig{
		enabled: true, protocol: "TCP", path: "/health", port: "",
		interval: 30 * time.Second, timeout: 5 * time.Second,
		healthyThr: 5, unhealthyThr: 2, matcher: "200",
	}
	if conf != want {
		t.Errorf("normalize() = %+v, want %+v", conf, want)
	}
	if got := normalize(Group{}, time.Second).protocol; got != "HTTP" {
		t.Errorf("normalize(HTTP group).protocol = %q, want HTTP", got)
	}
}

func TestNewProbeErrors(t *testing.T) {
	tests := []struct {
		name    string
		address string
		conf    checkConfig
	}{
		{"port override on a bad address", "nohostport", checkConfig{protocol: "HTTP", path: "/", port: "81", matcher: "200"}},
		{"unknown protocol", "127.0.0.1:1", checkConfig{protocol: "HTTPS", path: "/", matcher: "200"}},
		{"bad matcher", "127.0.0.1:1", checkConfig{protocol: "HTTP", path: "/", matcher: "abc"}},
	}
	for _, tt := range tests {
		p := newProbe("g", tt.address, new(Status), tt.conf)
		if p.err == nil || !strings.HasPrefix(p.err.Error(), "health: ") {
			t.Errorf("%s: newProbe error = %v, want a health: error", tt.name, p.err)
		}
	}
}

func TestFailureClassification(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want reason
	}{
		{"refused", context.Background(), errors.New("connect: connection refused"), reasonFailedHealthChecks},
		{"deadline", expired, errors.New("anything"), reasonTimeout},
		{"wrapped deadline", context.Background(), context.DeadlineExceeded, reasonTimeout},
		{"net timeout", context.Background(), &net.OpError{Op: "dial", Err: timeoutErr{}}, reasonTimeout},
	}
	for _, tt := range tests {
		if got := failure(tt.ctx, tt.err).reason; got != tt.want {
			t.Errorf("%s: failure(%v) = %v, want %v", tt.name, tt.err, reasonCodes[got], reasonCodes[tt.want])
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestTargetPathOverride: a target's own Path replaces the group's.
func TestTargetPathOverride(t *testing.T) {
	b := newBackend(t, http.StatusOK)
	h := startChecker(t, CheckerConfig{})
	h.c.Set([]Group{group("web", httpCheck(), Target{Address: b.addr(), Status: new(Status), Path: "ready"})})
	h.await(t, b.addr(), StateHealthy)
	if got := b.path.Load(); got != "/ready" {
		t.Errorf("checked path = %v, want /ready (the target's own)", got)
	}
}
