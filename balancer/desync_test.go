package balancer

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestDesyncThroughBalancer sends raw requests through a running balancer
// and checks what the client gets: the status, and whether the connection
// is closed after the answer (severe and ambiguous requests close it).
func TestDesyncThroughBalancer(t *testing.T) {
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	addr := h.client.Addr
	cases := []struct {
		name      string
		raw       string
		status    string
		wantClose bool
	}{
		{"clean GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "200", false},
		{"POST with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", "200", false},
		{"chunked POST", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", "200", false},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", "400", true},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "", true},
		{"TE look-alike", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent-Length: 0\r\n\r\n", "", true},
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", "400", true},
		{"absolute URI, other host", "GET http://other.example/ HTTP/1.1\r\nHost: a\r\n\r\n", "", true},
		{"NUL in header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", "400", true},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n", "400", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading status line: %v (the balancer must answer at once, not after a timeout)", err)
			}
			fields := strings.Fields(line)
			if len(fields) < 2 {
				t.Fatalf("status line %q", line)
			}
			if tc.status != "" && fields[1] != tc.status {
				t.Errorf("status = %s, want %s (line %q)", fields[1], tc.status, line)
			}
			if tc.status == "" && fields[1] == "200" && !tc.wantClose {
				t.Errorf("status = 200 for an ambiguous request that must not pass as it came")
			}
			// Drain the response, then see whether the connection stays open.
			closed := false
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					closed = true
					break
				}
				if l == "\r\n" {
					break
				}
			}
			if !closed {
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				_, err = io.Copy(io.Discard, br)
				var ne net.Error
				closed = err == nil || !(asNetErr(err, &ne) && ne.Timeout())
			}
			if closed != tc.wantClose {
				t.Errorf("connection closed = %v, want %v", closed, tc.wantClose)
			}
		})
	}
}

// TestDesyncMetricCountsAcceptable: gantry_desync_nonconforming_requests_total
// counts every request that does not conform, as ALB's NonCompliant count:
// acceptable ones (forwarded as they came) too, compliant ones never.
func TestDesyncMetricCountsAcceptable(t *testing.T) {
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	for _, hdr := range []map[string]string{nil, {"Content-Length": "0"}} {
		resp := h.do("GET", "/", hdr)
		if resp.StatusCode() != 200 {
			t.Fatalf("GET / %v = %d, want 200", hdr, resp.StatusCode())
		}
	}
	class := func(c string) float64 {
		return h.metric("gantry_desync_nonconforming_requests_total", map[string]string{"class": c})
	}
	if n := class("acceptable"); n != 1 {
		t.Errorf("acceptable = %v after a GET with Content-Length: 0, want 1", n)
	}
	if n := class("compliant"); n != 0 {
		t.Errorf("compliant = %v, want 0 (compliant requests are not counted)", n)
	}
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}
