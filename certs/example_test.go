package certs_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"path/filepath"

	"github.com/gantrylb/gantry/certs"
	"github.com/gantrylb/gantry/spec"
	"github.com/prometheus/client_golang/prometheus"
)

// The balancer's view of a Provider, declared as the balancer declares it.
type tlsProvider interface {
	ServerConfig(l *spec.Listener) (*tls.Config, error)
}

var (
	_ tlsProvider                            = (*certs.Provider)(nil)
	_ func(host, path string) ([]byte, bool) = (*certs.Provider)(nil).HTTPChallenge
)

// How cmd wires a Provider: certificates under the data directory, Run for
// the node's lifetime, HTTPChallenge for the HTTP listeners, ServerConfig
// for the HTTPS and TLS ones, Retain after each committed update.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dataDir := "/var/lib/gantry"
	p := certs.NewProvider(certs.Options{
		Logger:   slog.Default(),
		Registry: prometheus.NewRegistry(),
		Cache:    certs.DirCache(filepath.Join(dataDir, "acme")),
		BaseDir:  "/etc/gantry", // where -f documents live
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	acmeChallenge := p.HTTPChallenge // balancer.Options.ACMEChallenge
	_ = acmeChallenge

	l := &spec.Listener{Name: "public", Protocol: spec.ProtocolHTTPS,
		Certificates: []spec.Certificate{{CertFile: "tls/site.crt", KeyFile: "tls/site.key"}}}
	if _, err := p.ServerConfig(l); err != nil {
		slog.Error("listener rejected", "error", err) // the update is rejected; the old one keeps running
	}
	p.Retain([]string{"public"})

	cancel()
	<-done
}
