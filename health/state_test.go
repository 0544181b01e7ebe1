package health

import (
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// apply runs a script of events against s: P pass, M code 500 mismatch,
// T timeout, R refused, I internal error, D drain, X checks disabled, Z reset.
func applyScript(t *testing.T, s *Status, script string, healthyThr, unhealthyThr int) {
	t.Helper()
	for _, ev := range script {
		switch ev {
		case 'P':
			s.record(result{ok: true}, healthyThr, unhealthyThr)
		case 'M':
			s.record(result{reason: reasonResponseCodeMismatch, code: 500}, healthyThr, unhealthyThr)
		case 'T':
			s.record(result{reason: reasonTimeout}, healthyThr, unhealthyThr)
		case 'R':
			s.record(result{reason: reasonFailedHealthChecks}, healthyThr, unhealthyThr)
		case 'I':
			s.record(result{reason: reasonInternalError}, healthyThr, unhealthyThr)
		case 'D':
			s.SetDraining()
		case 'X':
			s.setDisabled()
		case 'Z':
			s.Reset()
		default:
			t.Fatalf("bad script event %q", ev)
		}
	}
}

func TestStateMachine(t *testing.T) {
	const healthyThr, unhealthyThr = 3, 2
	tests := []struct {
		script      string
		state       State
		reason      string
		description string
	}{
		{"", StateInitial, ReasonInitialHealthChecking, "Initial health checks in progress"},
		{"P", StateHealthy, "", ""},
		{"M", StateInitial, ReasonInitialHealthChecking, "Initial health checks in progress"},
		{"MM", StateUnhealthy, ReasonResponseCodeMismatch, "Health checks failed with these codes: [500]"},
		{"TT", StateUnhealthy, ReasonTimeout, "Request timed out"},
		{"RR", StateUnhealthy, ReasonFailedHealthChecks, "Health checks failed"},
		{"II", StateUnhealthy, ReasonInternalError, "Health checks failed due to an internal error"},
		{"MP", StateHealthy, "", ""},
		{"PM", StateHealthy, "", ""},
		{"PMP", StateHealthy, "", ""},
		{"PMPM", StateHealthy, "", ""},
		{"PMM", StateUnhealthy, ReasonResponseCodeMismatch, "Health checks failed with these codes: [500]"},
		{"PMT", StateUnhealthy, ReasonTimeout, "Request timed out"},
		{"MMP", StateUnhealthy, ReasonResponseCodeMismatch, "Health checks failed with these codes: [500]"},
		{"MMPP", StateUnhealthy, ReasonResponseCodeMismatch, "Health checks failed with these codes: [500]"},
		{"MMPPP", StateHealthy, "", ""},
		{"MMPPRP", StateUnhealthy, ReasonFailedHealthChecks, "Health checks failed"},
		{"MMPPRPPP", StateHealthy, "", ""},
		{"MMR", StateUnhealthy, ReasonFailedHealthChecks, "Health checks failed"},
		{"PD", StateDraining, ReasonDeregistrationInProgress, "Target deregistration is in progress"},
		{"PDMMMM", StateDraining, ReasonDeregistrationInProgress, "Target deregistration is in progress"},
		{"MMDPPPP", StateDraining, ReasonDeregistrationInProgress, "Target deregistration is in progress"},
		{"DX", StateDraining, ReasonDeregistrationInProgress, "Target deregistration is in progress"},
		{"PDZ", StateInitial, ReasonInitialHealthChecking, "Initial health checks in progress"},
		{"PDZP", StateHealthy, "", ""},
		{"X", StateHealthy, ReasonHealthCheckDisabled, "Health checks are disabled"},
		{"MMX", StateHealthy, ReasonHealthCheckDisabled, "Health checks are disabled"},
		{"XP", StateHealthy, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			var s Status
			applyScript(t, &s, tt.script, healthyThr, unhealthyThr)
			if got := s.State(); got != tt.state {
				t.Errorf("script %q: State() = %v, want %v", tt.script, got, tt.state)
			}
			if got := s.Reason(); got != tt.reason {
				t.Errorf("script %q: Reason() = %q, want %q", tt.script, got, tt.reason)
			}
			if got := s.Description(); got != tt.description {
				t.Errorf("script %q: Description() = %q, want %q", tt.script, got, tt.description)
			}
			wantAvail := tt.state == StateHealthy
			if got := s.Available(0); got != wantAvail {
				t.Errorf("script %q: Available(0) = %v, want %v", tt.script, got, wantAvail)
			}
		})
	}
}

