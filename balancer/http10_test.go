package balancer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

// TestHTTP10ClientGetsCloseDelimitedBody: an HTTP/1.0 client cannot read
// chunked framing, so a response of unknown length (chunked from the
// target) reaches it unframed, with Connection: close, and the connection's
// close ends it; the access log counts what was sent. An HTTP/1.1 client
// still gets it chunked on a kept-alive connection, and a body of known
// length keeps its Content-Length for HTTP/1.0.
func TestHTTP10ClientGetsCloseDelimitedBody(t *testing.T) {
	log := &requestLog{}
	h := startLB(t, groupDoc("", startStreamBackend(t)), func(o *Options) { o.AccessLog = log })
	const n = 300000
	want, _ := io.ReadAll(newPattern(n))

	get := func(t *testing.T, path, proto string) (headers []string, body []byte, closed bool, total int) {
		t.Helper()
		c := dialRaw(t, h.client.Addr, 10*time.Second)
		fmt.Fprintf(c, "GET %s?n=%d %s\r\nHost: x\r\n\r\n", path, n, proto)
		raw, err := io.ReadAll(c) // until the proxy closes (or the deadline)
		closed = err == nil
		br := bufio.NewReader(bytes.NewReader(raw))
		code, hs, err := readStatus(br)
		if err != nil || code != 200 {
			t.Fatalf("%s %s: status %d, %v", proto, path, code, err)
		}
		body, _ = io.ReadAll(br)
		return hs, body, closed, len(raw)
	}
	has := func(hs []string, name string) string {
		for _, l := range hs {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}

	hs, body, closed, total := get(t, "/chunked", "HTTP/1.0")
	if te := has(hs, "Transfer-Encoding"); te != "" {
		t.Errorf("HTTP/1.0 client got Transfer-Encoding %q", te)
	}
	if cl := has(hs, "Content-Length"); cl != "" {
		t.Errorf("HTTP/1.0 client got Content-Length %q for a body of unknown length", cl)
	}
	if v := has(hs, "Connection"); !strings.EqualFold(v, "close") {
		t.Errorf("Connection = %q, want close", v)
	}
	if !closed || !bytes.Equal(body, want) {
		t.Errorf("HTTP/1.0: closed %v, body %d bytes equal %v; want closed, %d bytes", closed, len(body), bytes.Equal(body, want), n)
	}
	e := log.nth(t, 1)
	if e.ELBStatusCode != 200 || e.SentBytes != int64(total) {
		t.Errorf("log: status %d sent_bytes %d, want 200 and %d", e.ELBStatusCode, e.SentBytes, total)
	}

	// HTTP/1.0 with a known length: unchanged.
	hs, body, _, _ = get(t, "/download", "HTTP/1.0")
	if cl := has(hs, "Content-Length"); cl != fmt.Sprint(n) || !bytes.Equal(body, want) {
		t.Errorf("HTTP/1.0 known length: Content-Length %q, %d bytes; want %d", cl, len(body), n)
	}

	// HTTP/1.1: chunked, connection kept.
	c := dialRaw(t, h.client.Addr, 10*time.Second)
	br := bufio.NewReader(c)
	for i := range 2 {
		fmt.Fprintf(c, "GET /chunked?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
		code, hs, err := readStatus(br)
		if err != nil || code != 200 || !strings.EqualFold(has(hs, "Transfer-Encoding"), "chunked") {
			t.Fatalf("HTTP/1.1 request %d: %d %v %q", i, code, err, hs)
		}
		got, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err == nil {
			_, err = br.Discard(2) // the empty trailer
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("HTTP/1.1 request %d: %d bytes, %v", i, len(got), err)
		}
	}
}
