package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// runProvider runs p until the test ends.
func runProvider(t *testing.T, p *Provider) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := p.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func TestReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	c, k := ca.issueFor(t, "old", "shop.example.com")
	writePair(t, dir, "site", c, k)
	var logs logBuffer
	reg := prometheus.NewRegistry()
	p := NewProvider(Options{BaseDir: dir, ReloadInterval: 20 * time.Millisecond, Registry: reg, Logger: newLogger(&logs)})
	l := &spec.Listener{Name: "web", Protocol: spec.ProtocolHTTPS,
		Certificates: []spec.Certificate{{CertFile: "site.crt", KeyFile: filepath.Join(dir, "site.key")}}}
	cfg, err := p.ServerConfig(l)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := startTLSServer(t, cfg)
	runProvider(t, p)

	before, err := dialTLS(addr, "shop.example.com", ca.pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	roundTrip(t, before, "one")

	servedNow := func() string {
		conn, err := dialTLS(addr, "shop.example.com", ca.pool, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		return served(conn)
	}
	waitServed := func(want string) {
		t.Helper()
		eventually(t, 15*time.Second, "certificate "+want+" served", func() bool { return servedNow() == want })
	}
	errorsCounted := func() float64 {
		return testutil.ToFloat64(p.metrics.reloads.WithLabelValues("web", resultError))
	}
	waitErrors := func(n float64) {
		t.Helper()
		eventually(t, 15*time.Second, "reload error counted", func() bool { return errorsCounted() >= n })
	}

	t.Run("replaced", func(t *testing.T) {
		c, k := ca.issueFor(t, "new", "shop.example.com")
		writePair(t, dir, "site", c, k)
		waitServed("new")
		// The connection made before the reload is untouched.
		roundTrip(t, before, "two")
		if got := testutil.ToFloat64(p.metrics.reloads.WithLabelValues("web", resultSuccess)); got != 1 {
			t.Errorf("successful reloads = %v, want 1", got)
		}
	})
	t.Run("half written", func(t *testing.T) {
		c, _ := ca.issueFor(t, "half", "shop.example.com")
		writeFile(t, filepath.Join(dir, "site.crt"), c[:len(c)/3])
		waitErrors(1)
		if got := servedNow(); got != "new" {
			t.Fatalf("served %q after a broken replacement, want new", got)
		}
		if !strings.Contains(logs.String(), "site.crt") {
			t.Errorf("log does not name the file:\n%s", logs.String())
		}
	})
	t.Run("key mismatch", func(t *testing.T) {
		c, _ := ca.issueFor(t, "mismatch", "shop.example.com")
		writeFile(t, filepath.Join(dir, "site.crt"), c) // the key stays the old one
		waitErrors(2)
		if got := servedNow(); got != "new" {
			t.Fatalf("served %q with a mismatched key, want new", got)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		c, k := ca.issueFor(t, "fixed", "shop.example.com")
		writePair(t, dir, "site", c, k)
		waitServed("fixed")
		roundTrip(t, before, "three")
		// writePair writes the certificate, then the key: a check that
		// lands between the two sees a third broken pair (new certificate,
		// old key), which is right to count.
		if n := errorsCounted(); n != 2 && n != 3 {
			t.Errorf("reload errors = %v, want 2, or 3 if a check fell between the two writes (each broken content reported once)", n)
		}
	})
	t.Run("expiry gauge", func(t *testing.T) {
		want := float64(0)
		for _, c := range p.listeners["web"].current.files.set.Load().certs {
			want = unixSeconds(c.Leaf.NotAfter)
		}
		got := testutil.ToFloat64(p.metrics.expiry.WithLabelValues("web", "shop.example.com"))
		if got != want || got == 0 {
			t.Errorf("expiry gauge = %v, want %v", got, want)
		}
	})
}

func TestRunTwice(t *testing.T) {
	p := NewProvider(Options{})
	runProvider(t, p)
	eventually(t, 5*time.Second, "Run started", p.running.Load)
	if err := p.Run(context.Background()); err == nil {
		t.Fatal("second Run returned nil")
	}
}

func TestLoadErrors(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	c, k := ca.issueFor(t, "good", "good.example.com")
	writePair(t, dir, "good", c, k)
	c2, _ := ca.issueFor(t, "other", "other.example.com")
	writeFile(t, filepath.Join(dir, "other.crt"), c2)
	writeFile(t, filepath.Join(dir, "garbage.crt"), []byte("not a certificate\n"))
	writeFile(t, filepath.Join(dir, "cut.crt"), c[:len(c)*3/4]) // leaf complete, CA certificate cut
	expired, ek := ca.issue(t, "expired", []string{"old.example.com"}, time.Now().Add(-time.Hour))
	writePair(t, dir, "expired", expired, ek)

	cases := []struct {
		name  string
		certs []spec.Certificate
		want  string // "" means success
	}{
		{"missing cert", []spec.Certificate{{CertFile: "good.crt", KeyFile: "good.key"}, {CertFile: "nope.crt", KeyFile: "good.key"}},
			"certs: listener web: certificates[1]: load nope.crt: open "},
		{"missing key", []spec.Certificate{{CertFile: "good.crt", KeyFile: "nope.key"}},
			"certs: listener web: certificates[0]: load nope.key: open "},
		{"not pem", []spec.Certificate{{CertFile: "garbage.crt", KeyFile: "good.key"}},
			"certs: listener web: certificates[0]: load garbage.crt: no CERTIFICATE PEM block found"},
		{"chain cut short", []spec.Certificate{{CertFile: "cut.crt", KeyFile: "good.key"}},
			"certs: listener web: certificates[0]: load cut.crt: truncated or malformed PEM block after 1 certificate(s)"},
		{"key as cert", []spec.Certificate{{CertFile: "good.key", KeyFile: "good.key"}},
			"certs: listener web: certificates[0]: load good.key: no CERTIFICATE PEM block found"},
		{"key mismatch", []spec.Certificate{{CertFile: "other.crt", KeyFile: "good.key"}},
			"certs: listener web: certificates[0]: load good.key: tls: private key does not match public key"},
		{"expired is served", []spec.Certificate{{CertFile: "expired.crt", KeyFile: "expired.key"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			p := NewProvider(Options{BaseDir: dir, Logger: newLogger(&logs)})
			_, err := p.ServerConfig(&spec.Listener{Name: "web", Protocol: spec.ProtocolHTTPS, Certificates: tc.certs})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("ServerConfig: %v", err)
			case tc.want == "":
				if !strings.Contains(logs.String(), "certificate expired") || !strings.Contains(logs.String(), "expired.crt") {
					t.Errorf("no expiry warning naming the file:\n%s", logs.String())
				}
			case err == nil:
				t.Fatalf("ServerConfig succeeded, want %q", tc.want)
			case !strings.HasPrefix(err.Error(), tc.want):
				t.Fatalf("error %q, want prefix %q", err, tc.want)
			}
			if tc.name == "missing cert" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("error %v does not wrap os.ErrNotExist", err)
			}
		})
	}
	t.Run("neither", func(t *testing.T) {
		_, err := NewProvider(Options{}).ServerConfig(&spec.Listener{Name: "web", Protocol: spec.ProtocolHTTPS})
		if err == nil || !strings.Contains(err.Error(), "certs: listener web: no certificates and no acme") {
			t.Fatalf("error %v", err)
		}
	})
}
