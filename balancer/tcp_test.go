package balancer

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/gantrylb/gantry/accesslog"
)

// captureLog keeps a copy of the fields tests look at of each entry.
type captureLog struct {
	mu      sync.Mutex
	entries []accesslog.Entry
}

func (c *captureLog) Log(e *accesslog.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *e
	cp.DomainName = append([]byte(nil), e.DomainName...)
	cp.Method, cp.Host, cp.RequestURI, cp.Protocol, cp.UserAgent = nil, nil, nil, nil, nil
	cp.RequestID, cp.Traceparent, cp.TraceID, cp.RedirectURL = nil, nil, nil, nil
	c.entries = append(c.entries, cp)
}

func (c *captureLog) all() []accesslog.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]accesslog.Entry(nil), c.entries...)
}

// tcpDoc is a TCP listener forwarding to TCP group "tcp".
func tcpDoc(listenerExtra, groupExtra string, targets ...string) string {
	return fmt.Sprintf(`kind: Listener
name: nlb
port: 1
protocol: TCP
%s
defaultAction: {forward: {targetGroup: tcp}}
---
kind: TargetGroup
name: tcp
protocol: TCP
targets: [%s]
healthCheck: {enabled: false}
%s
`, listenerExtra, quoteList(targets), groupExtra)
}

func (h *lbHarness) addr() string { return h.client.Addr }

// readLine reads one line from c within d.
func readLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	s, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

// roundTrip writes msg and expects it echoed back.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := readLine(t, br); got != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

func TestTCPEchoByteExact(t *testing.T) {
	be := startTCPBackend(t, echo)
	log := &captureLog{}
	h := startLB(t, tcpDoc("", "", be.addr), func(o *Options) { o.AccessLog = log })
	c := dialRaw(t, h.addr(), 60*time.Second)

	const size = 64 << 20
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	go func() {
		_, _ = c.Write(payload)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes came back as %d bytes, not identical", size, len(got))
	}
	_ = c.Close()
	waitFor(t, 5*time.Second, "flow end", func() bool { return len(log.all()) == 1 })
	e := log.all()[0]
	if e.Type != accesslog.TypeTCP || e.ReceivedBytes != size || e.SentBytes != size || e.TargetGroup != "tcp" {
		t.Errorf("access log = type %v received %d sent %d group %q, want tcp %d %d tcp", e.Type, e.ReceivedBytes, e.SentBytes, e.TargetGroup, size, size)
	}
	if e.TargetProcessingTime <= 0 || e.Target.String() != be.addr {
		t.Errorf("access log target %v duration %v", e.Target, e.TargetProcessingTime)
	}
	lbl := map[string]string{"listener": "nlb"}
	if n := h.metric("gantry_tcp_new_flows_total", lbl); n != 1 {
		t.Errorf("new flows = %v, want 1", n)
	}
	if n := h.metric("gantry_tcp_processed_bytes_total", lbl); n != 2*size {
		t.Errorf("tcp processed bytes = %v, want %d", n, 2*size)
	}
	if n := h.metric("gantry_processed_bytes_total", lbl); n != 2*size {
		t.Errorf("processed bytes = %v, want %d", n, 2*size)
	}
	waitFor(t, 5*time.Second, "active flows 0", func() bool {
		return h.metric("gantry_tcp_active_flows", lbl) == 0 && h.metric("gantry_active_connections", lbl) == 0
	})
}

// backendOf dials the listener and reads the backend's name line.
func backendOf(t *testing.T, addr string) string {
	t.Helper()
	c := dialRaw(t, addr, 5*time.Second)
	defer c.Close()
	return readLine(t, bufio.NewReader(c))
}

func TestTCPRoundRobin(t *testing.T) {
	var addrs []string
	for i := range 3 {
		addrs = append(addrs, startTCPBackend(t, namedEcho(fmt.Sprint("b", i))).addr)
	}
	h := startLB(t, tcpDoc("", "", addrs...))
	counts := map[string]int{}
	for range 9 {
		counts[backendOf(t, h.addr())]++
	}
	for i := range 3 {
		if n := counts[fmt.Sprint("b", i)]; n != 3 {
			t.Errorf("round robin: %v, want 3 flows on each", counts)
			break
		}
	}
}

