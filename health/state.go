package health

import (
	"strconv"
	"sync/atomic"

	"github.com/gantrylb/gantry/spec"
)

// State is a target's health state, as ALB's DescribeTargetHealth reports it.
type State uint32

// Target states. The zero value is StateInitial.
const (
	// StateInitial: registered, no check has passed yet (nor enough have failed).
	StateInitial State = iota
	// StateHealthy: the target passes its checks and may take traffic.
	StateHealthy
	// StateUnhealthy: unhealthyThresholdCount consecutive checks failed.
	StateUnhealthy
	// StateDraining: deregistration is in progress; set by the consumer.
	StateDraining
	// StateUnused: the target takes no part in balancing. This package never
	// sets it; it exists so consumers can report ALB's full vocabulary.
	StateUnused
)

// String returns the state as spec.TargetInitial, spec.TargetHealthy and so on.
func (s State) String() string {
	switch s {
	case StateInitial:
		return spec.TargetInitial
	case StateHealthy:
		return spec.TargetHealthy
	case StateUnhealthy:
		return spec.TargetUnhealthy
	case StateDraining:
		return spec.TargetDraining
	case StateUnused:
		return spec.TargetUnused
	}
	return "State(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// ALB reason codes, as Status.Reason returns them.
const (
	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonHealthCheckDisabled      = "Target.HealthCheckDisabled"
	ReasonInternalError            = "Elb.InternalError"
	ReasonNotRegistered            = "Target.NotRegistered"
	ReasonNotInUse                 = "Target.NotInUse"
)

// reason is the compact form of a reason code kept in a Status word.
// reasonNone means "the default for the state" (see Status.Reason).
type reason uint8

const (
	reasonNone reason = iota
	reasonRegistrationInProgress
	reasonInitialHealthChecking
	reasonResponseCodeMismatch
	reasonTimeout
	reasonFailedHealthChecks
	reasonDeregistrationInProgress
	reasonHealthCheckDisabled
	reasonInternalError
	reasonNotRegistered
	reasonNotInUse
)

var reasonCodes = [...]string{
	reasonNone:                     "",
	reasonRegistrationInProgress:   ReasonRegistrationInProgress,
	reasonInitialHealthChecking:    ReasonInitialHealthChecking,
	reasonResponseCodeMismatch:     ReasonResponseCodeMismatch,
	reasonTimeout:                  ReasonTimeout,
	reasonFailedHealthChecks:       ReasonFailedHealthChecks,
	reasonDeregistrationInProgress: ReasonDeregistrationInProgress,
	reasonHealthCheckDisabled:      ReasonHealthCheckDisabled,
	reasonInternalError:            ReasonInternalError,
	reasonNotRegistered:            ReasonNotRegistered,
	reasonNotInUse:                 ReasonNotInUse,
}

// reasonTexts are ALB's descriptions; the code mismatch text is built with the code.
var reasonTexts = [...]string{
	reasonNone:                     "",
	reasonRegistrationInProgress:   "Target registration is in progress",
	reasonInitialHealthChecking:    "Initial health checks in progress",
	reasonResponseCodeMismatch:     "Health checks failed",
	reasonTimeout:                  "Request timed out",
	reasonFailedHealthChecks:       "Health checks failed",
	reasonDeregistrationInProgress: "Target deregistration is in progress",
	reasonHealthCheckDisabled:      "Health checks are disabled",
	reasonInternalError:            "Health checks failed due to an internal error",
	reasonNotRegistered:            "Target is not registered to the target group",
	reasonNotInUse:                 "Target group is not configured to receive traffic from the load balancer",
}

// word packs everything the state machine needs into one uint64 so that a
// transition is a single compare-and-swap and readers never see a state with
// another state's reason:
//
//	bits  0..7   State
//	bits  8..15  reason
//	bits 16..31  HTTP code of the last mismatch
//	bits 32..47  consecutive passes
//	bits 48..63  consecutive failures
type word uint64

func makeWord(st State, r reason, code, passes, fails uint16) word {
	return word(uint64(st&0xff) | uint64(r)<<8 | uint64(code)<<16 | uint64(passes)<<32 | uint64(fails)<<48)
}

func (w word) state() State     { return State(w & 0xff) }
func (w word) reason() reason   { return reason(w >> 8 & 0xff) }
func (w word) code() uint16     { return uint16(w >> 16) }
func (w word) passes() uint16   { return uint16(w >> 32) }
func (w word) failures() uint16 { return uint16(w >> 48) }

// result is the outcome of one active check.
type result struct {
	ok     bool
	reason reason // why it failed; ignored when ok
	code   uint16 // HTTP status for reasonResponseCodeMismatch
}

func inc16(v uint16) uint16 {
	if v == 0xffff {
		return v
	}
	return v + 1
}

// step is ALB's state machine, a pure function of the current word and one
// check result. Thresholds below 1 count as 1.
//   - initial: the first pass makes it healthy; unhealthy consecutive failures
//     make it unhealthy; in between it stays initial (Elb.InitialHealthChecking).
//   - healthy: unhealthy consecutive failures make it unhealthy.
//   - unhealthy: healthy consecutive passes make it healthy; each failure
//     refreshes the reason.
//   - draining (and unused) never move.
func step(w word, res result, healthyThr, unhealthyThr int) word {
	st := w.state()
	if st == StateDraining || st == StateUnused {
		return w
	}
	if res.ok {
		passes := inc16(w.passes())
		switch {
		case st == StateInitial, st == StateHealthy:
			return makeWord(StateHealthy, reasonNone, 0, passes, 0)
		case int(passes) >= healthyThr:
			return makeWord(StateHealthy, reasonNone, 0, passes, 0)
		default: // unhealthy, not enough passes yet
			return makeWord(StateUnhealthy, w.reason(), w.code(), passes, 0)
		}
	}
	fails := inc16(w.failures())
	code := uint16(0)
	if res.reason == reasonResponseCodeMismatch {
		code = res.code
	}
	switch {
	case st == StateUnhealthy, int(fails) >= unhealthyThr:
		return makeWord(StateUnhealthy, res.reason, code, 0, fails)
	case st == StateHealthy:
		return makeWord(StateHealthy, reasonNone, 0, 0, fails)
	default: // initial, not enough failures yet
		return makeWord(StateInitial, w.reason(), 0, 0, fails)
	}
}

// Status is the health of one target: the active-check state machine and the
// passive ejection state. It is made of atomics only, safe for concurrent use,
// and its zero value is a new target in StateInitial. A Status must not be
// copied after first use.
type Status struct {
	w atomic.Uint64

	// Passive outlier detection, written by Outlier.
	failures     atomic.Uint32 // consecutive failed observations
	ejections    atomic.Uint32 // times ejected, decayed (see Outlier)
	ejectedUntil atomic.Int64  // unix nanos; in force while > now
}

func (s *Status) load() word { return word(s.w.Load()) }

// update applies f with compare-and-swap until it sticks and returns the
// states before and after.
func (s *Status) update(f func(word) word) (from, to State) {
	for {
		old := s.w.Load()
		nw := uint64(f(word(old)))
		if nw == old || s.w.CompareAndSwap(old, nw) {
			return word(old).state(), word(nw).state()
		}
	}
}

// record applies one check result to the state machine.
func (s *Status) record(res result, healthyThr, unhealthyThr int) (from, to State) {
	return s.update(func(w word) word { return step(w, res, healthyThr, unhealthyThr) })
}

// setDisabled marks the target healthy because its group has no active checks,
// unless it is draining.
func (s *Status) setDisabled() (from, to State) {
	return s.update(func(w word) word {
		if st := w.state(); st == StateDraining || st == StateUnused {
			return w
		}
		return makeWord(StateHealthy, reasonHealthCheckDisabled, 0, 0, 0)
	})
}

// clearDisabled drops the Target.HealthCheckDisabled reason when checks are
// enabled again; the target stays healthy until checks say otherwise.
func (s *Status) clearDisabled() {
	s.update(func(w word) word {
		if w.reason() == reasonHealthCheckDisabled {
			return makeWord(w.state(), reasonNone, 0, 0, 0)
		}
		return w
	})
}

// State returns the current state.
func (s *Status) State() State { return s.load().state() }

// Reason returns ALB's reason code for the current state: empty when healthy
// (unless checks are disabled), Elb.InitialHealthChecking while initial,
// the last failure's code while unhealthy, Target.DeregistrationInProgress
// while draining.
func (s *Status) Reason() string {
	return reasonCodes[effectiveReason(s.load())]
}

func effectiveReason(w word) reason {
	if r := w.reason(); r != reasonNone {
		return r
	}
	switch w.state() {
	case StateInitial:
		return reasonInitialHealthChecking
	case StateUnhealthy:
		return reasonFailedHealthChecks
	case StateDraining:
		return reasonDeregistrationInProgress
	}
	return reasonNone
}

// Description returns human text for the reason, such as
// "Health checks failed with these codes: [500]"; empty when healthy.
func (s *Status) Description() string { return describe(s.load()) }

func describe(w word) string {
	r := effectiveReason(w)
	if r == reasonResponseCodeMismatch && w.code() != 0 {
		return "Health checks failed with these codes: [" + strconv.Itoa(int(w.code())) + "]"
	}
	return reasonTexts[r]
}

// Available reports whether the target may take new traffic at now (unix
// nanoseconds): it is healthy and no passive ejection is in force. Initial,
// unhealthy and draining targets are not available; failing open is the
// caller's decision. It does not allocate.
func (s *Status) Available(now int64) bool {
	return s.load().state() == StateHealthy && s.ejectedUntil.Load() <= now
}

// Ejected reports whether passive outlier detection keeps the target out at
// now (unix nanoseconds). Ejection ends by time; nothing needs to clear it.
func (s *Status) Ejected(now int64) bool { return s.ejectedUntil.Load() > now }

// EjectedUntil returns when the last ejection ends (or ended), in unix
// nanoseconds; 0 if the target was never ejected.
func (s *Status) EjectedUntil() int64 { return s.ejectedUntil.Load() }

// SetDraining moves the target to StateDraining with reason
// Target.DeregistrationInProgress. Check results no longer change the state
// until Reset. It returns the state it left.
func (s *Status) SetDraining() (from State) {
	from, _ = s.update(func(w word) word {
		return makeWord(StateDraining, reasonDeregistrationInProgress, 0, 0, 0)
	})
	return from
}

// Reset returns the Status to its zero value (StateInitial, no ejection
// history), for a target registered again after it was drained.
func (s *Status) Reset() {
	s.w.Store(0)
	s.failures.Store(0)
	s.ejections.Store(0)
	s.ejectedUntil.Store(0)
}

// Fill copies the state, reason, description and ejection at now (unix
// nanoseconds) into th, for the API's DescribeTargetHealth.
func (s *Status) Fill(th *spec.TargetHealth, now int64) {
	w := s.load()
	th.State = w.state().String()
	th.Reason = reasonCodes[effectiveReason(w)]
	th.Description = describe(w)
	th.Ejected = s.Ejected(now)
}

// ParseState is the inverse of State.String; false for an unknown word.
func ParseState(s string) (State, bool) {
	for st := StateInitial; st <= StateUnused; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return StateInitial, false
}

// SetShared sets the state another node's checks found, with its ALB reason
// code (unknown codes count as none): in a cluster, a target is checked once,
// by the node that owns it, and the others take its verdict. Draining is kept.
// It returns the states before and after.
func (s *Status) SetShared(st State, reasonCode string) (from, to State) {
	r := reasonNone
	for i, code := range reasonCodes {
		if code == reasonCode && code != "" {
			r = reason(i)
		}
	}
	return s.update(func(w word) word {
		if w.state() == StateDraining || st > StateUnhealthy {
			return w
		}
		return makeWord(st, r, 0, 0, 0)
	})
}
