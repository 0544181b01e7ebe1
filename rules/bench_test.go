package rules

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// scaleListener builds n rules of five shapes, with shuffled priorities:
// exact hosts, wildcard hosts, path prefixes, host+path+method, and
// path+header; plus three residual rules (method, header, source only).
func scaleListener(n int) *spec.Listener {
	prio := rand.New(rand.NewPCG(uint64(n), 1)).Perm(n + 3)
	l := &spec.Listener{Name: "scale", Port: 80, Protocol: spec.ProtocolHTTP, DefaultAction: fwd("default")}
	for i := range n {
		var c spec.Conditions
		switch i % 5 {
		case 0:
			c.HostHeader = []string{fmt.Sprintf("svc%d.example.com", i)}
		case 1:
			c.HostHeader = []string{fmt.Sprintf("*.svc%d.example.net", i)}
		case 2:
			c.PathPattern = []string{fmt.Sprintf("/svc%d/*", i)}
		case 3:
			c.HostHeader = []string{fmt.Sprintf("api%d.example.org", i)}
			c.PathPattern = []string{"/v1/*", "/v2/*"}
			c.HTTPRequestMethod = []string{"GET", "HEAD"}
		case 4:
			c.PathPattern = []string{fmt.Sprintf("/h%d/*", i)}
			c.HTTPHeader = map[string][]string{"X-Tenant": {fmt.Sprintf("t%d", i)}}
		}
		l.Rules = append(l.Rules, rule(prio[i]+1, c))
	}
	l.Rules = append(l.Rules,
		rule(prio[n]+1, spec.Conditions{HTTPRequestMethod: []string{"PURGE"}}),
		rule(prio[n+1]+1, spec.Conditions{HTTPHeader: map[string][]string{"X-Debug": {"on"}}}),
		rule(prio[n+2]+1, spec.Conditions{SourceIP: []string{"198.51.100.0/24"}}))
	return l
}

// scaleRequests hits each rule shape near the end of the rule list, and
// misses.
func scaleRequests(n int) []StaticRequest {
	last := func(shape int) int { return (n-1-shape)/5*5 + shape } // the last rule of a shape
	ip := netip.MustParseAddr("203.0.113.7")
	return []StaticRequest{
		{Method: "GET", Host: fmt.Sprintf("SVC%d.example.com", last(0)), Path: "/index.html", SourceIP: ip},
		{Method: "GET", Host: fmt.Sprintf("a.b.svc%d.example.net:8443", last(1)), Path: "/", SourceIP: ip},
		{Method: "POST", Host: "www.example.com", Path: fmt.Sprintf("/svc%d/orders/42", last(2)), SourceIP: ip},
		{Method: "GET", Host: fmt.Sprintf("api%d.example.org", last(3)), Path: "/v2/users/7", SourceIP: ip},
		{Method: "GET", Host: "www.example.com", Path: fmt.Sprintf("/h%d/x", last(4)), SourceIP: ip,
			Headers: [][2]string{{"User-Agent", "wrk"}, {"x-tenant", fmt.Sprintf("T%d", last(4))}}},
		{Method: "GET", Host: "unknown.example.com", Path: "/nothing/here", SourceIP: ip},
		{Method: "GET", Host: fmt.Sprintf("api%d.example.org", last(3)), Path: "/v3/users", SourceIP: ip},
		{Method: "PURGE", Host: "www.example.com", Path: "/svc999999/", SourceIP: ip},
	}
}

var scaleSizes = []int{100, 1000, 10000}

func BenchmarkMatch(b *testing.B) {
	for _, n := range scaleSizes {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			tbl := mustCompile(b, scaleListener(n))
			reqs := scaleRequests(n)
			views := make([]Request, len(reqs))
			for i := range reqs {
				views[i] = reqs[i].View()
				tbl.Match(views[i]) // build the header cache of StaticRequest
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tbl.Match(views[i%len(views)])
				i++
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	l := scaleListener(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(l); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatchDoesNotScan shows the cost of Match does not grow with the rule
// count: every request of scaleRequests tests only a handful of rules in
// full, at 100 rules as at 10,000, and still finds the rule a linear scan
// would.
func TestMatchDoesNotScan(t *testing.T) {
	for _, n := range scaleSizes {
		l := scaleListener(n)
		tbl := mustCompile(t, l)
		for _, req := range scaleRequests(n) {
			best, tested := tbl.match(req.View())
			if tested > 8 {
				t.Errorf("rules=%d: match(%s %s%s) tested %d rules, want at most 8", n, req.Method, req.Host, req.Path, tested)
			}
			if got, want := tbl.actions[best].Priority, naiveMatch(l, &req); got != want {
				t.Errorf("rules=%d: Match(%s %s%s) = rule %d, want %d", n, req.Method, req.Host, req.Path, got, want)
			}
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	tbl := mustCompile(t, scaleListener(1000))
	sem := mustCompile(t, semanticsListener())
	reqs := scaleRequests(1000)
	reqs = append(reqs, StaticRequest{Method: "GET", Host: "x.test", Path: "/both/x", SourceIP: netip.MustParseAddr("::ffff:10.9.3.4"),
		Headers: [][2]string{{"X-A", "1"}, {"X-B", "2"}}, Query: [][2]string{{"channel", "beta"}}})
	for _, req := range reqs {
		v := req.View()
		for _, tb := range []*Table{tbl, sem} {
			if n := testing.AllocsPerRun(100, func() { tb.Match(v) }); n != 0 {
				t.Errorf("Match(%s %s%s) allocates %v times, want 0", req.Method, req.Host, req.Path, n)
			}
		}
	}
}
