package spec

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// fakeNode is a node with a name and attributes.
type fakeNode struct {
	name  string
	attrs map[string]string
}

func (n fakeNode) NodeName() string { return n.name }
func (n fakeNode) Attribute(k string) (string, bool) {
	v, ok := n.attrs[k]
	return v, ok
}

func TestExpressionMatch(t *testing.T) {
	a := fakeNode{"node-1", map[string]string{"zone": "a", "type": "t2.small"}}
	c := fakeNode{"node-3", map[string]string{"zone": "c"}}
	tests := []struct {
		expr  string
		wantA bool
		wantC bool
	}{
		{"attribute:zone in [a, b]", true, false},
		{"attribute:zone !in [a, b]", false, true},
		{"attribute:zone not_in ['a']", false, true},
		{"attribute:zone == a", true, false},
		{"attribute:zone==c", false, true},
		{"attribute:zone equals a", true, false},
		{"attribute:zone != a", false, true},
		{"attribute:type exists", true, false},
		{"attribute:type !exists", false, true},
		{"attribute:type not_exists", false, true},
		{"attribute:type == t2.small", true, false},
		{"attribute:type =~ t2.*", true, false},
		{"attribute:type !~ t2.*", false, true},
		{"attribute:type matches '*small'", true, false},
		{"instanceId == node-3", false, true},
		{"ec2InstanceId in [node-1, node-2]", true, false},
		{"attribute:zone == a or attribute:zone == c", true, true},
		{"attribute:zone == a and attribute:type exists", true, false},
		{"attribute:zone == c || attribute:zone == a && attribute:type !exists", false, true},
		{"(attribute:zone == c or attribute:zone == a) and attribute:type !exists", false, true},
		{"attribute:zone == \"a\" AND (instanceId == node-1)", true, false},
	}
	for _, tt := range tests {
		e, err := ParseExpression(tt.expr)
		if err != nil {
			t.Errorf("ParseExpression(%q): %v", tt.expr, err)
			continue
		}
		if got := e.Match(a); got != tt.wantA {
			t.Errorf("ParseExpression(%q).Match(zone a) = %v, want %v", tt.expr, got, tt.wantA)
		}
		if got := e.Match(c); got != tt.wantC {
			t.Errorf("ParseExpression(%q).Match(zone c) = %v, want %v", tt.expr, got, tt.wantC)
		}
		if e.String() != tt.expr {
			t.Errorf("String() = %q, want %q", e.String(), tt.expr)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", "column 1: expected attribute:NAME or instanceId, got end of expression"},
		{"attribute:zone", "column 15: expected an operator (==, !=, =~, !~, in, !in, exists, !exists), got end of expression"},
		{"attribute:zone = a", "column 16: unexpected '=' (use ==)"},
		{"attribute:zone in [a, b", "column 24: expected , or ] in a list, got end of expression"},
		{"attribute:zone in []", `column 20: expected a value, got "]"`},
		{"attribute: == a", "column 1: attribute name is empty"},
		{"attribute:zone == a and", "column 24: expected attribute:NAME or instanceId, got end of expression"},
		{"(attribute:zone == a", "column 21: expected ), got end of expression"},
		{"attribute:zone == a)", `column 20: unexpected ")"`},
		{"attribute:zone == 'a", "column 19: unterminated string"},
		{"attribute:zone > 3", `column 16: expected an operator (==, !=, =~, !~, in, !in, exists, !exists), got ">"`},
		{"task:group == web", `column 1: "task:group" is not attribute:NAME or instanceId (Gantry supports no other subject)`},
		{strings.Repeat("(", 40) + "instanceId exists" + strings.Repeat(")", 40), "column 33: parentheses nested deeper than 32"},
	}
	for _, tt := range tests {
		_, err := ParseExpression(tt.expr)
		if err == nil || err.Error() != "spec: parse expression: "+tt.want {
			t.Errorf("ParseExpression(%q) error = %v, want %q", tt.expr, err, tt.want)
		}
	}
}

// TestGlobMatchAgainstRegexp compares globMatch with a regexp built from the
// same pattern over seeded random patterns and subjects.
func TestGlobMatchAgainstRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(alphabet string, n int) string {
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		pattern, s := word("ab*", 6), word("ab", 8)
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$")
		if got, want := globMatch(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	}
}

// FuzzParseExpression checks that the parser never panics, that its errors
// name a column inside the expression, and that what it accepts evaluates.
func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{"attribute:zone in [a, b]", "(instanceId == x or attribute:a exists) and attribute:t =~ 'm*'", "attribute:z !in [\"a\"]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseExpression(src)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "spec: parse expression: ") {
				t.Fatalf("error %q lacks the prefix", msg)
			}
			return
		}
		if !utf8.ValidString(src) {
			t.Fatalf("accepted invalid UTF-8 %q", src)
		}
		e.Match(fakeNode{"n", map[string]string{"zone": "a", "a": ""}})
	})
}
