package balancer

import (
	"bytes"
	"net/url"
	"testing"
)

// FuzzPathEscapesValid checks pathEscapesValid against net/url's decoding
// of the path (queries are not checked).
func FuzzPathEscapesValid(f *testing.F) {
	for _, s := range []string{"/", "/%zz", "/a%2Fb", "/%", "/%4", "/%41", "/?q=10%", "/x%2?y", "/%e2%82%ac", "http://h/p%2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		path := uri
		if q := bytes.IndexByte([]byte(uri), '?'); q >= 0 {
			path = uri[:q]
		}
		_, err := url.PathUnescape(path)
		if got := pathEscapesValid([]byte(uri)); got != (err == nil) {
			t.Fatalf("pathEscapesValid(%q) = %v, net/url says %v", uri, got, err)
		}
	})
}

// TestBadPathEscapeRefused: a path with a % that starts no escape is a
// 400; a valid escape, or a stray % in the query, is forwarded.
func TestBadPathEscapeRefused(t *testing.T) {
	t.Parallel()
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	for raw, want := range map[string]int{
		"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n":            400,
		"GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n":            400,
		"GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n":          200,
		"GET /p?discount=10% HTTP/1.1\r\nHost: a\r\n\r\n": 200,
	} {
		if got := rawStatus(t, h.client.Addr, raw); got != want {
			t.Errorf("%q: %d, want %d", raw, got, want)
		}
	}
}
