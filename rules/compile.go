package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/gantrylb/gantry/spec"
)

// compiledRule is one rule's conditions, ready to test against a request.
// Empty lists are conditions the rule does not have.
type compiledRule struct {
	priority int
	methods  []string
	hosts    []pattern // lower case, folded
	paths    []pattern
	headers  []headerCond
	query    []queryCond
	sources  []netip.Prefix // masked; v4-mapped blocks stored as v4
}

type headerCond struct {
	name   []byte
	values []pattern // folded
}

type queryCond struct {
	anyKey bool
	key    pattern // folded
	value  pattern // folded
}

// Compile compiles the rules of l, which has been defaulted and validated,
// into a Table. It still rejects whatever it cannot compile (an empty or
// invalid pattern, a bad CIDR, a duplicate priority, an action that is not
// exactly one of forward, redirect and fixedResponse) with an error naming the
// rule. On TCP and TLS listeners the sni patterns are compiled as host
// patterns: the caller passes the TLS server name as Request.Host.
func Compile(l *spec.Listener) (*Table, error) {
	if l == nil {
		return nil, fmt.Errorf("rules: compile: nil listener")
	}
	order := make([]int, len(l.Rules))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return l.Rules[a].Priority - l.Rules[b].Priority })
	tcp := l.IsTCP()
	t := &Table{
		rules:   make([]compiledRule, len(order)),
		actions: make([]*Action, len(order)+1),
	}
	for rank, i := range order {
		sr := &l.Rules[i]
		if sr.Priority < 1 {
			return nil, fmt.Errorf("rules: rule priority %d: priority must be at least 1", sr.Priority)
		}
		if rank > 0 && t.rules[rank-1].priority == sr.Priority {
			return nil, fmt.Errorf("rules: rule priority %d: priority used twice", sr.Priority)
		}
		cr, err := compileConditions(&sr.Conditions, tcp)
		if err != nil {
			return nil, fmt.Errorf("rules: rule priority %d: %w", sr.Priority, err)
		}
		cr.priority = sr.Priority
		t.rules[rank] = cr
		if t.actions[rank], err = compileAction(&sr.Action, rank, sr.Priority); err != nil {
			return nil, fmt.Errorf("rules: rule priority %d: action: %w", sr.Priority, err)
		}
	}
	def, err := compileAction(&l.DefaultAction, len(order), 0)
	if err != nil {
		return nil, fmt.Errorf("rules: defaultAction: %w", err)
	}
	t.actions[len(order)] = def
	t.buildIndex()
	return t, nil
}

func compileConditions(c *spec.Conditions, tcp bool) (compiledRule, error) {
	var cr compiledRule
	var err error
	hosts, hostField := c.HostHeader, "hostHeader"
	if len(c.SNI) > 0 {
		if !tcp {
			return cr, fmt.Errorf("sni: only TCP and TLS listeners route by SNI")
		}
		if len(hosts) > 0 {
			return cr, fmt.Errorf("sni: cannot be combined with hostHeader")
		}
		hosts, hostField = c.SNI, "sni"
	}
	if cr.hosts, err = compilePatterns(hostField, trimHostDots(hosts), true); err != nil {
		return cr, err
	}
	if cr.paths, err = compilePatterns("pathPattern", c.PathPattern, false); err != nil {
		return cr, err
	}
	for i, m := range c.HTTPRequestMethod {
		if m == "" {
			return cr, fmt.Errorf("httpRequestMethod[%d]: empty method", i)
		}
		cr.methods = append(cr.methods, m)
	}
	names := make([]string, 0, len(c.HTTPHeader))
	for name := range c.HTTPHeader {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "" {
			return cr, fmt.Errorf("httpHeader: empty header name")
		}
		field := "httpHeader." + name
		if len(c.HTTPHeader[name]) == 0 {
			return cr, fmt.Errorf("%s: no values", field)
		}
		ps, err := compilePatterns(field, c.HTTPHeader[name], true)
		if err != nil {
			return cr, err
		}
		cr.headers = append(cr.headers, headerCond{name: []byte(name), values: ps})
	}
	for i, kv := range c.QueryString {
		q := queryCond{anyKey: kv.Key == ""}
		if !q.anyKey {
			if q.key, err = compileQueryPattern(kv.Key); err != nil {
				return cr, fmt.Errorf("queryString[%d].key: %w", i, err)
			}
		}
		if q.value, err = compileQueryPattern(kv.Value); err != nil {
			return cr, fmt.Errorf("queryString[%d].value: %w", i, err)
		}
		cr.query = append(cr.query, q)
	}
	for i, s := range c.SourceIP {
		p, err := parseSource(s)
		if err != nil {
			return cr, fmt.Errorf("sourceIp[%d]: %w", i, err)
		}
		cr.sources = append(cr.sources, p)
	}
	return cr, nil
}

// trimHostDots drops one trailing dot from each host pattern: a request's
// host is compared without its trailing dot ("example.com." names the same
// host as "example.com"), so a pattern written with one must match both
// instead of neither.
func trimHostDots(in []string) []string {
	var out []string
	for i, s := range in {
		if n := len(s); n > 1 && s[n-1] == '.' {
			if out == nil {
				out = slices.Clone(in)
			}
			out[i] = s[:n-1]
		}
	}
	if out == nil {
		return in
	}
	return out
}

func compilePatterns(field string, in []string, fold bool) ([]pattern, error) {
	var out []pattern
	for i, s := range in {
		p, err := compilePattern(s, fold)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseSource parses a CIDR block or a single address. A v4-mapped IPv6 block
// becomes the IPv4 block it maps, since clients are compared unmapped.
func parseSource(s string) (netip.Prefix, error) {
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return p, err
	}
	if p.Addr().Zone() != "" {
		return p, fmt.Errorf("%q: zones are not allowed", s)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}
