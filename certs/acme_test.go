package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gantrylb/gantry/internal/pebbletest"
	"github.com/gantrylb/gantry/spec"
)

const testDomain = "shop.gantry.test" // autocert wants a dot

func listenLoopback(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// serveHTTPChallenges answers http-01 through p.HTTPChallenge, as the
// balancer's HTTP listeners do, and counts the answers given.
func serveHTTPChallenges(t *testing.T, ln net.Listener, p **Provider) *atomic.Int64 {
	t.Helper()
	var answered atomic.Int64
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body, ok := (*p).HTTPChallenge(r.Host, r.URL.Path); ok {
				answered.Add(1)
				_, _ = w.Write(body)
				return
			}
			http.NotFound(w, r)
		}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return &answered
}

func acmeSpec(pb *pebbletest.Server, unknownSNI string) *spec.Listener {
	return &spec.Listener{Name: "shop", Protocol: spec.ProtocolHTTPS, UnknownSNI: unknownSNI,
		ACME: &spec.ACME{Domains: []string{testDomain}, Email: "ops@gantry.test", DirectoryURL: pb.DirectoryURL}}
}

// checkIssued dials the listener as a browser would: verifying the chain
// against pebble's root for the test domain.
func checkIssued(t *testing.T, addr string, pb *pebbletest.Server, sni string) *x509.Certificate {
	t.Helper()
	conn, err := dialTLS(addr, sni, pb.Roots, func(c *tls.Config) {
		if sni != testDomain {
			c.InsecureSkipVerify = true
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pb.Roots, Intermediates: inter, DNSName: testDomain})
				return err
			}
		}
	})
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", sni, err)
	}
	defer conn.Close()
	roundTrip(t, conn, "hello")
	leaf := conn.ConnectionState().PeerCertificates[0]
	if !slices.Equal(leaf.DNSNames, []string{testDomain}) {
		t.Fatalf("served certificate for %v, want [%s]", leaf.DNSNames, testDomain)
	}
	return leaf
}

func checkCached(t *testing.T, cacheDir string, pb *pebbletest.Server) {
	t.Helper()
	name := filepath.Join(cacheDir, cachePrefix(pb.DirectoryURL, "ops@gantry.test")+testDomain)
	data, err := os.ReadFile(name)
	if err != nil {
		entries, _ := os.ReadDir(cacheDir)
		t.Fatalf("certificate not in the cache: %v (cache holds %v)", err, entries)
	}
	if !strings.Contains(string(data), "BEGIN CERTIFICATE") {
		t.Fatalf("cache entry %s holds no certificate", name)
	}
}

func TestACMETLSALPN01(t *testing.T) {
	tlsLn, tlsPort := listenLoopback(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.RefusingPort(t), TLSPort: tlsPort}) // http-01 cannot succeed: tls-alpn-01 must
	cacheDir := filepath.Join(t.TempDir(), "acme")
	var logs logBuffer
	reg := prometheus.NewRegistry()
	p := NewProvider(Options{Cache: DirCache(cacheDir), ACMEHTTPClient: pb.Client, Logger: newLogger(&logs), Registry: reg})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("provider log:\n%s", logs.String())
		}
	})
	cfg, err := p.ServerConfig(acmeSpec(pb, spec.UnknownSNIDefault))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.NextProtos, []string{"http/1.1", "acme-tls/1"}) {
		t.Fatalf("NextProtos = %v", cfg.NextProtos)
	}
	addr, _ := serveTLS(t, tlsLn, cfg)

	leaf := checkIssued(t, addr, pb, testDomain)
	checkCached(t, cacheDir, pb)
	if got := testutil.ToFloat64(p.metrics.expiry.WithLabelValues("shop", testDomain)); got != unixSeconds(leaf.NotAfter) {
		t.Errorf("expiry gauge = %v, want %v", got, unixSeconds(leaf.NotAfter))
	}
	// Without SNI, and for a name not configured, the default domain's
	// certificate (unknownSni: default).
	if again := checkIssued(t, addr, pb, ""); !again.Equal(leaf) {
		t.Error("a client without SNI got another certificate")
	}
	checkIssued(t, addr, pb, "other.gantry.test")
	if n := testutil.ToFloat64(p.metrics.acmeErrors.WithLabelValues("shop")); n != 0 {
		t.Errorf("acme errors = %v", n)
	}

	// A Provider restarted on the same cache serves the cached certificate
	// without asking the CA (whose directory is now unreachable).
	p2 := NewProvider(Options{Cache: DirCache(cacheDir), Logger: newLogger(&logs),
		ACMEHTTPClient: &http.Client{Transport: failingTransport{}}})
	cfg2, err := p2.ServerConfig(acmeSpec(pb, spec.UnknownSNIDefault))
	if err != nil {
		t.Fatal(err)
	}
	addr2, _ := startTLSServer(t, cfg2)
	if got := checkIssued(t, addr2, pb, testDomain); !got.Equal(leaf) {
		t.Error("restarted provider did not serve the cached certificate")
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

func TestACMEHTTP01(t *testing.T) {
	httpLn, httpPort := listenLoopback(t)
	// tls-alpn-01 fails (the CA's connections are closed), so autocert falls
	// back to http-01 on the HTTP listener.
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: pebbletest.RefusingPort(t)})
	var logs logBuffer
	cacheDir := filepath.Join(t.TempDir(), "acme")
	p := NewProvider(Options{Cache: DirCache(cacheDir), ACMEHTTPClient: pb.Client, Logger: newLogger(&logs)})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("provider log:\n%s", logs.String())
		}
	})
	answered := serveHTTPChallenges(t, httpLn, &p)
	cfg, err := p.ServerConfig(acmeSpec(pb, spec.UnknownSNIReject))
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := startTLSServer(t, cfg)

	checkIssued(t, addr, pb, testDomain)
	if answered.Load() == 0 {
		t.Error("no http-01 challenge was answered")
	}
	checkCached(t, cacheDir, pb)

	// unknownSni: reject refuses other names, still serves clients without SNI.
	if conn, err := dialTLS(addr, "other.gantry.test", pb.Roots, nil); err == nil {
		conn.Close()
		t.Error("unknown name accepted with unknownSni reject")
	} else if !strings.Contains(err.Error(), "unrecognized name") {
		t.Errorf("unknown name: %v, want unrecognized name alert", err)
	}
	checkIssued(t, addr, pb, "")

	for _, tc := range []struct{ host, path string }{
		{testDomain, "/index.html"},
		{testDomain, "/.well-known/acme-challenge/nosuchtoken"},
		{"other.gantry.test", "/.well-known/acme-challenge/nosuchtoken"},
		{"[::1", "/.well-known/acme-challenge/%zz"},
	} {
		if body, ok := p.HTTPChallenge(tc.host, tc.path); ok {
			t.Errorf("HTTPChallenge(%q, %q) = %q, true; want false", tc.host, tc.path, body)
		}
	}
}
