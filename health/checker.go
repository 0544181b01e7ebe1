package health

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/spec"
)

// UserAgent is sent with every HTTP health check.
const UserAgent = "Gantry-HealthChecker/1.0"

// CheckerConfig configures a Checker. Zero fields take their defaults; the
// config is read once by NewChecker.
type CheckerConfig struct {
	// Logger receives state changes and recovered panics. Default slog.Default().
	Logger *slog.Logger
	// Registry, when set, receives gantry_health_checks_total{result} and
	// gantry_health_check_panics_total. Several Checkers may share one.
	Registry prometheus.Registerer
	// Dial opens every probe connection (TCP checks and HTTP checks).
	// Default: a net.Dialer. Tests inject failures here.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Jitter bounds the random delay before a target's first check, so that
	// many targets set at once are not checked in the same instant.
	// Default min(interval/10, 1s); negative means none.
	Jitter time.Duration
	// TimeUnit is the length of one of HealthCheck's "seconds"
	// (IntervalSeconds, TimeoutSeconds). Default time.Second; tests shrink it
	// to run many intervals quickly.
	TimeUnit time.Duration
	// OnChange, when set, is called after each state change a check makes,
	// and by Set when it marks targets of a disabled check healthy. It runs on
	// a probe goroutine (or Set's): it must be safe for concurrent use and
	// must not block. A panic in it is recovered and counted.
	OnChange func(group, address string, from, to State)
}

// Group is one target group as the Checker sees it.
type Group struct {
	// Name of the target group.
	Name string
	// Protocol is the group's traffic protocol, HTTP or TCP; it picks the
	// check protocol when Check.Protocol is empty.
	Protocol string
	// Check is the group's health check; zero fields take ALB's defaults.
	Check spec.HealthCheck
	// Targets to check. The Checker keeps the Status pointers, not the slice.
	Targets []Target
}

// Target is one target to check and the Status the results go to.
type Target struct {
	// Address is host:port, the traffic port.
	Address string
	// Status receives the results; targets with a nil Status are skipped.
	Status *Status
	// Path, when set, replaces the group's HTTP check path for this target
	// (a container's gantry.healthCheckPath label).
	Path string
}

// Checker runs active health checks: one goroutine per target with checks
// enabled, each probing once at start (after a small jitter) and then every
// interval. It is safe for concurrent use.
type Checker struct {
	log       *slog.Logger
	metrics   *checkMetrics
	dial      func(ctx context.Context, network, address string) (net.Conn, error)
	transport *http.Transport
	client    *http.Client
	jitter    time.Duration
	unit      time.Duration
	onChange  func(group, address string, from, to State)

	mu      sync.Mutex
	ctx     context.Context // Run's; nil until Run starts
	stopped bool            // Run is stopping or has returned
	probes  map[probeKey]*probe
	wg      sync.WaitGroup // every probe goroutine
}

type probeKey struct{ group, address string }

// NewChecker returns a Checker that checks nothing until Set and probes
// nothing until Run.
func NewChecker(cfg CheckerConfig) *Checker {
	c := &Checker{
		log:      cfg.Logger,
		metrics:  newCheckMetrics(cfg.Registry),
		dial:     cfg.Dial,
		jitter:   cfg.Jitter,
		unit:     cfg.TimeUnit,
		onChange: cfg.OnChange,
		probes:   make(map[probeKey]*probe),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "health")
	if c.dial == nil {
		c.dial = (&net.Dialer{}).DialContext
	}
	c.dial = c.recoverDial(c.dial)
	if c.unit <= 0 {
		c.unit = time.Second
	}
	// A fresh connection per check: a check then also proves that the target
	// accepts connections, and no idle connection outlives a removed target.
	c.transport = &http.Transport{
		Proxy:                  nil,
		DialContext:            c.dial,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.client = &http.Client{
		Transport: c.transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 301 is a code for the matcher, not a hop
		},
	}
	return c
}

// Run starts the probes of the targets Set so far and of those Set later,
// and blocks until ctx is done and every probe goroutine has returned. It
// returns nil then, or an error if Run was already called.
func (c *Checker) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ctx != nil {
		c.mu.Unlock()
		return errors.New("health: run: checker already started")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.ctx = runCtx
	for _, p := range c.probes {
		if p.conf.enabled {
			c.start(p)
		}
	}
	c.mu.Unlock()

	<-ctx.Done()

	c.mu.Lock()
	c.stopped = true
	for _, p := range c.probes {
		p.stop()
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.transport.CloseIdleConnections()
	return nil
}

// Set replaces the targets to check. A (group, address) whose check config
// and Status are unchanged keeps its probe and schedule; a removed one has its
// probe stopped (its Status is left as it is: the consumer drains it); a
// changed check config restarts the probe but keeps the Status and its state.
// Targets of a group with checks disabled are marked healthy with reason
// Target.HealthCheckDisabled and get no probe. Set does not wait for stopped
// probes; Run does.
func (c *Checker) Set(groups []Group) {
	desired := make(map[probeKey]*probe)
	for _, g := range groups {
		conf := normalize(g, c.unit)
		for _, t := range g.Targets {
			if t.Status == nil {
				continue
			}
			tc := conf
			if t.Path != "" {
				tc.path = t.Path
				if tc.path[0] != '/' {
					tc.path = "/" + tc.path
				}
			}
			desired[probeKey{g.Name, t.Address}] = newProbe(g.Name, t.Address, t.Status, tc)
		}
	}

	type change struct {
		group, address string
		from, to       State
	}
	var changes []change
	c.mu.Lock()
	for k, p := range c.probes {
		if d, ok := desired[k]; ok && d.conf == p.conf && d.status == p.status {
			delete(desired, k) // unchanged: keep the running probe
			if !p.conf.enabled {
				// Idempotent, and it revives a Status the consumer Reset.
				if from, to := p.status.setDisabled(); from != to {
					changes = append(changes, change{p.group, p.address, from, to})
				}
			}
			continue
		}
		p.stop()
		delete(c.probes, k)
	}
	for k, p := range desired {
		c.probes[k] = p
		switch {
		case !p.conf.enabled:
			if from, to := p.status.setDisabled(); from != to {
				changes = append(changes, change{p.group, p.address, from, to})
			}
		default:
			p.status.clearDisabled()
			if p.err != nil {
				c.log.Warn("health: set: bad check config", "target_group", p.group, "target", p.address, "error", p.err)
			}
			if c.ctx != nil && !c.stopped {
				c.start(p)
			}
		}
	}
	c.mu.Unlock()
	for _, ch := range changes {
		c.changed(ch.group, ch.address, ch.from, ch.to, nil)
	}
}

// start launches p's goroutine. c.mu must be held and Run started.
func (c *Checker) start(p *probe) {
	ctx, cancel := context.WithCancel(c.ctx)
	p.cancel = cancel
	p.done = make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(p.done)
		c.loop(ctx, p)
	}()
}

