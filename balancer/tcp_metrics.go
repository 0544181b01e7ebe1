package balancer

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// tcpMetrics are the metrics of TCP and TLS listeners (NLB's ActiveFlowCount,
// NewFlowCount, ProcessedBytes, TCP_ELB_Reset_Count; resets by clients or
// targets show in the access log's error_reason, as the pipe cannot tell
// which side reset)
// and of the edge every listener shares: TLS handshakes and PROXY headers.
type tcpMetrics struct {
	activeFlows    *prometheus.GaugeVec   // listener
	newFlows       *prometheus.CounterVec // listener
	flowBytes      *prometheus.CounterVec // listener
	elbResets      *prometheus.CounterVec // listener
	tlsNegotiation *prometheus.CounterVec // listener
	proxyRejected  *prometheus.CounterVec // listener

	mu        sync.Mutex
	listeners map[string]*tcpListenerMetrics
}

// tcpListenerMetrics are one listener's children, resolved once.
type tcpListenerMetrics struct {
	active    prometheus.Gauge
	newFlows  prometheus.Counter
	bytes     prometheus.Counter
	elbResets prometheus.Counter
}

func newTCPMetrics(reg prometheus.Registerer) *tcpMetrics {
	m := &tcpMetrics{
		activeFlows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_tcp_active_flows", Help: "Open flows of TCP and TLS listeners (NLB's ActiveFlowCount).",
		}, []string{"listener"}),
		newFlows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_tcp_new_flows_total", Help: "Flows of TCP and TLS listeners established to a target (NLB's NewFlowCount).",
		}, []string{"listener"}),
		flowBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_tcp_processed_bytes_total", Help: "Bytes relayed by TCP and TLS listeners' flows, both ways, counted when a flow ends.",
		}, []string{"listener"}),
		elbResets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_tcp_elb_reset_total", Help: "Flows Gantry ended itself: no target, target unreachable, idle timeout, drain deadline, refused PROXY header (NLB's TCP_ELB_Reset_Count).",
		}, []string{"listener"}),
		tlsNegotiation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_client_tls_negotiation_errors_total", Help: "TLS handshakes with clients that failed, plain HTTP on a TLS port included (ALB's ClientTLSNegotiationErrorCount).",
		}, []string{"listener"}),
		proxyRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_proxy_protocol_rejected_total", Help: "Connections closed for a PROXY header from an untrusted peer or a malformed one.",
		}, []string{"listener"}),
		listeners: map[string]*tcpListenerMetrics{},
	}
	if reg != nil {
		reg.MustRegister(m.activeFlows, m.newFlows, m.flowBytes, m.elbResets,
			m.tlsNegotiation, m.proxyRejected)
	}
	return m
}

func (m *tcpMetrics) forListener(name string) *tcpListenerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.listeners[name]; c != nil {
		return c
	}
	c := &tcpListenerMetrics{
		active:    m.activeFlows.WithLabelValues(name),
		newFlows:  m.newFlows.WithLabelValues(name),
		bytes:     m.flowBytes.WithLabelValues(name),
		elbResets: m.elbResets.WithLabelValues(name),
	}
	m.listeners[name] = c
	return c
}

// forget drops the series of a listener that is no longer configured.
func (m *tcpMetrics) forget(name string) {
	l := prometheus.Labels{"listener": name}
	for _, v := range []deleter{m.activeFlows, m.newFlows, m.flowBytes, m.elbResets, m.tlsNegotiation, m.proxyRejected} {
		v.DeletePartialMatch(l)
	}
	m.mu.Lock()
	delete(m.listeners, name)
	m.mu.Unlock()
}

func (m *tcpMetrics) tlsErrors(listener string) prometheus.Counter {
	return m.tlsNegotiation.WithLabelValues(listener)
}
