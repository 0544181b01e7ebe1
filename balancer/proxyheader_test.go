package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func proxyHTTPDoc(trusted, backend string) string {
	return fmt.Sprintf(`kind: Listener
name: public
port: 1
proxyProtocol: {trustedCidrs: [%s]}
rules:
  - priority: 1
    conditions: {sourceIp: ["203.0.113.0/24"]}
    action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: "from 203.0.113.0/24"}}
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: ["%s"]
healthCheck: {enabled: false}
`, trusted, backend)
}

// v2Header is a PROXY v2 header naming src as the client.
func v2Header(t *testing.T, src string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:80")))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendRaw writes raw on a new connection and returns everything answered
// until the connection closes.
func sendRaw(t *testing.T, addr string, raw []byte) string {
	t.Helper()
	c := dialRaw(t, addr, 5*time.Second)
	if _, err := c.Write(raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil && !isConnReset(err) {
		t.Fatalf("read: %v", err)
	}
	return string(got)
}

const getClose = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

func TestHTTPProxyProtocolTrusted(t *testing.T) {
	be := startBackend(t, "web", nil)
	h := startLB(t, proxyHTTPDoc("127.0.0.0/8", be.addr))
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"v1 matches sourceIp", "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" + getClose, "from 203.0.113.0/24"},
		{"v2 matches sourceIp", string(v2Header(t, "203.0.113.8:5555")) + getClose, "from 203.0.113.0/24"},
		{"v1 sets X-Forwarded-For", "PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\n" + getClose, "X-Seen-Xff: 198.51.100.9\r\n"},
		{"v2 IPv6 sets X-Forwarded-For", string(v2Header(t, "[2001:db8::1]:5555")) + getClose, "X-Seen-Xff: 2001:db8::1\r\n"},
		{"no header is optional", getClose, "X-Seen-Xff: 127.0.0.1\r\n"},
		{"LOCAL keeps the peer", "PROXY UNKNOWN\r\n" + getClose, "X-Seen-Xff: 127.0.0.1\r\n"},
		{"garbage after the header gets 400", "PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\nGARBAGE\r\n\r\n", "HTTP/1.1 400 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sendRaw(t, h.addr(), []byte(tc.raw)); !strings.Contains(got, tc.want) {
				t.Fatalf("answer %q does not contain %q", got, tc.want)
			}
		})
	}
	if n := h.metric("gantry_proxy_protocol_rejected_total", map[string]string{"listener": "public"}); n != 0 {
		t.Errorf("rejected = %v, want 0", n)
	}
	// Garbage as a header from a trusted peer: closed without an answer.
	if got := sendRaw(t, h.addr(), []byte("PROXY garbage here\r\n"+getClose)); got != "" {
		t.Errorf("malformed header answered %q, want the connection closed", got)
	}
	waitFor(t, 2*time.Second, "rejection counted", func() bool {
		return h.metric("gantry_proxy_protocol_rejected_total", map[string]string{"listener": "public"}) == 1
	})
}

func TestHTTPProxyProtocolUntrusted(t *testing.T) {
	be := startBackend(t, "web", nil)
	h := startLB(t, proxyHTTPDoc("10.0.0.0/8", be.addr))
	for _, raw := range [][]byte{
		[]byte("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" + getClose),
		append(v2Header(t, "203.0.113.7:5555"), getClose...),
	} {
		if got := sendRaw(t, h.addr(), raw); got != "" {
			t.Errorf("untrusted header answered %q, want the connection closed", got)
		}
	}
	waitFor(t, 2*time.Second, "rejections counted", func() bool {
		return h.metric("gantry_proxy_protocol_rejected_total", map[string]string{"listener": "public"}) == 2
	})
	if be.hits.Load() != 0 {
		t.Error("a refused connection reached the target")
	}
	// The same peer without a header is served with its own address.
	if got := sendRaw(t, h.addr(), []byte(getClose)); !strings.Contains(got, "X-Seen-Xff: 127.0.0.1\r\n") {
		t.Errorf("answer without header: %q", got)
	}
}

