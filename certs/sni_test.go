package certs

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sniFixture is a listener with three certificates: a.example.com (the
// default), *.example.com, and b.example.com listed after the wildcard so
// that exact-before-wildcard is tested, not list order.
type sniFixture struct {
	ca  *testCA
	dir string
	l   *spec.Listener
}

func newSNIFixture(t *testing.T, unknownSNI string) *sniFixture {
	t.Helper()
	f := &sniFixture{ca: newTestCA(t), dir: t.TempDir()}
	c, k := f.ca.issueFor(t, "a", "a.example.com")
	writePair(t, f.dir, "a", c, k)
	c, k = f.ca.issueFor(t, "wild", "*.example.com")
	writePair(t, f.dir, "wild", c, k)
	c, k = f.ca.issueFor(t, "b", "b.example.com")
	writePair(t, f.dir, "b", c, k)
	f.l = &spec.Listener{Name: "web", Protocol: spec.ProtocolHTTPS, UnknownSNI: unknownSNI,
		Certificates: []spec.Certificate{
			{CertFile: "a.crt", KeyFile: "a.key"},
			{CertFile: "wild.crt", KeyFile: "wild.key"},
			{CertFile: "b.crt", KeyFile: "b.key"},
		}}
	return f
}

func (f *sniFixture) serve(t *testing.T, opts Options) (*Provider, string) {
	t.Helper()
	opts.BaseDir = f.dir
	p := NewProvider(opts)
	cfg, err := p.ServerConfig(f.l)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	addr, _ := startTLSServer(t, cfg)
	return p, addr
}

func TestSNISelection(t *testing.T) {
	for _, policy := range []string{spec.UnknownSNIDefault, spec.UnknownSNIReject} {
		t.Run(policy, func(t *testing.T) {
			f := newSNIFixture(t, policy)
			_, addr := f.serve(t, Options{})
			cases := []struct {
				sni, verifyAs, want string // want "" means the handshake must fail
			}{
				{"a.example.com", "", "a"},
				{"b.example.com", "", "b"},
				{"B.Example.COM", "", "b"},
				{"c.example.com", "", "wild"},
				{"", "a.example.com", "a"}, // no SNI: the default
				{"x.y.example.com", "a.example.com", map[string]string{"default": "a"}[policy]},
				{"example.com", "a.example.com", map[string]string{"default": "a"}[policy]},
				{"other.test", "a.example.com", map[string]string{"default": "a"}[policy]},
			}
			for _, tc := range cases {
				conn, err := dialTLS(addr, tc.sni, f.ca.pool, func(c *tls.Config) {
					if tc.verifyAs != "" && tc.sni != "" {
						// The default certificate does not cover the name asked
						// for: verify its chain for the name it does cover.
						c.InsecureSkipVerify = true
						c.VerifyConnection = func(cs tls.ConnectionState) error {
							_, err := cs.PeerCertificates[0].Verify(verifyOpts(f.ca, tc.verifyAs))
							return err
						}
					}
				})
				if expectServed(t, tc.sni, tc.want, conn, err) {
					roundTrip(t, conn, "hello")
					conn.Close()
				}
			}
		})
	}
}

func TestProtocolPolicy(t *testing.T) {
	f := newSNIFixture(t, "")
	_, addr := f.serve(t, Options{})
	t.Run("tls1.1 refused", func(t *testing.T) {
		conn, err := dialTLS(addr, "a.example.com", f.ca.pool, func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		})
		if err == nil {
			conn.Close()
			t.Fatal("TLS 1.1 handshake succeeded")
		}
	})
	t.Run("tls1.2 cbc refused", func(t *testing.T) {
		conn, err := dialTLS(addr, "a.example.com", f.ca.pool, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		})
		if err == nil {
			conn.Close()
			t.Fatal("TLS 1.2 with a CBC suite succeeded")
		}
	})
	t.Run("tls1.2 gcm", func(t *testing.T) {
		conn, err := dialTLS(addr, "a.example.com", f.ca.pool, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 })
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if v := conn.ConnectionState().Version; v != tls.VersionTLS12 {
			t.Fatalf("version %x, want TLS 1.2", v)
		}
	})
	t.Run("alpn h2 and http/1.1", func(t *testing.T) {
		conn, err := dialTLS(addr, "a.example.com", f.ca.pool, func(c *tls.Config) { c.NextProtos = []string{"h2", "http/1.1"} })
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Fatalf("negotiated %q, want http/1.1", p)
		}
	})
	t.Run("alpn h2 only", func(t *testing.T) {
		// RFC 7301: no common protocol is a no_application_protocol alert;
		// what must never happen is h2.
		conn, err := dialTLS(addr, "a.example.com", f.ca.pool, func(c *tls.Config) { c.NextProtos = []string{"h2"} })
		if err == nil {
			defer conn.Close()
			if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
				t.Fatal("negotiated h2")
			}
			return
		}
		if !strings.Contains(err.Error(), "no application protocol") {
			t.Fatalf("error %v, want no_application_protocol alert", err)
		}
	})
	t.Run("no acme-tls/1 without acme", func(t *testing.T) {
		conn, err := dialTLS(addr, "a.example.com", f.ca.pool, func(c *tls.Config) { c.NextProtos = []string{"acme-tls/1"} })
		if err == nil {
			conn.Close()
			t.Fatal("acme-tls/1 negotiated on a listener without acme")
		}
	})
}