func TestTCPFlowHashSpread(t *testing.T) {
	var addrs []string
	for i := range 3 {
		addrs = append(addrs, startTCPBackend(t, namedEcho(fmt.Sprint("b", i))).addr)
	}
	h := startLB(t, tcpDoc("", "algorithm: flow_hash", addrs...))
	counts := map[string]int{}
	for range 60 {
		counts[backendOf(t, h.addr())]++
	}
	for i := range 3 {
		if n := counts[fmt.Sprint("b", i)]; n < 5 {
			t.Errorf("flow hash spread over 60 flows: %v, want every target used", counts)
			break
		}
	}
}

func TestTCPDeadTargetFailsOver(t *testing.T) {
	dead := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().String()
		_ = ln.Close()
		return a
	}()
	live := startTCPBackend(t, namedEcho("live"))
	h := startLB(t, tcpDoc("", "", dead, live.addr))
	for range 4 {
		if got := backendOf(t, h.addr()); got != "live" {
			t.Fatalf("flow reached %q, want live", got)
		}
	}
	if n := h.metric("gantry_target_connection_errors_total", map[string]string{"target_group": "tcp"}); n < 1 {
		t.Errorf("target connection errors = %v, want at least 1", n)
	}
}

func TestTCPNoTargetCloses(t *testing.T) {
	dead := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		a := ln.Addr().String()
		_ = ln.Close()
		return a
	}()
	h := startLB(t, tcpDoc("", "", dead))
	// The reset may come before the dial has seen its connection complete.
	c, err := net.DialTimeout("tcp", h.addr(), 2*time.Second)
	if err == nil {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if !isConnReset(err) {
		t.Fatalf("dial and read = %v, want a reset (NLB resets flows it cannot forward)", err)
	}
	waitFor(t, 2*time.Second, "elb reset counted", func() bool {
		return h.metric("gantry_tcp_elb_reset_total", map[string]string{"listener": "nlb"}) == 1
	})
}

// TestTCPDrainClosesAtDeadline deregisters a target with a flow open: the
// flow keeps working until the deregistration delay, then is closed.
func TestTCPDrainClosesAtDeadline(t *testing.T) {
	a := startTCPBackend(t, namedEcho("a"))
	b := startTCPBackend(t, namedEcho("b"))
	h := startLB(t, tcpDoc("", "deregistrationDelaySeconds: 1", a.addr))
	c := dialRaw(t, h.addr(), 10*time.Second)
	br := bufio.NewReader(c)
	if got := readLine(t, br); got != "a" {
		t.Fatalf("flow on %q, want a", got)
	}
	h.update(tcpDoc("", "deregistrationDelaySeconds: 1", b.addr))
	deregistered := time.Now()
	if st, inflight := stateOf(h, "tcp", a.addr); st != "draining" || inflight != 1 {
		t.Fatalf("a is %q with %d in flight, want draining with 1", st, inflight)
	}
	roundTrip(t, c, br, "still here")
	if got := backendOf(t, h.addr()); got != "b" {
		t.Fatalf("new flow on %q, want b", got)
	}
	_, err := br.ReadString('\n')
	el := time.Since(deregistered)
	if err == nil {
		t.Fatal("flow still open after the drain")
	}
	if el < 900*time.Millisecond || el > 3*time.Second {
		t.Errorf("flow closed %v after deregistration, want about 1s", el)
	}
	waitFor(t, 2*time.Second, "a gone", func() bool { s, _ := stateOf(h, "tcp", a.addr); return s == "" })
}

// TestTCPDrainEndsEarly: a drain with a long delay ends as soon as the last
// flow to the target ends.
func TestTCPDrainEndsEarly(t *testing.T) {
	a := startTCPBackend(t, namedEcho("a"))
	b := startTCPBackend(t, namedEcho("b"))
	h := startLB(t, tcpDoc("", "deregistrationDelaySeconds: 300", a.addr))
	c := dialRaw(t, h.addr(), 10*time.Second)
	if got := readLine(t, bufio.NewReader(c)); got != "a" {
		t.Fatalf("flow on %q, want a", got)
	}
	h.update(tcpDoc("", "deregistrationDelaySeconds: 300", b.addr))
	if st, _ := stateOf(h, "tcp", a.addr); st != "draining" {
		t.Fatalf("a is %q, want draining", st)
	}
	_ = c.Close()
	waitFor(t, 3*time.Second, "drain of a to end", func() bool { s, _ := stateOf(h, "tcp", a.addr); return s == "" })
}

