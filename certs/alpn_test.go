package certs

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// TestTLSListenerALPN: a TLS listener forwards opaque bytes to any TCP
// service, so it selects no ALPN protocol, whatever the client offers,
// while an HTTPS listener keeps offering http/1.1 only.
func TestTLSListenerALPN(t *testing.T) {
	f := newSNIFixture(t, "")
	f.l.Protocol = spec.ProtocolTLS
	p, addr := f.serve(t, Options{})
	for _, offer := range [][]string{nil, {"h2"}, {"postgresql"}, {"h2", "http/1.1"}, {"http/1.1"}, {"acme-tls/1"}} {
		name := strings.Join(offer, ",")
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			conn, err := dialTLS(addr, "a.example.com", f.ca.pool, func(c *tls.Config) { c.NextProtos = offer })
			if err != nil {
				t.Fatalf("offering %q: handshake failed: %v", offer, err)
			}
			defer conn.Close()
			if got := conn.ConnectionState().NegotiatedProtocol; got != "" {
				t.Errorf("offering %q: negotiated %q, want none", offer, got)
			}
			roundTrip(t, conn, "opaque")
		})
	}

	// The same certificates on an HTTPS listener: a new configuration,
	// offering http/1.1.
	https := *f.l
	https.Protocol = spec.ProtocolHTTPS
	tlsCfg, err := p.ServerConfig(f.l)
	if err != nil {
		t.Fatal(err)
	}
	httpsCfg, err := p.ServerConfig(&https)
	if err != nil {
		t.Fatal(err)
	}
	if httpsCfg == tlsCfg {
		t.Fatal("changing the protocol from TLS to HTTPS kept the tls.Config")
	}
	if got := strings.Join(tlsCfg.NextProtos, ","); got != "" {
		t.Errorf("TLS listener NextProtos = %q, want none", got)
	}
	if got := strings.Join(httpsCfg.NextProtos, ","); got != "http/1.1" {
		t.Errorf("HTTPS listener NextProtos = %q, want http/1.1", got)
	}
}

// TestTLSListenerACMEValidationALPN: on an ACME TLS listener only a CA
// validating tls-alpn-01 (offering exactly acme-tls/1) is given a
// configuration selecting it; every other client gets the one selecting
// nothing.
func TestTLSListenerACMEValidationALPN(t *testing.T) {
	p := NewProvider(Options{})
	cfg, err := p.ServerConfig(&spec.Listener{Name: "db", Protocol: spec.ProtocolTLS,
		ACME: &spec.ACME{Domains: []string{"db.example.com"}, DirectoryURL: "https://127.0.0.1:1/dir"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.NextProtos) != 0 {
		t.Errorf("NextProtos = %q, want none", cfg.NextProtos)
	}
	cases := []struct {
		offer []string
		want  string // the configuration's protocols, "" for the listener's own
	}{
		{[]string{"acme-tls/1"}, "acme-tls/1"},
		{[]string{"h2", "acme-tls/1"}, ""},
		{[]string{"postgresql"}, ""},
		{nil, ""},
	}
	for _, tc := range cases {
		got, err := cfg.GetConfigForClient(&tls.ClientHelloInfo{ServerName: "db.example.com", SupportedProtos: tc.offer})
		if err != nil {
			t.Fatalf("GetConfigForClient(%q): %v", tc.offer, err)
		}
		protos := ""
		if got != nil {
			protos = strings.Join(got.NextProtos, ",")
			if got.GetCertificate == nil {
				t.Errorf("GetConfigForClient(%q): configuration without GetCertificate", tc.offer)
			}
		}
		if protos != tc.want {
			t.Errorf("GetConfigForClient(%q) offers %q, want %q", tc.offer, protos, tc.want)
		}
	}
}
