package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

func fwd(group string) spec.Action { return spec.Action{Forward: &spec.Forward{TargetGroup: group}} }

func rule(priority int, c spec.Conditions) spec.Rule {
	return spec.Rule{Priority: priority, Conditions: c, Action: fwd("g" + itoa(priority))}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func mustCompile(t testing.TB, l *spec.Listener) *Table {
	t.Helper()
	tbl, err := Compile(l)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

// semanticsListener holds one rule per ALB condition behaviour under test.
func semanticsListener() *spec.Listener {
	return &spec.Listener{
		Name: "l", Port: 80, Protocol: spec.ProtocolHTTP,
		Rules: []spec.Rule{
			rule(50, spec.Conditions{HostHeader: []string{"*.example.com"}}),
			rule(10, spec.Conditions{HostHeader: []string{"api.example.com"}, PathPattern: []string{"/v1/*"}}),
			rule(20, spec.Conditions{HostHeader: []string{"Shop.Example.COM", "store.example.org"}}),
			rule(30, spec.Conditions{PathPattern: []string{"/static/*.css", "/favicon.ico"}}),
			rule(40, spec.Conditions{HTTPRequestMethod: []string{"DELETE"}}),
			rule(5, spec.Conditions{HTTPHeader: map[string][]string{"X-Canary": {"on", "y*"}}}),
			rule(6, spec.Conditions{QueryString: []spec.KeyValue{{Key: "version", Value: "v2"}, {Value: "beta*"}}}),
			rule(7, spec.Conditions{SourceIP: []string{"10.9.0.0/16", "2001:db8::/32", "192.0.2.7"}}),
			rule(8, spec.Conditions{PathPattern: []string{"/both/*"}, HTTPRequestMethod: []string{"GET"},
				HTTPHeader: map[string][]string{"X-A": {"1"}, "X-B": {"2"}}}),
			rule(9, spec.Conditions{HostHeader: []string{"api-??.example.net"}}),
		},
		DefaultAction: fwd("default"),
	}
}

func TestMatchSemantics(t *testing.T) {
	tbl := mustCompile(t, semanticsListener())
	client := netip.MustParseAddr("203.0.113.1")
	tests := []struct {
		name string
		req  StaticRequest
		want int // priority, 0 = default
	}{
		{"exact host and path", StaticRequest{Method: "GET", Host: "api.example.com", Path: "/v1/users"}, 10},
		{"host case and port ignored", StaticRequest{Method: "GET", Host: "API.Example.com:8080", Path: "/v1/x"}, 10},
		{"path is case-sensitive", StaticRequest{Method: "GET", Host: "api.example.com", Path: "/V1/x"}, 50},
		{"wildcard host spans dots", StaticRequest{Method: "GET", Host: "a.b.example.com", Path: "/"}, 50},
		{"wildcard host needs the dot", StaticRequest{Method: "GET", Host: "example.com", Path: "/"}, 0},
		{"host list is an OR", StaticRequest{Method: "GET", Host: "STORE.example.org", Path: "/"}, 20},
		{"exact host lower priority than wildcard", StaticRequest{Method: "GET", Host: "shop.example.com", Path: "/"}, 20},
		{"path wildcard", StaticRequest{Method: "GET", Host: "x.test", Path: "/static/a/b.css"}, 30},
		{"path matched whole", StaticRequest{Method: "GET", Host: "x.test", Path: "/static/a.css.map"}, 0},
		{"exact path", StaticRequest{Method: "GET", Host: "x.test", Path: "/favicon.ico"}, 30},
		{"method exact", StaticRequest{Method: "DELETE", Host: "x.test", Path: "/"}, 40},
		{"method case-sensitive", StaticRequest{Method: "delete", Host: "x.test", Path: "/"}, 0},
		{"header value case-insensitive", StaticRequest{Method: "GET", Host: "x.test", Path: "/",
			Headers: [][2]string{{"x-canary", "ON"}}}, 5},
		{"any header value may match", StaticRequest{Method: "GET", Host: "x.test", Path: "/",
			Headers: [][2]string{{"X-Canary", "off"}, {"X-CANARY", "yes"}}}, 5},
		{"header value whole", StaticRequest{Method: "GET", Host: "x.test", Path: "/",
			Headers: [][2]string{{"X-Canary", "only"}}}, 0},
		{"query key and value", StaticRequest{Method: "GET", Host: "x.test", Path: "/",
			Query: [][2]string{{"a", "b"}, {"VERSION", "V2"}}}, 6},
		{"query any key", StaticRequest{Method: "GET", Host: "x.test", Path: "/",
			Query: [][2]string{{"channel", "Beta-3"}}}, 6},
		{"query key must match", StaticRequest{Method: "GET", Host: "x.test", Path: "/",
			Query: [][2]string{{"ver", "v2"}}}, 0},
		{"source v4", StaticRequest{Method: "GET", Host: "x.test", Path: "/", SourceIP: netip.MustParseAddr("10.9.3.4")}, 7},
		{"source v4-mapped", StaticRequest{Method: "GET", Host: "x.test", Path: "/", SourceIP: netip.MustParseAddr("::ffff:10.9.3.4")}, 7},
		{"source single address", StaticRequest{Method: "GET", Host: "x.test", Path: "/", SourceIP: netip.MustParseAddr("192.0.2.7")}, 7},
		{"source v6", StaticRequest{Method: "GET", Host: "x.test", Path: "/", SourceIP: netip.MustParseAddr("2001:db8::1")}, 7},
		{"source outside", StaticRequest{Method: "GET", Host: "x.test", Path: "/", SourceIP: netip.MustParseAddr("10.8.0.1")}, 0},
		{"and across types", StaticRequest{Method: "GET", Host: "x.test", Path: "/both/x",
			Headers: [][2]string{{"X-A", "1"}, {"X-B", "2"}}}, 8},
		{"and across header names", StaticRequest{Method: "GET", Host: "x.test", Path: "/both/x",
			Headers: [][2]string{{"X-A", "1"}}}, 0},
		{"and fails on method", StaticRequest{Method: "POST", Host: "x.test", Path: "/both/x",
			Headers: [][2]string{{"X-A", "1"}, {"X-B", "2"}}}, 0},
		{"question marks", StaticRequest{Method: "GET", Host: "API-42.example.net", Path: "/"}, 9},
		{"question marks count", StaticRequest{Method: "GET", Host: "api-420.example.net", Path: "/"}, 0},
		{"lowest priority wins", StaticRequest{Method: "DELETE", Host: "api.example.com", Path: "/v1/x",
			Headers: [][2]string{{"X-Canary", "on"}}}, 5},
		{"no host", StaticRequest{Method: "GET", Path: "/"}, 0},
		{"ipv6 host literal", StaticRequest{Method: "GET", Host: "[::1]:80", Path: "/"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.req.SourceIP.IsValid() {
				tt.req.SourceIP = client
			}
			got := tbl.Match(tt.req.View())
			if got.Priority != tt.want {
				t.Errorf("Match(%+v) = rule %d, want %d", tt.req, got.Priority, tt.want)
			}
		})
	}
}

func TestActions(t *testing.T) {
	tbl := mustCompile(t, semanticsListener())
	acts := tbl.Actions()
	if len(acts) != tbl.Len()+1 {
		t.Fatalf("len(Actions()) = %d, want %d", len(acts), tbl.Len()+1)
	}
	prev := 0
	for i, a := range acts {
		if a.ID != i {
			t.Errorf("Actions()[%d].ID = %d, want %d", i, a.ID, i)
		}
		if i < len(acts)-1 && a.Priority <= prev {
			t.Errorf("Actions()[%d].Priority = %d, want > %d", i, a.Priority, prev)
		}
		prev = a.Priority
	}
	def := acts[len(acts)-1]
	if def.Priority != 0 || def.Kind != ActionForward || def.Forward.Groups[0].Name != "default" {
		t.Errorf("default action = %+v, want priority 0 forward to default", def)
	}
	if m := tbl.Match((&StaticRequest{Path: "/"}).View()); m != def {
		t.Errorf("Match(no rule) = %+v, want the default action", m)
	}
}

func TestSNIRules(t *testing.T) {
	l := &spec.Listener{Name: "t", Port: 443, Protocol: spec.ProtocolTCP,
		Rules:         []spec.Rule{rule(1, spec.Conditions{SNI: []string{"*.db.example.com"}})},
		DefaultAction: fwd("d")}
	tbl := mustCompile(t, l)
	for sni, want := range map[string]int{"a.DB.example.com": 1, "db.example.com": 0} {
		if got := tbl.Match((&StaticRequest{Host: sni}).View()).Priority; got != want {
			t.Errorf("Match(sni %q) = rule %d, want %d", sni, got, want)
		}
	}
	l.Protocol = spec.ProtocolHTTP
	if _, err := Compile(l); err == nil {
		t.Errorf("Compile(HTTP listener with sni) = nil error, want one")
	}
}

func TestCompileErrors(t *testing.T) {
	weight0 := 0
	tests := []struct {
		name string
		edit func(l *spec.Listener)
		want string
	}{
		{"nil listener", nil, "nil listener"},
		{"duplicate priority", func(l *spec.Listener) { l.Rules[1].Priority = l.Rules[0].Priority }, "priority used twice"},
		{"empty host", func(l *spec.Listener) { l.Rules[0].Conditions.HostHeader = []string{""} }, "hostHeader[0]: empty pattern"},
		{"bad cidr", func(l *spec.Listener) { l.Rules[0].Conditions.SourceIP = []string{"10.0.0.0/33"} }, "sourceIp[0]"},
		{"no action", func(l *spec.Listener) { l.Rules[0].Action = spec.Action{} }, "exactly one of"},
		{"weights all zero", func(l *spec.Listener) {
			l.DefaultAction = spec.Action{Forward: &spec.Forward{TargetGroups: []spec.WeightedTargetGroup{{Name: "a", Weight: &weight0}}}}
		}, "defaultAction: forward: every target group has weight 0"},
		{"bad redirect code", func(l *spec.Listener) {
			l.DefaultAction = spec.Action{Redirect: &spec.Redirect{StatusCode: "HTTP_307"}}
		}, "statusCode"},
		{"bad placeholder", func(l *spec.Listener) {
			l.DefaultAction = spec.Action{Redirect: &spec.Redirect{StatusCode: "HTTP_301", Host: "#{hots}"}}
		}, "unknown placeholder #{hots}"},
		{"bad fixed code", func(l *spec.Listener) {
			l.DefaultAction = spec.Action{FixedResponse: &spec.FixedResponse{StatusCode: 99}}
		}, "fixedResponse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l *spec.Listener
			if tt.edit != nil {
				l = semanticsListener()
				tt.edit(l)
			}
			_, err := Compile(l)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "rules: ") {
				t.Errorf("Compile() error = %v, want rules: ...%s...", err, tt.want)
			}
		})
	}
}

