package store

import (
	"github.com/prometheus/client_golang/prometheus"
)

// raftMetrics are the store's instruments on RaftConfig.Registry.
type raftMetrics struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector
	commands   *prometheus.CounterVec
}

func newRaftMetrics(r *Raft) *raftMetrics {
	m := &raftMetrics{
		reg: r.cfg.Registry,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_store_commands_total",
			Help: "Commands this server's FSM applied from the raft log, by operation.",
		}, []string{"op"}),
	}
	leader := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gantry_store_raft_leader",
		Help: "1 while this server is the raft leader, else 0.",
	}, func() float64 {
		if r.IsLeader() {
			return 1
		}
		return 0
	})
	version := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gantry_store_version",
		Help: "Version of the desired state this server holds.",
	}, func() float64 { return float64(r.Snapshot().Version) })
	applied := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gantry_store_raft_applied_index",
		Help: "Index of the last raft log entry this server applied.",
	}, func() float64 { return float64(r.raft.AppliedIndex()) })
	m.collectors = []prometheus.Collector{m.commands, leader, version, applied}
	return m
}

// register adds the instruments to the registry, once r.raft is set.
func (m *raftMetrics) register(r *Raft) {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		if err := m.reg.Register(c); err != nil {
			r.log.Warn("store: metric not registered", "error", err)
		}
	}
}

// commit counts one applied command.
func (m *raftMetrics) commit(op string) { m.commands.WithLabelValues(op).Inc() }

// unregister removes the instruments, so that a store reopened on the same
// registry registers again.
func (m *raftMetrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
