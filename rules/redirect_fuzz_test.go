package rules

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// FuzzRedirect compiles arbitrary templates and renders them with arbitrary
// request values: it must not panic, and whatever the request sends, the
// Location holds no control byte, space or non-ASCII byte unless the
// configuration itself wrote one.
func FuzzRedirect(f *testing.F) {
	f.Add("HTTPS", "443", "#{host}", "/#{path}", "#{query}", "http", "h.example.com:80", "80", "/a b", "q=1")
	f.Add("#{protocol}", "#{port}", "www.#{host}", "/new/#{path}", "#{query}&v=1", "https", "[::1]:8443", "8443", "/x\r\ny", "a=#")
	f.Add("", "", "", "", "", "http", "evil/x?", "80", "", "")
	f.Add("HTTP", "8080", "#{host", "/#{nope}", "?q", "http", "h", "80", "/", "")
	f.Fuzz(func(t *testing.T, proto, port, host, path, query, rScheme, rHost, rPort, rPath, rQuery string) {
		rd := spec.Redirect{StatusCode: "HTTP_301", Protocol: proto, Port: port, Host: host, Path: path, Query: query}
		r, err := compileRedirect(&rd)
		if err != nil {
			return
		}
		loc := r.AppendLocation(nil, []byte(rScheme), []byte(rHost), []byte(rPort), []byte(rPath), []byte(rQuery))
		config := proto + port + host + path + query
		if strings.IndexFunc(config, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
			return
		}
		if i := bytes.IndexFunc(loc, func(c rune) bool { return c <= ' ' || c >= 0x7f }); i >= 0 {
			t.Fatalf("AppendLocation(%q, %q, %q, %q, %q) = %q: unescaped byte at %d", rScheme, rHost, rPort, rPath, rQuery, loc, i)
		}
		if !bytes.Contains(loc, []byte("://")) {
			t.Fatalf("AppendLocation(...) = %q, want scheme://", loc)
		}
	})
}