func TestTCPIdleTimeout(t *testing.T) {
	be := startTCPBackend(t, namedEcho("a"))
	h := startLB(t, tcpDoc("idleTimeoutSeconds: 1", "", be.addr))
	c := dialRaw(t, h.addr(), 10*time.Second)
	br := bufio.NewReader(c)
	readLine(t, br)
	start := time.Now()
	_, err := br.ReadString('\n')
	el := time.Since(start)
	if !isConnReset(err) {
		t.Fatalf("idle flow ended with %v, want a reset (as NLB)", err)
	}
	if el < 900*time.Millisecond || el > 4*time.Second {
		t.Errorf("idle flow closed after %v, want 1s..1.25s", el)
	}
	waitFor(t, 2*time.Second, "elb reset", func() bool {
		return h.metric("gantry_tcp_elb_reset_total", map[string]string{"listener": "nlb"}) == 1
	})
}

func TestTCPReloadKeepsFlows(t *testing.T) {
	be := startTCPBackend(t, namedEcho("a"))
	other := startTCPBackend(t, namedEcho("b"))
	doc := tcpDoc("", "", be.addr)
	h := startLB(t, doc)
	c := dialRaw(t, h.addr(), 10*time.Second)
	br := bufio.NewReader(c)
	readLine(t, br)
	h.update(doc)
	roundTrip(t, c, br, "after unchanged reload")
	h.update(tcpDoc("idleTimeoutSeconds: 100", "", be.addr, other.addr))
	roundTrip(t, c, br, "after changed reload")
}

func TestTCPProxyV2ToTarget(t *testing.T) {
	be := startTCPBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		hdr, err := proxyproto.Read(br)
		if err != nil {
			_, _ = fmt.Fprintf(c, "error %v\n", err)
			return
		}
		_, _ = fmt.Fprintf(c, "v%d %s %s\n", hdr.Version, hdr.SourceAddr, hdr.DestinationAddr)
		_, _ = io.Copy(c, br)
	})
	h := startLB(t, tcpDoc("", "proxyProtocolV2: true", be.addr))
	c := dialRaw(t, h.addr(), 5*time.Second)
	br := bufio.NewReader(c)
	want := fmt.Sprintf("v2 %s %s", c.LocalAddr(), c.RemoteAddr())
	if got := readLine(t, br); got != want {
		t.Fatalf("target saw %q, want %q", got, want)
	}
	roundTrip(t, c, br, "payload after the header")
}

// TestTCPProxyInAndOut: a trusted upstream's PROXY v1 header names the
// client, which the target then sees in the v2 header Gantry sends.
func TestTCPProxyInAndOut(t *testing.T) {
	be := startTCPBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		hdr, err := proxyproto.Read(br)
		if err != nil {
			_, _ = fmt.Fprintf(c, "error %v\n", err)
			return
		}
		_, _ = fmt.Fprintf(c, "%s\n", hdr.SourceAddr)
		_, _ = io.Copy(c, br)
	})
	h := startLB(t, tcpDoc("proxyProtocol: {trustedCidrs: [127.0.0.0/8]}", "proxyProtocolV2: true", be.addr))
	c := dialRaw(t, h.addr(), 5*time.Second)
	_, _ = io.WriteString(c, "PROXY TCP4 203.0.113.9 127.0.0.1 4711 443\r\nhello\n")
	br := bufio.NewReader(c)
	if got := readLine(t, br); got != "203.0.113.9:4711" {
		t.Fatalf("target saw client %q, want 203.0.113.9:4711", got)
	}
	if got := readLine(t, br); got != "hello" {
		t.Fatalf("bytes after the header = %q, want hello", got)
	}
}

