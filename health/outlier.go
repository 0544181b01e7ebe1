package health

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/spec"
)

// maxEjectionMultiplier caps how many base periods one ejection lasts.
const maxEjectionMultiplier = 10

// Outlier is passive outlier detection for one target group, after Envoy's
// consecutive-failure detector: ConsecutiveFailures failed observations in a
// row eject a target for BaseEjectionSeconds × the number of times it has been
// ejected (at most 10×); a success resets the run. Ejection ends by time,
// checked lazily by Status.Available and Status.Ejected.
//
// The ejection count decays by one for every base period the target spent
// not ejected since its last ejection ended, so a target that recovered for
// good starts again from one base period.
//
// Cap: at most floor(n × MaxEjectionPercent / 100) of the group's n targets
// are ejected at once, but at least one when MaxEjectionPercent > 0 and n ≥ 2
// (so small groups still shed a bad target; a single-target group is never
// ejected below 100%: failing open would route to it anyway). A failure run
// that reaches the threshold while the cap is full starts over.
//
// Ejection state lives in the targets' Status, so a new Outlier built on a
// reload sees the ejections of the old one. Observe is safe for concurrent use
// and does not allocate.
type Outlier struct {
	enabled   bool
	threshold uint32
	base      int64 // nanoseconds
	percent   int

	targets atomic.Pointer[[]*Status]

	mu        sync.Mutex // serialises ejections, so two cannot both pass the cap
	ejections prometheus.Counter
	onEject   func(s *Status, until int64)
}

// OutlierOption configures an Outlier beyond its spec.
type OutlierOption func(*Outlier)

// WithRegistry counts ejections in gantry_outlier_ejections_total on reg.
// Several Outliers may share one registry.
func WithRegistry(reg prometheus.Registerer) OutlierOption {
	return func(o *Outlier) { o.ejections = newEjectionCounter(reg) }
}

// WithOnEject calls f after each ejection with the target and the end of its
// ejection (unix nanoseconds). f runs on the data plane's goroutine that
// observed the failure: it must not block.
func WithOnEject(f func(s *Status, until int64)) OutlierOption {
	return func(o *Outlier) { o.onEject = f }
}

// NewOutlier returns the detector for one group. Zero fields of cfg take the
// defaults (enabled, 5 failures, 30 s, 50 %). It ejects nothing until
// SetTargets tells it the group's targets.
func NewOutlier(cfg spec.OutlierDetection, opts ...OutlierOption) *Outlier {
	o := &Outlier{
		enabled:   cfg.Enabled == nil || *cfg.Enabled,
		threshold: uint32(orDefault(cfg.ConsecutiveFailures, 5)),
		base:      int64(orDefault(cfg.BaseEjectionSeconds, 30)) * int64(time.Second),
		percent:   50,
	}
	if cfg.MaxEjectionPercent != nil {
		o.percent = min(max(*cfg.MaxEjectionPercent, 0), 100)
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.ejections == nil {
		o.ejections = newEjectionCounter(nil)
	}
	return o
}

// SetTargets tells the Outlier the group's targets (those taking traffic),
// against which the ejection cap is counted. It copies the slice; call it
// whenever the group's membership changes.
func (o *Outlier) SetTargets(targets []*Status) {
	ts := append([]*Status(nil), targets...)
	o.targets.Store(&ts)
}

// Enabled reports whether the Outlier ejects at all.
func (o *Outlier) Enabled() bool { return o != nil && o.enabled }

// Observe records one outcome of real traffic to s at now (unix
// nanoseconds): ok=false for a connection error, a timeout or a 5xx from the
// target. A nil or disabled Outlier ignores it. It does not allocate.
func (o *Outlier) Observe(s *Status, ok bool, now int64) {
	if o == nil || !o.enabled {
		return
	}
	if ok {
		if s.failures.Load() != 0 { // read first: no cache-line write per success
			s.failures.Store(0)
		}
		return
	}
	if s.ejectedUntil.Load() > now {
		return // fail-open traffic to an ejected target does not extend it
	}
	if s.failures.Add(1) < o.threshold {
		return
	}
	o.eject(s, now)
}

// MaxEjected returns how many of n targets may be ejected at once.
func (o *Outlier) MaxEjected(n int) int {
	if o.percent <= 0 || n <= 0 {
		return 0
	}
	m := n * o.percent / 100
	if m == 0 && n >= 2 {
		m = 1
	}
	return m
}

func (o *Outlier) eject(s *Status, now int64) {
	o.mu.Lock()
	s.failures.Store(0)
	if s.ejectedUntil.Load() > now {
		o.mu.Unlock()
		return
	}
	var targets []*Status
	if p := o.targets.Load(); p != nil {
		targets = *p
	}
	ejected := 0
	for _, t := range targets {
		if t != s && t.ejectedUntil.Load() > now {
			ejected++
		}
	}
	if ejected >= o.MaxEjected(len(targets)) {
		o.mu.Unlock()
		return
	}
	times := s.ejections.Load()
	if last := s.ejectedUntil.Load(); last > 0 && now > last && times > 0 {
		decay := uint32(min((now-last)/o.base, int64(times)))
		times -= decay
	}
	times = min(times+1, maxEjectionMultiplier)
	s.ejections.Store(times)
	until := now + int64(times)*o.base
	s.ejectedUntil.Store(until)
	o.mu.Unlock()

	o.ejections.Inc()
	if o.onEject != nil {
		o.onEject(s, until)
	}
}
