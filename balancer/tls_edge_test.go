package balancer

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gantrylb/gantry/accesslog"
	"github.com/gantrylb/gantry/certs"
)

// TestWSSLogsTLSFields: a WebSocket over an HTTPS listener is logged with
// the same TLS fields (protocol, cipher, server name) as the https
// requests of that listener.
func TestWSSLogsTLSFields(t *testing.T) {
	ca := newTestCA(t)
	echo := startEcho(t, "web")
	log := &captureLog{}
	h := startLB(t, httpsDoc(echo), func(o *Options) {
		o.TLS = &staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}
		o.AccessLog = log
	})
	client := httpsClient(t, ca, "www.example.com")
	resp, err := client.Get("https://" + h.addr() + "/hello")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+h.addr()+"/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	echoOnce(t, c, "over tls", 5*time.Second)
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("close: %v", err)
	}

	var https, wss *accesslog.Entry
	waitFor(t, 5*time.Second, "an https and a wss entry", func() bool {
		https, wss = nil, nil
		for _, e := range log.all() {
			switch e.Type {
			case accesslog.TypeHTTPS:
				https = &e
			case accesslog.TypeWSS:
				wss = &e
			}
		}
		return https != nil && wss != nil
	})
	if https.SSLProtocol == "" || https.SSLCipher == "" || string(https.DomainName) != "www.example.com" {
		t.Fatalf("https entry TLS fields = %q %q %q, want all set", https.SSLProtocol, https.SSLCipher, https.DomainName)
	}
	if wss.SSLProtocol != https.SSLProtocol || wss.SSLCipher != https.SSLCipher || string(wss.DomainName) != string(https.DomainName) {
		t.Errorf("wss entry TLS fields = %q %q %q, want %q %q %q as the https entry", wss.SSLProtocol, wss.SSLCipher,
			wss.DomainName, https.SSLProtocol, https.SSLCipher, https.DomainName)
	}
}

// writeCertFiles writes cert (its chain) and key as PEM files named
// base.crt and base.key in dir, for a certs.Provider.
func writeCertFiles(t *testing.T, dir, base string, cert tls.Certificate) {
	t.Helper()
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(filepath.Join(dir, base+".crt"), chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, base+".key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
}

// providerFor is a certs.Provider reading the files of one certificate for
// names, written to a temporary directory.
func providerFor(t *testing.T, ca *testCA, names ...string) *certs.Provider {
	t.Helper()
	dir := t.TempDir()
	writeCertFiles(t, dir, "test", ca.issue(t, names...))
	return certs.NewProvider(certs.Options{BaseDir: dir})
}

// TestTLSListenerOffersNoALPN: a TLS listener carries any TCP protocol, so
// whatever the client offers (h2, postgresql...) the handshake succeeds,
// no protocol is selected and the bytes reach the target.
func TestTLSListenerOffersNoALPN(t *testing.T) {
	ca := newTestCA(t)
	be := startTCPBackend(t, namedEcho("db"))
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
`, be.addr)
	h := startLB(t, doc, func(o *Options) { o.TLS = providerFor(t, ca, "db.example.com") })
	for _, offer := range [][]string{nil, {"h2"}, {"postgresql"}, {"h2", "http/1.1"}} {
		cfg := ca.clientConfig("db.example.com")
		cfg.NextProtos = offer
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.addr(), cfg)
		if err != nil {
			t.Errorf("offering %q: handshake failed: %v", offer, err)
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if p := c.ConnectionState().NegotiatedProtocol; p != "" {
			t.Errorf("offering %q: negotiated %q, want none", offer, p)
		}
		br := bufio.NewReader(c)
		if got := readLine(t, br); got != "db" {
			t.Errorf("offering %q: reached %q, want db", offer, got)
		}
		roundTrip(t, c, br, "bytes of any protocol")
		_ = c.Close()
	}
}

// pinnedSessionCache offers the first session it was given for every
// server name, as `openssl s_client -sess_in` does.
type pinnedSessionCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *pinnedSessionCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *pinnedSessionCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs == nil {
		c.cs = cs
	}
}

// TestHTTPSRejectSurvivesResumption: with unknownSni reject, a TLS 1.3
// session obtained for a served name and offered under a name the listener
// does not serve is refused with unrecognized_name, as a full handshake
// would be; under its own name it still resumes.
func TestHTTPSRejectSurvivesResumption(t *testing.T) {
	ca := newTestCA(t)
	be := startBackend(t, "web", nil)
	doc := strings.Replace(httpsDoc(be.addr), "protocol: HTTPS\n", "protocol: HTTPS\nunknownSni: reject\n", 1)
	h := startLB(t, doc, func(o *Options) { o.TLS = providerFor(t, ca, "localhost") })
	cache := &pinnedSessionCache{}
	get := func(serverName string) (*http.Response, tls.ConnectionState, error) {
		cfg := ca.clientConfig(serverName)
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
		cfg.ClientSessionCache = cache
		// crypto/tls offers a session only for names its certificate
		// covers; openssl s_client offers it regardless.
		cfg.InsecureSkipVerify = true
		tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + h.addr() + "/hello")
		if err != nil {
			return nil, tls.ConnectionState{}, err
		}
		defer resp.Body.Close()
		// The body was read by the time the ticket matters: the TLS 1.3
		// ticket comes after the handshake, read with the response.
		buf := make([]byte, 512)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		return resp, *resp.TLS, nil
	}
	resp, cs, err := get("localhost")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first GET as localhost: %v %v", resp, err)
	}
	if cs.DidResume {
		t.Fatal("first connection resumed")
	}
	if _, cs, err = get("localhost"); err != nil || !cs.DidResume {
		t.Fatalf("second GET as localhost: resumed %v, err %v; want a resumed session", cs.DidResume, err)
	}
	resp, _, err = get("unknown.test")
	if err == nil {
		t.Fatalf("GET as unknown.test with a resumed session: status %d, want unrecognized_name", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("GET as unknown.test: %v, want unrecognized name alert", err)
	}
}