func TestStepCountersSaturate(t *testing.T) {
	w := makeWord(StateHealthy, reasonNone, 0, 0xffff, 0)
	if got := step(w, result{ok: true}, 2, 2).passes(); got != 0xffff {
		t.Errorf("passes after saturation = %d, want %d", got, 0xffff)
	}
	w = makeWord(StateUnhealthy, reasonTimeout, 0, 0, 0xffff)
	if got := step(w, result{reason: reasonTimeout}, 2, 2).failures(); got != 0xffff {
		t.Errorf("failures after saturation = %d, want %d", got, 0xffff)
	}
}

func TestStepThresholdBelowOne(t *testing.T) {
	var w word
	w = step(w, result{reason: reasonTimeout}, 0, 0)
	if got := w.state(); got != StateUnhealthy {
		t.Errorf("one failure with threshold 0: state = %v, want %v", got, StateUnhealthy)
	}
	w = step(w, result{ok: true}, 0, 0)
	if got := w.state(); got != StateHealthy {
		t.Errorf("one pass with threshold 0: state = %v, want %v", got, StateHealthy)
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{StateInitial, spec.TargetInitial},
		{StateHealthy, spec.TargetHealthy},
		{StateUnhealthy, spec.TargetUnhealthy},
		{StateDraining, spec.TargetDraining},
		{StateUnused, spec.TargetUnused},
		{State(42), "State(42)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("State(%d).String() = %q, want %q", uint32(tt.s), got, tt.want)
		}
	}
}

func TestSetDrainingReturnsPrevious(t *testing.T) {
	var s Status
	s.record(result{ok: true}, 2, 2)
	if got := s.SetDraining(); got != StateHealthy {
		t.Errorf("SetDraining() = %v, want %v", got, StateHealthy)
	}
	if got := s.SetDraining(); got != StateDraining {
		t.Errorf("second SetDraining() = %v, want %v", got, StateDraining)
	}
}

func TestAvailableAndEjection(t *testing.T) {
	var s Status
	s.record(result{ok: true}, 2, 2)
	s.ejectedUntil.Store(100)
	tests := []struct {
		now           int64
		avail, ejectd bool
	}{
		{50, false, true},
		{99, false, true},
		{100, true, false},
		{200, true, false},
	}
	for _, tt := range tests {
		if got := s.Available(tt.now); got != tt.avail {
			t.Errorf("Available(%d) = %v, want %v", tt.now, got, tt.avail)
		}
		if got := s.Ejected(tt.now); got != tt.ejectd {
			t.Errorf("Ejected(%d) = %v, want %v", tt.now, got, tt.ejectd)
		}
	}
}

func TestFill(t *testing.T) {
	var s Status
	s.record(result{reason: reasonResponseCodeMismatch, code: 503}, 2, 1)
	s.ejectedUntil.Store(10)
	var th spec.TargetHealth
	s.Fill(&th, 5)
	want := spec.TargetHealth{
		State:       spec.TargetUnhealthy,
		Reason:      ReasonResponseCodeMismatch,
		Description: "Health checks failed with these codes: [503]",
		Ejected:     true,
	}
	if th != want {
		t.Errorf("Fill() = %+v, want %+v", th, want)
	}
}

func TestAvailableAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var s Status
	s.record(result{ok: true}, 2, 2)
	if n := testing.AllocsPerRun(100, func() { _ = s.Available(1) }); n != 0 {
		t.Errorf("Available allocates %v times, want 0", n)
	}
}

func BenchmarkAvailable(b *testing.B) {
	var s Status
	s.record(result{ok: true}, 2, 2)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = s.Available(int64(i))
	}
}

func TestSetShared(t *testing.T) {
	var s Status
	if from, to := s.SetShared(StateUnhealthy, ReasonTimeout); from != StateInitial || to != StateUnhealthy {
		t.Errorf("SetShared(unhealthy) = %v→%v, want initial→unhealthy", from, to)
	}
	if s.Reason() != ReasonTimeout || s.Available(0) {
		t.Errorf("after SetShared(unhealthy, Timeout): reason %q available %v", s.Reason(), s.Available(0))
	}
	s.SetShared(StateHealthy, "")
	if !s.Available(0) || s.Reason() != "" {
		t.Errorf("after SetShared(healthy): available %v reason %q, want true and none", s.Available(0), s.Reason())
	}
	s.SetDraining()
	if _, to := s.SetShared(StateHealthy, ""); to != StateDraining {
		t.Errorf("SetShared on a draining target moved it to %v, want it kept draining", to)
	}
	for _, st := range []State{StateInitial, StateHealthy, StateUnhealthy, StateDraining, StateUnused} {
		if got, ok := ParseState(st.String()); !ok || got != st {
			t.Errorf("ParseState(%q) = %v, %v", st.String(), got, ok)
		}
	}
	if _, ok := ParseState("bogus"); ok {
		t.Error("ParseState(bogus) succeeded")
	}
}