// loop checks p at once (after jitter) and then every interval, measured
// from the start of one check to the start of the next, until ctx is done.
func (c *Checker) loop(ctx context.Context, p *probe) {
	t := time.NewTimer(c.firstDelay(p.conf.interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		began := time.Now()
		c.iterate(ctx, p)
		t.Reset(max(p.conf.interval-time.Since(began), 0))
	}
}

func (c *Checker) firstDelay(interval time.Duration) time.Duration {
	j := c.jitter
	if j == 0 {
		j = min(interval/10, time.Second)
	}
	if j <= 0 {
		return 0
	}
	return rand.N(j)
}

// iterate runs one check and applies its result. A panic, in the probe or in
// OnChange, is recovered, logged and counted; a panicking probe counts as a
// failed check with reason Elb.InternalError.
func (c *Checker) iterate(ctx context.Context, p *probe) {
	recorded := false
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		c.metrics.panics.Inc()
		c.log.Error("health: check: recovered panic", "target_group", p.group, "target", p.address, "panic", r)
		if !recorded && ctx.Err() == nil {
			c.apply(p, result{reason: reasonInternalError})
		}
	}()
	res := c.probe(ctx, p)
	if ctx.Err() != nil {
		return // stopped or replaced while checking: the result belongs to no one
	}
	recorded = true
	c.apply(p, res)
}

func (c *Checker) apply(p *probe, res result) {
	c.metrics.count(res)
	from, to := p.status.record(res, p.conf.healthyThr, p.conf.unhealthyThr)
	if from != to {
		c.changed(p.group, p.address, from, to, p.status)
	}
}

func (c *Checker) changed(group, address string, from, to State, s *Status) {
	if s != nil {
		c.log.Info("health: target state changed", "target_group", group, "target", address,
			"from", from.String(), "to", to.String(), "reason", s.Reason(), "description", s.Description())
	}
	if c.onChange != nil {
		c.onChange(group, address, from, to)
	}
}

// errProbePanic is what a dial that panicked returns; such a check fails
// with Elb.InternalError.
var errProbePanic = errors.New("health: dial: recovered panic")

// recoverDial makes a panicking dial an error: net/http dials on goroutines
// of its own, where iterate's recover cannot reach.
func (c *Checker) recoverDial(dial func(ctx context.Context, network, address string) (net.Conn, error)) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (conn net.Conn, err error) {
		defer func() {
			if r := recover(); r != nil {
				c.metrics.panics.Inc()
				c.log.Error("health: dial: recovered panic", "target", address, "panic", r)
				conn, err = nil, errProbePanic
			}
		}()
		return dial(ctx, network, address)
	}
}

// running returns the number of probes with a goroutine, for tests.
func (c *Checker) running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.probes {
		if p.cancel != nil {
			n++
		}
	}
	return n
}

// normalize applies ALB's defaults to g's check and scales its durations.
func normalize(g Group, unit time.Duration) checkConfig {
	hc := g.Check
	conf := checkConfig{
		enabled:      hc.Enabled == nil || *hc.Enabled,
		protocol:     strings.ToUpper(hc.Protocol),
		path:         hc.Path,
		port:         hc.Port,
		interval:     time.Duration(orDefault(hc.IntervalSeconds, 30)) * unit,
		timeout:      time.Duration(orDefault(hc.TimeoutSeconds, 5)) * unit,
		healthyThr:   orDefault(hc.HealthyThresholdCount, 5),
		unhealthyThr: orDefault(hc.UnhealthyThresholdCount, 2),
		matcher:      hc.Matcher,
	}
	if conf.protocol == "" {
		conf.protocol = "HTTP"
		if strings.EqualFold(g.Protocol, "TCP") {
			conf.protocol = "TCP"
		}
	}
	if conf.path == "" {
		conf.path = "/"
	} else if conf.path[0] != '/' {
		conf.path = "/" + conf.path
	}
	if conf.port == "traffic-port" {
		conf.port = ""
	}
	if conf.matcher == "" {
		conf.matcher = spec.DefaultMatcher
	}
	return conf
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// probeFor returns the probe of (group, address), for tests.
func (c *Checker) probeFor(group, address string) *probe {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.probes[probeKey{group, address}]
}
