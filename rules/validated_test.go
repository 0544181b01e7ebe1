package rules

import (
	"bytes"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// validatedListener is an HTTP listener on port 80 whose default action is
// r and whose one rule has conditions c.
func validatedListener(r spec.Redirect, c spec.Conditions) *spec.Listener {
	l := &spec.Listener{Name: "l", Port: 80, DefaultAction: spec.Action{Redirect: &r}}
	l.Rules = []spec.Rule{{Priority: 1, Conditions: c, Action: spec.Action{FixedResponse: &spec.FixedResponse{StatusCode: 200}}}}
	l.SetDefaults()
	return l
}

// TestValidatedListenersCompile: whatever spec validation accepts, Compile
// accepts too, so that a document set that validates always loads into the
// data plane; and what Compile refuses, validation refuses first.
func TestValidatedListenersCompile(t *testing.T) {
	anyPath := spec.Conditions{PathPattern: []string{"/*"}}
	tests := []struct {
		name string
		r    spec.Redirect
		c    spec.Conditions
	}{
		{"unknown placeholder", spec.Redirect{Path: "/#{bogus}/#{path}"}, anyPath},
		{"unterminated placeholder", spec.Redirect{Host: "#{host"}, anyPath},
		{"port with sign", spec.Redirect{Port: "+80"}, anyPath},
		{"port with leading zero", spec.Redirect{Port: "0443"}, anyPath},
		{"lower-case protocol", spec.Redirect{Protocol: "https"}, anyPath},
		{"numeric status code", spec.Redirect{Path: "/x", StatusCode: "301"}, anyPath},
		{"zoned source address", spec.Redirect{Path: "/x"}, spec.Conditions{SourceIP: []string{"fe80::1%eth0"}}},
		{"invalid UTF-8 pattern", spec.Redirect{Path: "/x"}, spec.Conditions{PathPattern: []string{"/\xff"}}},
		{"invalid UTF-8 query key", spec.Redirect{Path: "/x"}, spec.Conditions{QueryString: []spec.KeyValue{{Key: "\xfe", Value: "v"}}}},
		{"valid https upgrade", spec.Redirect{Protocol: "HTTPS", Port: "443", Host: "#{host}", Path: "/#{path}", Query: "#{query}"}, anyPath},
		{"valid path template", spec.Redirect{Path: "/new/#{path}"}, anyPath},
		{"valid v4-mapped source", spec.Redirect{Path: "/x"}, spec.Conditions{SourceIP: []string{"::ffff:10.0.0.0/104"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.StatusCode == "" {
				tt.r.StatusCode = "HTTP_301"
			}
			l := validatedListener(tt.r, tt.c)
			verrs := l.Validate()
			_, cerr := Compile(l)
			if len(verrs) == 0 && cerr != nil {
				t.Errorf("Validate() = no error but Compile() = %v: validation must refuse it first", cerr)
			}
		})
	}
}

// FuzzValidatedRedirect: a redirect that validation accepts compiles, and
// its Location never holds a control byte, space or non-ASCII byte, nor a
// second port, whatever the request.
func FuzzValidatedRedirect(f *testing.F) {
	f.Add("HTTPS", "443", "#{host}", "/#{path}", "#{query}", "h.example.com:80", "/a b", "q=1")
	f.Add("", "", "#{host}:#{port}", "", "", "h:1", "/", "")
	f.Add("", "", "a b\r\nSet-Cookie: x=y", "", "", "h", "/", "")
	f.Add("", "", "evil.com/x?", "", "", "h", "/", "")
	f.Add("#{protocol}", "#{port}", "www.#{host}", "/#{bogus}", "a=#{query}", "h", "/x", "y")
	f.Fuzz(func(t *testing.T, proto, port, host, path, query, rHost, rPath, rQuery string) {
		l := validatedListener(spec.Redirect{StatusCode: "HTTP_302", Protocol: proto, Port: port, Host: host, Path: path, Query: query},
			spec.Conditions{PathPattern: []string{"/*"}})
		if len(l.Validate()) > 0 {
			return
		}
		table, err := Compile(l)
		if err != nil {
			t.Fatalf("Validate() = no error but Compile() = %v", err)
		}
		r := table.Actions()[len(table.Actions())-1].Redirect
		loc := r.AppendLocation(nil, []byte("http"), []byte(rHost), []byte("80"), []byte(rPath), []byte(rQuery))
		if i := bytes.IndexFunc(loc, func(c rune) bool { return c <= ' ' || c >= 0x7f }); i >= 0 {
			t.Fatalf("Location %q: unescaped byte at %d", loc, i)
		}
		authority, _, _ := bytes.Cut(loc[bytes.Index(loc, []byte("://"))+3:], []byte("/"))
		if !bytes.ContainsAny(authority, "[]") && bytes.Count(authority, []byte(":")) > 1 {
			t.Fatalf("Location %q: authority %q has more than one port", loc, authority)
		}
	})
}
