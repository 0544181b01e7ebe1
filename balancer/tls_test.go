package balancer

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/accesslog"
)

func httpsDoc(backend string) string {
	return fmt.Sprintf(`kind: Listener
name: secure
port: 1
protocol: HTTPS
certificates: [{certFile: test.crt, keyFile: test.key}]
rules:
  - priority: 1
    conditions: {pathPattern: ["/go-plain"]}
    action: {redirect: {protocol: "#{protocol}", statusCode: HTTP_302, path: "/landed"}}
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: ["%s"]
healthCheck: {enabled: false}
`, backend)
}

// httpsClient trusts ca only, for serverName.
func httpsClient(t *testing.T, ca *testCA, serverName string) *http.Client {
	tr := &http.Transport{TLSClientConfig: ca.clientConfig(serverName), ForceAttemptHTTP2: false}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func TestHTTPSTerminates(t *testing.T) {
	ca := newTestCA(t)
	prov := &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com"), ca.issue(t, "api.example.com")}}
	be := startBackend(t, "web", nil)
	log := &captureLog{}
	h := startLB(t, httpsDoc(be.addr), func(o *Options) { o.TLS = prov; o.AccessLog = log })

	for _, name := range []string{"www.example.com", "api.example.com"} {
		resp, err := httpsClient(t, ca, name).Get("https://" + h.addr() + "/hello")
		if err != nil {
			t.Fatalf("GET as %s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "web" {
			t.Fatalf("GET as %s = %d %q, want 200 web", name, resp.StatusCode, body)
		}
		if got := resp.TLS.PeerCertificates[0].DNSNames[0]; got != name {
			t.Errorf("certificate for %s names %s", name, got)
		}
		if p := resp.Header.Get("X-Seen-Proto"); p != "https" {
			t.Errorf("X-Forwarded-Proto = %q, want https", p)
		}
		if p := resp.Header.Get("X-Seen-Port"); p != fmt.Sprint(h.port) {
			t.Errorf("X-Forwarded-Port = %q, want %d", p, h.port)
		}
	}
	resp, err := httpsClient(t, ca, "www.example.com").Get("https://" + h.addr() + "/go-plain")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://") {
		t.Errorf("redirect #{protocol} gave Location %q, want https://...", loc)
	}
	entries := log.all()
	if len(entries) != 3 {
		t.Fatalf("%d access-log entries, want 3", len(entries))
	}
	e := entries[0]
	if e.Type != accesslog.TypeHTTPS || e.SSLProtocol != "TLSv1.3" || e.SSLCipher == "" || string(e.DomainName) != "www.example.com" {
		t.Errorf("access log: type %v protocol %q cipher %q domain %q", e.Type, e.SSLProtocol, e.SSLCipher, e.DomainName)
	}
}

func TestHTTPSPlainRequestGets400(t *testing.T) {
	ca := newTestCA(t)
	be := startBackend(t, "web", nil)
	h := startLB(t, httpsDoc(be.addr), func(o *Options) {
		o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
	})
	c := dialRaw(t, h.addr(), 5*time.Second)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.0 400 Bad Request\r\n") || !strings.Contains(string(got), "HTTPS server") {
		t.Fatalf("answer = %q, want a plain 400", got)
	}
	lbl := map[string]string{"listener": "secure"}
	if n := h.metric("gantry_client_tls_negotiation_errors_total", lbl); n != 1 {
		t.Errorf("tls negotiation errors = %v, want 1", n)
	}
	if n := h.metric("gantry_http_code_elb_total", map[string]string{"listener": "secure", "code": "400"}); n != 1 {
		t.Errorf("elb 400 = %v, want 1", n)
	}
	if be.hits.Load() != 0 {
		t.Error("plain request reached the target")
	}
}

