package balancer

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantrylb/gantry/certs"
	"github.com/gantrylb/gantry/internal/pebbletest"
	"github.com/gantrylb/gantry/spec"
)

// acmeDomain is the name the tests obtain certificates for; pebble's DNS
// stub resolves it to 127.0.0.1 (autocert wants a dot).
const acmeDomain = "shop.gantry.test"

// acmeDoc is an HTTPS listener with automatic certificates from directory,
// forwarding to backend, and a plain HTTP listener that redirects every
// request to HTTPS (the usual front door): an http-01 challenge reaching it
// must be answered before its rules.
func acmeDoc(directory, backend string) string {
	return fmt.Sprintf(`kind: Listener
name: secure
port: 1
protocol: HTTPS
acme: {domains: [%s], email: ops@gantry.test, directoryUrl: %q}
unknownSni: reject
defaultAction: {forward: {targetGroup: web}}
---
kind: Listener
name: plain
port: 1
defaultAction: {redirect: {protocol: HTTPS, statusCode: HTTP_301}}
---
kind: TargetGroup
name: web
targets: ["%s"]
healthCheck: {enabled: false}
`, acmeDomain, directory, backend)
}

// acmeLB runs a Balancer whose certificates come from a certs.Provider
// talking to pb, which is not serving yet: the listeners' ports must be
// known before pebble is told where to validate. answered counts the
// http-01 challenges the balancer answered.
func acmeLB(t *testing.T, pb *pebbletest.Server, backend string) (h *lbHarness, plainPort int, answered *atomic.Int64) {
	t.Helper()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prov := certs.NewProvider(certs.Options{Cache: certs.MemoryCache(), ACMEHTTPClient: pb.Client, Logger: logger})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("balancer and certs log:\n%s", logs.String())
		}
	})
	answered = &atomic.Int64{}
	challenge := func(host, path string) ([]byte, bool) {
		body, ok := prov.HTTPChallenge(host, path)
		if ok {
			answered.Add(1)
		}
		return body, ok
	}
	h = startLB(t, acmeDoc(pb.DirectoryURL, backend), func(o *Options) {
		o.TLS = prov
		o.ACMEChallenge = challenge
		o.Logger = logger
	})
	addr, ok := h.b.Addr("plain")
	if !ok {
		t.Fatal("listener plain not bound")
	}
	return h, addr.(*net.TCPAddr).Port, answered
}

// getAsShop sends GET / to the HTTPS listener as a browser of
// https://shop.gantry.test would: SNI and verification for that name,
// against pebble's root only. The first handshake waits for the issuance.
func getAsShop(t *testing.T, h *lbHarness, pb *pebbletest.Server) *http.Response {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pb.Roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, h.addr())
		},
		ForceAttemptHTTP2: false,
	}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	resp, err := client.Get(fmt.Sprintf("https://%s:%d/", acmeDomain, h.port))
	if err != nil {
		t.Fatalf("GET https://%s through the balancer: %v", acmeDomain, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// checkACMEResponse checks that the answer came from the backend over a
// certificate pebble issued for the domain.
func checkACMEResponse(t *testing.T, resp *http.Response) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != "web" {
		t.Fatalf("GET = %d %q, want 200 web", resp.StatusCode, body)
	}
	if p := resp.Header.Get("X-Seen-Proto"); p != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want https", p)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if !slices.Equal(leaf.DNSNames, []string{acmeDomain}) {
		t.Errorf("certificate names %v, want [%s]", leaf.DNSNames, acmeDomain)
	}
	if resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("negotiated %q, want http/1.1", resp.TLS.NegotiatedProtocol)
	}
}

// TestACMETLSALPN01 obtains a certificate through the HTTPS listener
// itself: pebble validates tls-alpn-01 on the listener's port, and http-01
// cannot succeed.
func TestACMETLSALPN01(t *testing.T) {
	be := startBackend(t, "web", nil)
	pb := pebbletest.New(t)
	h, _, answered := acmeLB(t, pb, be.addr)
	pb.Serve(pebbletest.Options{HTTPPort: pebbletest.RefusingPort(t), TLSPort: h.port})

	first := getAsShop(t, h, pb)
	checkACMEResponse(t, first)
	if n := answered.Load(); n != 0 {
		t.Errorf("%d http-01 challenges answered, want none", n)
	}
	// Pebble's validation handshakes are not client errors.
	if n := h.metric("gantry_client_tls_negotiation_errors_total", map[string]string{"listener": "secure"}); n != 0 {
		t.Errorf("tls negotiation errors = %v, want 0", n)
	}
	// A second client gets the same certificate without a new issuance.
	again := getAsShop(t, h, pb)
	checkACMEResponse(t, again)
	if !again.TLS.PeerCertificates[0].Equal(first.TLS.PeerCertificates[0]) {
		t.Error("the second client got another certificate")
	}
	if be.hits.Load() != 2 {
		t.Errorf("backend hits = %d, want 2", be.hits.Load())
	}
}

