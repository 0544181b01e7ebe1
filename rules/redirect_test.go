package rules

import (
	"testing"

	"github.com/gantrylb/gantry/spec"
)

func TestAppendLocation(t *testing.T) {
	type req struct{ scheme, host, port, path, query string }
	plain := req{"http", "Shop.example.com:8080", "8080", "/a/b", "x=1&y=2"}
	tests := []struct {
		name string
		rd   spec.Redirect
		req  req
		want string
	}{
		{"https upgrade, ALB's example", spec.Redirect{Protocol: "HTTPS", Port: "443", Host: "#{host}", Path: "/#{path}", Query: "#{query}"},
			plain, "https://Shop.example.com/a/b?x=1&y=2"},
		{"unset components keep the request's", spec.Redirect{Protocol: "HTTPS"},
			plain, "https://Shop.example.com:8080/a/b?x=1&y=2"},
		{"default http port omitted", spec.Redirect{Port: "80"}, plain, "http://Shop.example.com/a/b?x=1&y=2"},
		{"https port kept on http", spec.Redirect{Port: "443"}, plain, "http://Shop.example.com:443/a/b?x=1&y=2"},
		{"#{path} drops the leading slash", spec.Redirect{Path: "/new/#{path}"}, plain, "http://Shop.example.com:8080/new/a/b?x=1&y=2"},
		{"host template", spec.Redirect{Host: "www.#{host}"}, plain, "http://www.Shop.example.com:8080/a/b?x=1&y=2"},
		{"query template", spec.Redirect{Query: "#{query}&v=xyz"}, plain, "http://Shop.example.com:8080/a/b?x=1&y=2&v=xyz"},
		{"empty query has no ?", spec.Redirect{Protocol: "#{protocol}", Port: "#{port}"},
			req{"https", "h.test", "443", "/", ""}, "https://h.test/"},
		{"set empty query via template", spec.Redirect{Path: "/p", Query: "#{query}"},
			req{"http", "h.test", "80", "/", ""}, "http://h.test/p"},
		{"scheme lowered", spec.Redirect{Protocol: "#{protocol}"}, req{"HTTPS", "h.test", "443", "/", ""}, "https://h.test/"},
		{"empty path becomes /", spec.Redirect{Host: "x.test"}, req{"http", "h.test", "80", "", ""}, "http://x.test/"},
		{"path escaped", spec.Redirect{Protocol: "HTTPS"}, req{"http", "h.test", "443", "/a b/%?#/\r\n/é", "q=%20"},
			"https://h.test/a%20b/%25%3F%23/%0D%0A/%C3%A9?q=%20"},
		{"host cannot inject", spec.Redirect{Protocol: "HTTPS", Port: "443"}, req{"http", "evil.test/x?\r\n", "80", "/", ""},
			"https://evil.test%2Fx%3F%0D%0A/"},
		{"query cannot inject", spec.Redirect{Protocol: "HTTPS", Port: "443"}, req{"http", "h.test", "80", "/", "a=1#\r\n"},
			"https://h.test/?a=1%23%0D%0A"},
		{"ipv6 host keeps brackets", spec.Redirect{Protocol: "HTTPS"}, req{"http", "[::1]:8080", "8080", "/", ""},
			"https://[::1]:8080/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := tt.rd
			rd.StatusCode = "HTTP_302"
			r, err := compileRedirect(&rd)
			if err != nil {
				t.Fatalf("compileRedirect(%+v): %v", rd, err)
			}
			got := string(r.AppendLocation(nil, []byte(tt.req.scheme), []byte(tt.req.host), []byte(tt.req.port),
				[]byte(tt.req.path), []byte(tt.req.query)))
			if got != tt.want {
				t.Errorf("AppendLocation(%+v) = %q, want %q", tt.req, got, tt.want)
			}
			if r.StatusCode() != 302 {
				t.Errorf("StatusCode() = %d, want 302", r.StatusCode())
			}
		})
	}
}

func TestCompileRedirectErrors(t *testing.T) {
	for _, rd := range []spec.Redirect{
		{StatusCode: "HTTP_308"},
		{StatusCode: "HTTP_301", Protocol: "FTP"},
		{StatusCode: "HTTP_301", Port: "0"},
		{StatusCode: "HTTP_301", Port: "70000"},
		{StatusCode: "HTTP_301", Path: "relative"},
		{StatusCode: "HTTP_301", Query: "?a=1"},
		{StatusCode: "HTTP_301", Host: "#{host"},
		{StatusCode: "HTTP_301", Path: "/#{nope}"},
	} {
		if _, err := compileRedirect(&rd); err == nil {
			t.Errorf("compileRedirect(%+v) = nil error, want one", rd)
		}
	}
}

func TestAppendLocationAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	r, err := compileRedirect(&spec.Redirect{StatusCode: "HTTP_301", Protocol: "HTTPS", Port: "443", Host: "#{host}", Path: "/new/#{path}", Query: "#{query}&a=b"})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 256)
	scheme, host, port, path, query := []byte("http"), []byte("h.example.com:80"), []byte("80"), []byte("/x/y z"), []byte("q=1")
	if n := testing.AllocsPerRun(100, func() { dst = r.AppendLocation(dst[:0], scheme, host, port, path, query) }); n != 0 {
		t.Errorf("AppendLocation allocates %v times per call, want 0", n)
	}
}

func BenchmarkAppendLocation(b *testing.B) {
	r, err := compileRedirect(&spec.Redirect{StatusCode: "HTTP_301", Protocol: "HTTPS", Port: "443", Host: "#{host}", Path: "/#{path}", Query: "#{query}"})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 256)
	scheme, host, port, path, query := []byte("http"), []byte("h.example.com"), []byte("80"), []byte("/api/v1/users"), []byte("q=1")
	b.ReportAllocs()
	for b.Loop() {
		dst = r.AppendLocation(dst[:0], scheme, host, port, path, query)
	}
}
