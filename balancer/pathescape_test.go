package balancer

import (
	"bytes"
	"fmt"
	"net/url"
	"testing"
	"time"
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

// TestQueryForwardedAsSent: the query reaches the target byte for byte,
// whether or not a queryString condition had to be evaluated (matching
// decodes a copy; it once re-encoded the request's own: %20 became +, ;
// became %3B, empty pairs went, which breaks signed URLs).
func TestQueryForwardedAsSent(t *testing.T) {
	t.Parallel()
	a := startBackend(t, "a", nil)
	h := startLB(t, fmt.Sprintf(`kind: Listener
name: public
port: 1
rules:
  - priority: 1
    conditions: {pathPattern: ["/p/*"]}
    action: {fixedResponse: {statusCode: 404}}
  - priority: 2
    conditions: {queryString: [{key: k, value: v}]}
    action: {forward: {targetGroup: web}}
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: ["%s"]
healthCheck: {enabled: false}
`, a.addr))
	for _, uri := range []string{
		"/z?a%20b=c;d&&e",                           // default action, after the queryString rule
		"/z?k=v&a%20b=c;d&&e",                       // the queryString rule
		"/z?sig=abc%20def&x=%7e*()!'&y=1%3D2&z=%zz", // escapes kept as they came
		"/z?K=V+w",
	} {
		code, hdr, _ := exchange(t, h.client.Addr, "GET "+uri+" HTTP/1.1\r\nHost: a\r\n\r\n", 10*time.Second)
		seen := headerValue(hdr, "X-Seen-Uri")
		if code != 200 || seen != uri {
			t.Errorf("GET %s: %d, target saw %q, want 200 and the query as sent", uri, code, seen)
		}
	}
}

// TestPathForwarded: a path that needs no decoding or normalising reaches
// the target as sent (RFC 3986 sub-delimiters unescaped); one that does is
// forwarded as rules saw it, decoded and normalised (README, DESIGN 4).
func TestPathForwarded(t *testing.T) {
	t.Parallel()
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	for sent, want := range map[string]string{
		"/lit*":             "/lit*",
		"/x:y@z$w!'()+,;=~": "/x:y@z$w!'()+,;=~",
		"/a/b?q=1":          "/a/b?q=1",
		"/a%41b":            "/aAb",
		"/a/../b?q=%20":     "/b?q=%20",
		"//c":               "/c",
		"/a%2Fb":            "/a/b",
		"/sp%20ace":         "/sp%20ace",
	} {
		code, hdr, _ := exchange(t, h.client.Addr, "GET "+sent+" HTTP/1.1\r\nHost: a\r\n\r\n", 10*time.Second)
		seen := headerValue(hdr, "X-Seen-Uri")
		if code != 200 || seen != want {
			t.Errorf("GET %s: %d, target saw %q, want 200 and %q", sent, code, seen, want)
		}
	}
}