func TestForward(t *testing.T) {
	w := func(n int) *int { return &n }
	l := semanticsListener()
	l.DefaultAction = spec.Action{Forward: &spec.Forward{
		TargetGroups: []spec.WeightedTargetGroup{{Name: "blue", Weight: w(90)}, {Name: "none", Weight: w(0)}, {Name: "green", Weight: w(10)}},
		Stickiness:   &spec.GroupStickiness{Enabled: true, DurationSeconds: 60},
	}}
	f := mustCompile(t, l).Actions()[len(l.Rules)].Forward
	if f.TotalWeight != 100 || !f.Stickiness || f.StickinessDuration.Seconds() != 60 || len(f.Groups) != 3 {
		t.Fatalf("Forward = %+v, want total 100, sticky 60s, 3 groups", f)
	}
	for n, want := range map[int]string{-1: "blue", 0: "blue", 89: "blue", 90: "green", 99: "green", 100: "green"} {
		if got := f.Pick(n).Name; got != want {
			t.Errorf("Pick(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestLongHost covers hosts longer than the stack buffer Match lowers them
// in: their exact patterns are filed in the suffix index instead.
func TestLongHost(t *testing.T) {
	long := strings.Repeat("a", 300) + ".example.com"
	l := &spec.Listener{Name: "l", Port: 80, Protocol: spec.ProtocolHTTP, DefaultAction: fwd("d"),
		Rules: []spec.Rule{rule(1, spec.Conditions{HostHeader: []string{long}}), rule(2, spec.Conditions{HostHeader: []string{"*.example.com"}})}}
	tbl := mustCompile(t, l)
	for host, want := range map[string]int{strings.ToUpper(long): 1, "b" + long: 2, "x.example.com": 2} {
		if got := tbl.Match((&StaticRequest{Host: host, Path: "/"}).View()).Priority; got != want {
			t.Errorf("Match(host of %d bytes) = rule %d, want %d", len(host), got, want)
		}
	}
}

// TestHostTrailingDot: a host and a host pattern are compared without a
// trailing dot, so a rule written as "example.com." matches the host
// "example.com" (with or without its dot) instead of nothing.
func TestHostTrailingDot(t *testing.T) {
	tbl := mustCompile(t, &spec.Listener{
		Name: "l", Port: 80, Protocol: spec.ProtocolHTTP,
		Rules: []spec.Rule{
			rule(1, spec.Conditions{HostHeader: []string{"exact.example.com."}}),
			rule(2, spec.Conditions{HostHeader: []string{"*.wild.example."}}),
			rule(3, spec.Conditions{HostHeader: []string{"plain.example.org"}}),
		},
		DefaultAction: fwd("default"),
	})
	for _, tc := range []struct {
		host string
		want int
	}{
		{"exact.example.com", 1},
		{"EXACT.example.com.", 1},
		{"exact.example.com.:8080", 1},
		{"a.wild.example", 2},
		{"a.wild.example.", 2},
		{"plain.example.org.", 3},
		{"plain.example.org", 3},
		{".", 0},
	} {
		a := tbl.Match((&StaticRequest{Method: "GET", Host: tc.host, Path: "/"}).View())
		if a.Priority != tc.want {
			t.Errorf("host %q: matched priority %d, want %d", tc.host, a.Priority, tc.want)
		}
	}
}

// TestQueryStringEscapes: in query string conditions, as in ALB, `\*` and
// `\?` are a literal * and ?, while unescaped ones stay wildcards.
func TestQueryStringEscapes(t *testing.T) {
	tbl := mustCompile(t, &spec.Listener{
		Name: "l", Port: 80, Protocol: spec.ProtocolHTTP,
		Rules: []spec.Rule{
			rule(1, spec.Conditions{QueryString: []spec.KeyValue{{Key: "q", Value: `a\*b`}}}),
			rule(2, spec.Conditions{QueryString: []spec.KeyValue{{Key: `k\?`, Value: "*"}}}),
			rule(3, spec.Conditions{QueryString: []spec.KeyValue{{Key: "w", Value: `x\**\?`}}}),
			rule(4, spec.Conditions{QueryString: []spec.KeyValue{{Key: "b", Value: `c:\dir`}}}),
		},
		DefaultAction: fwd("default"),
	})
	for _, tc := range []struct {
		key, value string
		want       int
	}{
		{"q", "a*b", 1},
		{"Q", "A*B", 1},
		{"q", "axb", 0},
		{"q", `a\xb`, 0},
		{"k?", "1", 2},
		{"kx", "1", 0},
		{"w", "x*yz?", 3},
		{"w", "x*?", 3},
		{"w", "xyz?", 0},
		{"w", "x*yzq", 0},
		{"b", `c:\dir`, 4},
	} {
		req := &StaticRequest{Method: "GET", Host: "h", Path: "/", Query: [][2]string{{tc.key, tc.value}}}
		if a := tbl.Match(req.View()); a.Priority != tc.want {
			t.Errorf("query %s=%s: matched priority %d, want %d", tc.key, tc.value, a.Priority, tc.want)
		}
	}
}
