package balancer

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/gantrylb/gantry/spec"
)

// TLSProvider supplies the server side of TLS for HTTPS and TLS listeners.
// The certs package implements it; the balancer never reads certificate
// files itself.
type TLSProvider interface {
	// ServerConfig returns the server-side TLS configuration of an HTTPS or TLS listener. Called on every
	// Update for each such listener; an error rejects the update. Safe for concurrent use.
	ServerConfig(l *spec.Listener) (*tls.Config, error)
}

// buildEdge fills in what a listener does before routing: TLS, PROXY
// headers, SNI peeking, and the scheme forwarded requests report.
func (b *Balancer) buildEdge(l *spec.Listener, st *listenerState) error {
	st.headerTimeout = l.Limits.RequestHeaderTimeout()
	if l.Protocol == spec.ProtocolHTTPS {
		st.scheme = []byte("https")
	}
	if l.TerminatesTLS() {
		if b.tls == nil {
			return fmt.Errorf("protocol %s needs a TLS provider (Options.TLS)", l.Protocol)
		}
		cfg, err := b.tls.ServerConfig(l)
		if err != nil {
			return fmt.Errorf("tls config: %w", err)
		}
		if cfg == nil {
			return errors.New("tls config: provider returned none")
		}
		st.tlsConfig = cfg
		st.tlsErrors = b.tcpm.tlsErrors(l.Name)
	}
	if pp := l.ProxyProtocol; pp != nil {
		p, err := newProxyPolicy(pp.TrustedCIDRs)
		if err != nil {
			return fmt.Errorf("proxyProtocol: %w", err)
		}
		p.rejected = b.tcpm.proxyRejected.WithLabelValues(l.Name)
		st.proxy = p
	}
	if l.Protocol == spec.ProtocolTCP {
		for _, r := range l.Rules {
			if len(r.Conditions.SNI) > 0 {
				st.sni = true
			}
		}
	}
	if l.IsTCP() {
		st.tcp = b.tcpm.forListener(l.Name)
	}
	return nil
}
