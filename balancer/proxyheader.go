package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
)

// proxyPolicy is a listener's proxyProtocol setting: the peers whose PROXY
// headers are believed. For them the header is optional (an upstream load
// balancer's own health checks often send none); any other peer that sends
// one is refused, so a client cannot forge its address.
type proxyPolicy struct {
	trusted  []netip.Prefix
	rejected prometheus.Counter
}

func newProxyPolicy(cidrs []string) (*proxyPolicy, error) {
	p := &proxyPolicy{}
	for _, s := range cidrs {
		var pfx netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			pfx, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			return nil, fmt.Errorf("trusted cidr %q: %w", s, err)
		}
		p.trusted = append(p.trusted, pfx.Masked())
	}
	return p, nil
}

func (p *proxyPolicy) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, pfx := range p.trusted {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

var (
	// errProxyUntrusted: a peer outside trustedCidrs sent a PROXY header.
	errProxyUntrusted = errors.New("balancer: proxy header: peer not trusted")
	// errProxyMalformed: a trusted peer sent something that starts like a
	// PROXY header but is not one.
	errProxyMalformed = errors.New("balancer: proxy header: malformed")
)

// hasProxySignature peeks at br until the bytes either start a PROXY header
// (v1 "PROXY" or the v2 signature) or cannot. Nothing is consumed. A read
// error before that (end of stream, deadline) is returned as it is, with
// true when what came can only be a header's start.
func hasProxySignature(br *bufio.Reader) (bool, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return stalledInSignature(b), err
		}
		if startsWithSignature(b) {
			return true, nil
		}
		if !signaturePrefix(b) {
			return false, nil
		}
	}
}

// startsWithSignature reports whether b begins with a v1 or v2 signature.
func startsWithSignature(b []byte) bool {
	return bytes.HasPrefix(b, proxyproto.SIGV1) || bytes.HasPrefix(b, proxyproto.SIGV2)
}

// signaturePrefix reports whether b could still grow into a signature.
func signaturePrefix(b []byte) bool {
	return bytes.HasPrefix(proxyproto.SIGV1, b) || bytes.HasPrefix(proxyproto.SIGV2, b)
}

// stalledInSignature reports whether b, cut or stalled (the header timeout)
// inside a signature, is a header that never came whole: once no HTTP
// request can start with it ("PROX", or v2's NUL).
func stalledInSignature(b []byte) bool {
	return len(b) >= 4 && bytes.HasPrefix(proxyproto.SIGV1, b) ||
		len(b) >= 5 && bytes.HasPrefix(proxyproto.SIGV2, b)
}

// maxV1Header is the longest PROXY v1 line, CRLF included
// (haproxy's proxy-protocol.txt, section 2.1).
const maxV1Header = 107

// bufferV1Line waits, when br starts with a v1 signature, until the line's
// LF is buffered, or maxV1Header bytes (or br's whole buffer) without one.
// go-proxyproto refuses a v1 line that one read did not bring whole, but the
// spec has receivers tolerate a header split across reads (within the
// caller's deadline, which bounds the wait); the parser still judges what
// is buffered, so a line too long or malformed is refused as before.
func bufferV1Line(br *bufio.Reader) error {
	if b, _ := br.Peek(len(proxyproto.SIGV1)); !bytes.Equal(b, proxyproto.SIGV1) {
		return nil
	}
	for n := len(proxyproto.SIGV1) + 1; n <= min(maxV1Header, br.Size()); n++ {
		b, err := br.Peek(n)
		if err != nil {
			return err
		}
		if b[n-1] == '\n' {
			return nil
		}
	}
	return nil
}

// readProxyHeader consumes a PROXY v1 or v2 header from br, a connection
// from peer, if one is there. It returns the client address the header
// names, or the zero AddrPort when there is no header or the header does not
// carry a TCP address (LOCAL, UNSPEC, UNIX): the peer's own address stands.
// The caller bounds the read with a deadline; a read error while looking for
// the signature means "no header" and is left for the next read to see.
func readProxyHeader(br *bufio.Reader, peer netip.Addr, p *proxyPolicy) (netip.AddrPort, error) {
	present, err := hasProxySignature(br)
	if !present {
		return netip.AddrPort{}, nil
	}
	if !p.trusts(peer) {
		return netip.AddrPort{}, errProxyUntrusted
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: header incomplete: %v", errProxyMalformed, err)
	}
	if err := bufferV1Line(br); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %v", errProxyMalformed, err)
	}
	h, err := proxyproto.Read(br)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %v", errProxyMalformed, err)
	}
	if h.Command.IsLocal() {
		return netip.AddrPort{}, nil
	}
	if src, ok := h.SourceAddr.(*net.TCPAddr); ok {
		ap := src.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	return netip.AddrPort{}, nil
}

// peerAddr is the IP of a connection's remote end.
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// proxyConn reads an optional PROXY header lazily, on the first Read or
// RemoteAddr, so that the wait for it happens in the connection's goroutine
// (fasthttp's), never in the accept loop. RemoteAddr then reports the
// address the header names, which fasthttp hands to X-Forwarded-For,
// sourceIp rules and the access log. A refused header fails every Read, so
// the server drops the connection without an answer.
type proxyConn struct {
	net.Conn
	policy  *proxyPolicy
	timeout time.Duration

	once sync.Once
	br   *bufio.Reader
	src  net.Addr
	err  error
}

func newProxyConn(c net.Conn, p *proxyPolicy, timeout time.Duration) *proxyConn {
	return &proxyConn{Conn: c, policy: p, timeout: timeout}
}

func (c *proxyConn) init() {
	c.once.Do(func() {
		// Left in place afterwards: it equals the server's own deadline
		// for the first request head, which the server renews later.
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		c.br = bufio.NewReaderSize(c.Conn, 256)
		ap, err := readProxyHeader(c.br, peerAddr(c.Conn), c.policy)
		if err != nil {
			c.err = err
			c.policy.rejected.Inc()
			_ = c.Conn.Close()
			return
		}
		if ap.IsValid() {
			c.src = net.TCPAddrFromAddrPort(ap)
		}
	})
}

func (c *proxyConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if c.br.Buffered() > 0 {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *proxyConn) RemoteAddr() net.Addr {
	c.init()
	if c.src != nil {
		return c.src
	}
	return c.Conn.RemoteAddr()
}

// untrustedHeader waits, up to timeout, for c's first bytes and reports
// errProxyUntrusted when they begin a PROXY header (or stop inside its
// signature, as hasProxySignature judges). It peeks and consumes nothing, so
// the bytes are then relayed as they came; c's read deadline is cleared
// after. A socket error the peek meets is returned, not lost.
func untrustedHeader(c net.Conn, timeout time.Duration) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var (
		b      [12]byte // a v2 signature, the longer
		got    []byte
		header bool
		sysErr error
	)
	err = rc.Read(func(fd uintptr) bool {
		n, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case e == syscall.EAGAIN || e == syscall.EINTR:
			return false
		case e != nil:
			sysErr = os.NewSyscallError("read", e)
			return true
		case n == 0:
			return true // the client's end: the copy sees it
		}
		got = b[:n]
		header = startsWithSignature(got)
		// A prefix of a signature waits for more (the next edge).
		return header || !signaturePrefix(got)
	})
	switch {
	case sysErr != nil:
		return sysErr
	case header:
		return errProxyUntrusted
	case err != nil && isTimeout(err):
		if stalledInSignature(got) {
			return errProxyUntrusted
		}
		return nil
	}
	return err
}
