package spec

import (
	"fmt"
	"strings"
)

// Expression is a parsed memberOf expression: a subset of ECS's cluster query
// language over a node's name and attributes.
//
//	expr    = and { ("or" | "||") and }
//	and     = primary { ("and" | "&&") primary }
//	primary = "(" expr ")" | subject op
//	subject = "attribute:" NAME | "instanceId" | "ec2InstanceId"   (the node's name)
//	op      = ("==" | "equals" | "!=" | "not_equals") value
//	        | ("=~" | "matches" | "!~" | "not_matches") pattern   (* matches any run)
//	        | ("in" | "!in" | "not_in") "[" value { "," value } "]"
//	        | "exists" | "!exists" | "not_exists"
//	value   = word | 'quoted' | "quoted"
//
// "and" binds tighter than "or". A comparison on a missing attribute is false
// for ==, in and =~ and true for their negations, as ECS evaluates them.
// An Expression is immutable and safe for concurrent use.
type Expression struct {
	src  string
	root exprNode
}

// PlacementNode is what an expression is evaluated against: a node of the cluster.
type PlacementNode interface {
	// NodeName is the node's name (instanceId).
	NodeName() string
	// Attribute returns the value of a node attribute and whether it is set.
	Attribute(name string) (string, bool)
}

type exprNode interface {
	eval(n PlacementNode) bool
}

// String returns the expression as written.
func (e *Expression) String() string { return e.src }

// Match reports whether node n satisfies the expression.
func (e *Expression) Match(n PlacementNode) bool { return e.root.eval(n) }

type orNode struct{ l, r exprNode }
type andNode struct{ l, r exprNode }

func (o orNode) eval(n PlacementNode) bool  { return o.l.eval(n) || o.r.eval(n) }
func (a andNode) eval(n PlacementNode) bool { return a.l.eval(n) && a.r.eval(n) }

// Comparison operators after normalising ECS's aliases.
const (
	opEquals    = "=="
	opNotEquals = "!="
	opMatches   = "=~"
	opNotMatch  = "!~"
	opIn        = "in"
	opNotIn     = "!in"
	opExists    = "exists"
	opNotExists = "!exists"
)

var opAliases = map[string]string{
	"==": opEquals, "equals": opEquals, "!=": opNotEquals, "not_equals": opNotEquals,
	"=~": opMatches, "matches": opMatches, "!~": opNotMatch, "not_matches": opNotMatch,
	"in": opIn, "!in": opNotIn, "not_in": opNotIn,
	"exists": opExists, "!exists": opNotExists, "not_exists": opNotExists,
}

// cmpNode compares one subject: an attribute, or the node name when attr is "".
type cmpNode struct {
	attr   string
	op     string
	values []string
}

func (c cmpNode) eval(n PlacementNode) bool {
	v, ok := n.NodeName(), true
	if c.attr != "" {
		v, ok = n.Attribute(c.attr)
	}
	switch c.op {
	case opExists:
		return ok
	case opNotExists:
		return !ok
	case opEquals, opIn:
		return ok && contains(c.values, v)
	case opNotEquals, opNotIn:
		return !ok || !contains(c.values, v)
	case opMatches:
		return ok && globMatch(c.values[0], v)
	case opNotMatch:
		return !ok || !globMatch(c.values[0], v)
	}
	return false
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, where '*' matches any run of bytes.
// Greedy with backtracking to the last star: linear in practice.
func globMatch(pattern, s string) bool {
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p, mark = star+1, mark+1
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// attributeNameProblem says what is wrong with an attribute name, "" if
// nothing: 1..128 letters, digits, '-', '_', '.', '/' (ECS Attribute.name).
func attributeNameProblem(name string) string {
	switch {
	case name == "":
		return "attribute name is empty"
	case len(name) > 128:
		return "attribute name is longer than 128 characters"
	case !validName(name, "-_./"):
		return fmt.Sprintf("attribute name %s may only contain A-Z, a-z, 0-9, '-', '_', '.' and '/'", quote(name))
	}
	return ""
}

// ParseExpression parses a memberOf expression. Errors name the 1-based
// column where the expression went wrong.
func ParseExpression(src string) (*Expression, error) {
	toks, err := lexExpression(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks, src: src}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %s", t)
	}
	return &Expression{src: src, root: root}, nil
}

// maxExprDepth bounds parentheses so hostile input cannot exhaust the stack.
const maxExprDepth = 32

type exprParser struct {
	toks []token
	pos  int
	src  string
}

func (p *exprParser) peek() token { return p.toks[p.pos] }

func (p *exprParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *exprParser) errorf(t token, format string, args ...any) error {
	return fmt.Errorf("spec: parse expression: column %d: %s", t.col, fmt.Sprintf(format, args...))
}

func (p *exprParser) isWord(t token, words ...string) bool {
	if t.kind != tokWord {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.text, w) {
			return true
		}
	}
	return false
}

func (p *exprParser) or(depth int) (exprNode, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord(p.peek(), "or", "||") {
		p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *exprParser) and(depth int) (exprNode, error) {
	l, err := p.primary(depth)
	if err != nil {
		return nil, err
	}
	for p.isWord(p.peek(), "and", "&&") {
		p.next()
		r, err := p.primary(depth)
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *exprParser) primary(depth int) (exprNode, error) {
	t := p.next()
	if t.kind == tokOpen {
		if depth >= maxExprDepth {
			return nil, p.errorf(t, "parentheses nested deeper than %d", maxExprDepth)
		}
		e, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokClose {
			return nil, p.errorf(c, "expected ), got %s", c)
		}
		return e, nil
	}
	if t.kind != tokWord {
		return nil, p.errorf(t, "expected attribute:NAME or instanceId, got %s", t)
	}
	var c cmpNode
	switch name, isAttr := strings.CutPrefix(t.text, "attribute:"); {
	case isAttr:
		if msg := attributeNameProblem(name); msg != "" {
			return nil, p.errorf(t, "%s", msg)
		}
		c.attr = name
	case t.text == "instanceId" || t.text == "ec2InstanceId":
	default:
		return nil, p.errorf(t, "%s is not attribute:NAME or instanceId (Gantry supports no other subject)", quote(t.text))
	}
	return p.comparison(c)
}

func (p *exprParser) comparison(c cmpNode) (exprNode, error) {
	t := p.next()
	op, ok := opAliases[strings.ToLower(t.text)]
	if t.kind != tokWord && t.kind != tokOp || !ok {
		return nil, p.errorf(t, "expected an operator (==, !=, =~, !~, in, !in, exists, !exists), got %s", t)
	}
	c.op = op
	switch op {
	case opExists, opNotExists:
		return c, nil
	case opIn, opNotIn:
		vals, err := p.list()
		if err != nil {
			return nil, err
		}
		c.values = vals
		return c, nil
	}
	v := p.next()
	if v.kind != tokWord && v.kind != tokQuoted {
		return nil, p.errorf(v, "expected a value, got %s", v)
	}
	c.values = []string{v.text}
	return c, nil
}

func (p *exprParser) list() ([]string, error) {
	if t := p.next(); t.kind != tokLBracket {
		return nil, p.errorf(t, "expected [ to start a list, got %s", t)
	}
	var vals []string
	for {
		v := p.next()
		if v.kind != tokWord && v.kind != tokQuoted {
			return nil, p.errorf(v, "expected a value, got %s", v)
		}
		vals = append(vals, v.text)
		switch t := p.next(); t.kind {
		case tokComma:
		case tokRBracket:
			return vals, nil
		default:
			return nil, p.errorf(t, "expected , or ] in a list, got %s", t)
		}
	}
}
