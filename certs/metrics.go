package certs

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of gantry_tls_certificate_reloads_total.
const (
	resultSuccess = "success"
	resultError   = "error"
)

type metrics struct {
	reloads    *prometheus.CounterVec
	expiry     *prometheus.GaugeVec
	acmeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		reloads: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_tls_certificate_reloads_total",
			Help: "Certificate files of a listener reloaded after a change on disk, by result (success, error).",
		}, []string{"listener", "result"})),
		expiry: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_tls_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of each certificate a listener serves, in Unix seconds, by listener and certificate name.",
		}, []string{"listener", "name"})),
		acmeErrors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_tls_acme_errors_total",
			Help: "Handshakes of an ACME listener that failed because no certificate could be obtained.",
		}, []string{"listener"})),
	}
}

// register registers c, or returns the collector already registered under
// its name so that several Providers may share one registry. Without a
// registry the metrics still work, unexported.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// setExpiry replaces the expiry series of a listener by those of set.
func (m *metrics) setExpiry(listener string, set *certSet) {
	m.expiry.DeletePartialMatch(prometheus.Labels{"listener": listener})
	for _, c := range set.certs {
		m.expiry.WithLabelValues(listener, leafName(c.Leaf)).Set(unixSeconds(c.Leaf.NotAfter))
	}
}

// forget drops every series of a listener that is no longer configured.
func (m *metrics) forget(listener string) {
	m.expiry.DeletePartialMatch(prometheus.Labels{"listener": listener})
	m.reloads.DeletePartialMatch(prometheus.Labels{"listener": listener})
	m.acmeErrors.DeletePartialMatch(prometheus.Labels{"listener": listener})
}

func unixSeconds(t time.Time) float64 { return float64(t.Unix()) }