// TestTCPProxyUntrustedRefused: a PROXY header from a peer outside
// trustedCidrs ends the flow before any of its bytes reach the target, and
// is counted; the same peer without a header is served, and a target that
// speaks first greets it at once, without waiting for the client's first
// bytes (which a trusted peer's header would be).
func TestTCPProxyUntrustedRefused(t *testing.T) {
	var mu sync.Mutex
	var got bytes.Buffer
	be := startTCPBackend(t, func(c net.Conn) {
		if _, err := io.WriteString(c, "a\n"); err != nil {
			return
		}
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
			_, _ = c.Write(buf[:n])
		}
	})
	h := startLB(t, tcpDoc("proxyProtocol: {trustedCidrs: [10.0.0.0/8]}", "", be.addr))
	c := dialRaw(t, h.addr(), 5*time.Second)
	_, _ = io.WriteString(c, "PROXY TCP4 203.0.113.9 127.0.0.1 4711 443\r\n")
	if _, err := io.ReadAll(c); err == nil {
		t.Fatal("untrusted PROXY header: the flow ended cleanly, want a reset")
	}
	waitFor(t, 5*time.Second, "the refusal counted", func() bool {
		return h.metric("gantry_proxy_protocol_rejected_total", map[string]string{"listener": "nlb"}) == 1
	})

	// Without a header the same peer is greeted before it says anything.
	c2 := dialRaw(t, h.addr(), 5*time.Second)
	br := bufio.NewReader(c2)
	start := time.Now()
	if line := readLine(t, br); line != "a" {
		t.Fatalf("greeting %q, want a", line)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("the target's greeting took %v: the flow waited for the client's first bytes", el)
	}
	_, _ = io.WriteString(c2, "x\n")
	if line := readLine(t, br); line != "x" {
		t.Fatalf("echo %q, want x", line)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(got.String(), "PROXY") {
		t.Errorf("the target received the untrusted header: %q", got.String())
	}
}

// TestTCPIdleFlowsHoldNoPipes: an idle flow costs its two sockets only;
// splice pipes are given back once the bytes have moved.
func TestTCPIdleFlowsHoldNoPipes(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	// The backend echoes by hand: io.Copy would splice and hold a pipe.
	be := startTCPBackend(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "a\n")
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	h := startLB(t, tcpDoc("", "", be.addr))
	fds := func() int { es, _ := os.ReadDir("/proc/self/fd"); return len(es) }
	roundTrip := func(c net.Conn, br *bufio.Reader) {
		readLine(t, br)
		roundTrip(t, c, br, "moved")
	}
	// Warm the pipe pool so pooled pipes do not count below.
	warm := dialRaw(t, h.addr(), 5*time.Second)
	roundTrip(warm, bufio.NewReader(warm))
	before := fds()
	const n = 40
	for range n {
		c := dialRaw(t, h.addr(), 10*time.Second)
		roundTrip(c, bufio.NewReader(c))
	}
	// Each flow: the client, both Gantry sockets and the backend's socket.
	waitFor(t, 2*time.Second, "flows settled", func() bool { return fds()-before <= 4*n+8 })
	t.Logf("%d descriptors for %d flows", fds()-before, n)
}

// TestTCPSourceIPRule: sourceIp conditions route TCP connections by the
// client's address.
func TestTCPSourceIPRule(t *testing.T) {
	greet := func(name string) func(net.Conn) {
		return func(c net.Conn) { _, _ = io.WriteString(c, name+"\n") }
	}
	def := startTCPBackend(t, greet("default"))
	local := startTCPBackend(t, greet("loopback"))
	doc := func(cidr string) string {
		return tcpDoc(fmt.Sprintf(`rules:
  - priority: 1
    conditions: {sourceIp: [%q]}
    action: {forward: {targetGroup: local}}`, cidr), "", def.addr) + fmt.Sprintf(`---
kind: TargetGroup
name: local
protocol: TCP
targets: [%q]
healthCheck: {enabled: false}
`, local.addr)
	}
	first := func(h *lbHarness) string {
		c := dialRaw(t, h.addr(), 10*time.Second)
		defer c.Close()
		return readLine(t, bufio.NewReader(c))
	}
	h := startLB(t, doc("127.0.0.0/8"))
	if got := first(h); got != "loopback" {
		t.Errorf("from 127.0.0.1 with a 127.0.0.0/8 rule: answered by %q, want loopback", got)
	}
	h2 := startLB(t, doc("10.0.0.0/8"))
	if got := first(h2); got != "default" {
		t.Errorf("from 127.0.0.1 with a 10.0.0.0/8 rule: answered by %q, want default", got)
	}
}
