package health

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/spec"
)

const sec = int64(time.Second)

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

// healthyStatuses returns n targets that passed their first check.
func healthyStatuses(n int) []*Status {
	ss := make([]*Status, n)
	for i := range ss {
		ss[i] = new(Status)
		ss[i].record(result{ok: true}, 2, 2)
	}
	return ss
}

func failN(o *Outlier, s *Status, n int, now int64) {
	for range n {
		o.Observe(s, false, now)
	}
}

func TestOutlierEjectsAfterConsecutiveFailures(t *testing.T) {
	o := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 3, BaseEjectionSeconds: 10})
	ss := healthyStatuses(4)
	o.SetTargets(ss)
	s := ss[0]

	failN(o, s, 2, 0)
	if s.Ejected(0) {
		t.Fatalf("after 2 of 3 failures: Ejected(0) = true, want false")
	}
	o.Observe(s, true, 0) // a success resets the run
	failN(o, s, 2, 0)
	if s.Ejected(0) {
		t.Fatalf("after success and 2 failures: Ejected(0) = true, want false")
	}
	o.Observe(s, false, 0)
	if !s.Ejected(0) || s.Available(0) {
		t.Fatalf("after 3 failures: Ejected(0), Available(0) = %v, %v, want true, false", s.Ejected(0), s.Available(0))
	}
	if got, want := s.EjectedUntil(), 10*sec; got != want {
		t.Errorf("EjectedUntil() = %d, want %d", got, want)
	}
	// Ends by time.
	if s.Ejected(10*sec) || !s.Available(10*sec) {
		t.Errorf("at expiry: Ejected, Available = %v, %v, want false, true", s.Ejected(10*sec), s.Available(10*sec))
	}
	// Failures while ejected do not extend it.
	failN(o, s, 10, 5*sec)
	if got, want := s.EjectedUntil(), 10*sec; got != want {
		t.Errorf("EjectedUntil() after failures while ejected = %d, want %d", got, want)
	}
}

func TestOutlierEjectionGrowsAndDecays(t *testing.T) {
	o := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 1, BaseEjectionSeconds: 10})
	ss := healthyStatuses(2)
	o.SetTargets(ss)
	s := ss[0]

	// Each ejection that starts as soon as the last ended lasts one more base
	// period, up to 10.
	now := int64(0)
	for i := 1; i <= 12; i++ {
		o.Observe(s, false, now)
		want := int64(min(i, 10)) * 10 * sec
		if got := s.EjectedUntil() - now; got != want {
			t.Fatalf("ejection %d lasts %d, want %d", i, got, want)
		}
		now = s.EjectedUntil()
	}
	// Three base periods out of ejection take three off the multiplier (10 → 7, +1 = 8).
	now += 30 * sec
	o.Observe(s, false, now)
	if got, want := s.EjectedUntil()-now, 8*10*sec; got != want {
		t.Errorf("ejection after 3 quiet periods lasts %d, want %d", got, want)
	}
	// A long quiet time starts over at one period.
	now = s.EjectedUntil() + 1000*sec
	o.Observe(s, false, now)
	if got, want := s.EjectedUntil()-now, 10*sec; got != want {
		t.Errorf("ejection after a long quiet time lasts %d, want %d", got, want)
	}
}

func TestOutlierCap(t *testing.T) {
	tests := []struct {
		name    string
		percent *int
		targets int
		want    int // most targets ejected at once
	}{
		{"default 50% of 4", nil, 4, 2},
		{"50% of 5", intp(50), 5, 2},
		{"10% of 3 ejects one", intp(10), 3, 1},
		{"10% of 20", intp(10), 20, 2},
		{"50% of 1 ejects none", intp(50), 1, 0},
		{"100% of 1", intp(100), 1, 1},
		{"100% of 3", intp(100), 3, 3},
		{"0% ejects none", intp(0), 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 2, BaseEjectionSeconds: 30, MaxEjectionPercent: tt.percent})
			ss := healthyStatuses(tt.targets)
			o.SetTargets(ss)
			if got := o.MaxEjected(tt.targets); got != tt.want {
				t.Errorf("MaxEjected(%d) = %d, want %d", tt.targets, got, tt.want)
			}
			for _, s := range ss {
				failN(o, s, 2, 0)
			}
			if got := countEjected(ss, 1); got != tt.want {
				t.Errorf("ejected after every target failed = %d, want %d", got, tt.want)
			}
			// Once the ejections end, the cap frees up for the others.
			if tt.want > 0 && tt.want < tt.targets {
				later := 31 * sec
				var spared *Status
				for _, s := range ss {
					if !s.Ejected(0) {
						spared = s
						break
					}
				}
				failN(o, spared, 2, later)
				if !spared.Ejected(later) {
					t.Errorf("a target spared by the cap is not ejected after the others expired")
				}
			}
		})
	}
}