// TestACMEHTTP01 obtains a certificate with the challenge answered by the
// plain HTTP listener (whose rules redirect everything to HTTPS): pebble's
// tls-alpn-01 validations are refused, so autocert falls back to http-01.
func TestACMEHTTP01(t *testing.T) {
	be := startBackend(t, "web", nil)
	pb := pebbletest.New(t)
	h, plainPort, answered := acmeLB(t, pb, be.addr)
	pb.Serve(pebbletest.Options{HTTPPort: plainPort, TLSPort: pebbletest.RefusingPort(t)})

	checkACMEResponse(t, getAsShop(t, h, pb))
	if answered.Load() == 0 {
		t.Error("no http-01 challenge was answered by the balancer")
	}
	if be.hits.Load() != 1 {
		t.Errorf("backend hits = %d, want 1 (challenges must not reach it)", be.hits.Load())
	}
	// Any other request to the HTTP listener meets its rule: the challenge
	// answers came before the rules.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	plain := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := plain.Get(fmt.Sprintf("http://127.0.0.1:%d/.well-known/acme-challenge/unknown", plainPort))
	if err != nil {
		t.Fatalf("GET on the HTTP listener: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("unknown challenge on the HTTP listener = %d, want the rule's 301", resp.StatusCode)
	}
}

// lockedBuffer collects logs written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// fixedTLS serves one tls.Config to every listener.
type fixedTLS struct{ cfg *tls.Config }

func (f fixedTLS) ServerConfig(*spec.Listener) (*tls.Config, error) { return f.cfg, nil }

// TestACMEValidationConnClosed: a connection that negotiated acme-tls/1 is
// closed by the balancer right after the handshake (RFC 8737 section 3),
// and a request sent on it never reaches a target.
func TestACMEValidationConnClosed(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, acmeDomain)
	prov := fixedTLS{cfg: &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1", acmeTLSALPN},
		Certificates: []tls.Certificate{cert},
	}}
	be := startBackend(t, "web", nil)
	h := startLB(t, httpsDoc(be.addr), func(o *Options) { o.TLS = prov })

	validate := func() *tls.Conn {
		t.Helper()
		cfg := ca.clientConfig(acmeDomain)
		cfg.NextProtos = []string{acmeTLSALPN}
		// Well below the listener's 30s header timeout: the close must not
		// be a timeout.
		c := tls.Client(dialRaw(t, h.addr(), 5*time.Second), cfg)
		if err := c.Handshake(); err != nil {
			t.Fatalf("acme-tls/1 handshake: %v", err)
		}
		if p := c.ConnectionState().NegotiatedProtocol; p != acmeTLSALPN {
			t.Fatalf("negotiated %q, want %q", p, acmeTLSALPN)
		}
		return c
	}

	// A validator that waits: the balancer hangs up first.
	if n, err := validate().Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read on a validation connection = %d, %v; want 0, EOF", n, err)
	}
	// A client that sends a request anyway gets no answer.
	c := validate()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+acmeDomain+"\r\n\r\n")
	if got, err := io.ReadAll(c); len(got) != 0 || (err != nil && !isConnReset(err)) {
		t.Fatalf("request on a validation connection answered %q, %v; want nothing", got, err)
	}
	if n := be.hits.Load(); n != 0 {
		t.Errorf("backend hits = %d, want 0", n)
	}
	if n := h.metric("gantry_client_tls_negotiation_errors_total", map[string]string{"listener": "secure"}); n != 0 {
		t.Errorf("tls negotiation errors = %v, want 0", n)
	}

	// The same listener serves browsers as usual.
	resp, err := httpsClient(t, ca, acmeDomain).Get("https://" + h.addr() + "/")
	if err != nil {
		t.Fatalf("GET over http/1.1: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET over http/1.1 = %d, want 200", resp.StatusCode)
	}
}

// TestACMEValidationOnTLSListener: a TLS listener also ends an acme-tls/1
// connection after its handshake and connects nothing to a target.
func TestACMEValidationOnTLSListener(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, acmeDomain)
	prov := fixedTLS{cfg: &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1", acmeTLSALPN},
		Certificates: []tls.Certificate{cert},
	}}
	be := startTCPBackend(t, echo)
	doc := strings.Replace(tcpDoc("certificates: [{certFile: x.crt, keyFile: x.key}]", "", be.addr), "protocol: TCP\ncertificates", "protocol: TLS\ncertificates", 1)
	h := startLB(t, doc, func(o *Options) { o.TLS = prov })

	cfg := ca.clientConfig(acmeDomain)
	cfg.NextProtos = []string{acmeTLSALPN}
	c := tls.Client(dialRaw(t, h.addr(), 5*time.Second), cfg)
	if err := c.Handshake(); err != nil {
		t.Fatalf("acme-tls/1 handshake: %v", err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !isConnReset(err)) {
		t.Fatalf("read on a validation connection = %d, %v; want the connection closed", n, err)
	}
	if n := be.n.get(); n != 0 {
		t.Errorf("target connections = %d, want 0", n)
	}
}
