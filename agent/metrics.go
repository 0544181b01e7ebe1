package agent

import "github.com/prometheus/client_golang/prometheus"

// metrics of one Agent; labels are bounded (result: started, failed).
type metrics struct {
	running       prometheus.Gauge
	starts        *prometheus.CounterVec
	exits         prometheus.Counter
	drainSeconds  prometheus.Histogram
	drainTimeouts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_agent_running_tasks", Help: "Tasks this node's agent has started (or adopted) and not stopped yet.",
		}),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_agent_task_starts_total", Help: "Task starts by this node's agent, by result (started, failed).",
		}, []string{"result"}),
		exits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_agent_task_exits_total", Help: "Tasks whose essential container exited by itself or failed its health check.",
		}),
		drainSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gantry_agent_drain_seconds", Help: "Time from a task's drain to its SIGTERM: until every node let go of its targets.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		drainTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_agent_drain_timeouts_total", Help: "Drains ended by the deregistration delay rather than by every node's acknowledgement.",
		}),
	}
	m.starts.WithLabelValues("started")
	m.starts.WithLabelValues("failed")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.running, m.starts, m.exits, m.drainSeconds, m.drainTimeouts} {
			_ = reg.Register(c) // a second agent on one registry (tests) keeps its own
		}
	}
	return m
}