func TestReadProxyHeader(t *testing.T) {
	trusted, _ := newProxyPolicy([]string{"127.0.0.1", "10.0.0.0/8"})
	peer := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name, in, want string
		err            error
		rest           string
	}{
		{"none", "GET / HTTP/1.1\r\n", "", nil, "GET / HTTP/1.1\r\n"},
		{"P but not PROXY", "PUT / HTTP/1.1\r\n", "", nil, "PUT / HTTP/1.1\r\n"},
		{"v1", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nrest", "1.2.3.4:1", nil, "rest"},
		{"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\nrest", "[2001:db8::1]:1", nil, "rest"},
		{"v1 unknown", "PROXY UNKNOWN\r\nrest", "", nil, "rest"},
		{"v1 garbage", "PROXY TCP4 1.2.3.4\r\nrest", "", errProxyMalformed, ""},
		{"v2", string(v2Header(t, "1.2.3.4:9")) + "rest", "1.2.3.4:9", nil, "rest"},
		{"short", "PRO", "", nil, "PRO"},
		{"cut P (a method may follow)", "P", "", nil, "P"},
		{"cut inside the v1 signature", "PROX", "", errProxyMalformed, ""},
		{"cut inside the v2 signature", "\r\n\r\n\x00", "", errProxyMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 64)
			ap, err := readProxyHeader(br, peer, trusted)
			if !errors.Is(err, tc.err) {
				t.Fatalf("readProxyHeader(%q) error %v, want %v", tc.in, err, tc.err)
			}
			if err != nil {
				return
			}
			got := ""
			if ap.IsValid() {
				got = ap.String()
			}
			if got != tc.want {
				t.Errorf("readProxyHeader(%q) = %q, want %q", tc.in, got, tc.want)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tc.rest {
				t.Errorf("left %q, want %q", rest, tc.rest)
			}
		})
	}
	untrusted := netip.MustParseAddr("192.0.2.1")
	br := bufio.NewReader(strings.NewReader("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
	if _, err := readProxyHeader(br, untrusted, trusted); !errors.Is(err, errProxyUntrusted) {
		t.Errorf("untrusted peer: error %v, want errProxyUntrusted", err)
	}
}

// FuzzReadProxyHeader: any input either fails with one of the two errors
// or yields a valid (or zero) address, and never consumes bytes that do not
// belong to a header.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET /"))
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	for _, src := range []string{"1.2.3.4:5", "[2001:db8::1]:80"} {
		h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
			net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)))
		b, _ := h.Format()
		f.Add(append(b, "tail"...))
	}
	trusted, _ := newProxyPolicy([]string{"0.0.0.0/0"})
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 256)
		ap, err := readProxyHeader(br, peer, trusted)
		if err != nil {
			if !errors.Is(err, errProxyMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		rest, _ := io.ReadAll(br)
		if !ap.IsValid() && !bytes.HasPrefix(in, []byte("PROXY")) && !bytes.HasPrefix(in, proxyproto.SIGV2) && !bytes.Equal(rest, in) {
			t.Fatalf("consumed %d bytes of a stream without header", len(in)-len(rest))
		}
	})
}

// readSignal is a connection that reports the size of each read returning
// data, so that a test can send its next bytes only once the previous ones
// were read: each piece then arrives in a read of its own.
type readSignal struct {
	net.Conn
	reads chan int
}

func (c *readSignal) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.reads <- n
	}
	return n, err
}

// TestProxyHeaderInPieces: a v1 header that arrives over several reads,
// split anywhere, is accepted as if sent at once (haproxy's
// proxy-protocol.txt: receivers should tolerate partial headers), within
// the header timeout and the 107-byte bound; one that never completes, or
// is malformed, is still refused.
func TestProxyHeaderInPieces(t *testing.T) {
	const v1 = "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
	const v16 = "PROXY TCP6 2001:db8::1 2001:db8::2 5555 443\r\n"
	var bytewise []string
	for i := range v1 {
		bytewise = append(bytewise, v1[i:i+1])
	}
	cases := []struct {
		name    string
		pieces  []string
		timeout time.Duration
		want    string // the client address, or "" for a refused header
		rest    string // what is read after the header
	}{
		{"signature, then the rest", []string{"PROXY", v1[5:] + "GET /"}, 5 * time.Second, "203.0.113.7:5555", "GET /"},
		{"inside the signature", []string{"PRO", v1[3:] + "GET /"}, 5 * time.Second, "203.0.113.7:5555", "GET /"},
		{"CR and LF apart", []string{v1[:len(v1)-1], "\nGET /"}, 5 * time.Second, "203.0.113.7:5555", "GET /"},
		{"TCP6 in three", []string{v16[:9], v16[9:30], v16[30:] + "GET /"}, 5 * time.Second, "[2001:db8::1]:5555", "GET /"},
		{"byte by byte", bytewise, 5 * time.Second, "203.0.113.7:5555", ""},
		{"garbage in pieces", []string{"PROXY", " garbage here\r\nGET /"}, 5 * time.Second, "", ""},
		{"no line end in 107 bytes", []string{"PROXY", " TCP4 " + strings.Repeat("1", 120)}, 5 * time.Second, "", ""},
		{"never completed", []string{"PROXY", " TCP4 203.0.113.7"}, 200 * time.Millisecond, "", ""},
		{"stalled inside the signature", []string{"PROX"}, 200 * time.Millisecond, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			policy, err := newProxyPolicy([]string{"127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			policy.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "rejected"})
			client, server := tcpPair(t)
			sig := &readSignal{Conn: server, reads: make(chan int, 64)}
			pc := newProxyConn(sig, policy, tc.timeout)
			type result struct {
				src  string
				rest string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				src := pc.RemoteAddr().String() // reads the header
				var rest []byte
				err := pc.err
				if err == nil && pc.br.Buffered() > 0 {
					rest, _ = pc.br.Peek(pc.br.Buffered())
				}
				done <- result{src, string(rest), err}
			}()
			var got result
		send:
			for _, p := range tc.pieces {
				if _, err := io.WriteString(client, p); err != nil {
					t.Fatal(err)
				}
				for read := 0; read < len(p); {
					select {
					case n := <-sig.reads:
						read += n
					case got = <-done: // made up its mind before the last piece
						break send
					}
				}
			}
			if got.src == "" {
				select {
				case got = <-done:
				case <-time.After(5 * time.Second):
					t.Fatal("the header was not read within 5s")
				}
			}
			refused := testutil.ToFloat64(policy.rejected)
			if tc.want == "" {
				if got.err == nil || refused != 1 {
					t.Errorf("header %q accepted (client %s, %v rejections), want it refused", strings.Join(tc.pieces, ""), got.src, refused)
				}
				return
			}
			if got.err != nil || got.src != tc.want || refused != 0 {
				t.Errorf("header in pieces %q: client %s, error %v, %v rejections; want %s", tc.pieces, got.src, got.err, refused, tc.want)
			}
			if got.rest != tc.rest {
				t.Errorf("left %q after the header, want %q", got.rest, tc.rest)
			}
		})
	}
}
