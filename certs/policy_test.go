package certs

import (
	"context"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

func TestACMEHostPolicyFollowsListeners(t *testing.T) {
	p := NewProvider(Options{})
	ctx := context.Background()
	mk := func(name, email string, domains ...string) *spec.Listener {
		return &spec.Listener{Name: name, Protocol: spec.ProtocolHTTPS,
			ACME: &spec.ACME{Domains: domains, Email: email, DirectoryURL: "https://ca.invalid/dir"}}
	}
	for _, l := range []*spec.Listener{
		mk("one", "ops@gantry.test", "A.gantry.test", "b.gantry.test."),
		mk("two", "ops@gantry.test", "c.gantry.test"),
		mk("three", "other@gantry.test", "d.gantry.test"),
	} {
		cfg, err := p.ServerConfig(l)
		if err != nil {
			t.Fatalf("ServerConfig(%s): %v", l.Name, err)
		}
		if got := strings.Join(cfg.NextProtos, ","); got != "http/1.1,acme-tls/1" {
			t.Errorf("%s: NextProtos = %s", l.Name, got)
		}
	}
	if n := len(p.managers); n != 2 {
		t.Fatalf("%d autocert managers, want one per (directory, email): 2", n)
	}
	shared := p.listeners["one"].current.acme.m
	if p.listeners["two"].current.acme.m != shared {
		t.Fatal("listeners of one account do not share its manager")
	}
	check := func(host string, want bool) {
		t.Helper()
		if err := shared.hostPolicy(ctx, host); (err == nil) != want {
			t.Errorf("hostPolicy(%q) = %v, want allowed=%v", host, err, want)
		}
	}
	check("a.gantry.test", true)
	check("B.gantry.test", true)
	check("c.gantry.test", true)
	check("d.gantry.test", false) // another account's
	check("evil.gantry.test", false)

	p.Retain([]string{"one", "three"})
	check("a.gantry.test", true)
	check("c.gantry.test", false)
	p.Retain(nil)
	check("a.gantry.test", false)
	if _, ok := p.HTTPChallenge("a.gantry.test", "/.well-known/acme-challenge/x"); ok {
		t.Error("HTTPChallenge answered for a forgotten listener")
	}
}

func TestACMESpecErrors(t *testing.T) {
	p := NewProvider(Options{})
	for _, tc := range []struct {
		l    *spec.Listener
		want string
	}{
		{&spec.Listener{Name: "x", ACME: &spec.ACME{Domains: []string{"localhost"}}},
			`certs: listener x: acme.domains[0]: "localhost" is not a fully qualified domain name`},
		{&spec.Listener{Name: "x", ACME: &spec.ACME{}}, "certs: listener x: acme: no domains"},
		{&spec.Listener{Name: "x", ACME: &spec.ACME{Domains: []string{"a.b"}}, Certificates: []spec.Certificate{{CertFile: "a", KeyFile: "b"}}},
			"certs: listener x: set certificates or acme, not both"},
	} {
		if _, err := p.ServerConfig(tc.l); err == nil || err.Error() != tc.want {
			t.Errorf("ServerConfig error %v, want %q", err, tc.want)
		}
	}
	if _, err := p.ServerConfig(nil); err == nil {
		t.Error("ServerConfig(nil) succeeded")
	}
}
