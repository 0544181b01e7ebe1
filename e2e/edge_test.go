//go:build linux

package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeCerts runs examples/make-cert.sh as documented into dir/tls and
// returns a pool trusting its CA.
func makeCerts(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("skipping: examples/make-cert.sh needs openssl")
	}
	out, err := exec.Command("bash", filepath.Join(examplesDir, "make-cert.sh"), filepath.Join(dir, "tls")).CombinedOutput()
	if err != nil {
		t.Fatalf("make-cert.sh: %v\n%s", err, out)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	return pool
}

// TestHTTPSExample runs examples/https.yaml (moved to free ports) with the
// certificate make-cert.sh writes beside it: HTTPS answers with a verified
// chain for localhost, the target sees X-Forwarded-Proto https, and the
// HTTP listener redirects to HTTPS.
func TestHTTPSExample(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	pool := makeCerts(t, dir)
	e1, e2 := startEcho(t, "echo-1"), startEcho(t, "echo-2")
	httpsAddr, httpAddr := freeAddr(t), freeAddr(t)
	content := rewrite(t, readExample(t, "https.yaml"),
		"127.0.0.1:9001", e1.addr, "127.0.0.1:9002", e2.addr,
		"port: 8443", "port: "+port(t, httpsAddr), `port: "8443"`, `port: "`+port(t, httpsAddr)+`"`,
		"port: 8080", "port: "+port(t, httpAddr))
	file := writeFile(t, dir, "https.yaml", content)
	if r := cli(t, nil, "validate", "-f", filepath.Join(examplesDir, "https.yaml")); r.code != 0 {
		t.Errorf("gantry validate -f examples/https.yaml: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	startNode(t, []string{file})

	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
			ForceAttemptHTTP2: false},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := "https://" + httpsAddr + "/hello?format=text"
	var body string
	eventually(t, 15*time.Second, "HTTPS through examples/https.yaml", func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200 && resp.TLS != nil && resp.TLS.NegotiatedProtocol != "h2"
	})
	if !strings.Contains(strings.ToLower(body), "x-forwarded-proto: https") {
		t.Errorf("the target did not see X-Forwarded-Proto: https:\n%s", body)
	}

	resp, err := client.Get("http://" + httpAddr + "/shop?x=1")
	if err != nil {
		t.Fatalf("GET on the HTTP listener: %v", err)
	}
	resp.Body.Close()
	want := "https://" + httpAddr[:strings.IndexByte(httpAddr, ':')] + ":" + port(t, httpsAddr) + "/shop?x=1"
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("HTTP listener answered %d Location %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

// TestTCPExample runs examples/tcp.yaml (moved to free ports): HTTP passes
// through the TCP listener untouched, and the TLS listener terminates TLS
// and forwards plain TCP.
func TestTCPExample(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	pool := makeCerts(t, dir)
	e1, e2 := startEcho(t, "echo-1"), startEcho(t, "echo-2")
	tcpAddr, tlsAddr := freeAddr(t), freeAddr(t)
	content := rewrite(t, readExample(t, "tcp.yaml"),
		"127.0.0.1:9001", e1.addr, "127.0.0.1:9002", e2.addr,
		"port: 9000", "port: "+port(t, tcpAddr), "port: 9443", "port: "+port(t, tlsAddr))
	startNode(t, []string{writeFile(t, dir, "tcp.yaml", content)})

	// A raw HTTP/1.1 request through the TCP listener: the echo server sees
	// no X-Forwarded-For, since nothing was parsed or added on the way.
	var answer string
	eventually(t, 15*time.Second, "HTTP through the TCP listener", func() bool {
		c, err := net.DialTimeout("tcp", tcpAddr, 5*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "GET /?format=text HTTP/1.1\r\nHost: raw\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(bufio.NewReader(c))
		answer = string(b)
		return strings.HasPrefix(answer, "HTTP/1.1 200")
	})
	if strings.Contains(strings.ToLower(answer), "x-forwarded-for") {
		t.Errorf("a TCP listener changed the request (X-Forwarded-For added):\n%s", answer)
	}

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS handshake with the TLS listener: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Errorf("through the TLS listener: %q, want an HTTP/1.1 200 from the echo server", b)
	}
}
