package controller

import "github.com/prometheus/client_golang/prometheus"

// metrics of the scheduler's loop. Labels are bounded: none but the
// service for unplaced tasks (services are operator-defined and few).
type metrics struct {
	plans    prometheus.Counter
	duration prometheus.Histogram
	started  prometheus.Counter
	stopped  prometheus.Counter
	lost     prometheus.Counter
	unplaced *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		plans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_scheduler_plans_total", Help: "Plans the scheduler made on this node while leader.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gantry_scheduler_plan_duration_seconds", Help: "Time to snapshot, plan and commit one step.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_scheduler_tasks_placed_total", Help: "Tasks the scheduler placed.",
		}),
		stopped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_scheduler_tasks_stopped_total", Help: "Tasks the scheduler stopped (scale-in, rollouts, drains, health).",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_scheduler_tasks_lost_total", Help: "Tasks of dead nodes the scheduler recorded stopped.",
		}),
		unplaced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_scheduler_unplaced_tasks", Help: "Tasks of a service no node could take at the last plan.",
		}, []string{"service"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.plans, m.duration, m.started, m.stopped, m.lost, m.unplaced} {
			_ = reg.Register(c) // a second controller on one registry (tests) keeps its own
		}
	}
	return m
}
