package balancer

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// ALB's ssl_cipher names TLS 1.2 suites as OpenSSL does
// ("ECDHE-RSA-AES128-GCM-SHA256"), and log tooling written for ALB matches
// on those names: https entries and TLS listeners' flows log them so, not
// with Go's constant names.
func TestAccessLogCipherOpenSSLName(t *testing.T) {
	const want = "ECDHE-ECDSA-AES256-GCM-SHA384"
	tls12 := func(cfg *tls.Config) *tls.Config {
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
		return cfg
	}
	ca := newTestCA(t)

	be := startBackend(t, "web", nil)
	log := &captureLog{}
	h := startLB(t, httpsDoc(be.addr), func(o *Options) {
		o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
		o.AccessLog = log
	})
	tr := &http.Transport{TLSClientConfig: tls12(ca.clientConfig("www.example.com"))}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + h.addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	waitFor(t, 5*time.Second, "the https entry", func() bool { return len(log.all()) == 1 })
	if e := log.all()[0]; e.SSLProtocol != "TLSv1.2" || e.SSLCipher != want {
		t.Errorf("https entry: protocol %q cipher %q, want TLSv1.2 %q", e.SSLProtocol, e.SSLCipher, want)
	}

	tcpBe := startTCPBackend(t, namedEcho("plain"))
	doc := fmt.Sprintf(`kind: Listener
name: tls
port: 1
protocol: TLS
certificates: [{certFile: test.crt, keyFile: test.key}]
defaultAction: {forward: {targetGroup: tcp}}
---
kind: TargetGroup
name: tcp
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
`, tcpBe.addr)
	flowLog := &captureLog{}
	ht := startLB(t, doc, func(o *Options) {
		o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
		o.AccessLog = flowLog
	})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ht.addr(), tls12(ca.clientConfig("www.example.com")))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if got := readLine(t, bufio.NewReader(c)); got != "plain" {
		t.Fatalf("reached %q, want plain", got)
	}
	_ = c.Close()
	waitFor(t, 5*time.Second, "the flow entry", func() bool { return len(flowLog.all()) == 1 })
	if e := flowLog.all()[0]; e.SSLProtocol != "TLSv1.2" || e.SSLCipher != want {
		t.Errorf("tcp entry: protocol %q cipher %q, want TLSv1.2 %q", e.SSLProtocol, e.SSLCipher, want)
	}
}
