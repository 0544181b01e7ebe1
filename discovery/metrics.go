package discovery

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one Cluster. Labels are bounded: state (4 values), direction
// (in, out), type (registration, state), reason (the drop reasons), source (4).
type metrics struct {
	members       *prometheus.GaugeVec
	messages      *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	registrations *prometheus.GaugeVec

	// bytesIn/bytesOut mirror gantry_gossip_bytes_total for tests and Stats.
	bytesIn, bytesOut atomic.Uint64
	inBytes, outBytes prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_cluster_members", Help: "Cluster members known to this node, by state (alive, suspect, dead, left).",
		}, []string{"state"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_gossip_messages_total", Help: "Registration gossip messages, by direction and type (registration, state).",
		}, []string{"direction", "type"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_gossip_bytes_total", Help: "Bytes of all gossip traffic (memberlist's included), by direction.",
		}, []string{"direction"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_gossip_dropped_messages_total", Help: "Gossip messages dropped, by reason.",
		}, []string{"reason"}),
		registrations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_registrations", Help: "Registrations known to this node (tombstones excluded), by source.",
		}, []string{"source"}),
	}
	m.inBytes, m.outBytes = m.bytes.WithLabelValues("in"), m.bytes.WithLabelValues("out")
	for _, r := range []string{dropMalformed, dropOversized, dropVersion, dropUnknownType, dropDecrypt} {
		m.dropped.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.members, m.messages, m.bytes, m.dropped, m.registrations} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) addIn(n int) {
	m.bytesIn.Add(uint64(n))
	m.inBytes.Add(float64(n))
}

func (m *metrics) addOut(n int) {
	m.bytesOut.Add(uint64(n))
	m.outBytes.Add(float64(n))
}
