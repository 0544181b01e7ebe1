package rules

import "net/netip"

// Table is one listener's compiled rules. It is immutable and safe for
// concurrent use by any number of goroutines.
//
// Rules are ranked by priority, so a rule's rank is also its action's ID.
// Each rule is filed in one index under the literal that best narrows it
// down (see buildIndex); Match gathers the candidates a request can reach
// from every index and keeps the lowest rank whose full conditions hold.
type Table struct {
	rules   []compiledRule
	actions []*Action // by rank; the default action last

	exact    map[string][]int32 // lower-case host → ranks
	suffix   trie               // host literal suffixes, walked from the end
	prefix   trie               // path literal prefixes
	residual []int32            // ranks of rules no index can narrow
}

// maxExactHost bounds the Host Match lowers on the stack for the exact
// index; longer exact host patterns are filed in the suffix index instead.
const maxExactHost = 256

// Match returns the action of the lowest-priority rule whose conditions all
// hold for r, or the default action. It never returns nil and does not
// allocate (given a Request that does not).
func (t *Table) Match(r Request) *Action {
	best, _ := t.match(r)
	return t.actions[best]
}

// match returns the winning rank and how many rules it tested in full, which
// tests use to show the cost does not grow with the rule count.
func (t *Table) match(r Request) (best int32, tested int) {
	m := matcher{t: t, r: r, host: trimDot(stripPort(r.Host())), path: r.Path(), best: int32(len(t.rules))}
	if len(t.exact) > 0 && len(m.host) <= maxExactHost {
		var buf [maxExactHost]byte
		n := copy(buf[:], m.host)
		for i := range n {
			buf[i] = lower(buf[i])
		}
		m.scan(t.exact[string(buf[:n])])
	}
	if len(t.suffix.nodes) > 0 {
		m.walkSuffix()
	}
	if len(t.prefix.nodes) > 0 {
		m.walkPrefix()
	}
	m.scan(t.residual)
	return m.best, m.tested
}

// trimDot drops a trailing dot from a host name ("example.com." is
// "example.com"), as the patterns were compiled without theirs.
func trimDot(h []byte) []byte {
	if n := len(h); n > 1 && h[n-1] == '.' {
		return h[:n-1]
	}
	return h
}

// Actions returns every action of the table; Action.ID is its index. The
// slice belongs to the table and must not be changed.
func (t *Table) Actions() []*Action { return t.actions }

// Len returns the number of rules, the default action not counted.
func (t *Table) Len() int { return len(t.rules) }

// matcher is the state of one Match call; it lives on the stack.
type matcher struct {
	t          *Table
	r          Request
	host, path []byte
	best       int32 // lowest matching rank so far; len(rules) = none
	tested     int   // rules tested in full
}

// scan tests the ranks of one ascending list until one matches or the ranks
// reach the best match so far: the first match of a list is its best.
func (m *matcher) scan(list []int32) {
	for _, i := range list {
		if i >= m.best {
			return
		}
		m.tested++
		if m.t.rules[i].matches(m.r, m.host, m.path) {
			m.best = i
			return
		}
	}
}

// walkSuffix scans every host-suffix node on the path from the root along
// the host read backwards, in lower case.
func (m *matcher) walkSuffix() {
	nodes := m.t.suffix.nodes
	n := &nodes[0]
	m.scan(n.rules)
	for i := len(m.host) - 1; i >= 0; i-- {
		j := n.child(lower(m.host[i]))
		if j < 0 {
			return
		}
		n = &nodes[j]
		m.scan(n.rules)
	}
}

// walkPrefix scans every path-prefix node on the path from the root along
// the request path.
func (m *matcher) walkPrefix() {
	nodes := m.t.prefix.nodes
	n := &nodes[0]
	m.scan(n.rules)
	for _, c := range m.path {
		j := n.child(c)
		if j < 0 {
			return
		}
		n = &nodes[j]
		m.scan(n.rules)
	}
}

// matches reports whether every condition of the rule holds. Cheap
// conditions go first.
func (c *compiledRule) matches(r Request, host, path []byte) bool {
	if len(c.methods) > 0 && !matchMethod(c.methods, r.Method()) {
		return false
	}
	if len(c.hosts) > 0 && !anyMatch(c.hosts, host) {
		return false
	}
	if len(c.paths) > 0 && !anyMatch(c.paths, path) {
		return false
	}
	if len(c.sources) > 0 && !matchSource(c.sources, r) {
		return false
	}
	for i := range c.headers {
		if !c.headers[i].match(r) {
			return false
		}
	}
	return len(c.query) == 0 || matchQuery(c.query, r)
}

func matchMethod(methods []string, m []byte) bool {
	for _, s := range methods {
		if string(m) == s {
			return true
		}
	}
	return false
}

func matchSource(ps []netip.Prefix, r Request) bool {
	ip := r.SourceIP().Unmap()
	if !ip.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// match reports whether any value of the header matches any pattern.
func (h *headerCond) match(r Request) bool {
	for _, v := range r.HeaderValues(h.name) {
		if anyMatch(h.values, v) {
			return true
		}
	}
	return false
}

// matchQuery reports whether any query pair matches any condition.
func matchQuery(qs []queryCond, r Request) bool {
	n := r.QueryLen()
	for i := range n {
		k, v := r.QueryAt(i)
		for j := range qs {
			q := &qs[j]
			if (q.anyKey || q.key.match(k)) && q.value.match(v) {
				return true
			}
		}
	}
	return false
}
