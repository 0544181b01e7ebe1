package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestRedirectValidate(t *testing.T) {
	const p = "defaultAction.redirect"
	tests := []struct {
		name string
		r    Redirect // StatusCode HTTP_301 unless set
		want []string
	}{
		// Valid redirects.
		{"https upgrade", Redirect{Protocol: "HTTPS", Port: "443", Host: "#{host}", Path: "/#{path}", Query: "#{query}"}, nil},
		{"path only", Redirect{Path: "/new/#{path}"}, nil},
		{"host literal", Redirect{Host: "www.example.com"}, nil},
		{"host template", Redirect{Host: "www.#{host}"}, nil},
		{"ip host", Redirect{Host: "10.0.0.1"}, nil},
		{"port number", Redirect{Port: "8443"}, nil},
		{"other protocol", Redirect{Protocol: "HTTPS"}, nil},
		{"query with placeholders", Redirect{Query: "from=#{protocol}://#{host}:#{port}/#{path}&#{query}"}, nil},
		{"path with host and port", Redirect{Path: "/#{host}/#{port}/#{path}"}, nil},
		{"percent-encoded path", Redirect{Path: "/a%20b"}, nil},
		{"query only", Redirect{Query: "v=2"}, nil},

		// Placeholders.
		{"unknown placeholder in path", Redirect{Path: "/#{bogus}/#{path}"},
			[]string{p + ".path: unknown placeholder #{bogus} (known: #{protocol}, #{host}, #{port}, #{path}, #{query})"}},
		{"unknown placeholder in host", Redirect{Host: "#{hots}"},
			[]string{p + ".host: unknown placeholder #{hots} (known: #{protocol}, #{host}, #{port}, #{path}, #{query})"}},
		{"unknown placeholder in query", Redirect{Query: "a=#{Query}"},
			[]string{p + ".query: unknown placeholder #{Query} (known: #{protocol}, #{host}, #{port}, #{path}, #{query})"}},
		{"unterminated placeholder", Redirect{Host: "#{host"},
			[]string{p + `.host: unterminated placeholder in "#{host": want #{name}`}},
		{"placeholder in the wrong component", Redirect{Host: "#{path}.example.com"},
			[]string{p + ".host: #{path} cannot be used in host (allowed: #{host})"}},
		{"query placeholder in path", Redirect{Path: "/#{query}"},
			[]string{p + ".path: #{query} cannot be used in path (allowed: #{host}, #{port}, #{path})"}},

		// Host.
		{"host with port", Redirect{Host: "#{host}:#{port}"},
			[]string{p + `.host: host "#{host}:#{port}" contains ':': set the port with port`}},
		{"host with literal port", Redirect{Host: "example.com:8080"},
			[]string{p + `.host: host "example.com:8080" contains ':': set the port with port`}},
		{"header injection", Redirect{Host: "a b\r\nSet-Cookie: x=y"},
			[]string{p + `.host: host "a b\r\nSet-Cookie: x=y" contains a space, a control character or a non-ASCII character (percent-encode it)`}},
		{"host with path", Redirect{Host: "evil.com/x?"},
			[]string{p + `.host: host "evil.com/x?" contains "/": set the path with path and the query with query`}},
		{"host with query", Redirect{Host: "evil.com?x"},
			[]string{p + `.host: host "evil.com?x" contains "?": set the path with path and the query with query`}},
		{"host with fragment", Redirect{Host: "evil.com#x"},
			[]string{p + `.host: host "evil.com#x" contains '#' (only in placeholders)`}},
		{"host with user info", Redirect{Host: "user@evil.com"},
			[]string{p + `.host: host "user@evil.com" contains '@'`}},
		{"host wildcard", Redirect{Host: "*.example.com"},
			[]string{p + `.host: host "*.example.com" is not a host name (A-Z, a-z, 0-9, '-' and '.') or a template of #{host}`}},
		{"host underscore", Redirect{Host: "a_b.example.com"},
			[]string{p + `.host: host "a_b.example.com" is not a host name (A-Z, a-z, 0-9, '-' and '.') or a template of #{host}`}},
		{"host empty label", Redirect{Host: "a..example.com"},
			[]string{p + `.host: host "a..example.com" is not a host name (labels of 1 to 63 characters, not starting or ending with '-')`}},
		{"host label dash", Redirect{Host: "-a.example.com"},
			[]string{p + `.host: host "-a.example.com" is not a host name (labels of 1 to 63 characters, not starting or ending with '-')`}},
		{"host non-ascii", Redirect{Host: "bücher.example"},
			[]string{p + `.host: host "bücher.example" contains a space, a control character or a non-ASCII character (percent-encode it)`}},

		// Port and protocol.
		{"port zero", Redirect{Port: "0"}, []string{p + `.port: "0" is not a port (1..65535) or #{port}`}},
		{"port leading zero", Redirect{Port: "080"}, []string{p + `.port: "080" is not a port (1..65535) or #{port}`}},
		{"port sign", Redirect{Port: "+80"}, []string{p + `.port: "+80" is not a port (1..65535) or #{port}`}},
		{"port too big", Redirect{Port: "65536"}, []string{p + `.port: "65536" is not a port (1..65535) or #{port}`}},
		{"port template text", Redirect{Port: "#{port}1"}, []string{p + `.port: "#{port}1" is not a port (1..65535) or #{port}`}},
		{"protocol lower case", Redirect{Protocol: "https"}, []string{p + `.protocol: "https" is not one of HTTP, HTTPS, #{protocol}`}},

		// Path and query.
		{"relative path", Redirect{Path: "new"}, []string{p + ".path: path must start with /"}},
		{"path from placeholder", Redirect{Path: "#{path}"}, []string{p + ".path: path must start with /"}},
		{"path with query", Redirect{Path: "/a?b=1"}, []string{p + `.path: path "/a?b=1" contains '?': set the query with query`}},
		{"path with newline", Redirect{Path: "/a\nb"},
			[]string{p + `.path: path "/a\nb" contains a space, a control character or a non-ASCII character (percent-encode it)`}},
		{"query with ?", Redirect{Query: "?a=1"}, []string{p + ".query: query must not start with ?"}},
		{"query with fragment", Redirect{Query: "a=1#top"}, []string{p + `.query: query "a=1#top" contains '#' (only in placeholders)`}},
		{"query with space", Redirect{Query: "a=1 2"},
			[]string{p + `.query: query "a=1 2" contains a space, a control character or a non-ASCII character (percent-encode it)`}},
		{"long host", Redirect{Host: strings.Repeat("a", 129)}, []string{p + ".host: host is longer than 128 characters"}},

		// A redirect to itself.
		{"nothing set", Redirect{}, []string{p + ": " + selfRedirect}},
		{"every placeholder in place", Redirect{Protocol: "#{protocol}", Host: "#{host}", Port: "#{port}", Path: "/#{path}", Query: "#{query}"},
			[]string{p + ": " + selfRedirect}},
		{"listener's own protocol and port", Redirect{Protocol: "HTTP", Port: "80"}, []string{p + ": " + selfRedirect}},
		{"status code missing too", Redirect{StatusCode: "-"}, []string{
			p + ".statusCode: statusCode is required (HTTP_301 or HTTP_302)",
			p + ": " + selfRedirect,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := validListener() // HTTP on port 80
			r := tt.r
			switch r.StatusCode {
			case "":
				r.StatusCode = "HTTP_301"
			case "-":
				r.StatusCode = ""
			}
			l.DefaultAction = Action{Redirect: &r}
			if got := messages(l.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("Validate(%+v) =\n%s\nwant\n%s", tt.r, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

const selfRedirect = "a redirect must change at least one of protocol, host, port, path and query; this one answers with its own URL"

// TestRedirectErrorsLocated: redirect problems are reported at the field's
// file:line:column, as every other problem.
func TestRedirectErrorsLocated(t *testing.T) {
	src := `kind: Listener
name: rd
port: 8080
rules:
  - priority: 1
    conditions: {pathPattern: [/old]}
    action: {redirect: {host: "#{host}:#{port}", statusCode: HTTP_302}}
  - priority: 2
    conditions: {pathPattern: [/same]}
    action:
      redirect: {port: "8080", statusCode: HTTP_301}
defaultAction: {redirect: {path: "/#{bogus}/#{path}", statusCode: HTTP_302}}
`
	_, err := Decode("rd.yaml", []byte(src))
	want := []string{
		`rd.yaml:7:31: rules[0].action.redirect.host: host "#{host}:#{port}" contains ':': set the port with port`,
		`rd.yaml:11:17: rules[1].action.redirect: ` + selfRedirect,
		`rd.yaml:12:34: defaultAction.redirect.path: unknown placeholder #{bogus} (known: #{protocol}, #{host}, #{port}, #{path}, #{query})`,
	}
	var got []string
	if list, ok := err.(ErrorList); ok {
		for _, e := range list {
			got = append(got, e.Error())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Decode errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConditionsTheDataPlaneRefuses: values the rule compiler would refuse
// are refused by validation already.
func TestConditionsTheDataPlaneRefuses(t *testing.T) {
	tests := []struct {
		name string
		cond Conditions
		want string
	}{
		{"zoned source address", Conditions{SourceIP: []string{"fe80::1%eth0"}},
			`rules[0].conditions.sourceIp[0]: "fe80::1%eth0" is not a CIDR block or IP address`},
		{"invalid UTF-8 path pattern", Conditions{PathPattern: []string{"/\xff"}},
			"rules[0].conditions.pathPattern[0]: pattern is not valid UTF-8"},
		{"invalid UTF-8 header value", Conditions{HTTPHeader: map[string][]string{"X-A": {"\xff"}}},
			"rules[0].conditions.httpHeader.X-A[0]: pattern is not valid UTF-8"},
		{"invalid UTF-8 query key", Conditions{QueryString: []KeyValue{{Key: "\xff", Value: "v"}}},
			"rules[0].conditions.queryString[0].key: pattern is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := validListener()
			l.Rules = []Rule{{Priority: 1, Conditions: tt.cond, Action: l.DefaultAction}}
			if got := messages(l.Validate()); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}
