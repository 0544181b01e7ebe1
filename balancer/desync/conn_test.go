package desync

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

func TestBareLFWithoutWrapperWaitsForReadTimeout(t *testing.T) {
	const readTimeout = 200 * time.Millisecond
	ts := startServer(t, false, readTimeout)
	resp, took := ts.roundTrip(t, "GET / HTTP/1.1\nHost: a\n\n", 5*time.Second)
	if resp.StatusCode() != 400 {
		t.Errorf("status = %d, want 400", resp.StatusCode())
	}
	if took < readTimeout {
		t.Errorf("answered after %v, want fasthttp to wait for ReadTimeout %v (documented behaviour changed?)", took, readTimeout)
	}
}

func TestWrappedBareLFAnsweredBeforeReadTimeout(t *testing.T) {
	ts := startServer(t, true, time.Minute)
	// The client gives up long before the server's ReadTimeout: only the
	// listener's scan can answer in time.
	resp, _ := ts.roundTrip(t, "GET / HTTP/1.1\nHost: a\n\n", 5*time.Second)
	if resp.StatusCode() != 400 || !resp.ConnectionClose() {
		t.Errorf("status = %d close = %v, want 400 and close", resp.StatusCode(), resp.ConnectionClose())
	}
}

// keepAlive sends requests one after another on one connection.
func keepAlive(t *testing.T, ln *fasthttputil.InmemoryListener, raws ...string) []int {
	t.Helper()
	c, err := ln.Dial()
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	br := bufio.NewReader(c)
	var codes []int
	for _, raw := range raws {
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatalf("write %q: %v", raw, err)
		}
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			t.Fatalf("read response to %q: %v", raw, err)
		}
		codes = append(codes, resp.StatusCode())
		if resp.ConnectionClose() {
			break
		}
	}
	return codes
}

func TestWrappedConnKeepAlive(t *testing.T) {
	tests := []struct {
		name string
		raws []string
		want []int
	}{
		{
			name: "bare LF on the second request",
			raws: []string{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\n\n"},
			want: []int{200, 400},
		},
		{
			name: "bodies with bare LFs are not scanned",
			raws: []string{
				"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\na\n\nb\nc\n\n",
				"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\n\n\n\n\r\n0\r\n\r\n",
				"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			},
			want: []int{200, 200, 200},
		},
		{
			name: "leading empty lines are skipped",
			raws: []string{"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
			want: []int{200, 200},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, true, 5*time.Second)
			got := keepAlive(t, ts.ln, tc.raws...)
			if !equalInts(got, tc.want) {
				t.Errorf("status codes = %v, want %v", got, tc.want)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWrappedExpectContinueBody(t *testing.T) {
	ln := fasthttputil.NewInmemoryListener()
	var rejects atomic.Int32
	s := &fasthttp.Server{
		Logger:  discardLogger{},
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.PostBody()) },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(WrapListener(ln, func() { rejects.Add(1) }))
	}()
	t.Cleanup(func() {
		_ = s.Shutdown()
		<-done
	})
	c, err := ln.Dial()
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	br := bufio.NewReader(c)
	head := "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n"
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatalf("write head: %v", err)
	}
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim response = %q, %v; want 100 Continue", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatalf("read blank line: %v", err)
	}
	if _, err := c.Write([]byte("x\n\ny\n\n")); err != nil {
		t.Fatalf("write body: %v", err)
	}
	var resp fasthttp.Response
	if err := resp.Read(br); err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode() != 200 || string(resp.Body()) != "x\n\ny\n\n" {
		t.Errorf("response = %d %q, want 200 echoing the body", resp.StatusCode(), resp.Body())
	}
	if n := rejects.Load(); n != 0 {
		t.Errorf("onReject called %d times for a body after 100 Continue, want 0", n)
	}
}

func TestWrapListenerOnReject(t *testing.T) {
	ln := fasthttputil.NewInmemoryListener()
	var rejects atomic.Int32
	wl := WrapListener(ln, func() { rejects.Add(1) })
	t.Cleanup(func() { _ = wl.Close() })
	errc := make(chan error, 1)
	go func() {
		c, err := wl.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	c, err := ln.Dial()
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrBareLF) {
			t.Errorf("Read error = %v, want ErrBareLF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not fail on a bare LF")
	}
	if n := rejects.Load(); n != 1 {
		t.Errorf("onReject called %d times, want 1", n)
	}
}

// fakeTLSConn is a net.Conn that fasthttp would take for TLS.
type fakeTLSConn struct {
	net.Conn
	handshakes int
}

func (c *fakeTLSConn) Handshake() error { c.handshakes++; return nil }
func (c *fakeTLSConn) ConnectionState() tls.ConnectionState {
	return tls.ConnectionState{NegotiatedProtocol: "http/1.1"}
}

func TestWrapConnKeepsTLS(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	inner := &fakeTLSConn{Conn: a}
	wrapped := WrapConn(inner, nil)
	tc, ok := wrapped.(tlsConner)
	if !ok {
		t.Fatalf("WrapConn(tls conn) = %T, want it to keep Handshake and ConnectionState", wrapped)
	}
	if err := tc.Handshake(); err != nil || inner.handshakes != 1 {
		t.Errorf("Handshake() = %v after %d inner calls, want nil after 1", err, inner.handshakes)
	}
	if got := tc.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
		t.Errorf("ConnectionState().NegotiatedProtocol = %q, want %q", got, "http/1.1")
	}
	if _, ok := WrapConn(b, nil).(tlsConner); ok {
		t.Errorf("WrapConn(plain conn) looks like TLS")
	}
}
