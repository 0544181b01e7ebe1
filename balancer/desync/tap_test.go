package desync

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// recordTap keeps what a HeadTap is shown.
type recordTap struct {
	starts int
	head   strings.Builder
	done   bool
	read   int
}

func (r *recordTap) HeadStart() { r.starts++; r.head.Reset(); r.done, r.read = false, 0 }

func (r *recordTap) HeadRead(b []byte, head int, done bool) {
	r.read += len(b)
	r.head.Write(b[:head])
	r.done = r.done || done
}

// TestWrapConnTap: the tap gets each request head whole, however it is cut
// into reads, is told where the head ends and the body begins, counts the
// body, and starts over when a final response (not a 1xx) is written.
func TestWrapConnTap(t *testing.T) {
	const head = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"
	cases := []struct {
		name   string
		pieces []string
	}{
		{"one read", []string{head + "hello"}},
		{"head in pieces", []string{head[:3], head[3:20], head[20 : len(head)-1], head[len(head)-1:] + "he", "llo"}},
		{"body apart", []string{head, "hel", "lo"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			tap := &recordTap{}
			c := WrapConnTap(a, nil, tap)
			go func() {
				for _, p := range tc.pieces {
					_, _ = io.WriteString(b, p)
				}
			}()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, len(head)+5)); err != nil {
				t.Fatal(err)
			}
			if tap.head.String() != head || !tap.done || tap.read != len(head)+5 || tap.starts != 1 {
				t.Errorf("tap saw head %q done=%v, %d bytes read, %d starts; want the head, done, %d bytes, 1 start",
					tap.head.String(), tap.done, tap.read, tap.starts, len(head)+5)
			}
			go func() { _, _ = io.Copy(io.Discard, b) }()
			if _, err := io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if tap.starts != 1 {
				t.Errorf("a 100 Continue restarted the tap")
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if tap.starts != 2 || tap.done || tap.head.Len() != 0 {
				t.Errorf("after a response: %d starts, done=%v, head %q; want a new start with nothing kept", tap.starts, tap.done, tap.head.String())
			}
		})
	}
}