func countEjected(ss []*Status, now int64) int {
	n := 0
	for _, s := range ss {
		if s.Ejected(now) {
			n++
		}
	}
	return n
}

func TestOutlierNeverEjects(t *testing.T) {
	tests := []struct {
		name       string
		cfg        spec.OutlierDetection
		setTargets bool
	}{
		{"disabled", spec.OutlierDetection{Enabled: boolp(false), ConsecutiveFailures: 1}, true},
		{"no targets set", spec.OutlierDetection{ConsecutiveFailures: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOutlier(tt.cfg)
			ss := healthyStatuses(4)
			if tt.setTargets {
				o.SetTargets(ss)
			}
			failN(o, ss[0], 100, 0)
			if ss[0].Ejected(0) {
				t.Errorf("Ejected(0) = true, want false")
			}
		})
	}
	var o *Outlier
	o.Observe(new(Status), false, 0) // a nil Outlier is a no-op
	if o.Enabled() {
		t.Errorf("(*Outlier)(nil).Enabled() = true, want false")
	}
}

func TestOutlierDefaults(t *testing.T) {
	o := NewOutlier(spec.OutlierDetection{})
	ss := healthyStatuses(2)
	o.SetTargets(ss)
	failN(o, ss[0], 4, 0)
	if ss[0].Ejected(0) {
		t.Fatalf("after 4 failures with the default 5: ejected")
	}
	o.Observe(ss[0], false, 0)
	if got, want := ss[0].EjectedUntil(), 30*sec; got != want {
		t.Errorf("default ejection ends at %d, want %d", got, want)
	}
}

func TestOutlierMetricsAndHook(t *testing.T) {
	reg := prometheus.NewRegistry()
	var hooked []int64
	o := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 1, BaseEjectionSeconds: 1},
		WithRegistry(reg), WithOnEject(func(s *Status, until int64) { hooked = append(hooked, until) }))
	o2 := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 1, BaseEjectionSeconds: 1}, WithRegistry(reg))
	ss := healthyStatuses(2)
	o.SetTargets(ss)
	o2.SetTargets(ss)
	o.Observe(ss[0], false, 0)
	o2.Observe(ss[0], false, 5*sec)
	if got := counterValue(t, reg, "gantry_outlier_ejections_total", ""); got != 2 {
		t.Errorf("gantry_outlier_ejections_total = %v, want 2", got)
	}
	if len(hooked) != 1 || hooked[0] != sec {
		t.Errorf("OnEject saw %v, want [%d]", hooked, sec)
	}
}

func TestOutlierConcurrentCap(t *testing.T) {
	o := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 3, BaseEjectionSeconds: 60, MaxEjectionPercent: intp(30)})
	ss := healthyStatuses(10)
	o.SetTargets(ss)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				o.Observe(ss[(g+i)%len(ss)], false, int64(i))
			}
		})
	}
	wg.Wait()
	if got, want := countEjected(ss, 1000), 3; got != want {
		t.Errorf("ejected after concurrent failures = %d, want %d", got, want)
	}
}

func TestObserveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	o := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 2, BaseEjectionSeconds: 1}, WithRegistry(prometheus.NewRegistry()))
	ss := healthyStatuses(4)
	o.SetTargets(ss)
	now := int64(0)
	n := testing.AllocsPerRun(1000, func() {
		now += 2 * sec // every ejection has ended: each run ejects once
		o.Observe(ss[0], true, now)
		o.Observe(ss[0], false, now)
		o.Observe(ss[0], false, now)
	})
	if n != 0 {
		t.Errorf("Observe allocates %v times per run, want 0", n)
	}
	if !ss[0].Ejected(now) {
		t.Errorf("the allocation run did not exercise ejection")
	}
}

func BenchmarkObserveOK(b *testing.B) {
	o := NewOutlier(spec.OutlierDetection{})
	ss := healthyStatuses(4)
	o.SetTargets(ss)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o.Observe(ss[0], true, 1)
		}
	})
}

func BenchmarkObserveFailing(b *testing.B) {
	o := NewOutlier(spec.OutlierDetection{ConsecutiveFailures: 1000})
	ss := healthyStatuses(4)
	o.SetTargets(ss)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o.Observe(ss[i%4], i%7 == 0, int64(i))
	}
}

// counterValue reads a counter from reg; label selects a result label value
// ("" for an unlabelled counter).
func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() error = %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
