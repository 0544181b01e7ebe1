package health

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of gantry_health_checks_total.
const (
	resultPass          = "pass"
	resultTimeout       = "timeout"
	resultCodeMismatch  = "code_mismatch"
	resultFailed        = "failed"
	resultInternalError = "internal_error"
)

// checkMetrics holds the Checker's counters, resolved once so a check never
// looks a label up.
type checkMetrics struct {
	pass     prometheus.Counter
	byReason [len(reasonCodes)]prometheus.Counter
	panics   prometheus.Counter
}

func newCheckMetrics(reg prometheus.Registerer) *checkMetrics {
	checks := registerCounterVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_health_checks_total",
		Help: "Active health checks run, by result (pass, timeout, code_mismatch, failed, internal_error).",
	}, []string{"result"}))
	panics := registerCounter(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_health_check_panics_total",
		Help: "Panics recovered in health check probes.",
	}))
	m := &checkMetrics{pass: checks.WithLabelValues(resultPass), panics: panics}
	failed := checks.WithLabelValues(resultFailed)
	for i := range m.byReason {
		m.byReason[i] = failed
	}
	m.byReason[reasonTimeout] = checks.WithLabelValues(resultTimeout)
	m.byReason[reasonResponseCodeMismatch] = checks.WithLabelValues(resultCodeMismatch)
	m.byReason[reasonInternalError] = checks.WithLabelValues(resultInternalError)
	return m
}

func (m *checkMetrics) count(res result) {
	if res.ok {
		m.pass.Inc()
		return
	}
	m.byReason[res.reason].Inc()
}

func newEjectionCounter(reg prometheus.Registerer) prometheus.Counter {
	return registerCounter(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_outlier_ejections_total",
		Help: "Targets ejected by passive outlier detection.",
	}))
}

// registerCounterVec registers cv, or returns the collector already
// registered under its name so that several Checkers and Outliers may share
// one registry. Without a registry the counters still work, unexported.
func registerCounterVec(reg prometheus.Registerer, cv *prometheus.CounterVec) *prometheus.CounterVec {
	if reg == nil {
		return cv
	}
	if err := reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return cv
}

func registerCounter(reg prometheus.Registerer, c prometheus.Counter) prometheus.Counter {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing
			}
		}
	}
	return c
}