func TestSessionResumption(t *testing.T) {
	f := newSNIFixture(t, "")
	_, addr := f.serve(t, Options{})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(4)
			for i, wantResume := range []bool{false, true} {
				conn, err := dialTLS(addr, "b.example.com", f.ca.pool, func(c *tls.Config) {
					c.MaxVersion = v
					c.ClientSessionCache = cache
				})
				if err != nil {
					t.Fatal(err)
				}
				// Reading an answer makes the client process the TLS 1.3
				// tickets the server sent after the handshake.
				roundTrip(t, conn, "x")
				if got := conn.ConnectionState().DidResume; got != wantResume {
					t.Errorf("connection %d: DidResume = %v, want %v", i, got, wantResume)
				}
				if got := served(conn); got != "b" {
					t.Errorf("connection %d served %q, want b", i, got)
				}
				conn.Close()
			}
		})
	}
}

func TestServerConfigReuse(t *testing.T) {
	f := newSNIFixture(t, "")
	reg := prometheus.NewRegistry()
	p := NewProvider(Options{BaseDir: f.dir, Registry: reg})
	c1, err := p.ServerConfig(f.l)
	if err != nil {
		t.Fatal(err)
	}
	same := *f.l
	same.Rules = []spec.Rule{{Priority: 1}} // not a TLS concern
	c2, err := p.ServerConfig(&same)
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 {
		t.Error("unchanged listener got a new tls.Config")
	}
	if c1.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", c1.MinVersion)
	}
	if got := strings.Join(c1.NextProtos, ","); got != "http/1.1" {
		t.Errorf("NextProtos = %s, want http/1.1", got)
	}
	changed := *f.l
	changed.Certificates = f.l.Certificates[1:]
	c3, err := p.ServerConfig(&changed)
	if err != nil {
		t.Fatal(err)
	}
	if c3 == c1 {
		t.Error("changed listener kept its tls.Config")
	}
	if n := testutil.CollectAndCount(reg, "gantry_tls_certificate_expiry_timestamp_seconds"); n != 2 {
		t.Errorf("expiry series = %d, want 2 (the current configuration)", n)
	}

	// A rejected update went back to the first configuration: Retain keeps
	// the one ServerConfig returned last.
	if c, _ := p.ServerConfig(f.l); c != c1 {
		t.Error("returning to the first configuration did not reuse its tls.Config")
	}
	p.Retain([]string{"web"})
	if n := len(p.listeners["web"].byKey); n != 1 {
		t.Errorf("after Retain: %d configurations for web, want 1", n)
	}
	if n := testutil.CollectAndCount(reg, "gantry_tls_certificate_expiry_timestamp_seconds"); n != 3 {
		t.Errorf("expiry series = %d, want 3", n)
	}
	p.Retain(nil)
	if len(p.listeners) != 0 {
		t.Error("Retain(nil) kept listeners")
	}
	if n := testutil.CollectAndCount(reg, "gantry_tls_certificate_expiry_timestamp_seconds"); n != 0 {
		t.Errorf("expiry series after forgetting = %d, want 0", n)
	}
}

// TestSNICommonNameOnly: a certificate whose leaf has no DNS SAN is chosen
// by its common name (docs/edge.md), even with unknownSni "reject"; the CN
// of a leaf with DNS SANs names nothing.
func TestSNICommonNameOnly(t *testing.T) {
	f := newSNIFixture(t, spec.UnknownSNIReject)
	c, k := f.ca.issue(t, "legacy.example.org", nil, time.Now().Add(12*time.Hour))
	writePair(t, f.dir, "legacy", c, k)
	c, k = f.ca.issueFor(t, "cn-beside-sans.example.org", "sans.example.org")
	writePair(t, f.dir, "sans", c, k)
	f.l.Certificates = append(f.l.Certificates,
		spec.Certificate{CertFile: "legacy.crt", KeyFile: "legacy.key"},
		spec.Certificate{CertFile: "sans.crt", KeyFile: "sans.key"})
	_, addr := f.serve(t, Options{})
	cases := []struct{ sni, want string }{ // want "" means unrecognized_name
		{"legacy.example.org", "legacy.example.org"},
		{"Legacy.Example.ORG.", "legacy.example.org"},
		{"sans.example.org", "cn-beside-sans.example.org"},
		{"cn-beside-sans.example.org", ""},
	}
	for _, tc := range cases {
		conn, err := dialTLS(addr, tc.sni, f.ca.pool, func(c *tls.Config) {
			// crypto/tls refuses CN-only certificates since Go 1.15:
			// check the chain, not the name, and which leaf came.
			c.InsecureSkipVerify = true
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				_, err := cs.PeerCertificates[0].Verify(verifyOpts(f.ca, ""))
				return err
			}
		})
		if expectServed(t, tc.sni, tc.want, conn, err) {
			conn.Close()
		}
	}
}

// expectServed checks one handshake for sni: want "" means the name must be
// refused with unrecognized_name, else the leaf served must be want's. It
// reports whether conn is open (the caller closes it).
func expectServed(t *testing.T, sni, want string, conn *tls.Conn, err error) bool {
	t.Helper()
	if want == "" {
		if err == nil {
			conn.Close()
			t.Errorf("SNI %q: handshake succeeded, want unrecognized_name", sni)
		} else if !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("SNI %q: error %v, want unrecognized name alert", sni, err)
		}
		return false
	}
	if err != nil {
		t.Errorf("SNI %q: %v", sni, err)
		return false
	}
	if got := served(conn); got != want {
		t.Errorf("SNI %q served %q, want %q", sni, got, want)
	}
	return true
}