func TestHTTPSBadHandshakeCounted(t *testing.T) {
	ca := newTestCA(t)
	be := startBackend(t, "web", nil)
	h := startLB(t, httpsDoc(be.addr), func(o *Options) {
		o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
	})
	// A client that does not trust the server's CA aborts the handshake.
	_, err := tls.Dial("tcp", h.addr(), &tls.Config{ServerName: "www.example.com", MinVersion: tls.VersionTLS12})
	if err == nil {
		t.Fatal("handshake with an untrusted certificate succeeded")
	}
	waitFor(t, 5*time.Second, "1 negotiation errors", func() bool {
		return h.metric("gantry_client_tls_negotiation_errors_total", map[string]string{"listener": "secure"}) == 1
	})
	// A TLS 1.1-only client is refused.
	_, err = tls.Dial("tcp", h.addr(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	waitFor(t, 5*time.Second, "2 negotiation errors", func() bool {
		return h.metric("gantry_client_tls_negotiation_errors_total", map[string]string{"listener": "secure"}) == 2
	})
	// A record that cannot start a handshake.
	c := dialRaw(t, h.addr(), 5*time.Second)
	_, _ = c.Write([]byte("\x17\x03\x01\x00\x05hello"))
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) && !isConnReset(err) {
		t.Fatalf("read after garbage: %v", err)
	}
	waitFor(t, 5*time.Second, "3 negotiation errors", func() bool {
		return h.metric("gantry_client_tls_negotiation_errors_total", map[string]string{"listener": "secure"}) == 3
	})
}

func TestHTTPSWithoutProviderFails(t *testing.T) {
	b := New(Options{})
	err := b.Update(decodeConfig(t, httpsDoc("127.0.0.1:1"), 0))
	if err == nil || !strings.Contains(err.Error(), "TLS provider") {
		t.Fatalf("Update = %v, want an error naming the missing TLS provider", err)
	}
	prov := &staticTLS{err: errors.New("no such certificate")}
	b = New(Options{TLS: prov})
	if err := b.Update(decodeConfig(t, httpsDoc("127.0.0.1:1"), 0)); err == nil || !strings.Contains(err.Error(), "no such certificate") {
		t.Fatalf("Update = %v, want the provider's error", err)
	}
}

// TestTCPRoutesBySNI: two TLS backends share one TCP listener; the
// listener reads the SNI without terminating, and each client gets its
// backend's own certificate.
func TestTCPRoutesBySNI(t *testing.T) {
	ca := newTestCA(t)
	certA, certB := ca.issue(t, "a.example.com"), ca.issue(t, "b.example.com")
	a := startTCPBackend(t, tlsEcho(certA))
	b := startTCPBackend(t, tlsEcho(certB))
	plain := startTCPBackend(t, namedEcho("plain"))
	doc := fmt.Sprintf(`kind: Listener
name: nlb
port: 1
protocol: TCP
rules:
  - priority: 1
    conditions: {sni: ["a.example.com"]}
    action: {forward: {targetGroup: a}}
  - priority: 2
    conditions: {sni: ["*.example.com"]}
    action: {forward: {targetGroup: b}}
defaultAction: {forward: {targetGroup: plain}}
---
kind: TargetGroup
name: a
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
---
kind: TargetGroup
name: b
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
---
kind: TargetGroup
name: plain
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
`, a.addr, b.addr, plain.addr)
	h := startLB(t, doc)
	for _, tc := range []struct {
		name string
		cert tls.Certificate
	}{{"a.example.com", certA}, {"b.example.com", certB}} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.addr(), ca.clientConfig(tc.name))
		if err != nil {
			t.Fatalf("dial as %s: %v", tc.name, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, tc.cert.Certificate[0]) {
			t.Errorf("%s: the client got another certificate than the backend's", tc.name)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		roundTrip(t, c, bufio.NewReader(c), "over "+tc.name)
		_ = c.Close()
	}
	// A client that speaks no TLS takes the default action.
	c := dialRaw(t, h.addr(), 5*time.Second)
	_, _ = io.WriteString(c, "hello\n")
	br := bufio.NewReader(c)
	if got := readLine(t, br); got != "plain" {
		t.Fatalf("non-TLS client reached %q, want plain", got)
	}
	if got := readLine(t, br); got != "hello" {
		t.Fatalf("bytes read ahead = %q, want hello", got)
	}
}

func TestTLSListenerForwardsPlaintext(t *testing.T) {
	ca := newTestCA(t)
	be := startTCPBackend(t, namedEcho("plain"))
	other := startTCPBackend(t, namedEcho("db"))
	doc := fmt.Sprintf(`kind: Listener
name: tls
port: 1
protocol: TLS
certificates: [{certFile: test.crt, keyFile: test.key}]
rules:
  - priority: 1
    conditions: {sni: ["db.example.com"]}
    action: {forward: {targetGroup: db}}
defaultAction: {forward: {targetGroup: tcp}}
---
kind: TargetGroup
name: tcp
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
---
kind: TargetGroup
name: db
protocol: TCP
targets: ["%s"]
healthCheck: {enabled: false}
`, be.addr, other.addr)
	log := &captureLog{}
	h := startLB(t, doc, func(o *Options) {
		o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com"), ca.issue(t, "db.example.com")}}
		o.AccessLog = log
	})
	for name, want := range map[string]string{"www.example.com": "plain", "db.example.com": "db"} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.addr(), ca.clientConfig(name))
		if err != nil {
			t.Fatalf("dial as %s: %v", name, err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		if got := readLine(t, br); got != want {
			t.Fatalf("%s reached %q, want %q", name, got, want)
		}
		roundTrip(t, c, br, "plaintext behind TLS")
		_ = c.Close()
	}
	waitFor(t, 5*time.Second, "two flows logged", func() bool { return len(log.all()) == 2 })
	for _, e := range log.all() {
		if e.SSLProtocol == "" || len(e.DomainName) == 0 {
			t.Errorf("flow log entry without TLS fields: %+v", e)
		}
	}
	// A plain client is refused and counted.
	c := dialRaw(t, h.addr(), 5*time.Second)
	_, _ = io.WriteString(c, "hello\n")
	_, _ = io.ReadAll(c)
	waitFor(t, 5*time.Second, "negotiation error", func() bool {
		return h.metric("gantry_client_tls_negotiation_errors_total", map[string]string{"listener": "tls"}) == 1
	})
}

// TestListenerProtocolChange moves a port from HTTP to TCP and back
// without closing it.
func TestListenerProtocolChange(t *testing.T) {
	web := startBackend(t, "web", nil)
	raw := startTCPBackend(t, namedEcho("raw"))
	httpDoc := fmt.Sprintf(`kind: Listener
name: nlb
port: 1
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: ["%s"]
healthCheck: {enabled: false}
`, web.addr)
	h := startLB(t, httpDoc)
	if code, body, _ := h.get("/"); code != 200 || body != "web" {
		t.Fatalf("HTTP: %d %q", code, body)
	}
	h.update(tcpDoc("", "", raw.addr))
	if got := backendOf(t, h.addr()); got != "raw" {
		t.Fatalf("after the change to TCP: %q, want raw", got)
	}
	h.update(httpDoc)
	h.client.CloseIdleConnections()
	if code, body, _ := h.get("/"); code != 200 || body != "web" {
		t.Fatalf("back to HTTP: %d %q", code, body)
	}
}

// TestHTTPSBehindProxyProtocol: the PROXY header comes before the TLS
// handshake, and its client reaches X-Forwarded-For.
func TestHTTPSBehindProxyProtocol(t *testing.T) {
	ca := newTestCA(t)
	be := startBackend(t, "web", nil)
	doc := strings.Replace(httpsDoc(be.addr), "protocol: HTTPS\n", "protocol: HTTPS\nproxyProtocol: {trustedCidrs: [127.0.0.1]}\n", 1)
	h := startLB(t, doc, func(o *Options) {
		o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
	})
	raw := dialRaw(t, h.addr(), 5*time.Second)
	if _, err := io.WriteString(raw, "PROXY TCP4 198.51.100.20 127.0.0.1 4444 443\r\n"); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, ca.clientConfig("www.example.com"))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatalf("handshake or write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("X-Seen-Xff"); got != "198.51.100.20" {
		t.Fatalf("X-Forwarded-For = %q, want 198.51.100.20", got)
	}
}
