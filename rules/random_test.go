package rules

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// naiveMatch is the reference router: it walks the rules in priority order
// and tests each condition straight from the spec, with refGlob. It returns
// the winning priority, 0 for the default action.
func naiveMatch(l *spec.Listener, r *StaticRequest) int {
	rs := slices.Clone(l.Rules)
	slices.SortFunc(rs, func(a, b spec.Rule) int { return a.Priority - b.Priority })
	for _, rl := range rs {
		if naiveConditions(&rl.Conditions, r) {
			return rl.Priority
		}
	}
	return 0
}

func naiveConditions(c *spec.Conditions, r *StaticRequest) bool {
	anyGlob := func(ps []string, s string, fold bool) bool {
		for _, p := range ps {
			if refGlob(p, s, fold) {
				return true
			}
		}
		return false
	}
	host := r.Host
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if len(c.HostHeader) > 0 && !anyGlob(c.HostHeader, host, true) {
		return false
	}
	if len(c.PathPattern) > 0 && !anyGlob(c.PathPattern, r.Path, false) {
		return false
	}
	if len(c.HTTPRequestMethod) > 0 && !slices.Contains(c.HTTPRequestMethod, r.Method) {
		return false
	}
	for name, values := range c.HTTPHeader {
		ok := false
		for _, h := range r.Headers {
			ok = ok || strings.EqualFold(h[0], name) && anyGlob(values, h[1], true)
		}
		if !ok {
			return false
		}
	}
	if len(c.QueryString) > 0 {
		ok := false
		for _, q := range r.Query {
			for _, kv := range c.QueryString {
				ok = ok || (kv.Key == "" || refGlob(kv.Key, q[0], true)) && refGlob(kv.Value, q[1], true)
			}
		}
		if !ok {
			return false
		}
	}
	if len(c.SourceIP) > 0 {
		ok := false
		for _, s := range c.SourceIP {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a := netip.MustParseAddr(s)
				p = netip.PrefixFrom(a, a.BitLen())
			}
			// Clients count as IPv4 when v4-mapped, and so do v4-mapped blocks.
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			ok = ok || p.Contains(r.SourceIP.Unmap())
		}
		if !ok {
			return false
		}
	}
	return true
}

// gen draws rules and requests from small alphabets so that they collide often.
type gen struct{ r *rand.Rand }

func (g gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g gen) host() string {
	labels := []string{"a", "b", "ab", "api", "www"}
	n := 1 + g.r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.pick(labels...)
	}
	return strings.Join(parts, ".") + g.pick(".com", ".net", "")
}

func (g gen) path() string {
	n := g.r.IntN(4)
	var b strings.Builder
	for range n {
		b.WriteString("/" + g.pick("x", "y", "api", "v1", "img.png", "X"))
	}
	if b.Len() == 0 || g.r.IntN(4) == 0 {
		b.WriteString("/")
	}
	return b.String()
}

// wild turns a sample into a pattern: some characters become ? or *, and
// some are upper-cased.
func (g gen) wild(s string) string {
	b := []byte(s)
	var out []byte
	for i := 0; i < len(b); i++ {
		switch g.r.IntN(12) {
		case 0:
			out = append(out, '?')
		case 1:
			out = append(out, '*')
			i += g.r.IntN(3)
		case 2:
			out = append(out, strings.ToUpper(string(b[i]))...)
		default:
			out = append(out, b[i])
		}
	}
	if g.r.IntN(5) == 0 {
		out = append([]byte("*"), out...)
	}
	if len(out) == 0 {
		out = []byte("*")
	}
	return string(out)
}

func (g gen) list(n int, f func() string) []string {
	out := make([]string, 1+g.r.IntN(n))
	for i := range out {
		out[i] = f()
	}
	return out
}

func (g gen) conditions() spec.Conditions {
	var c spec.Conditions
	if g.r.IntN(2) == 0 {
		c.HostHeader = g.list(2, func() string { return g.wild(g.host()) })
	}
	if g.r.IntN(2) == 0 {
		c.PathPattern = g.list(2, func() string { return g.wild(g.path()) })
	}
	if g.r.IntN(5) == 0 {
		c.HTTPRequestMethod = g.list(2, func() string { return g.pick("GET", "POST", "get") })
	}
	if g.r.IntN(5) == 0 {
		c.HTTPHeader = map[string][]string{g.pick("X-A", "x-b"): g.list(2, func() string { return g.wild(g.pick("on", "off", "Yes")) })}
	}
	if g.r.IntN(6) == 0 {
		c.QueryString = []spec.KeyValue{{Key: g.pick("", "k", "K*"), Value: g.wild(g.pick("v", "w1", "V2"))}}
	}
	if g.r.IntN(6) == 0 {
		c.SourceIP = g.list(2, func() string {
			return g.pick("10.0.0.0/8", "10.1.0.0/16", "192.0.2.7", "2001:db8::/32", "::ffff:10.2.0.0/112", "0.0.0.0/0")
		})
	}
	return c
}

func (g gen) request() StaticRequest {
	host := g.host()
	if g.r.IntN(3) == 0 {
		host = strings.ToUpper(host)
	}
	if g.r.IntN(4) == 0 {
		host += ":8080"
	}
	r := StaticRequest{Method: g.pick("GET", "POST", "get"), Host: host, Path: g.path(),
		SourceIP: netip.MustParseAddr(g.pick("10.1.2.3", "10.2.0.1", "::ffff:10.2.0.9", "192.0.2.7", "2001:db8::5", "203.0.113.9"))}
	for range g.r.IntN(3) {
		r.Headers = append(r.Headers, [2]string{g.pick("X-A", "x-a", "X-B"), g.pick("on", "ON", "off", "yes")})
	}
	for range g.r.IntN(3) {
		r.Query = append(r.Query, [2]string{g.pick("k", "K1", "z"), g.pick("v", "W1", "v2")})
	}
	return r
}

func TestMatchAgainstNaive(t *testing.T) {
	const sets, requests = 300, 200
	for seed := range uint64(sets) {
		g := gen{rand.New(rand.NewPCG(seed, 7))}
		l := &spec.Listener{Name: "l", Port: 80, Protocol: spec.ProtocolHTTP, DefaultAction: fwd("default")}
		prios := g.r.Perm(500)[:1+g.r.IntN(60)]
		for _, p := range prios {
			l.Rules = append(l.Rules, rule(p+1, g.conditions()))
		}
		tbl := mustCompile(t, l)
		for range requests {
			req := g.request()
			want := naiveMatch(l, &req)
			if got := tbl.Match(req.View()).Priority; got != want {
				t.Fatalf("seed %d: Match(%+v) = rule %d, want %d (rules %+v)", seed, req, got, want, l.Rules)
			}
		}
	}
}
